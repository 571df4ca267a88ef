"""session_document: documents signed in a call

Revision ID: 0022
Revises: 0021

Issue 22, signing in the call. A new table only: nothing existing changes.
"""
import sqlalchemy as sa
from alembic import op

from server.db.models import UTCDateTime

revision = '0022'
down_revision = '0021'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('session_document',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('revision', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=200), nullable=False),
    sa.Column('body', sa.Text(), nullable=False),
    sa.Column('particulars', sa.JSON(), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('code', sa.String(length=64), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('signed_name', sa.String(length=200), nullable=True),
    sa.Column('signature', sa.JSON(), nullable=True),
    sa.Column('signed_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('signed_user_agent', sa.String(length=512), nullable=True),
    sa.Column('signed_address', sa.String(length=64), nullable=True),
    sa.Column('content_hash', sa.String(length=64), nullable=True),
    sa.Column('key_id', sa.String(length=64), nullable=True),
    sa.Column('seal', sa.String(length=128), nullable=True),
    sa.Column('countersigned_by_id', sa.Integer(), nullable=True),
    sa.Column('countersigner_name', sa.String(length=200), nullable=True),
    sa.Column('countersigner_nip', sa.String(length=64), nullable=True),
    sa.Column('countersigned_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('countersign_hash', sa.String(length=64), nullable=True),
    sa.Column('countersign_seal', sa.String(length=128), nullable=True),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], ),
    sa.ForeignKeyConstraint(['session_id'], ['guidance_session.id'], ),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['countersigned_by_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_id', 'kind', 'version'),
    sa.UniqueConstraint('code'),
    )
    op.create_index(op.f('ix_session_document_session_id'), 'session_document', ['session_id'], unique=False)
    op.create_index(op.f('ix_session_document_client_id'), 'session_document', ['client_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_session_document_client_id'), table_name='session_document')
    op.drop_index(op.f('ix_session_document_session_id'), table_name='session_document')
    op.drop_table('session_document')
