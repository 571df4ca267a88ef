"""client.sessions_revision, raised by the database whenever a session the evaluation reads changes

Revision ID: 0008
Revises: 0007

The evaluation keeps each client's sessions between calls and rereads only the
clients whose revision moved (server/domain/record/session_digest.py). Triggers, not
the application, raise it: every writer (the ORM, the write batcher's plain
statements, another process, an operator's SQL) is seen. Only the columns the
evaluation reads fire it, so the heartbeat stamps of a call write no client row.
"""
import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None

# The columns of guidance_session the evaluation reads (server/domain/record/session_digest.py).
READ = "client_id, officer_id, mode, evidence, status, outcome, scheduled_at, started_at, duration_seconds, notes"


def upgrade() -> None:
    # Plain ADD COLUMN (no batch): SQLite does not rebuild the table.
    op.add_column('client', sa.Column('sessions_revision', sa.Integer(), nullable=False, server_default='0'))
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("""
            CREATE FUNCTION bump_sessions_revision() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF TG_OP <> 'INSERT' THEN
                    UPDATE client SET sessions_revision = sessions_revision + 1 WHERE id = OLD.client_id;
                END IF;
                IF TG_OP = 'INSERT' OR NEW.client_id IS DISTINCT FROM OLD.client_id THEN
                    UPDATE client SET sessions_revision = sessions_revision + 1 WHERE id = NEW.client_id;
                END IF;
                RETURN NULL;
            END $$""")
        op.execute(f"CREATE TRIGGER sessions_revision AFTER INSERT OR DELETE OR UPDATE OF {READ} ON guidance_session "
                   "FOR EACH ROW EXECUTE FUNCTION bump_sessions_revision()")
    else:
        op.execute("CREATE TRIGGER sessions_revision_insert AFTER INSERT ON guidance_session BEGIN "
                   "UPDATE client SET sessions_revision = sessions_revision + 1 WHERE id = NEW.client_id; END")
        op.execute(f"CREATE TRIGGER sessions_revision_update AFTER UPDATE OF {READ} ON guidance_session BEGIN "
                   "UPDATE client SET sessions_revision = sessions_revision + 1 WHERE id IN (OLD.client_id, NEW.client_id); END")
        op.execute("CREATE TRIGGER sessions_revision_delete AFTER DELETE ON guidance_session BEGIN "
                   "UPDATE client SET sessions_revision = sessions_revision + 1 WHERE id = OLD.client_id; END")


def downgrade() -> None:
    if op.get_bind().dialect.name == 'postgresql':
        op.execute("DROP TRIGGER sessions_revision ON guidance_session")
        op.execute("DROP FUNCTION bump_sessions_revision()")
    else:
        for name in ("insert", "update", "delete"):
            op.execute(f"DROP TRIGGER sessions_revision_{name}")
    # SQLite 3.35+ drops a column in place; batch mode would rebuild the table (and its triggers' target).
    op.drop_column('client', 'sessions_revision')
