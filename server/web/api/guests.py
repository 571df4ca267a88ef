"""A third person in a video call (issue 22): ``/api/sessions/{id}/guests``.

The session's PK (or a supervisor of its office; never an admin, who runs no
guidance) issues, lists and revokes guest links. Revoking stamps the row and
closes the guest's live socket at once, as revoking the client's link does.
"""

from __future__ import annotations

from typing import Literal

from aiohttp import web

from server.db.guests import SessionGuest
from server.domain.access import require_guidance
from server.domain.calls import guests as guests_domain
from server.keys import audit_key, db_key, rooms_key, settings_key
from server.security.auth import current_staff
from server.signaling import guests as guest_rooms
from server.web.lookups import load_session
from server.web.fields import Name
from server.web.links import base_url
from server.web.serialize import guest_json, iso
from server.web.validation import Body, int_param, parse_body

routes = web.RouteTableDef()


class GuestCreate(Body):
    role: Literal["penjamin", "orang_tua_wali", "penerjemah", "pendamping"]
    name: Name


@routes.post("/api/sessions/{id}/guests")
async def issue_guest(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    settings = request.app[settings_key]
    body = await parse_body(request, GuestCreate)
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        guest, token = await guests_domain.issue(db, session, staff, body.role, body.name)
        expires = guests_domain.expires_at(session, settings.join_expires_after_hours)
    await request.app[audit_key].record(
        "guest.issue", actor=staff, target_type="session", target_id=session.id, detail={"guest": guest.id, "role": guest.role}
    )
    answer = guest_json(guest, [], settings.timezone)
    answer["join_url"] = f"{base_url(request, settings)}/g/{token}"
    answer["expires_at"] = iso(expires, settings.timezone)
    return web.json_response(answer, status=201)


@routes.get("/api/sessions/{id}/guests")
async def list_guests(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        lines = await guests_domain.guests(db, session.id)
    return web.json_response({"session_id": session.id, "guests": [guest_json(x.guest, x.stays, tz) for x in lines]})


@routes.delete("/api/sessions/{id}/guests/{guest_id}")
async def revoke_guest(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    guest_id = int_param(request, "guest_id")
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        guest: SessionGuest = await guests_domain.of_session(db, session.id, guest_id)
        changed = await guests_domain.revoke(db, guest, staff)
    if changed:
        await request.app[audit_key].record("guest.revoke", actor=staff, target_type="session", target_id=session.id, detail={"guest": guest_id})
    # At once: the guest's socket, waiting or in the call, is closed with link-revoked.
    closed = await guest_rooms.revoke(request.app[rooms_key], session.id, guest_id)
    return web.json_response({"revoked": True, "closed": closed})
