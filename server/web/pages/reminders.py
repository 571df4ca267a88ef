"""The PK's "Pengingat hari ini": the day's reminders ordered by time."""

from __future__ import annotations

from aiohttp import web

from sqlalchemy import select

from server.db.models import Client
from server.domain.outreach import reminders as reminders_domain
from server.domain.violations.alerts import open_alerts
from server.keys import audit_key, db_key, settings_key
from server.security import auth
from server.web.api.reminders import day_param
from server.web.dates import today
from server.web.render import render

routes = web.RouteTableDef()


@routes.get("/reminders")
async def reminders_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    tz = request.app[settings_key].timezone
    day = day_param(request)
    async with request.app[db_key]() as db:
        items = await reminders_domain.daily_reminders(db, staff, day, tz)
        alerts = await open_alerts(db, staff, min(day, today(request)), tz)
        ids = {a.client_id for a in alerts}
        names = dict((await db.execute(select(Client.id, Client.name).where(Client.id.in_(ids)))).all()) if ids else {}
    response = render(request, "reminders/today.html", {"items": items, "day": day, "alerts": alerts, "alert_names": names})
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post("/reminders/{id}/sent")
async def reminder_sent_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    tz = request.app[settings_key].timezone
    day = day_param(request)
    async with request.app[db_key]() as db:
        reminder, changed = await reminders_domain.mark_sent(db, staff, request.match_info["id"][:64], day, tz)
        await db.commit()
    if changed:
        await request.app[audit_key].record("reminder.sent", actor=staff, target_type="client", target_id=reminder.client_id, detail={"reminder": reminder.id, "kind": reminder.kind})
    raise web.HTTPFound(f"/reminders?date={day.isoformat()}")
