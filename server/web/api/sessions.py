"""Guidance sessions: schedule or start, read, notes and outcome, end, join links."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field, model_validator
from sqlalchemy import select

from server.db.models import (
    Client,
    GoalRating,
    GuidanceSession,
    Outcome,
    SessionMode,
    SessionStatus,
    Staff,
    utcnow,
)
from server.domain.access import require_client, require_guidance
from server.domain.calls import chat as chat_log
from server.domain.calls import guests as guests_domain
from server.domain.errors import DomainError, ErrorKind
from server.domain.guidance import progress as progress_domain
from server.domain.record import sessions as sessions_domain
from server.keys import audit_key, calls_key, db_key, rooms_key, settings_key
from server.security.auth import current_staff
from server.web.fields import Id, LocalDateTime, Notes, ShortText, Topics
from server.web.ledger import judge_for
from server.web.links import session_links
from server.web.lookups import load_session
from server.web.serialize import chat_message_json, guest_json, note_version_json, session_json
from server.web.validation import Body, parse_body

routes = web.RouteTableDef()


class ProgressItem(Body):
    goal_id: Id
    rating: GoalRating
    note: str = Field(default="", max_length=2000)


Progress = Annotated[list[ProgressItem], Field(max_length=12)]


def _progress(items: list[ProgressItem] | None) -> list[progress_domain.ProgressInput]:
    return [progress_domain.ProgressInput(i.goal_id, i.rating, i.note) for i in items or []]


async def _progress_json(db, session_id: int) -> list[dict]:
    return [{"goal_id": p.goal_id, "rating": p.rating.value, "note": p.note} for p in await progress_domain.session_progress(db, session_id)]


class SessionCreate(Body):
    client_id: Id
    mode: SessionMode
    scheduled_at: LocalDateTime | None = None
    record: bool = False
    notes: Notes = ""
    outcome: Outcome | None = None
    topics: Topics = []
    duration_minutes: int | None = Field(default=None, ge=0, le=24 * 60)
    location: ShortText = ""
    progress: Progress = Field(default_factory=list)


class SessionUpdate(Body):
    notes: Notes | None = None
    outcome: Outcome | None = None
    topics: Topics | None = None
    progress: Progress | None = None

    @model_validator(mode="after")
    def _something(self):
        if not self.model_fields_set:
            raise ValueError("give at least one of notes, outcome, topics, progress")
        return self


@routes.post("/api/sessions")
async def create_session(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    settings = request.app[settings_key]
    body = await parse_body(request, SessionCreate)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, body.client_id))
        session = await sessions_domain.create_session(
            db,
            staff,
            client,
            mode=body.mode,
            scheduled_at=body.scheduled_at,
            record=body.record,
            notes=body.notes,
            outcome=body.outcome,
            topics=body.topics,
            duration_minutes=body.duration_minutes,
            location=body.location,
            tz=settings.timezone,
        )
        rated = await progress_domain.rate_goals(db, staff, session, _progress(body.progress))
        await db.commit()
        session_id = session.id
    async with request.app[db_key]() as db:
        session = await db.get(GuidanceSession, session_id)
        judge = await judge_for(request, db, session.office_id)
        progress = await _progress_json(db, session_id)
    detail = {"client_id": client.id, "mode": session.mode.value}
    if rated:
        detail["progress"] = [{"goal_id": p["goal_id"], "rating": p["rating"]} for p in progress]
    await request.app[audit_key].record("session.create", actor=staff, target_type="session", target_id=session.id, detail=detail)
    data = dict(session_json(session, settings.timezone, judge=judge), progress=progress)
    if session.mode == SessionMode.video:
        data.update(session_links(request, settings, session))
        await request.app[audit_key].record("link.issue", actor=staff, target_type="session", target_id=session.id, detail={"version": session.link_version})
    return web.json_response(data, status=201)


@routes.get("/api/sessions/{id}")
async def get_session(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        judge = await judge_for(request, db, session.office_id)
        progress = await _progress_json(db, session.id)
        # Who else attended, from when to when (issue 22): part of the session's record.
        guests = await guests_domain.guests(db, session.id)
    tz = request.app[settings_key].timezone
    return web.json_response(dict(session_json(session, tz, judge=judge), progress=progress, guests=[guest_json(x.guest, x.stays, tz) for x in guests]))


@routes.patch("/api/sessions/{id}")
async def update_session(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    body = await parse_body(request, SessionUpdate)
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        if session.status == SessionStatus.cancelled:
            raise DomainError(ErrorKind.conflict, "session-cancelled", "A cancelled session cannot be changed.")
        version = await sessions_domain.update_notes(
            db,
            staff,
            session,
            notes=body.notes,
            outcome=body.outcome,
            topics=body.topics,
            clear_outcome="outcome" in body.model_fields_set and body.outcome is None,
        )
        rated = await progress_domain.rate_goals(db, staff, session, _progress(body.progress))
        await db.commit()
        session_id = session.id
    if rated:
        await request.app[audit_key].record("session.progress", actor=staff, target_type="session", target_id=session_id,
                                            detail={"progress": [{"goal_id": p.goal_id, "rating": p.rating.value} for p in rated]})
    if version is not None:
        await request.app[audit_key].record(
            "session.notes_change",
            actor=staff,
            target_type="session",
            target_id=session_id,
            detail={"version_id": version.id, "fields": sorted(body.model_fields_set)},
        )
    async with request.app[db_key]() as db:
        session = await db.get(GuidanceSession, session_id)
        judge = await judge_for(request, db, session.office_id)
        progress = await _progress_json(db, session_id)
    return web.json_response(dict(session_json(session, request.app[settings_key].timezone, judge=judge), progress=progress))


@routes.post("/api/sessions/{id}/end")
async def end_session(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        ended_at = utcnow()
        calls = request.app.get(calls_key)
        if calls is not None and session.status in sessions_domain.OPEN_STATUSES:
            # A call in progress: its connected interval closes at the end, logged before `ended`.
            await calls.close_for_end(db, session, ended_at)
        sessions_domain.end_session(db, session, "officer", at=ended_at)
        await db.commit()
        session_id = session.id
    rooms = request.app.get(rooms_key)
    if rooms is not None:
        await rooms.session_ended(session_id)
    await request.app[audit_key].record("session.end", actor=staff, target_type="session", target_id=session_id)
    async with request.app[db_key]() as db:
        session = await db.get(GuidanceSession, session_id)
        judge = await judge_for(request, db, session.office_id)
    return web.json_response(session_json(session, request.app[settings_key].timezone, judge=judge))


@routes.get("/api/sessions/{id}/history")
async def session_history(request: web.Request) -> web.Response:
    staff = current_staff(request)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        versions = await sessions_domain.note_history(db, session.id)
        ids = {v.author_id for v in versions if v.author_id}
        authors = {s.id: s.name for s in (await db.execute(select(Staff).where(Staff.id.in_(ids)))).scalars()} if ids else {}
    return web.json_response({"session_id": session.id, "versions": [note_version_json(v, tz, authors) for v in versions]})


@routes.get("/api/sessions/{id}/chat")
async def session_chat(request: web.Request) -> web.Response:
    """The text line of the call, in the order the server took it: the session's
    PK and the office's supervisors (a guidance record, not an admin's)."""
    staff = current_staff(request)
    require_guidance(staff)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        lines = await chat_log.messages(db, session.id)
    # What a client wrote is read as the record is: each reading is in the trail.
    await request.app[audit_key].record("chat.view", actor=staff, target_type="session", target_id=session.id, detail={"lines": len(lines)})
    return web.json_response({"session_id": session.id, "messages": [chat_message_json(m, name, tz) for m, name in lines]})


@routes.post("/api/sessions/{id}/link")
async def reissue_link(request: web.Request) -> web.Response:
    """Revoke every join link issued so far and hand out a fresh one."""
    staff = current_staff(request)
    require_guidance(staff)
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        if session.mode == SessionMode.video and session.status not in sessions_domain.OPEN_STATUSES:
            raise DomainError(ErrorKind.conflict, "session-closed", f"The session is already {session.status.value}.")
        sessions_domain.revoke_links(db, session, reissue=True)
        await db.commit()
    await request.app[audit_key].record("link.reissue", actor=staff, target_type="session", target_id=session.id, detail={"version": session.link_version})
    # Devices admitted or waiting with the old pass are shown out (link-revoked).
    await request.app[rooms_key].revoke_clients(session.id)
    return web.json_response(session_links(request, settings, session))


@routes.delete("/api/sessions/{id}/link")
async def revoke_link(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        sessions_domain.revoke_links(db, session, reissue=False)
        await db.commit()
    await request.app[audit_key].record("link.revoke", actor=staff, target_type="session", target_id=session.id)
    await request.app[rooms_key].revoke_clients(session.id)
    return web.json_response({"revoked": True})
