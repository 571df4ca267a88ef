"""sessions carry how their facts are known (evidence)

Revision ID: 0002
Revises: 0001
"""
from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('guidance_session') as batch:
        batch.add_column(sa.Column('evidence', sa.Enum('observed', 'reported', 'roll_call', name='session_evidence', native_enum=False, length=32), server_default='reported', nullable=False))
    # A video session's duration is what the server observed; everything else so far was entered by staff.
    op.execute("UPDATE guidance_session SET evidence = 'observed' WHERE mode = 'video'")


def downgrade() -> None:
    with op.batch_alter_table('guidance_session') as batch:
        batch.drop_column('evidence')
