"""staff who must choose a new password at their next sign-in (admin reset)

Revision ID: 0006
Revises: 0005
"""
from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN (see 0005): a batch would rebuild ``staff`` under its references.
    op.add_column('staff', sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(), nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('staff') as batch:
        batch.drop_column('must_change_password')
