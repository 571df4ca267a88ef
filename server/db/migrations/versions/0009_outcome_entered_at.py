"""when a session's outcome was first entered: late entries stay marked

Revision ID: 0009
Revises: 0008
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

HAPPENED = ("attended", "excused", "no_show")


def upgrade() -> None:
    # A plain ADD COLUMN (see 0005): a batch would rebuild ``guidance_session`` under its
    # references and its triggers (0008).
    op.add_column('guidance_session', sa.Column('outcome_entered_at', sa.DateTime(timezone=True), nullable=True))
    # What is known of rows entered before: the first saved version that recorded what
    # happened (the history the late-entry anomaly read until now), else the row's creation.
    happened = ", ".join(f"'{o}'" for o in HAPPENED)
    op.execute(
        "UPDATE guidance_session SET outcome_entered_at = COALESCE("
        "(SELECT MIN(nv.created_at) FROM note_version nv WHERE nv.session_id = guidance_session.id "
        f"AND nv.outcome IN ({happened})), created_at) WHERE outcome IN ({happened})"
    )


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place (as 0008); a batch would rebuild the table.
    op.drop_column('guidance_session', 'outcome_entered_at')
