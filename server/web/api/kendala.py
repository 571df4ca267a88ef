"""Kendala over HTTP: the client reports from the join page with their pass;
staff read a client's kendala and answer them.

``/api/join/`` is public in ``server.security.auth`` (the client has no staff
account), so the client's two routes check the ``bimbing_join`` pass here:
signature and expiry (``joinpass.read_pass``), then the session's current
``link_version`` — revoking the link revokes this too.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import StringConstraints

from server.db.models import (
    Client,
    GuidanceSession,
    Kendala,
    KendalaKind,
    KendalaStatus,
    SessionMode,
    Staff,
)
from server.domain.access import require_client, require_guidance
from server.domain.errors import DomainError, ErrorKind, not_found
from server.domain.outreach import kendala as kendala_domain
from server.keys import audit_key, db_key, rooms_key, settings_key
from server.security.auth import current_staff
from server.security.joinpass import ClientPass, PassError, read_pass
from server.web.fields import LocalDateTime
from server.web.serialize import iso
from server.web.validation import Body, int_param, parse_body

routes = web.RouteTableDef()


class KendalaReport(Body):
    kind: KendalaKind
    message: Annotated[str, StringConstraints(max_length=kendala_domain.MAX_MESSAGE)] = ""
    requested_at: LocalDateTime | None = None


class KendalaAnswer(Body):
    status: Literal["accepted", "declined"]
    reply: Annotated[str, StringConstraints(max_length=kendala_domain.MAX_REPLY)] = ""
    new_scheduled_at: LocalDateTime | None = None


def kendala_json(k: Kendala, tz: str, *, for_client: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": k.id,
        "session_id": k.session_id,
        "kind": k.kind,
        "message": k.message,
        "requested_at": iso(k.requested_at, tz),
        "status": k.status,
        "reply": k.reply,
        "created_at": iso(k.created_at, tz),
        "answered_at": iso(k.answered_at, tz),
        "new_session": {"id": k.new_session.id, "scheduled_at": iso(k.new_session.scheduled_at, tz)} if k.new_session else None,
    }
    if not for_client:
        data.update(client_id=k.client_id, answered_by_id=k.answered_by_id)
    else:
        # The client needs the new time, not our session ids.
        data.pop("session_id")
        if data["new_session"]:
            data["new_session"] = {"scheduled_at": data["new_session"]["scheduled_at"]}
    return data


async def _pass_session(request: web.Request, db) -> tuple[ClientPass, GuidanceSession]:
    try:
        grant = read_pass(request)
    except PassError as exc:
        raise DomainError(ErrorKind.unauthenticated, exc.code, exc.message) from None
    session = await db.get(GuidanceSession, grant.session_id)
    if session is None or session.mode != SessionMode.video or session.link_version != grant.link_version:
        raise DomainError(ErrorKind.forbidden, "link-revoked", "This link is no longer valid; ask your PK for a new one.")
    return grant, session


# --- the client -------------------------------------------------------------


@routes.post("/api/join/kendala")
async def report_kendala(request: web.Request) -> web.Response:
    tz = request.app[settings_key].timezone
    # The pass first: without one, the body is not even read.
    async with request.app[db_key]() as db:
        await _pass_session(request, db)
    body = await parse_body(request, KendalaReport)
    async with request.app[db_key]() as db:
        grant, session = await _pass_session(request, db)
        kendala = await kendala_domain.report(
            db, session, device=grant.device, kind=body.kind, message=body.message, requested_at=body.requested_at
        )
        await db.commit()
        data = kendala_json(kendala, tz, for_client=True)
        detail = {"session_id": session.id, "kind": kendala.kind, "device": grant.device}
    await request.app[audit_key].record("kendala.create", actor="client", target_type="kendala", target_id=data["id"], detail=detail)
    return web.json_response(data, status=201)


@routes.get("/api/join/kendala")
async def list_own_kendala(request: web.Request) -> web.Response:
    """The reports sent with this session's link, newest first, with the answers.
    Readable after the session closed (an accepted reschedule cancels it)."""
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        _grant, session = await _pass_session(request, db)
        rows = await kendala_domain.for_session(db, session.id)
        data = [kendala_json(k, tz, for_client=True) for k in rows]
    return web.json_response({"kendala": data, "can_report": session.status in kendala_domain.sessions_domain.OPEN_STATUSES})


# --- staff ------------------------------------------------------------------


@routes.get("/api/clients/{id}/kendala")
async def list_client_kendala(request: web.Request) -> web.Response:
    staff = current_staff(request)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        rows = await kendala_domain.for_client(db, client.id)
        data = [kendala_json(k, tz) for k in rows]
    return web.json_response({"client_id": client.id, "kendala": data})


async def answer_kendala(request: web.Request, staff: Staff, kendala_id: int, body: KendalaAnswer) -> tuple[dict, int]:
    """Load, check, answer, commit, tell a waiting client the old session is
    over, audit. Shared by the API and the client-record form. Returns the
    kendala as JSON and its client's id."""
    # The PK who owns the client, or a supervisor (as for the call console).
    require_guidance(staff)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        kendala = await db.get(Kendala, kendala_id)
        if kendala is None:
            raise not_found("kendala")
        client = require_client(staff, await db.get(Client, kendala.client_id))
        result = await kendala_domain.answer(
            db, staff, client, kendala, status=KendalaStatus(body.status), reply=body.reply, new_scheduled_at=body.new_scheduled_at, tz=tz
        )
        await db.commit()
        new_session_id = result.new_session.id if result.new_session else None
        session_id, client_id = kendala.session_id, client.id
    async with request.app[db_key]() as db:
        # Read back fresh, with the new session joined in.
        data = kendala_json(await db.get(Kendala, kendala_id), tz)
    rooms = request.app.get(rooms_key)
    if result.cancelled_session_id is not None and rooms is not None:
        # A client may be sitting in the old session's waiting room.
        await rooms.session_ended(result.cancelled_session_id)
    audit = request.app[audit_key]
    detail = {"client_id": client_id, "status": body.status, "session_id": session_id,
              "new_session_id": new_session_id, "cancelled_session_id": result.cancelled_session_id}
    await audit.record("kendala.answer", actor=staff, target_type="kendala", target_id=kendala_id, detail=detail)
    if new_session_id is not None:
        await audit.record("session.create", actor=staff, target_type="session", target_id=new_session_id,
                           detail={"client_id": client_id, "mode": "video", "kendala_id": kendala_id})
    return data, client_id


@routes.post("/api/kendala/{id}/answer")
async def answer_kendala_api(request: web.Request) -> web.Response:
    staff = current_staff(request)
    kendala_id = int_param(request, "id")
    body = await parse_body(request, KendalaAnswer)
    data, _client_id = await answer_kendala(request, staff, kendala_id, body)
    return web.json_response(data)
