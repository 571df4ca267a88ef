"""Server-rendered pages for staff: sign-in, caseload, client record, logging sessions, staff admin."""

from __future__ import annotations

from urllib.parse import urlparse

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select

from server.db.models import (
    TOPICS,
    Client,
    ClientCategory,
    GuidanceSession,
    Outcome,
    Program,
    Role,
    SessionMode,
    Staff,
)
from server.domain import clients as clients_domain
from server.domain import kendala as kendala_domain
from server.domain import sessions as sessions_domain
from server.domain.access import require_client, require_role, require_session
from server.domain.errors import DomainError, ErrorKind
from server.domain.recordings import may_play, session_recordings
from server.domain.records import attendance, caseload_sort_key
from server.keys import audit_key, db_key, settings_key
from server.security import auth
from server.web.api_auth import authenticate
from server.web.api_clients import ClientCreate, today
from server.web.api_sessions import SessionCreate
from server.web.api_staff import StaffCreate, add_staff
from server.web.errors import http_status
from server.web.render import render
from server.web.validation import describe, int_param

routes = web.RouteTableDef()


def home_for(staff: Staff) -> str:
    return {Role.pk: "/caseload", Role.supervisor: "/audit", Role.admin: "/admin/staff"}[staff.role]


def safe_next(value: str | None) -> str | None:
    # Only same-site paths: "//evil.example" and "https://..." are open redirects, and
    # browsers read "/\evil.example" as "//evil.example" (WHATWG URL: backslash is a slash).
    if not value or not value.startswith("/") or value.startswith("//") or urlparse(value).netloc:
        return None
    if "\\" in value or any(ord(ch) < 0x20 for ch in value):
        return None
    return value


def form_dict(form) -> dict:
    data = {k: v for k, v in form.items() if k != "csrf_token" and v != ""}
    return data


@routes.get("/")
async def index(request: web.Request) -> web.Response:
    raise web.HTTPFound(home_for(auth.current_staff(request)))


@routes.get("/lang")
async def set_language(request: web.Request) -> web.Response:
    target = safe_next(request.query.get("next")) or "/"
    response = web.HTTPFound(target)
    if request.query.get("to") in ("id", "en"):
        auth.set_cookie(request, response, "lang", request.query["to"], max_age=365 * 86400)
    raise response


@routes.get("/login")
async def login_page(request: web.Request) -> web.Response:
    return render(request, "login.html", {"next": safe_next(request.query.get("next")) or "", "error": None, "username": ""})


@routes.post("/login")
async def login_form(request: web.Request) -> web.Response:
    form = await request.post()
    username = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))[:1024]
    try:
        staff = await authenticate(request, username, password)
    except DomainError as exc:
        key = "login.too_many" if http_status(exc) == 429 else "login.failed"
        return render(request, "login.html", {"error": key, "username": username, "next": safe_next(str(form.get("next", ""))) or ""}, status=http_status(exc))
    response = web.HTTPFound(safe_next(str(form.get("next", ""))) or home_for(staff))
    await auth.start_session(request, response, staff)
    raise response


@routes.post("/logout")
async def logout_form(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    response = web.HTTPFound("/login")
    await auth.end_session(request, response)
    await request.app[audit_key].record("auth.logout", actor=staff, target_type="staff", target_id=staff.id)
    raise response


@routes.get("/caseload")
async def caseload_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    tz = request.app[settings_key].timezone
    now = today(request)
    async with request.app[db_key]() as db:
        rows = await clients_domain.caseload(db, staff)
        kendala_open = await kendala_domain.open_counts(db, [c.id for c, _ss in rows])
    items = sorted(((c, attendance(c, ss, now, tz)) for c, ss in rows), key=caseload_sort_key)
    upcoming = sorted(
        (s for _c, ss in rows for s in ss if s.status.value in ("scheduled", "active") and s.mode == SessionMode.video),
        key=lambda s: s.scheduled_at,
    )
    return render(request, "caseload.html", {"items": items, "upcoming": upcoming, "today": now, "kendala_open": kendala_open})


async def _pk_choices(db, staff: Staff) -> list[Staff]:
    if staff.role == Role.pk:
        return [staff]
    return list((await db.execute(select(Staff).where(Staff.office_id == staff.office_id, Staff.role == Role.pk, Staff.active).order_by(Staff.name))).scalars())


@routes.get("/clients/new")
async def new_client_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    async with request.app[db_key]() as db:
        pks = await _pk_choices(db, staff)
    return render(request, "client_form.html", {"pks": pks, "programs": list(Program), "categories": list(ClientCategory), "form": {}, "errors": {}})


@routes.post("/clients/new")
async def new_client_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    form = form_dict(await request.post())
    async with request.app[db_key]() as db:
        pks = await _pk_choices(db, staff)
        try:
            body = ClientCreate.model_validate(form)
            client = await clients_domain.create_client(db, staff, **body.model_dump())
            await db.commit()
        except ValidationError as exc:
            _msg, errors = describe(exc)
            return render(request, "client_form.html", {"pks": pks, "programs": list(Program), "categories": list(ClientCategory), "form": form, "errors": errors}, status=400)
        except DomainError as exc:
            return render(request, "client_form.html", {"pks": pks, "programs": list(Program), "categories": list(ClientCategory), "form": form, "errors": {"form": exc.message}}, status=http_status(exc))
    await request.app[audit_key].record("client.create", actor=staff, target_type="client", target_id=client.id)
    raise web.HTTPFound(f"/clients/{client.id}")


async def client_record_context(request: web.Request, staff: Staff, client_id: int) -> dict:
    """What client.html shows; also used to show a kendala answer form again with its error."""
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, client_id))
        sessions = await clients_domain.client_sessions(db, client.id)
        kendala = await kendala_domain.for_client(db, client.id)
    return {"client": client, "sessions": sessions, "att": attendance(client, sessions, today(request), tz),
            "kendala": kendala, "kendala_errors": {}, "kendala_form": {}}


