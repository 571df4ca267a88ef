"""Signing in and out, the start page of each role, and the language switch."""

from __future__ import annotations

from aiohttp import web

from server.db.models import Role, Staff
from server.domain.errors import DomainError
from server.keys import audit_key
from server.security import auth
from server.web.api.auth import authenticate
from server.web.errors import http_status
from server.web.forms import safe_next
from server.web.render import render

routes = web.RouteTableDef()


def home_for(staff: Staff) -> str:
    return {Role.pk: "/caseload", Role.supervisor: "/audit", Role.admin: "/admin/staff"}[staff.role]


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
    return render(request, "auth/login.html", {"next": safe_next(request.query.get("next")) or "", "error": None, "username": ""})


@routes.post("/login")
async def login_form(request: web.Request) -> web.Response:
    form = await request.post()
    username = str(form.get("username", ""))[:64]
    password = str(form.get("password", ""))[:1024]
    try:
        staff = await authenticate(request, username, password)
    except DomainError as exc:
        key = "login.too_many" if http_status(exc) == 429 else "login.failed"
        return render(request, "auth/login.html", {"error": key, "username": username, "next": safe_next(str(form.get("next", ""))) or ""}, status=http_status(exc))
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
