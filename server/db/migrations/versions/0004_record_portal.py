"""the client's own link (portal_link), reminders marked sent (reminder_mark), the gateway outbox (notify_outbox)

Revision ID: 0004
Revises: 0003
"""
from alembic import op
import sqlalchemy as sa

from server.db.models import UTCDateTime


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'portal_link',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('salt', sa.String(length=32), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('revoked_at', UTCDateTime(timezone=True), nullable=True),
        sa.Column('last_opened_at', UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['client_id'], ['client.id']),
        sa.ForeignKeyConstraint(['created_by_id'], ['staff.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_portal_link_client_id'), 'portal_link', ['client_id'], unique=False)
    op.create_table(
        'reminder_mark',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=96), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('sent_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('sent_by_id', sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(['client_id'], ['client.id']),
        sa.ForeignKeyConstraint(['session_id'], ['guidance_session.id']),
        sa.ForeignKeyConstraint(['sent_by_id'], ['staff.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_index(op.f('ix_reminder_mark_client_id'), 'reminder_mark', ['client_id'], unique=False)
    op.create_table(
        'notify_outbox',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('key', sa.String(length=96), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=True),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('phone', sa.String(length=32), nullable=False),
        sa.Column('text', sa.Text(), nullable=False),
        sa.Column('state', sa.String(length=16), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('last_error', sa.String(length=300), nullable=False),
        sa.Column('next_attempt_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
        sa.Column('sent_at', UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['client_id'], ['client.id']),
        sa.ForeignKeyConstraint(['session_id'], ['guidance_session.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('key'),
    )
    op.create_index(op.f('ix_notify_outbox_client_id'), 'notify_outbox', ['client_id'], unique=False)
    op.create_index('ix_notify_outbox_state_next', 'notify_outbox', ['state', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    op.drop_index('ix_notify_outbox_state_next', table_name='notify_outbox')
    op.drop_index(op.f('ix_notify_outbox_client_id'), table_name='notify_outbox')
    op.drop_table('notify_outbox')
    op.drop_index(op.f('ix_reminder_mark_client_id'), table_name='reminder_mark')
    op.drop_table('reminder_mark')
    op.drop_index(op.f('ix_portal_link_client_id'), table_name='portal_link')
    op.drop_table('portal_link')
