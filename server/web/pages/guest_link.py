"""A guest's way in (issue 22): ``GET /g/{token}`` exchanges a guest link for a
guest pass, and ``GET /guest`` is the client's join page in the guest's role.

The link is checked against its row (revoked: 410), its session (closed: 410)
and the session's join window (expired: 410); then the pass cookie is set and
the browser sent on to ``/guest`` with a 303 so the token leaves the address
bar. Refusals are the client's friendly pages: the reader is on a phone.
"""

from __future__ import annotations

from aiohttp import web

from server.db.guests import SessionGuest
from server.db.models import GuidanceSession, KendalaKind
from server.domain.calls import guests as guests_domain
from server.keys import audit_key, db_key, join_limiter_key, settings_key
from server.security import guestpass
from server.security.proxy import client_address
from server.web.pages.call import JOIN_SCRIPT_STRINGS, _join_render, _strings
from server.web.pages.join_link import join_refusal
from server.web.render import page_context

routes = web.RouteTableDef()


@routes.get("/g/{token}")
async def open_guest_link(request: web.Request) -> web.StreamResponse:
    settings = request.app[settings_key]
    token = request.match_info["token"]
    # The same bound as client links: a leaked link cannot flood the log, nor a script guess tokens.
    if not request.app[join_limiter_key].admit(f"join:{client_address(request)}", token):
        return join_refusal(request, "too-many")
    async with request.app[db_key]() as db:
        guest = await guests_domain.by_token(db, token)
        session = await db.get(GuidanceSession, guest.session_id) if guest is not None else None
        code = guests_domain.refusal(guest, session, settings.join_expires_after_hours)
    if code is not None:
        return join_refusal(request, code)
    assert guest is not None and session is not None
    await request.app[audit_key].record("guest.open", actor="guest", target_type="session", target_id=session.id, detail={"guest": guest.id})
    response = web.Response(status=303, headers={"Location": "/guest", "Cache-Control": "no-store", "Referrer-Policy": "no-referrer"})
    expires = guests_domain.expires_at(session, settings.join_expires_after_hours)
    guestpass.set_pass(request, response, guestpass.GuestPass(guest.id, session.id, expires))
    return response


@routes.get("/guest")
async def guest_page(request: web.Request) -> web.Response:
    """The join page (call/join.html, join.js) in the guest's role: no kendala
    form, no record; the socket checks the pass again."""
    settings = request.app[settings_key]
    grant = guestpass.guest_pass(request)
    if grant is None:
        return _join_render(request, {"data": None, "problem": "join.no_pass"}, status=403)
    async with request.app[db_key]() as db:
        guest = await db.get(SessionGuest, grant.guest_id)
        session = await db.get(GuidanceSession, grant.session_id)
        code = guests_domain.refusal(guest, session, settings.join_expires_after_hours)
        officer_name = session.officer.name if session is not None and code is None else ""
    if code is not None or guest is None or guest.session_id != grant.session_id:
        return join_refusal(request, code if code in ("link-revoked", "link-expired", "session-closed") else "invalid-token")
    ctx = page_context(request)
    data = {
        "session_id": session.id,  # type: ignore[union-attr]
        "role": "guest",
        "guest": {"id": guest.id, "name": guest.name, "role": guest.role},
        "officer_name": officer_name,
        "scheduled_local": ctx["local"](session.scheduled_at),  # type: ignore[union-attr]
        "record": session.record,  # type: ignore[union-attr]
        "locale": ctx["locale"],
        # The tiles' captions (guesttiles.js): only the guest's page carries them; a client's tile shows the name.
        "strings": _strings(request, *JOIN_SCRIPT_STRINGS, "guest.tile", "guest.role."),
    }
    return _join_render(request, {"data": data, "kendala_kinds": [k.value for k in KendalaKind]})
