"""Staff sign-in, sign-out and who am I."""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import Field
from sqlalchemy import select

from server.db.models import Staff, utcnow
from server.domain.errors import DomainError, ErrorKind
from server.keys import audit_key, db_key, login_limiter_key, metrics_key
from server.security import auth
from server.security.passwords import hash_password, needs_rehash, verify_password
from server.security.proxy import client_address
from server.web.serialize import staff_json
from server.web.validation import Body, parse_body

routes = web.RouteTableDef()

# A failed sign-in waits this long before answering: slows guessing without locking anyone out.
FAILED_LOGIN_PAUSE = 0.3


class LoginBody(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


async def authenticate(request: web.Request, username: str, password: str) -> Staff:
    """Shared by the JSON API and the login form. Raises DomainError on refusal."""
    limiter = request.app[login_limiter_key]
    keys = (f"ip:{client_address(request)}", f"user:{username.lower()}")
    wait = limiter.blocked(*keys)
    if wait > 0:
        request.app[metrics_key].signin_failures.labels(reason="rate-limited").inc()
        raise DomainError(ErrorKind.rate_limited, "too-many-attempts", f"Too many failed sign-ins; try again in {int(wait) + 1} seconds.", retry_after=int(wait) + 1)
    async with request.app[db_key]() as db:
        staff = (await db.execute(select(Staff).where(Staff.username == username))).scalar_one_or_none()
        ok = verify_password(staff.password_hash if staff else None, password) and staff is not None and staff.active
        if ok:
            staff.last_login_at = utcnow()
            if needs_rehash(staff.password_hash):
                staff.password_hash = hash_password(password)
            await db.commit()
    audit = request.app[audit_key]
    if not ok:
        limiter.hit(*keys)
        request.app[metrics_key].signin_failures.labels(reason="invalid-credentials").inc()
        await audit.record("auth.login_failed", actor=username[:64], detail={"ip": client_address(request)})
        await asyncio.sleep(FAILED_LOGIN_PAUSE)
        raise DomainError(ErrorKind.unauthenticated, "invalid-credentials", "Wrong username or password.")
    limiter.reset(keys[1])
    await audit.record("auth.login", actor=staff, target_type="staff", target_id=staff.id, detail={"ip": client_address(request)})
    return staff


@routes.post("/api/login")
async def login(request: web.Request) -> web.Response:
    body = await parse_body(request, LoginBody)
    staff = await authenticate(request, body.username, body.password)
    response = web.json_response(staff_json(staff))
    await auth.start_session(request, response, staff)
    return response


@routes.post("/api/logout")
async def logout(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    response = web.json_response({"ok": True})
    await auth.end_session(request, response)
    await request.app[audit_key].record("auth.logout", actor=staff, target_type="staff", target_id=staff.id)
    return response


@routes.get("/api/me")
async def me(request: web.Request) -> web.Response:
    return web.json_response(staff_json(auth.current_staff(request)))
