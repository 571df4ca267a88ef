"""notify_outbox: no gateway credential in last_error, no full text waiting to be sent

Revision ID: 0013
Revises: 0012

Issue 23: a gateway URL with its key in the query reached ``last_error`` whole
(aiohttp's messages carry the URL), and from there the outbox's page and API.
Rows written before this release are passed through the one redaction function
(server/security/redact.py). Reminders still waiting (pending) get the neutral
sentence: no office had chosen the full text, which is a setting from this
release on (server/domain/outreach/wording.py). Nothing to undo on downgrade:
what was cut is gone.
"""
import sqlalchemy as sa
from alembic import op

from server.domain.outreach.wording import NEUTRAL_TEXT
from server.security.redact import redact_urls

revision = '0013'
down_revision = '0012'
branch_labels = None
depends_on = None

outbox = sa.table('notify_outbox', sa.column('id', sa.Integer), sa.column('state', sa.String), sa.column('text', sa.Text),
                  sa.column('last_error', sa.String))


def upgrade() -> None:
    conn = op.get_bind()
    for row_id, error in conn.execute(sa.select(outbox.c.id, outbox.c.last_error).where(outbox.c.last_error.like('%://%'))).all():
        conn.execute(outbox.update().where(outbox.c.id == row_id).values(last_error=redact_urls(error)[:300]))
    conn.execute(outbox.update().where(outbox.c.state == 'pending').values(text=NEUTRAL_TEXT))


def downgrade() -> None:
    pass
