"""guidance_session: one standing roll-call check-in per client per mobile-counseling day

Revision ID: 0012
Revises: 0011

Parallel check-ins of one client without a key each passed the "already checked
in?" check before any of them wrote: ten at once made nine "attended" sessions
(issue 23), and compliance and the evaluation counted them. A partial unique
index on (mobile_event_id, client_id) over the sessions not taken back (status
``cancelled``) now refuses the second one, whoever writes it.

Doubles made before this migration would stop it from building the index: the
first check-in of each client and day stays, every later one is taken back as an
undo would (status ``cancelled``, an event ``checkin_undone`` that names the
first and this migration), so the record keeps them and counts one.
"""
from datetime import datetime, timezone

import sqlalchemy as sa
from alembic import op

from server.db.models import UTCDateTime

revision = '0012'
down_revision = '0011'
branch_labels = None
depends_on = None

WHERE = "mobile_event_id IS NOT NULL AND status <> 'cancelled'"
SESSION_EVENT = sa.table(
    'session_event', sa.column('session_id', sa.Integer), sa.column('kind', sa.String), sa.column('at', UTCDateTime()),
    sa.column('actor', sa.String), sa.column('detail', sa.JSON),
)


def _take_back_doubles() -> None:
    bind = op.get_bind()
    rows = bind.execute(sa.text(
        f"SELECT id, mobile_event_id, client_id FROM guidance_session WHERE {WHERE} ORDER BY mobile_event_id, client_id, id"
    )).all()
    first: dict[tuple[int, int], int] = {}
    now = datetime.now(timezone.utc)
    for session_id, event_id, client_id in rows:
        kept = first.setdefault((event_id, client_id), session_id)
        if kept == session_id:
            continue
        bind.execute(sa.text("UPDATE guidance_session SET status = 'cancelled' WHERE id = :id"), {"id": session_id})
        bind.execute(SESSION_EVENT.insert().values(
            session_id=session_id, kind='checkin_undone', at=now, actor='system', detail={"by": "migration 0012", "duplicate_of": kept},
        ))


def upgrade() -> None:
    _take_back_doubles()
    op.create_index(
        'uq_session_event_client_checkin', 'guidance_session', ['mobile_event_id', 'client_id'], unique=True,
        sqlite_where=sa.text(WHERE), postgresql_where=sa.text(WHERE),
    )


def downgrade() -> None:
    # The sessions taken back stay taken back: they were doubles.
    op.drop_index('uq_session_event_client_checkin', table_name='guidance_session')
