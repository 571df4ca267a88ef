"""violations and their path, the three-misses alert's decisions, sidang TPP; a letter may be about no single client

Revision ID: 0016
Revises: 0015

Issue 21 (server/db/casework.py): a violation moves dicatat → teguran_1 →
teguran_2 → bap → sidang_tpp → keputusan, each step a row; the PK's answer to
the ledger's three-misses alert is kept once per client and run; a sidang TPP
holds cases and decides them. ``letter.client_id`` becomes nullable: the
risalah of a sitting is a letter of the office about no single client.
"""
import sqlalchemy as sa
from alembic import op

import server.db.models

revision = '0016'
down_revision = '0015'
branch_labels = None
depends_on = None

UTC = server.db.models.UTCDateTime(timezone=True)


def _enum(name: str, *values: str) -> sa.Enum:
    return sa.Enum(*values, name=name, native_enum=False, length=32)


def upgrade() -> None:
    # Nothing refers to letter yet (the tables below will) and it has no triggers, so SQLite's rebuild of it is safe.
    with op.batch_alter_table('letter') as batch:
        batch.alter_column('client_id', existing_type=sa.Integer(), nullable=True)
    op.create_table(
        'tpp_sitting',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('office_id', sa.Integer(), sa.ForeignKey('office.id'), nullable=False),
        sa.Column('held_on', sa.Date(), nullable=False),
        sa.Column('member_ids', sa.JSON(), nullable=False),
        sa.Column('status', sa.String(length=16), nullable=False),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('staff.id'), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.Column('closed_by_id', sa.Integer(), sa.ForeignKey('staff.id'), nullable=True),
        sa.Column('closed_at', UTC, nullable=True),
        sa.Column('risalah_letter_id', sa.Integer(), sa.ForeignKey('letter.id'), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_tpp_sitting_office_id', 'tpp_sitting', ['office_id'])
    op.create_table(
        'violation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('office_id', sa.Integer(), sa.ForeignKey('office.id'), nullable=False),
        sa.Column('client_id', sa.Integer(), sa.ForeignKey('client.id'), nullable=False),
        sa.Column('kind', _enum('violation_kind', 'tidak_wajib_lapor', 'pindah_alamat', 'tidak_ikut_program', 'tindak_pidana_baru', 'meresahkan', 'lainnya'), nullable=False),
        sa.Column('occurred_on', sa.Date(), nullable=False),
        sa.Column('description', sa.Text(), nullable=False),
        sa.Column('evidence', _enum('violation_evidence', 'observed', 'reported', 'roll_call'), nullable=False),
        sa.Column('state', _enum('violation_state', 'dicatat', 'teguran_1', 'teguran_2', 'bap', 'sidang_tpp', 'keputusan'), nullable=False),
        sa.Column('alert_key', sa.String(length=64), nullable=True),
        sa.Column('decision', _enum('violation_decision', 'dilanjutkan', 'pencabutan', 'selesai'), nullable=True),
        sa.Column('decided_sitting_id', sa.Integer(), sa.ForeignKey('tpp_sitting.id'), nullable=True),
        sa.Column('created_by_id', sa.Integer(), sa.ForeignKey('staff.id'), nullable=False),
        sa.Column('created_at', UTC, nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_violation_office_id', 'violation', ['office_id'])
    op.create_index('ix_violation_client_id', 'violation', ['client_id'])
    op.create_table(
        'violation_step',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('violation_id', sa.Integer(), sa.ForeignKey('violation.id'), nullable=False),
        sa.Column('from_state', sa.String(length=32), nullable=True),
        sa.Column('to_state', sa.String(length=32), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('skip_reason', sa.Text(), nullable=False),
        sa.Column('by_id', sa.Integer(), sa.ForeignKey('staff.id'), nullable=False),
        sa.Column('by_name', sa.String(length=200), nullable=False),
        sa.Column('at', UTC, nullable=False),
        sa.Column('letter_id', sa.Integer(), sa.ForeignKey('letter.id'), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_violation_step_violation_id', 'violation_step', ['violation_id'])
    op.create_table(
        'alert_decision',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), sa.ForeignKey('client.id'), nullable=False),
        sa.Column('alert_key', sa.String(length=64), nullable=False),
        sa.Column('decision', sa.String(length=16), nullable=False),
        sa.Column('reason', sa.Text(), nullable=False),
        sa.Column('violation_id', sa.Integer(), sa.ForeignKey('violation.id'), nullable=True),
        sa.Column('decided_by_id', sa.Integer(), sa.ForeignKey('staff.id'), nullable=False),
        sa.Column('decided_at', UTC, nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('client_id', 'alert_key'),
    )
    op.create_table(
        'tpp_case',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('sitting_id', sa.Integer(), sa.ForeignKey('tpp_sitting.id'), nullable=False),
        sa.Column('client_id', sa.Integer(), sa.ForeignKey('client.id'), nullable=False),
        sa.Column('kind', sa.String(length=32), nullable=False),
        sa.Column('violation_id', sa.Integer(), sa.ForeignKey('violation.id'), nullable=True),
        sa.Column('subject', sa.Text(), nullable=False),
        sa.Column('decision', sa.String(length=32), nullable=True),
        sa.Column('reasons', sa.Text(), nullable=False),
        sa.Column('decided_by_id', sa.Integer(), sa.ForeignKey('staff.id'), nullable=True),
        sa.Column('decided_at', UTC, nullable=True),
        sa.Column('letter_ids', sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('sitting_id', 'violation_id'),
    )
    op.create_index('ix_tpp_case_sitting_id', 'tpp_case', ['sitting_id'])
    op.create_index('ix_tpp_case_client_id', 'tpp_case', ['client_id'])


def downgrade() -> None:
    for table in ('tpp_case', 'alert_decision', 'violation_step', 'violation', 'tpp_sitting'):
        op.drop_table(table)
    # A letter about no single client (a risalah) cannot stay in the older schema.
    op.execute("DELETE FROM letter WHERE client_id IS NULL")
    with op.batch_alter_table('letter') as batch:
        batch.alter_column('client_id', existing_type=sa.Integer(), nullable=False)
