"""Staff sign-in: the session cookie, and the middleware that loads the signed-in
staff member and refuses anything not listed as public.

The cookie holds 32 random bytes; the database keeps only their SHA-256, so a
stolen database does not yield live sessions. A tampered or expired cookie
simply matches nothing.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from aiohttp import web
from sqlalchemy import delete, select

from server.db.models import Staff, StaffSession, utcnow
from server.domain.errors import DomainError, ErrorKind
from server.keys import db_key, settings_key
from server.security.csrf import check_form_token, cross_site_reason
from server.security.proxy import is_https

COOKIE = "bimbing_session"

# Routes that need no staff sign-in. Everything else does (secure by default).
STATIC_PREFIX = "/static/"
# /v/: a letter's verification page, opened by whoever holds the letter (its QR code).
PUBLIC_PREFIXES = (STATIC_PREFIX, "/j/", "/join", "/ws/", "/api/join/", "/v/")
PUBLIC_PATHS = frozenset({"/healthz", "/login", "/api/login", "/favicon.ico", "/lang"})

staff_request_key = web.RequestKey("staff", Staff | None)  # type: ignore[arg-type]
session_token_key = web.RequestKey("session_token", str | None)  # type: ignore[arg-type]


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def is_public(path: str) -> bool:
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


async def start_session(request: web.Request, response: web.StreamResponse, staff: Staff) -> str:
    settings = request.app[settings_key]
    token = secrets.token_urlsafe(32)
    async with request.app[db_key]() as db:
        db.add(
            StaffSession(
                staff_id=staff.id,
                token_hash=_hash(token),
                expires_at=utcnow() + timedelta(hours=settings.staff_session_hours),
            )
        )
        await db.commit()
    set_cookie(request, response, COOKIE, token, max_age=settings.staff_session_hours * 3600)
    return token


def set_cookie(request: web.Request, response: web.StreamResponse, name: str, value: str, *, max_age: int, path: str = "/") -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=path,
        httponly=True,
        samesite="Lax",
        # Secure whenever we are reached over HTTPS (directly, or through a trusted proxy);
        # a plain-HTTP localhost demo still works.
        secure=is_https(request),
    )


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    token = request.cookies.get(COOKIE)
    if token:
        async with request.app[db_key]() as db:
            await db.execute(delete(StaffSession).where(StaffSession.token_hash == _hash(token)))
            await db.commit()
    response.del_cookie(COOKIE, path="/")


async def staff_for_token(request: web.Request, token: str | None) -> Staff | None:
    if not token or len(token) > 100:
        return None
    async with request.app[db_key]() as db:
        row = (
            await db.execute(select(StaffSession).where(StaffSession.token_hash == _hash(token)))
        ).scalar_one_or_none()
        if row is None or row.expires_at <= utcnow() or not row.staff.active:
            return None
        return row.staff


def current_staff(request: web.Request) -> Staff:
    staff = request.get(staff_request_key)
    if staff is None:  # the middleware guarantees this for non-public routes
        raise web.HTTPUnauthorized()
    return staff


@web.middleware
async def auth_middleware(request: web.Request, handler):
    settings = request.app[settings_key]
    reason = cross_site_reason(request)
    if reason:
        raise DomainError(ErrorKind.forbidden, "cross-site", f"Cross-site request refused ({reason}).")

    token = request.cookies.get(COOKIE)
    # Static files are public and never ask who is signed in: a page pulls several,
    # and each would otherwise cost a database lookup of the cookie.
    staff = None if request.path.startswith(STATIC_PREFIX) else await staff_for_token(request, token)
    request[staff_request_key] = staff
    request[session_token_key] = token if staff else None
    api = request.path.startswith("/api/")

    if staff is None and not is_public(request.path):
        if api:
            raise DomainError(ErrorKind.unauthenticated, "unauthenticated", "Sign in first.")
        raise web.HTTPFound(f"/login?next={request.path_qs}" if request.method == "GET" else "/login")

    if staff is not None and not api and request.method == "POST" and request.content_type in (
        "application/x-www-form-urlencoded",
        "multipart/form-data",
    ):
        form = await request.post()
        if not check_form_token(settings.secret_key, token, form.get("csrf_token")):
            raise DomainError(ErrorKind.forbidden, "csrf", "The form has expired; reload the page and try again.")
    return await handler(request)
