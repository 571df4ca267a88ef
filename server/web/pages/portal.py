"""The client's own page behind their personal link (``/k/{token}`` → ``/klien``),
and the PK's controls for that link on the client's record.

Like the join link: opening the link swaps the token for a cookie and sends the
browser on with a 303, so the token leaves the address bar; every opening is
audited and rate-limited per address as join links are. Refusals are a
friendly page in Bahasa Indonesia, not JSON: the reader is a client on a phone.
"""

from __future__ import annotations

import hashlib
import hmac
import io
from datetime import datetime
from urllib.parse import quote
from zoneinfo import ZoneInfo

import segno
from aiohttp import web

from server.db.ids import id_from_text
from server.db.models import Client, KendalaKind, PortalLink, utcnow
from server.domain.access import require_client, require_guidance
from server.domain.errors import DomainError, ErrorKind
from server.domain.guidance import plans as plans_domain
from server.domain.guidance import progress as progress_domain
from server.domain.guidance.stages import current_stage
from server.domain.outreach import portal as portal_domain
from server.keys import audit_key, catalogue_key, db_key, join_limiter_key, settings_key
from server.security import auth, portalpass
from server.security.proxy import client_address
from server.web.api.portal import portal_url
from server.web.dates import today
from server.web.errors import http_status
from server.web.links import session_links
from server.web.pages.call import whatsapp_number
from server.web.render import render
from server.web.validation import int_param

routes = web.RouteTableDef()

_REFUSAL_STATUS = {"invalid-token": 404, "link-revoked": 410, "link-expired": 410, "too-many": 429}


def _no_store(response: web.StreamResponse) -> web.StreamResponse:
    # Personal data: never cached, and the link never leaks through Referer.
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def portal_refusal(request: web.Request, code: str) -> web.Response:
    return _no_store(render(request, "portal/error.html", {"code": code}, status=_REFUSAL_STATUS.get(code, 410)))


def _form_token(secret: str, cookie: str) -> str:
    # The page's forms carry an HMAC of the portal cookie (a synchroniser token
    # without storage, as the staff forms have), on top of the Origin check.
    return hmac.new(secret.encode(), b"portal-form:" + cookie.encode(), hashlib.sha256).hexdigest()


@routes.get("/k/{token}")
async def open_portal_link(request: web.Request) -> web.StreamResponse:
    settings = request.app[settings_key]
    # Per link and per address, one count with the join links (LinkOpenLimiter).
    if not request.app[join_limiter_key].admit(f"join:{client_address(request)}", request.match_info["token"]):
        return portal_refusal(request, "too-many")
    try:
        async with request.app[db_key]() as db:
            link = await portal_domain.open_link(db, settings.secret_key, request.match_info["token"])
            await db.commit()
            link_id, client_id, expires = link.id, link.client_id, link.expires_at
    except DomainError as exc:
        await request.app[audit_key].record("portal.refused", actor="client", target_type="portal_link", target_id="", detail={"code": exc.code})
        return portal_refusal(request, exc.code)
    await request.app[audit_key].record("portal.open", actor="client", target_type="client", target_id=client_id, detail={"link_id": link_id})
    response = _no_store(web.Response(status=303, headers={"Location": "/klien"}))
    max_age = max(0, int((expires - utcnow()).total_seconds()))
    auth.set_cookie(request, response, portalpass.COOKIE, portalpass.encode_cookie(settings.secret_key, link_id, expires), max_age=max_age)
    return response


async def _live_link(request: web.Request, db):
    settings = request.app[settings_key]
    link_id = portalpass.decode_cookie(settings.secret_key, request.cookies.get(portalpass.COOKIE))
    if link_id is None:
        raise DomainError(ErrorKind.not_found, "invalid-token", "Open the link your PK sent you.")
    return portal_domain.check_live(await db.get(PortalLink, link_id), utcnow())


async def _portal_page(request: web.Request, *, errors: dict | None = None, form: dict | None = None, status: int = 200, notice: str = "") -> web.Response:
    settings = request.app[settings_key]
    now = utcnow()
    try:
        async with request.app[db_key]() as db:
            link = await _live_link(request, db)
            view = await portal_domain.portal_view(db, link, settings, today(request), now)
            # The goals of the plan the client agreed to and the Kasie countersigned; never the risk category.
            plan = await plans_domain.agreed_plan(db, link.client_id)
            goals = await progress_domain.goal_lines(db, link.client_id, plan) if plan else []
    except DomainError as exc:
        return portal_refusal(request, exc.code)
    joins = {a.session.id: session_links(request, settings, a.session)["client_join_url"] for a in view.appointments if a.join_open}
    ctx = {
        "v": view,
        "joins": joins,
        "kinds": [k.value for k in KendalaKind],
        "portal_token": _form_token(settings.secret_key, request.cookies.get(portalpass.COOKIE, "")),
        "errors": errors or {},
        "form": form or {},
        "notice": notice,
        "goals": goals,
        # The wajib-lapor interval of the client's current stage (or their one interval).
        "interval": (stage.interval_days if (stage := current_stage(view.client, today(request))) else view.client.reporting_interval_days),
    }
    return _no_store(render(request, "portal/home.html", ctx, status=status))


