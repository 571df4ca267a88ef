"""The client's way in: ``GET /j/{token}`` exchanges a join link for a join pass.

The token is checked (signature, window), then against the session (still the
current ``link_version``, still open); the event ``link_opened`` is logged, the
pass cookie set and the browser sent on to ``/join`` with a 303 so the token
leaves the address bar and the history. Refusals are a friendly page, not JSON:
the person reading it is a client on a phone.
"""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from server.db.models import GuidanceSession, SessionMode
from server.domain.calls import call_log as calls
from server.keys import audit_key, db_key, join_limiter_key, settings_key
from server.security import joinpass, tokens
from server.security.proxy import client_address
from server.web.render import render
from server.web.serialize import iso

routes = web.RouteTableDef()

_STATUS = {"invalid-token": 404, "link-not-open": 403, "link-expired": 410, "link-revoked": 410, "session-closed": 410, "too-many": 429}

# Opening a link writes an event and an audit entry; a bound per link
# (settings.join_opens_per_window) keeps a leaked link from flooding the log, a far
# higher one per address (settings.join_opens_per_address) a script guessing tokens
# (server/security/ratelimit.py, LinkOpenLimiter).
JOIN_WINDOW_SECONDS = 300


def join_refusal(request: web.Request, code: str, opens: datetime | None = None) -> web.Response:
    tz = request.app[settings_key].timezone
    opens_text = (iso(opens, tz) or "").replace("T", " ")[:16] if opens else ""
    response = render(request, "call/join_error.html", {"code": code, "opens": opens_text}, status=_STATUS[code])
    # The refusal must not be cached or indexed: it names nothing, but the URL holds the token.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@routes.get("/j/{token}")
async def open_join_link(request: web.Request) -> web.StreamResponse:
    settings = request.app[settings_key]
    token = request.match_info["token"]
    if not request.app[join_limiter_key].admit(f"join:{client_address(request)}", token):
        return join_refusal(request, "too-many")
    try:
        claim = tokens.verify(settings.secret_key, token)
    except tokens.TokenError as exc:
        return join_refusal(request, exc.code if exc.code in _STATUS else "invalid-token", exc.not_before)

    # Keep the device id of a browser that already holds a pass for this session,
    # so reopening the link on the same phone is the same device.
    held = joinpass.client_pass(request)
    device = held.device if held and held.session_id == claim.session_id else joinpass.new_device_id()
    async with request.app[db_key]() as db:
        session = await db.get(GuidanceSession, claim.session_id)
        if session is None or session.mode != SessionMode.video:
            return join_refusal(request, "invalid-token")
        if session.link_version != claim.link_version:
            return join_refusal(request, "link-revoked")
        if not calls.is_open(session):
            return join_refusal(request, "session-closed")
        calls.log_link_opened(db, session, device=device, label=calls.device_label(request.headers.get("User-Agent", "")))
        await db.commit()
    await request.app[audit_key].record(
        "link.open", actor="client", target_type="session", target_id=claim.session_id, detail={"device": device, "version": claim.link_version}
    )
    response = web.Response(status=303, headers={"Location": "/join"})
    response.headers["Cache-Control"] = "no-store"
    # The token must not leak to the next page's requests through Referer.
    response.headers["Referrer-Policy"] = "no-referrer"
    joinpass.set_pass(
        request,
        response,
        joinpass.ClientPass(session_id=claim.session_id, link_version=claim.link_version, device=device, expires=claim.expires),
    )
    return response
