"""Staff sign-in, sign-out and who am I."""

from __future__ import annotations

import asyncio

from aiohttp import web
from pydantic import Field
from sqlalchemy import select, update

from server.db.models import Staff, utcnow
from server.domain.errors import DomainError, ErrorKind
from server.keys import audit_key, db_key, login_guard_key, metrics_key, passwords_key
from server.security import auth
from server.security.passwords import MIN_LENGTH
from server.security.proxy import client_address
from server.web.serialize import staff_json
from server.web.staff_account import change_own_password
from server.web.validation import Body, parse_body

routes = web.RouteTableDef()

class LoginBody(Body):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


async def authenticate(request: web.Request, username: str, password: str) -> Staff:
    """Shared by the JSON API and the login form. Raises DomainError on refusal."""
    guard = request.app[login_guard_key]
    address = client_address(request)
    # Reserve before any await: see server/security/login_guard.py.
    wait = guard.reserve(address, username)
    if wait > 0:
        request.app[metrics_key].signin_failures.labels(reason="rate-limited").inc()
        raise DomainError(ErrorKind.rate_limited, "too-many-attempts", f"Too many failed sign-ins; try again in {int(wait) + 1} seconds.", retry_after=int(wait) + 1)
    workers = request.app[passwords_key]
    async with request.app[db_key]() as db:
        staff = (await db.execute(select(Staff).where(Staff.username == username))).scalar_one_or_none()
    # No database connection is held while Argon2 runs: twenty parallel sign-ins
    # waiting for the workers would otherwise take every pooled connection and
    # stall /healthz and the call log with them (bench/login_burst.py).
    ok = await workers.verify(staff.password_hash if staff else None, password) and staff is not None and staff.active
    if ok:
        new_hash = await workers.hash(password) if workers.needs_rehash(staff.password_hash) else None
        async with request.app[db_key]() as db:
            values = {"last_login_at": utcnow(), **({"password_hash": new_hash} if new_hash else {})}
            await db.execute(update(Staff).where(Staff.id == staff.id).values(**values))
            await db.commit()
    audit = request.app[audit_key]
    if not ok:
        request.app[metrics_key].signin_failures.labels(reason="invalid-credentials").inc()
        await audit.record("auth.login_failed", actor=username[:64], detail={"ip": address})
        await asyncio.sleep(guard.pause_after_failure(username))
        raise DomainError(ErrorKind.unauthenticated, "invalid-credentials", "Wrong username or password.")
    guard.succeeded(address, username)
    await audit.record("auth.login", actor=staff, target_type="staff", target_id=staff.id, detail={"ip": address})
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


class PasswordChange(Body):
    current_password: str = Field(min_length=1, max_length=1024)
    new_password: str = Field(min_length=MIN_LENGTH, max_length=1024)


@routes.post("/api/me/password")
async def change_password(request: web.Request) -> web.Response:
    """The signed-in staff member chooses a new password (required after an admin's reset)."""
    me = auth.current_staff(request)
    body = await parse_body(request, PasswordChange)
    response = web.json_response({"changed": True})
    await change_own_password(request, me, body.current_password, body.new_password, response)
    return response