@routes.get("/klien")
async def portal_home(request: web.Request) -> web.Response:
    response = await _portal_page(request)
    if response.status == 200:
        settings = request.app[settings_key]
        link_id = portalpass.decode_cookie(settings.secret_key, request.cookies.get(portalpass.COOKIE))
        await request.app[audit_key].record("portal.view", actor="client", target_type="portal_link", target_id=link_id or "")
    return response


@routes.post("/klien/kendala")
async def portal_kendala(request: web.Request) -> web.Response:
    settings = request.app[settings_key]
    raw = await request.post()
    form = {k: str(raw.get(k, ""))[:2000] for k in ("session_id", "kind", "message", "requested_at")}
    if not hmac.compare_digest(str(raw.get("portal_token", "")), _form_token(settings.secret_key, request.cookies.get(portalpass.COOKIE, ""))):
        return await _portal_page(request, errors={"form": "portal.err_form"}, form=form, status=403)
    try:
        session_id = id_from_text(form["session_id"])
        if session_id is None:
            raise ValueError("session_id")
        kind = KendalaKind(form["kind"])
        requested_at = None
        if form["requested_at"]:
            requested_at = datetime.fromisoformat(form["requested_at"]).replace(tzinfo=ZoneInfo(settings.timezone))
    except ValueError:
        return await _portal_page(request, errors={"form": "portal.err_invalid"}, form=form, status=400)
    try:
        async with request.app[db_key]() as db:
            link = await _live_link(request, db)
            kendala = await portal_domain.report_kendala(
                db, link, session_id, kind=kind, message=form["message"], requested_at=requested_at, today=today(request), tz=settings.timezone
            )
            await db.commit()
            kendala_id, client_id = kendala.id, link.client_id
    except DomainError as exc:
        if exc.code in ("invalid-token", "link-revoked", "link-expired"):
            return portal_refusal(request, exc.code)
        key = {"too-many-reports": "portal.err_too_many", "not-found": "portal.err_invalid", "session-closed": "portal.err_invalid"}.get(exc.code, "portal.err_invalid")
        return await _portal_page(request, errors={"form": key, "detail": exc.message}, form=form, status=http_status(exc))
    await request.app[audit_key].record("kendala.report", actor="client", target_type="client", target_id=client_id, detail={"kendala_id": kendala_id, "via": "portal"})
    raise web.HTTPSeeOther("/klien#kendala")


# ---- the PK's controls on the client's record --------------------------------------


async def portal_share(request: web.Request, client: Client) -> dict | None:
    """The client's live link, with the WhatsApp share link, for the record page."""
    async with request.app[db_key]() as db:
        link = await portal_domain.active_link(db, client.id)
    if link is None:
        return None
    url = portal_url(request, link)
    text = request.app[catalogue_key].gettext("id", "portal.wa_message", name=client.name, link=url)
    phone = whatsapp_number(client.phone)
    return {"url": url, "expires_at": link.expires_at, "wa": f"https://wa.me/{phone}?text={quote(text, safe='')}" if phone else f"https://wa.me/?text={quote(text, safe='')}"}


@routes.post("/clients/{id}/portal-link")
async def issue_from_record(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        link = await portal_domain.issue(db, staff, client, settings.timezone)
        await db.commit()
    await request.app[audit_key].record("portal.issue", actor=staff, target_type="client", target_id=client.id, detail={"link_id": link.id})
    raise web.HTTPFound(f"/clients/{client.id}#portal")


@routes.post("/clients/{id}/portal-link/revoke")
async def revoke_from_record(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        revoked = await portal_domain.revoke_by(db, staff, client.id)
        await db.commit()
    await request.app[audit_key].record("portal.revoke", actor=staff, target_type="client", target_id=client.id, detail={"revoked": revoked})
    raise web.HTTPFound(f"/clients/{client.id}#portal")


@routes.get("/clients/{id}/portal-link/qr.svg")
async def portal_qr(request: web.Request) -> web.Response:
    """The client's link as a QR code, for a client at the desk. Staff who run
    guidance only: it carries the token (an admin gets 403 no-guidance-role)."""
    staff = auth.current_staff(request)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        require_guidance(staff)
        link = await portal_domain.active_link(db, client.id)
    if link is None:
        raise web.HTTPNotFound()
    out = io.BytesIO()
    segno.make(portal_url(request, link), error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False, title="QR")
    return web.Response(body=out.getvalue(), content_type="image/svg+xml", headers={"Cache-Control": "no-store"})