@routes.get("/clients/{id}")
async def client_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    ctx = await client_record_context(request, staff, int_param(request, "id"))
    await request.app[audit_key].record("record.view", actor=staff, target_type="client", target_id=ctx["client"].id)
    return render(request, "client.html", ctx)


def _session_form_ctx(client, form, errors):
    return {"client": client, "modes": list(SessionMode), "outcomes": list(Outcome), "topics": TOPICS, "form": form, "errors": errors}


@routes.get("/clients/{id}/sessions/new")
async def new_session_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
    mode = request.query.get("mode", "office")
    return render(request, "session_form.html", _session_form_ctx(client, {"mode": mode}, {}))


@routes.post("/clients/{id}/sessions/new")
async def new_session_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
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
            )
            await db.commit()
        except ValidationError as exc:
            _msg, errors = describe(exc)
            return render(request, "session_form.html", _session_form_ctx(client, form, errors), status=400)
        except DomainError as exc:
            return render(request, "session_form.html", _session_form_ctx(client, form, {"form": exc.message}), status=http_status(exc))
    await request.app[audit_key].record("session.create", actor=staff, target_type="session", target_id=session.id, detail={"client_id": client.id, "mode": session.mode.value})
    if session.mode == SessionMode.video:
        raise web.HTTPFound(f"/sessions/{session.id}/call")
    raise web.HTTPFound(f"/sessions/{session.id}")


@routes.get("/sessions/{id}")
async def session_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    async with request.app[db_key]() as db:
        session = require_session(staff, await db.get(GuidanceSession, int_param(request, "id")))
        versions = await sessions_domain.note_history(db, session.id)
        ids = {v.author_id for v in versions if v.author_id}
        authors = {s.id: s.name for s in (await db.execute(select(Staff).where(Staff.id.in_(ids)))).scalars()} if ids else {}
        # Only those who may play them see the recordings (the PK and supervisors; not admins).
        recordings = await session_recordings(db, session.id) if may_play(staff, session) else None
    return render(request, "session.html", {"s": session, "versions": versions, "authors": authors, "outcomes": list(Outcome), "topics": TOPICS, "recordings": recordings})


@routes.post("/sessions/{id}/notes")
async def session_notes_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    raw = await request.post()
    notes = str(raw.get("notes", ""))[:20000]
    outcome_raw = raw.get("outcome") or None
    topics = [t for t in raw.getall("topics", []) if t in TOPICS]
    try:
        outcome = Outcome(outcome_raw) if outcome_raw else None
    except ValueError:
        raise DomainError(ErrorKind.invalid, "invalid-body", "outcome: unknown value") from None
    async with request.app[db_key]() as db:
        session = require_session(staff, await db.get(GuidanceSession, int_param(request, "id")))
        version = await sessions_domain.update_notes(db, staff, session, notes=notes, outcome=outcome, topics=topics, clear_outcome=outcome is None)
        await db.commit()
    if version is not None:
        await request.app[audit_key].record("session.notes_change", actor=staff, target_type="session", target_id=session.id, detail={"version_id": version.id})
    raise web.HTTPFound(f"/sessions/{session.id}")


@routes.get("/admin/staff")
async def staff_page(request: web.Request) -> web.Response:
    me = auth.current_staff(request)
    require_role(me, Role.admin)
    async with request.app[db_key]() as db:
        rows = list((await db.execute(select(Staff).where(Staff.office_id == me.office_id).order_by(Staff.role, Staff.name))).scalars())
    return render(request, "staff.html", {"rows": rows, "roles": list(Role), "errors": {}, "form": {}})


@routes.post("/admin/staff")
async def staff_submit(request: web.Request) -> web.Response:
    me = auth.current_staff(request)
    require_role(me, Role.admin)
    form = form_dict(await request.post())
    async with request.app[db_key]() as db:
        rows = list((await db.execute(select(Staff).where(Staff.office_id == me.office_id).order_by(Staff.role, Staff.name))).scalars())
        try:
            body = StaffCreate.model_validate(form)
            staff = await add_staff(db, me.office_id, body.username, body.name, body.role, body.password)
            await db.commit()
        except ValidationError as exc:
            _msg, errors = describe(exc)
            form.pop("password", None)
            return render(request, "staff.html", {"rows": rows, "roles": list(Role), "errors": errors, "form": form}, status=400)
        except DomainError as exc:
            form.pop("password", None)
            return render(request, "staff.html", {"rows": rows, "roles": list(Role), "errors": {"form": exc.message}, "form": form}, status=http_status(exc))
    await request.app[audit_key].record("staff.create", actor=me, target_type="staff", target_id=staff.id, detail={"username": staff.username, "role": staff.role.value})
    raise web.HTTPFound("/admin/staff")
