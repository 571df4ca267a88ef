"""letters that can be verified, staff NIP, and the indexes the evaluation reads by

Revision ID: 0005
Revises: 0004
"""
from alembic import op
import sqlalchemy as sa

import server.db.models


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # A plain ADD COLUMN, not a batch: on SQLite a batch rebuilds the table, and
    # dropping the old ``staff`` fails while clients and sessions refer to it.
    op.add_column('staff', sa.Column('nip', sa.String(length=30), server_default='', nullable=False))
    op.create_table('letter',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('keterangan', 'panggilan', 'selesai', name='letter_kind', native_enum=False, length=32), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('seq', sa.Integer(), nullable=False),
    sa.Column('number', sa.String(length=160), nullable=False),
    sa.Column('issued_on', sa.Date(), nullable=False),
    sa.Column('issued_at', server.db.models.UTCDateTime(timezone=True), nullable=False),
    sa.Column('signer_name', sa.String(length=200), nullable=False),
    sa.Column('signer_nip', sa.String(length=30), nullable=False),
    sa.Column('signer_title', sa.String(length=100), nullable=False),
    sa.Column('office_name', sa.String(length=200), nullable=False),
    sa.Column('client_initials', sa.String(length=40), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('key_id', sa.String(length=64), nullable=False),
    sa.Column('signature', sa.String(length=200), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('revoked_at', server.db.models.UTCDateTime(timezone=True), nullable=True),
    sa.Column('revoked_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], ),
    sa.ForeignKeyConstraint(['revoked_by_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('code'),
    sa.UniqueConstraint('office_id', 'year', 'seq')
    )
    with op.batch_alter_table('letter', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_letter_client_id'), ['client_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('letter', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_letter_client_id'))
    op.drop_table('letter')
    with op.batch_alter_table('staff') as batch:
        batch.drop_column('nip')
