"""Logging a session, and a session's page with its notes and their history."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select

from server.db.models import (
    MET_WITH,
    TOPICS,
    Client,
    GoalRating,
    GuidanceSession,
    Outcome,
    SessionMode,
    Staff,
)
from server.domain.access import (
    require_client,
    require_guidance,
    require_session,
    runs_guidance,
)
from server.domain.calls import chat as chat_log
from server.domain.documents import signing as signing_domain
from server.domain.calls import guests as guests_domain
from server.domain.calls.recordings import may_play, session_recordings
from server.domain.errors import DomainError, ErrorKind
from server.domain.fieldwork.field_sessions import FINISHING_OUTCOMES
from server.domain.guidance import progress as progress_domain
from server.domain.record import sessions as sessions_domain
from server.keys import audit_key, db_key, settings_key
from server.security import auth
from server.web.api.sessions import SessionCreate
from server.web.errors import http_status
from server.web.forms import form_dict
from server.web.lookups import load_session
from server.web.outcomes import outcome_choices
from server.web.render import error_text, gettext_for, render
from server.web.validation import int_param, page_errors

routes = web.RouteTableDef()


def _session_form_ctx(client, form, errors):
    return {"client": client, "modes": list(SessionMode), "outcomes": list(Outcome), "topics": TOPICS, "form": form, "errors": errors}


@routes.get("/clients/{id}/sessions/new")
async def new_session_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    require_guidance(staff)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
    mode = request.query.get("mode", "office")
    return render(request, "sessions/session_form.html", _session_form_ctx(client, {"mode": mode}, {}))


@routes.post("/clients/{id}/sessions/new")
async def new_session_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    require_guidance(staff)
    raw = await request.post()
    form = form_dict(raw)
    form["topics"] = raw.getall("topics", [])
    form["record"] = raw.get("record") == "on"
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        form["client_id"] = client.id
        try:
            body = SessionCreate.model_validate(form)
            session = await sessions_domain.create_session(
                db, staff, client, mode=body.mode, scheduled_at=body.scheduled_at, record=body.record, notes=body.notes,
                outcome=body.outcome, topics=body.topics, duration_minutes=body.duration_minutes, location=body.location,
                tz=request.app[settings_key].timezone,
            )
            await db.commit()
        except ValidationError as exc:
            errors = page_errors(exc, gettext_for(request))
            return render(request, "sessions/session_form.html", _session_form_ctx(client, form, errors), status=400)
        except DomainError as exc:
            return render(request, "sessions/session_form.html", _session_form_ctx(client, form, {"form": error_text(request, exc)}), status=http_status(exc))
    await request.app[audit_key].record("session.create", actor=staff, target_type="session", target_id=session.id, detail={"client_id": client.id, "mode": session.mode.value})
    if session.mode == SessionMode.video:
        raise web.HTTPFound(f"/sessions/{session.id}/call")
    raise web.HTTPFound(f"/sessions/{session.id}")


async def session_page_context(request: web.Request, staff: Staff, session_id: int) -> dict:
    """What session.html shows; also used to show the completion form again with its error."""
    async with request.app[db_key]() as db:
        session = require_session(staff, await db.get(GuidanceSession, session_id))
        versions = await sessions_domain.note_history(db, session.id)
        ids = {v.author_id for v in versions if v.author_id} | ({session.checked_in_by_id} if session.checked_in_by_id else set())
        authors = {s.id: s.name for s in (await db.execute(select(Staff).where(Staff.id.in_(ids)))).scalars()} if ids else {}
        # Only those who may play them see the recordings (the PK and supervisors; not admins).
        recordings = await session_recordings(db, session.id) if may_play(staff, session) else None
        # The text line of a video call: the PK and supervisors, as GET /api/sessions/{id}/chat (issue 22).
        chat = await chat_log.messages(db, session.id) if session.mode == SessionMode.video and runs_guidance(staff) else None
        # The documents signed in the call (issue 22): whoever may read the session, as the API's list.
        documents = await signing_domain.session_documents(db, session.id) if session.mode == SessionMode.video else []
        # Who else attended, from when to when (issue 22): as GET /api/sessions/{id} lists them.
        guests = await guests_domain.guests(db, session.id) if session.mode == SessionMode.video else []
        follow_ups = list((await db.execute(select(GuidanceSession.id).where(GuidanceSession.follows_session_id == session.id))).scalars())
        # The goals of the client's plan, and the ratings given at this session (issue 20).
        rated = {p.goal_id: p for p in await progress_domain.session_progress(db, session.id)}
        goals = [line for line in await progress_domain.goal_lines(db, session.client_id) if line.goal["id"] in rated or not line.reached]
    return {"goal_lines": goals, "rated": rated, "ratings": [r.value for r in GoalRating], "progress_error": None,
            "s": session, "versions": versions, "authors": authors, "outcomes": list(Outcome), "topics": TOPICS, "recordings": recordings,
            "finishing_outcomes": FINISHING_OUTCOMES, "met_with_values": MET_WITH, "follow_ups": follow_ups,
            "complete_error": None, "complete_form": {}, "chat": chat, "documents": documents, "guests": guests,
            "guest_names": {f"guest:{x.guest.id}": x.guest.name for x in guests}, **outcome_choices(request, session)}


@routes.get("/sessions/{id}")
async def session_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    return render(request, "sessions/session.html", await session_page_context(request, staff, int_param(request, "id")))


@routes.post("/sessions/{id}/notes")
async def session_notes_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    require_guidance(staff)
    raw = await request.post()
    notes = str(raw.get("notes", ""))[:20000]
    outcome_raw = raw.get("outcome") or None
    topics = [t for t in raw.getall("topics", []) if t in TOPICS]
    try:
        outcome = Outcome(outcome_raw) if outcome_raw else None
    except ValueError:
        raise DomainError(ErrorKind.invalid, "invalid-body", "outcome: unknown value") from None
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        try:
            version = await sessions_domain.update_notes(db, staff, session, notes=notes, outcome=outcome, topics=topics, clear_outcome=outcome is None)
        except DomainError as exc:
            if exc.code not in ("not-yet", "not-observed"):
                raise
            refused = exc
        else:
            refused = None
            await db.commit()
    if refused is not None:
        # The page again, as it stands: its outcome note says the rule in the page's language.
        return render(request, "sessions/session.html", await session_page_context(request, staff, session.id), status=http_status(refused))
    if version is not None:
        await request.app[audit_key].record("session.notes_change", actor=staff, target_type="session", target_id=session.id, detail={"version_id": version.id})
    raise web.HTTPFound(f"/sessions/{session.id}")
