"""The admin's view of the reminder gateway's outbox: the office's counts and every failure."""

from __future__ import annotations

from aiohttp import web

from server.db.models import Role
from server.domain.access import require_role
from server.domain.outreach import notify as outbox
from server.keys import db_key, settings_key
from server.security import auth
from server.web.render import render

routes = web.RouteTableDef()


@routes.get("/admin/notify")
async def notify_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    require_role(staff, Role.admin, Role.supervisor)
    async with request.app[db_key]() as db:
        counts = await outbox.summary(db, staff.office_id)
        rows = await outbox.problems(db, staff.office_id)
    return render(request, "notify/outbox.html", {"counts": counts, "rows": rows, "gateway": bool(request.app[settings_key].notify_url)})
