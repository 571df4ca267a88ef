"""letter.printed: what an issued letter printed, kept with it

Revision ID: 0009
Revises: 0008

An issued letter keeps what it printed (the letterhead, the client's
particulars, the ledger's figures as of the issue date, the reason of a
summons) whatever the office profile or the client's row say later
(server/domain/documents/letters.py). Letters issued before this revision keep
``printed`` null: their office name, signer, NIP and title were always stored
and still print as issued; the rest renders from today's data as it did
(docs/api.md, "Letters"; docs/deploy.md).
"""
import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch): SQLite does not rebuild the table.
    op.add_column('letter', sa.Column('printed', sa.JSON(), nullable=True))


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place, as 0008 does.
    op.drop_column('letter', 'printed')
