"""Home visits: plan one, and the day's list grouped by kecamatan and kelurahan.
The report is ``POST /api/sessions/{id}/complete`` (server/web/api/field_sessions.py)."""

from __future__ import annotations

from datetime import time as TimeOfDay
from typing import Annotated

from aiohttp import web
from pydantic import StringConstraints

from server.db.models import Client, GuidanceSession
from server.domain.access import require_client
from server.domain.fieldwork import home_visits
from server.keys import audit_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.dates import date_query, today
from server.web.fields import Id, Notes, OfficeDate
from server.web.ledger import judge_for
from server.web.serialize import session_json
from server.web.validation import Body, parse_body

routes = web.RouteTableDef()


class VisitPlan(Body):
    client_id: Id
    date: OfficeDate
    time: TimeOfDay | None = None
    reason: Annotated[str, StringConstraints(min_length=1, max_length=32)]
    note: Notes = ""
    notify_client: bool = False


async def plan_visit(request: web.Request, staff, body: VisitPlan) -> int:
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, body.client_id))
        session = await home_visits.plan_visit(db, staff, client, day=body.date, at=body.time, reason=body.reason, note=body.note,
                                               today=today(request), tz=request.app[settings_key].timezone, notify_client=body.notify_client)
        await db.commit()
        session_id = session.id
    await request.app[audit_key].record("visit.plan", actor=staff, target_type="session", target_id=session_id, detail={"client_id": body.client_id, "reason": body.reason, "date": body.date.isoformat(), "notify_client": body.notify_client})
    return session_id


@routes.post("/api/home-visits")
async def post_visit(request: web.Request) -> web.Response:
    staff = current_staff(request)
    body = await parse_body(request, VisitPlan)
    session_id = await plan_visit(request, staff, body)
    async with request.app[db_key]() as db:
        session = await db.get(GuidanceSession, session_id)
        judge = await judge_for(request, db, session.office_id)
    return web.json_response(session_json(session, request.app[settings_key].timezone, judge=judge), status=201)


@routes.get("/api/home-visits")
async def day_list(request: web.Request) -> web.Response:
    staff = current_staff(request)
    tz = request.app[settings_key].timezone
    day = date_query(request, "date", today(request))
    async with request.app[db_key]() as db:
        groups = await home_visits.day_list(db, staff, day, tz)
        judge = await judge_for(request, db, staff.office_id)
    return web.json_response({
        "date": day.isoformat(),
        "groups": [{"kecamatan": g.kecamatan, "kelurahan": g.kelurahan,
                    "visits": [dict(session_json(v, tz, events=False, judge=judge), address=home_visits.address_of(v.client)) for v in g.visits]} for g in groups],
    })
