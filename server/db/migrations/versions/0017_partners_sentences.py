"""partners (mitra), referrals with their steps and reports, sentences under UU 1/2023, community-service hours, site supervisors' links

Revision ID: 0017
Revises: 0016

Issue 21, second half. New tables only: nothing existing changes. The partial
unique index on service_hours (client, day) among entries not rejected is what
makes one day's hours, entered twice at once, count once.
"""
import sqlalchemy as sa
from alembic import op

from server.db.models import UTCDateTime

revision = '0017'
down_revision = '0016'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('partner',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('kind', sa.Enum('pokmas_lipas', 'griya_abhipraya', 'blk_lpk', 'puskesmas', 'bnn', 'pemberi_kerja', 'tempat_kerja_sosial', 'lainnya', name='partner_kind', native_enum=False, length=32), nullable=False),
    sa.Column('contact', sa.String(length=200), nullable=False),
    sa.Column('address', sa.String(length=300), nullable=False),
    sa.Column('kelurahan', sa.String(length=100), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('office_id', 'name', name='uq_partner_office_name')
    )
    op.create_index(op.f('ix_partner_office_id'), 'partner', ['office_id'], unique=False)
    op.create_table('referral',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.Text(), nullable=False),
    sa.Column('goal_ref', sa.String(length=100), nullable=False),
    sa.Column('status', sa.Enum('dirujuk', 'diterima', 'ditolak', 'berjalan', 'selesai', name='referral_status', native_enum=False, length=32), nullable=False),
    sa.Column('outcome', sa.Enum('berhasil', 'sebagian', 'tidak_berhasil', name='referral_outcome', native_enum=False, length=32), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_referral_client_id'), 'referral', ['client_id'], unique=False)
    op.create_index(op.f('ix_referral_partner_id'), 'referral', ['partner_id'], unique=False)
    op.create_table('sentence',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.Enum('pidana_kerja_sosial', 'pidana_pengawasan', name='sentence_kind', native_enum=False, length=32), nullable=False),
    sa.Column('hours_ordered', sa.Integer(), nullable=True),
    sa.Column('placement_id', sa.Integer(), nullable=True),
    sa.Column('site_supervisor', sa.String(length=200), nullable=False),
    sa.Column('max_hours_per_day', sa.Integer(), nullable=False),
    sa.Column('term_months', sa.Integer(), nullable=True),
    sa.Column('conditions', sa.Text(), nullable=False),
    sa.Column('updated_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ),
    sa.ForeignKeyConstraint(['placement_id'], ['partner.id'], ),
    sa.ForeignKeyConstraint(['updated_by_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('client_id')
    )
    op.create_index(op.f('ix_sentence_placement_id'), 'sentence', ['placement_id'], unique=False)
    op.create_table('site_link',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('office_id', sa.Integer(), nullable=False),
    sa.Column('partner_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('salt', sa.String(length=32), nullable=False),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('expires_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_opened_at', UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['created_by_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['office_id'], ['office.id'], ),
    sa.ForeignKeyConstraint(['partner_id'], ['partner.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_site_link_partner_id'), 'site_link', ['partner_id'], unique=False)
    op.create_table('referral_report',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=128), nullable=False),
    sa.Column('content_type', sa.String(length=32), nullable=False),
    sa.Column('size', sa.Integer(), nullable=False),
    sa.Column('sha256', sa.String(length=64), nullable=False),
    sa.Column('uploaded_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('uploaded_by_id', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], ),
    sa.ForeignKeyConstraint(['uploaded_by_id'], ['staff.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('path')
    )
    op.create_index(op.f('ix_referral_report_referral_id'), 'referral_report', ['referral_id'], unique=False)
    op.create_table('referral_step',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('referral_id', sa.Integer(), nullable=False),
    sa.Column('from_status', sa.String(length=16), nullable=False),
    sa.Column('to_status', sa.String(length=16), nullable=False),
    sa.Column('note', sa.Text(), nullable=False),
    sa.Column('by_id', sa.Integer(), nullable=False),
    sa.Column('at', UTCDateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['by_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['referral_id'], ['referral.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_referral_step_referral_id'), 'referral_step', ['referral_id'], unique=False)
    op.create_table('service_hours',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('client_id', sa.Integer(), nullable=False),
    sa.Column('date', sa.Date(), nullable=False),
    sa.Column('minutes', sa.Integer(), nullable=False),
    sa.Column('task', sa.String(length=300), nullable=False),
    sa.Column('status', sa.Enum('pending', 'approved', 'rejected', name='hours_status', native_enum=False, length=32), nullable=False),
    sa.Column('entered_by_id', sa.Integer(), nullable=True),
    sa.Column('site_link_id', sa.Integer(), nullable=True),
    sa.Column('created_at', UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by_id', sa.Integer(), nullable=True),
    sa.Column('decided_at', UTCDateTime(timezone=True), nullable=True),
    sa.Column('reason', sa.String(length=300), nullable=False),
    sa.ForeignKeyConstraint(['client_id'], ['client.id'], ),
    sa.ForeignKeyConstraint(['decided_by_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['entered_by_id'], ['staff.id'], ),
    sa.ForeignKeyConstraint(['site_link_id'], ['site_link.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    op.create_index(op.f('ix_service_hours_client_id'), 'service_hours', ['client_id'], unique=False)
    op.create_index('uq_service_hours_client_day', 'service_hours', ['client_id', 'date'], unique=True, sqlite_where=sa.text("status <> 'rejected'"), postgresql_where=sa.text("status <> 'rejected'"))


def downgrade() -> None:
    op.drop_index('uq_service_hours_client_day', table_name='service_hours')
    op.drop_index(op.f('ix_service_hours_client_id'), table_name='service_hours')
    op.drop_table('service_hours')
    op.drop_index(op.f('ix_referral_step_referral_id'), table_name='referral_step')
    op.drop_table('referral_step')
    op.drop_index(op.f('ix_referral_report_referral_id'), table_name='referral_report')
    op.drop_table('referral_report')
    op.drop_index(op.f('ix_site_link_partner_id'), table_name='site_link')
    op.drop_table('site_link')
    op.drop_index(op.f('ix_sentence_placement_id'), table_name='sentence')
    op.drop_table('sentence')
    op.drop_index(op.f('ix_referral_partner_id'), table_name='referral')
    op.drop_index(op.f('ix_referral_client_id'), table_name='referral')
    op.drop_table('referral')
    op.drop_index(op.f('ix_partner_office_id'), table_name='partner')
    op.drop_table('partner')
