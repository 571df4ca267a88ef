"""The site supervisor's page behind their personal link (``/p/{token}`` →
``/lapangan``): the clients placed at their placement, each one's hours, and a
form to log a day's hours, which wait for the PK's approval.

As the client's own link (server/web/pages/portal.py): the token is swapped for
a cookie with a 303 so it leaves the address bar, every opening is audited and
rate-limited per address, the link row is read on every request (a revocation
holds at once), and refusals are a page in Bahasa Indonesia, not JSON."""

from __future__ import annotations

import hmac

from aiohttp import web

from server.db.ids import id_from_text
from server.db.models import utcnow
from server.domain.errors import DomainError
from server.domain.partners import sentences as sentences_domain
from server.domain.partners import site_links
from server.keys import audit_key, db_key, join_limiter_key, settings_key
from server.security import auth, sitepass
from server.security.proxy import client_address
from server.web.dates import day_from_text, today
from server.web.errors import http_status
from server.web.render import error_text, gettext_for, render

routes = web.RouteTableDef()

_REFUSAL_STATUS = {"invalid-token": 404, "link-revoked": 410, "link-expired": 410, "too-many": 429}
LINK_REFUSALS = ("invalid-token", "link-revoked", "link-expired")


def _no_store(response: web.StreamResponse) -> web.StreamResponse:
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def site_refusal(request: web.Request, code: str) -> web.Response:
    return _no_store(render(request, "site/error.html", {"code": code}, status=_REFUSAL_STATUS.get(code, 410)))


@routes.get("/p/{token}")
async def open_site_link(request: web.Request) -> web.StreamResponse:
    settings = request.app[settings_key]
    # Per link and per address, one count with the clients' links (LinkOpenLimiter).
    if not request.app[join_limiter_key].admit(f"join:{client_address(request)}", request.match_info["token"]):
        return site_refusal(request, "too-many")
    try:
        async with request.app[db_key]() as db:
            link = await site_links.open_link(db, settings.secret_key, request.match_info["token"])
            await db.commit()
            link_id, partner_id, expires = link.id, link.partner_id, link.expires_at
    except DomainError as exc:
        await request.app[audit_key].record("site_link.refused", actor="site_supervisor", target_type="site_link", target_id="", detail={"code": exc.code})
        return site_refusal(request, exc.code)
    await request.app[audit_key].record("site_link.open", actor="site_supervisor", target_type="partner", target_id=partner_id, detail={"link_id": link_id})
    response = _no_store(web.Response(status=303, headers={"Location": "/lapangan"}))
    max_age = max(0, int((expires - utcnow()).total_seconds()))
    auth.set_cookie(request, response, sitepass.COOKIE, sitepass.encode_cookie(settings.secret_key, link_id, expires), max_age=max_age)
    return response


async def _site_page(request: web.Request, *, error: str = "", form: dict | None = None, status: int = 200, notice: str = "") -> web.Response:
    settings = request.app[settings_key]
    cookie = request.cookies.get(sitepass.COOKIE, "")
    try:
        async with request.app[db_key]() as db:
            link = await site_links.link_from_cookie(db, settings.secret_key, cookie)
            placed = await site_links.placed_clients(db, link, today(request))
            partner_name = link.partner.name
    except DomainError as exc:
        return site_refusal(request, exc.code)
    ctx = {"link": link, "partner_name": partner_name, "placed": placed, "today": today(request), "hours_of": sentences_domain.hours_of,
           "site_token": sitepass.form_token(settings.secret_key, cookie), "error": error, "form": form or {}, "notice": notice}
    return _no_store(render(request, "site/home.html", ctx, status=status))


@routes.get("/lapangan")
async def site_home(request: web.Request) -> web.Response:
    return await _site_page(request)


@routes.post("/lapangan/jam")
async def site_log_hours(request: web.Request) -> web.Response:
    settings = request.app[settings_key]
    cookie = request.cookies.get(sitepass.COOKIE, "")
    raw = await request.post()
    form = {k: str(raw.get(k, ""))[:400] for k in ("client_id", "date", "hours", "task")}
    if not hmac.compare_digest(str(raw.get("site_token", "")), sitepass.form_token(settings.secret_key, cookie)):
        return await _site_page(request, error=gettext_for(request)("site.err_form"), form=form, status=403)
    try:
        # The one id and date parsers: an id no row can have, a date outside 1900-2999, is the form's error.
        client_id = id_from_text(form["client_id"])
        day = day_from_text(form["date"], "date")
        if client_id is None:
            raise ValueError
        hours = float(form["hours"].replace(",", "."))
        task = " ".join(form["task"].split())
        if not task or not 0 < hours <= 24:
            raise ValueError
    except (ValueError, DomainError):
        return await _site_page(request, error=gettext_for(request)("site.err_invalid"), form=form, status=400)
    try:
        async with request.app[db_key]() as db:
            link = await site_links.link_from_cookie(db, settings.secret_key, cookie)
            client = await site_links.placed_client(db, link, client_id)
            entry = await sentences_domain.add_hours(db, client, day=day, hours=hours, task=task, today=today(request), site_link=link)
            await db.commit()
            entry_id, link_id = entry.id, link.id
    except DomainError as exc:
        if exc.code in LINK_REFUSALS:
            return site_refusal(request, exc.code)
        return await _site_page(request, error=error_text(request, exc), form=form, status=http_status(exc))
    await request.app[audit_key].record("service_hours.enter", actor="site_supervisor", target_type="client", target_id=client_id,
                                        detail={"entry_id": entry_id, "date": day.isoformat(), "hours": hours, "site_link_id": link_id})
    raise web.HTTPSeeOther(f"/lapangan#klien-{client_id}")
