"""The record a route names in its path, loaded with the viewer's access checked.

One lookup for the API and the pages alike: ``/api/sessions/{id}/...`` and
``/sessions/{id}/...`` answer 404 for a session this staff member may not see,
by the same rule (server/domain/access.py).
"""

from __future__ import annotations

from aiohttp import web

from server.db.models import GuidanceSession, Staff
from server.domain.access import require_session
from server.web.validation import int_param


async def load_session(request: web.Request, db, staff: Staff) -> GuidanceSession:
    """The session of the route's ``{id}``, if this staff member may see it (404 otherwise)."""
    return require_session(staff, await db.get(GuidanceSession, int_param(request, "id")))
