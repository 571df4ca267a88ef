"""field work: phone mode, home-visit report fields, mobile-counseling events
and check-ins, client address

Revision ID: 0003
Revises: 0002
"""
from alembic import op
import sqlalchemy as sa


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'mobile_event',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('office_id', sa.Integer(), nullable=False),
        sa.Column('date', sa.Date(), nullable=False),
        sa.Column('start_time', sa.String(length=5), nullable=False),
        sa.Column('end_time', sa.String(length=5), nullable=False),
        sa.Column('kelurahan', sa.String(length=100), nullable=False),
        sa.Column('area_id', sa.Integer(), nullable=True),
        sa.Column('venue', sa.String(length=200), nullable=False),
        sa.Column('topic', sa.String(length=200), nullable=False),
        sa.Column('client_note', sa.Text(), nullable=False),
        sa.Column('officer_ids', sa.JSON(), nullable=False),
        sa.Column('status', sa.Enum('planned', 'cancelled', name='mobile_event_status', native_enum=False, length=32), nullable=False),
        sa.Column('created_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['area_id'], ['area.id']),
        sa.ForeignKeyConstraint(['created_by_id'], ['staff.id']),
        sa.ForeignKeyConstraint(['office_id'], ['office.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_mobile_event_office_date', 'mobile_event', ['office_id', 'date'])
    op.create_table(
        'mobile_invitation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('event_id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('added_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['added_by_id'], ['staff.id']),
        sa.ForeignKeyConstraint(['client_id'], ['client.id']),
        sa.ForeignKeyConstraint(['event_id'], ['mobile_event.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('event_id', 'client_id'),
    )
    op.create_index(op.f('ix_mobile_invitation_event_id'), 'mobile_invitation', ['event_id'])
    with op.batch_alter_table('client') as batch:
        batch.add_column(sa.Column('street', sa.String(length=200), server_default='', nullable=False))
        batch.add_column(sa.Column('rt_rw', sa.String(length=16), server_default='', nullable=False))
    with op.batch_alter_table('guidance_session') as batch:
        batch.add_column(sa.Column('met_with', sa.JSON(), server_default='[]', nullable=False))
        batch.add_column(sa.Column('client_present', sa.Boolean(), nullable=True))
        batch.add_column(sa.Column('findings', sa.Text(), server_default='', nullable=False))
        batch.add_column(sa.Column('follow_up', sa.Text(), server_default='', nullable=False))
        batch.add_column(sa.Column('visit_reason', sa.String(length=32), server_default='', nullable=False))
        batch.add_column(sa.Column('follows_session_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('mobile_event_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('checked_in_by_id', sa.Integer(), nullable=True))
        batch.add_column(sa.Column('checkin_key', sa.String(length=64), nullable=True))
        batch.create_foreign_key('fk_session_follows', 'guidance_session', ['follows_session_id'], ['id'])
        batch.create_foreign_key('fk_session_mobile_event', 'mobile_event', ['mobile_event_id'], ['id'])
        batch.create_foreign_key('fk_session_checked_in_by', 'staff', ['checked_in_by_id'], ['id'])
        batch.create_index('ix_guidance_session_mobile_event_id', ['mobile_event_id'])
        batch.create_unique_constraint('uq_session_event_checkin_key', ['mobile_event_id', 'checkin_key'])
    # Clients typed before the area was configured: link each to the kelurahan of its
    # office whose name matches, ignoring case and surrounding spaces. What stays
    # unmatched is listed for the admin (GET /api/areas/unmatched, /admin/areas).
    op.execute(
        """
        UPDATE client SET area_id = (
            SELECT MIN(area.id) FROM area
            WHERE area.office_id = client.office_id AND area.level = 'kelurahan'
              AND lower(trim(area.name)) = lower(trim(client.kelurahan))
        )
        WHERE area_id IS NULL
        """
    )


def downgrade() -> None:
    with op.batch_alter_table('guidance_session') as batch:
        batch.drop_constraint('uq_session_event_checkin_key', type_='unique')
        batch.drop_index('ix_guidance_session_mobile_event_id')
        batch.drop_constraint('fk_session_checked_in_by', type_='foreignkey')
        batch.drop_constraint('fk_session_mobile_event', type_='foreignkey')
        batch.drop_constraint('fk_session_follows', type_='foreignkey')
        for column in ('checkin_key', 'checked_in_by_id', 'mobile_event_id', 'follows_session_id', 'visit_reason', 'follow_up', 'findings', 'client_present', 'met_with'):
            batch.drop_column(column)
    with op.batch_alter_table('client') as batch:
        batch.drop_column('rt_rw')
        batch.drop_column('street')
    op.drop_index(op.f('ix_mobile_invitation_event_id'), table_name='mobile_invitation')
    op.drop_table('mobile_invitation')
    op.drop_index('ix_mobile_event_office_date', table_name='mobile_event')
    op.drop_table('mobile_event')
