"""session_guest, guest_attendance: a third person in a video call

Revision ID: 0021
Revises: 0020

Issue 22, second part. New tables only: nothing existing changes.
"""
import sqlalchemy as sa
from alembic import op

from server.db.models import UTCDateTime

revision = '0021'
down_revision = '0020'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('session_guest',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('role', sa.String(length=32), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('issued_by', sa.Integer(), nullable=False),
    sa.Column('issued_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_by', sa.Integer(), nullable=True),
    sa.Column('revoked_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['session_id'], ['guidance_session.id'], ),
    sa.ForeignKeyConstraint(['issued_by'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['revoked_by'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('token_hash')
    )
    op.create_index(op.f('ix_session_guest_session_id'), 'session_guest', ['session_id'], unique=False)
    op.create_table('guest_attendance',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('guest_id', sa.Integer(), nullable=False),
    sa.Column('session_id', sa.Integer(), nullable=False),
    sa.Column('joined_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('left_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('left_reason', sa.String(length=32), nullable=True),
    sa.Column('audio_packets', sa.Integer(), nullable=False),
    sa.Column('video_packets', sa.Integer(), nullable=False),
    sa.Column('media_from', UTCDateTime(timezone=True), nullable=True),
    sa.Column('media_to', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['guest_id'], ['session_guest.id'], ),
    sa.ForeignKeyConstraint(['session_id'], ['guidance_session.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_guest_attendance_guest_id'), 'guest_attendance', ['guest_id'], unique=False)
    op.create_index(op.f('ix_guest_attendance_session_id'), 'guest_attendance', ['session_id'], unique=False)


def downgrade() -> None:
    op.drop_index(op.f('ix_guest_attendance_session_id'), table_name='guest_attendance')
    op.drop_index(op.f('ix_guest_attendance_guest_id'), table_name='guest_attendance')
    op.drop_table('guest_attendance')
    op.drop_index(op.f('ix_session_guest_session_id'), table_name='session_guest')
    op.drop_table('session_guest')
