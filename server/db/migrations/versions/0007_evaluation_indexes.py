"""indexes the evaluation reads by: every column of its per-client scan, and the sessions without notes

Revision ID: 0007
Revises: 0006
"""
from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain CREATE INDEX (no batch): the table is not rebuilt. See bench/README.md, "evaluation.py".
    op.create_index('ix_session_client_evaluation', 'guidance_session',
                    ['client_id', 'scheduled_at', 'started_at', 'status', 'outcome', 'mode', 'evidence', 'officer_id', 'duration_seconds'])
    op.create_index('ix_session_without_notes', 'guidance_session', ['client_id', 'scheduled_at', 'started_at', 'status', 'officer_id'],
                    sqlite_where=sa.text("notes = ''"), postgresql_where=sa.text("notes = ''"))


def downgrade() -> None:
    op.drop_index('ix_session_without_notes', table_name='guidance_session')
    op.drop_index('ix_session_client_evaluation', table_name='guidance_session')
