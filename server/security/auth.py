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
from sqlalchemy import bindparam, delete, select
from sqlalchemy import inspect as sa_inspect

from server.db.models import Staff, StaffSession, utcnow
from server.db.reads import detached
from server.domain.errors import DomainError, ErrorKind
from server.keys import db_key, db_read_key, settings_key
from server.security.csrf import SAFE_METHODS, api_media_refusal, cross_site_reason, page_token_ok
from server.security.proxy import is_https

COOKIE = "bimbing_session"

# Routes that need no staff sign-in. Everything else does (secure by default).
STATIC_PREFIX = "/static/"
# /v/: a letter's verification page, opened by whoever holds the letter (its QR code).
# /p/: a site supervisor's link (server/web/pages/site.py), which checks its own cookie on /lapangan.
# /g/ and /guest: a guest's link and page (issue 22), which check the guest's own cookie.
PUBLIC_PREFIXES = (STATIC_PREFIX, "/j/", "/join", "/ws/", "/api/join/", "/k/", "/v/", "/p/", "/g/")
# /metrics checks its own token or address (server/web/api/metrics.py); /sw.js is the
# service worker that keeps the call code on a client's phone (server/web/callcode.py).
PUBLIC_PATHS = frozenset({"/healthz", "/metrics", "/login", "/api/login", "/favicon.ico", "/lang", "/api/openapi.json", "/klien", "/klien/kendala",
                          "/lapangan", "/lapangan/jam", "/sw.js", "/guest"})

# What a staff member whose password an admin reset may still reach.
PASSWORD_PAGE = "/account/password"
OPEN_BEFORE_PASSWORD_CHANGE = frozenset({PASSWORD_PAGE, "/api/me/password", "/api/me", "/logout", "/api/logout"})


def _open_before_password_change(path: str) -> bool:
    return path in OPEN_BEFORE_PASSWORD_CHANGE or (is_public(path) and not path.startswith("/ws/"))


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
    # What the browser kept for this staff member goes with the sign-in: the roll
    # call's offline copy (its page, the invited clients' names, its service worker)
    # and its queue. Browsers honour it on HTTPS and localhost (docs/webclient.md).
    response.headers["Clear-Site-Data"] = '"storage"'


async def end_staff_sessions(db, staff_id: int) -> int:
    """Sign a staff member out of every browser: on deactivation, password change
    or role change (issue #12). A sign-in that merely stopped matching (inactive)
    would come back to life on reactivation, so the rows go. The caller commits."""
    result = await db.execute(delete(StaffSession).where(StaffSession.staff_id == staff_id))
    return result.rowcount or 0


_STAFF_FIELDS = tuple(attr.key for attr in sa_inspect(Staff).column_attrs)
# Built once, not for every request (server/db/reads.py: what each way of
# reading cost).
_SIGNED_IN = (
    select(*(getattr(Staff, key).label(key) for key in _STAFF_FIELDS), StaffSession.expires_at.label("session_expires_at"))
    .join(StaffSession, StaffSession.staff_id == Staff.id)
    .where(StaffSession.token_hash == bindparam("token_hash"))
)


async def staff_for_token(request: web.Request, token: str | None) -> Staff | None:
    if not token or len(token) > 100:
        return None
    # Every request asks this: a read on its own pool (server/db/reads.py).
    return await request.app[db_read_key].run(lambda db: signed_in_staff(db, token))


async def signed_in_staff(db, token: str) -> Staff | None:
    """The staff member ``token`` signs in, on ``db``: a connection of the read
    pool (or an ORM session: bench/read_paths.py compares the two). None if the
    token matches no sign-in, or an expired one, or an inactive member's."""
    row = (await db.execute(_SIGNED_IN, {"token_hash": _hash(token)})).mappings().first()
    if row is None or row["session_expires_at"] <= utcnow() or not row["active"]:
        return None
    return detached(Staff, {key: row[key] for key in _STAFF_FIELDS})


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
    refused = api_media_refusal(request)
    if refused:
        raise DomainError(ErrorKind.unsupported, "unsupported-media-type", refused)

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

    if staff is not None and staff.must_change_password and not _open_before_password_change(request.path):
        # An admin reset the password: nothing but choosing a new one (and signing out).
        if api or request.path.startswith("/ws/") or request.method not in SAFE_METHODS:
            raise DomainError(ErrorKind.forbidden, "password-change-required", "Choose a new password first (POST /api/me/password).")
        raise web.HTTPFound(PASSWORD_PAGE)

    if staff is not None and not api and request.method not in SAFE_METHODS and not request.path.startswith("/ws/"):
        if not await page_token_ok(request, settings.secret_key, token):
            raise DomainError(ErrorKind.forbidden, "csrf", "The form has expired; reload the page and try again.")
    return await handler(request)
