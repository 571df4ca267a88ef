"""The reminder gateway's outbox, for the office's admin and supervisors: what of
their office's reminders is pending, sent, failed and why (never another office's)."""

from __future__ import annotations

from aiohttp import web

from server.db.models import Role
from server.domain.access import require_role
from server.domain.outreach import notify as outbox
from server.keys import db_key, settings_key
from server.security.auth import current_staff
from server.web.serialize import iso

routes = web.RouteTableDef()


@routes.get("/api/notify/outbox")
async def notify_outbox(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_role(staff, Role.admin, Role.supervisor)
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        counts = await outbox.summary(db, staff.office_id)
        rows = await outbox.problems(db, staff.office_id)
    return web.json_response({
        "gateway": bool(settings.notify_url),
        "counts": counts,
        "problems": [
            {"id": r.id, "key": r.key, "client_id": r.client_id, "kind": r.kind, "state": r.state, "attempts": r.attempts,
             "last_error": r.last_error, "next_attempt_at": iso(r.next_attempt_at, settings.timezone), "created_at": iso(r.created_at, settings.timezone)}
            for r in rows
        ],
    }, headers={"Cache-Control": "no-store"})
