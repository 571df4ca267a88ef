"""Finishing a session held away from the video call, and carrying a failed
video call on by phone or WhatsApp (server/domain/fieldwork/field_sessions.py)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from server.db.models import GuidanceSession, Outcome
from server.domain.access import require_session
from server.domain.fieldwork import field_sessions
from server.domain.record import sessions as sessions_domain
from server.keys import audit_key, calls_key, db_key, rooms_key, settings_key
from server.security.auth import current_staff
from server.web.lookups import load_session
from server.web.fields import Notes, ShortText, Topics
from server.web.ledger import judge_for
from server.web.serialize import session_json
from server.web.validation import Body, int_param, parse_body

routes = web.RouteTableDef()


class SessionComplete(Body):
    outcome: Outcome
    duration_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    notes: Notes | None = None
    topics: Topics | None = None
    location: ShortText | None = None
    met_with: list[str] | None = Field(default=None, max_length=6)
    client_present: bool | None = None
    findings: Notes | None = None
    follow_up: Notes | None = None


def complete_kwargs(body: SessionComplete) -> dict:
    return body.model_dump(exclude_unset=True)


@routes.post("/api/sessions/{id}/complete")
async def complete_session(request: web.Request) -> web.Response:
    staff = current_staff(request)
    body = await parse_body(request, SessionComplete)
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        field_sessions.complete_session(session, staff, db, **complete_kwargs(body))
        await db.commit()
        session_id = session.id
    await request.app[audit_key].record("session.complete", actor=staff, target_type="session", target_id=session_id, detail={"outcome": body.outcome.value, "fields": sorted(body.model_fields_set)})
    async with request.app[db_key]() as db:
        session = await db.get(GuidanceSession, session_id)
        judge = await judge_for(request, db, session.office_id)
    return web.json_response(session_json(session, request.app[settings_key].timezone, judge=judge))


async def start_phone_fallback(request: web.Request, staff, video_id: int) -> int:
    """Close the failed video session if still open, and open the phone session
    that carries it on. Returns the phone session's id."""
    async with request.app[db_key]() as db:
        video = require_session(staff, await db.get(GuidanceSession, video_id))
        phone = field_sessions.phone_fallback_session(video, staff)
        if video.status in sessions_domain.OPEN_STATUSES:
            calls = request.app.get(calls_key)
            if calls is not None:
                await calls.close_for_end(db, video, phone.created_at)
            sessions_domain.end_session(db, video, "officer", at=phone.created_at)
        db.add(phone)
        await db.flush()
        sessions_domain.add_event(db, phone, "created", "officer", at=phone.created_at, mode="phone", by=staff.username)
        sessions_domain.add_event(db, video, "phone_fallback", "officer", at=phone.created_at, phone_session_id=phone.id)
        await db.commit()
        phone_id = phone.id
    rooms = request.app.get(rooms_key)
    if rooms is not None:
        await rooms.session_ended(video_id)
    await request.app[audit_key].record("session.phone_fallback", actor=staff, target_type="session", target_id=phone_id, detail={"follows_session_id": video_id})
    return phone_id


@routes.post("/api/sessions/{id}/phone-fallback")
async def phone_fallback(request: web.Request) -> web.Response:
    staff = current_staff(request)
    phone_id = await start_phone_fallback(request, staff, int_param(request, "id"))
    async with request.app[db_key]() as db:
        phone = await db.get(GuidanceSession, phone_id)
        judge = await judge_for(request, db, phone.office_id)
    return web.json_response(session_json(phone, request.app[settings_key].timezone, judge=judge), status=201)
