"""The record a route names in its path, loaded with the viewer's access checked.

One lookup for the API and the pages alike: ``/api/sessions/{id}/...`` and
``/sessions/{id}/...`` answer 404 for a session this staff member may not see,
by the same rule (server/domain/access.py).
"""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.orm import joinedload

from server.db.models import GuidanceSession, Staff
from server.domain.access import require_session
from server.web.validation import int_param

# The session row and its events in one statement, so in one snapshot. Read in
# two (the events' own ``selectin``), a call's write landing between them showed
# the new ``disconnected`` event beside the duration from before it (0 s where
# its interval said 0.527), on SQLite and on PostgreSQL alike: neither holds a
# snapshot across a request's statements (pysqlite opens no transaction for a
# SELECT; PostgreSQL reads committed, per statement).
_WITH_EVENTS = (joinedload(GuidanceSession.events),)


async def load_session(request: web.Request, db, staff: Staff) -> GuidanceSession:
    """The session of the route's ``{id}``, with its events, if this staff member
    may see it (404 otherwise)."""
    return require_session(staff, await db.get(GuidanceSession, int_param(request, "id"), options=_WITH_EVENTS))
