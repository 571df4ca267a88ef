"""letter.revocation_key_id, letter.revocation_signature: a letter's revocation is signed

Revision ID: 0014
Revises: 0013

A revocation was a bare ``revoked_at``: whoever could write to the database
could move, clear or forge it, and nothing on the public page could tell. It
is now signed with the letter key (server/domain/documents/letters.py,
``revocation_message``). Letters revoked before this migration have no
signature (a migration holds no key); their page says the revocation cannot
be verified (docs/deploy.md, migration 0014).
"""
import sqlalchemy as sa
from alembic import op

revision = '0014'
down_revision = '0013'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch): SQLite does not rebuild the table.
    op.add_column('letter', sa.Column('revocation_key_id', sa.String(length=64), nullable=True))
    op.add_column('letter', sa.Column('revocation_signature', sa.String(length=200), nullable=True))


def downgrade() -> None:
    # SQLite 3.35+ drops a column in place.
    op.drop_column('letter', 'revocation_signature')
    op.drop_column('letter', 'revocation_key_id')
