"""guidance_session.notify_client: a planned home visit is told to the client only when the PK chose so

Revision ID: 0011
Revises: 0010

Reminders and the client's own page read every appointment from one list
(server/domain/record/appointments.py); a home visit may be unannounced (an
address check), so the PK says, when planning it, whether the client is told.
Existing rows are unannounced, as every visit was until now.
"""
import sqlalchemy as sa
from alembic import op

revision = '0011'
down_revision = '0010'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch): SQLite does not rebuild the table (nor drop 0008's triggers).
    op.add_column('guidance_session', sa.Column('notify_client', sa.Boolean(), nullable=False, server_default=sa.false()))


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place; batch mode would rebuild the table and lose its triggers.
    op.drop_column('guidance_session', 'notify_client')
