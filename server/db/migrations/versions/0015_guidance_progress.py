"""where guidance is going (issue 20): a client's stages, assessments, case-plan
versions with their goals, and the progress rated at sessions

Revision ID: 0015
Revises: 0014

client.stage_plan holds the stages (awal, lanjutan, akhir: start and reporting
interval each) of a client made with them; existing clients keep null, counted
on their one reporting_interval_days as before (server/domain/record/ledger.py).
"""
import sqlalchemy as sa
from alembic import op

revision = '0015'
down_revision = '0014'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Plain ADD COLUMN (no batch): SQLite does not rebuild the table.
    op.add_column('client', sa.Column('stage_plan', sa.JSON(), nullable=True))
    op.create_table(
        'assessment',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('office_id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('assessed_on', sa.Date(), nullable=False),
        sa.Column('instrument', sa.String(length=32), nullable=False),
        sa.Column('score', sa.Float(), nullable=True),
        sa.Column('category', sa.Enum('rendah', 'sedang', 'tinggi', name='risk_category', native_enum=False, length=32), nullable=False),
        sa.Column('needs', sa.JSON(), nullable=False),
        sa.Column('notes', sa.Text(), nullable=False),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['author_id'], ['staff.id']),
        sa.ForeignKeyConstraint(['client_id'], ['client.id']),
        sa.ForeignKeyConstraint(['office_id'], ['office.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_assessment_client_date', 'assessment', ['client_id', 'assessed_on'])
    op.create_table(
        'plan_goal',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['client_id'], ['client.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_plan_goal_client_id'), 'plan_goal', ['client_id'])
    op.create_table(
        'case_plan',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('office_id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('version', sa.Integer(), nullable=False),
        sa.Column('status', sa.Enum('draft', 'approved', name='plan_status', native_enum=False, length=32), nullable=False),
        sa.Column('goals', sa.JSON(), nullable=False),
        sa.Column('agreement', sa.Enum('setuju', 'tidak_setuju', 'tidak_dapat_menjawab', name='plan_agreement', native_enum=False, length=32), nullable=False),
        sa.Column('agreement_reason', sa.Text(), nullable=False),
        sa.Column('assessment_id', sa.Integer(), nullable=True),
        sa.Column('author_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('approved_by_id', sa.Integer(), nullable=True),
        sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['approved_by_id'], ['staff.id']),
        sa.ForeignKeyConstraint(['assessment_id'], ['assessment.id']),
        sa.ForeignKeyConstraint(['author_id'], ['staff.id']),
        sa.ForeignKeyConstraint(['client_id'], ['client.id']),
        sa.ForeignKeyConstraint(['office_id'], ['office.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('client_id', 'version'),
    )
    op.create_index(op.f('ix_case_plan_client_id'), 'case_plan', ['client_id'])
    op.create_table(
        'goal_progress',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('client_id', sa.Integer(), nullable=False),
        sa.Column('session_id', sa.Integer(), nullable=False),
        sa.Column('goal_id', sa.Integer(), nullable=False),
        sa.Column('rating', sa.Enum('mundur', 'tetap', 'maju', 'tercapai', name='goal_rating', native_enum=False, length=32), nullable=False),
        sa.Column('note', sa.Text(), nullable=False),
        sa.Column('rated_by_id', sa.Integer(), nullable=True),
        sa.Column('rated_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['client_id'], ['client.id']),
        sa.ForeignKeyConstraint(['goal_id'], ['plan_goal.id']),
        sa.ForeignKeyConstraint(['rated_by_id'], ['staff.id']),
        sa.ForeignKeyConstraint(['session_id'], ['guidance_session.id']),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('session_id', 'goal_id'),
    )
    op.create_index(op.f('ix_goal_progress_client_id'), 'goal_progress', ['client_id'])
    op.create_index(op.f('ix_goal_progress_session_id'), 'goal_progress', ['session_id'])


def downgrade() -> None:
    op.drop_table('goal_progress')
    op.drop_table('case_plan')
    op.drop_table('plan_goal')
    op.drop_index('ix_assessment_client_date', table_name='assessment')
    op.drop_table('assessment')
    # SQLite 3.35+ drops a column in place; batch mode would rebuild the table and lose its triggers.
    op.drop_column('client', 'stage_plan')
