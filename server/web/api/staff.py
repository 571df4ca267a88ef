"""Staff accounts (admin) and the office's PKs (anyone signed in, for forms)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field
from sqlalchemy import select

from server.db.models import Role, Staff
from server.domain.access import require_role
from server.domain.office.staff import add_staff
from server.keys import audit_key, db_key, passwords_key
from server.security.auth import current_staff
from server.security.passwords import MIN_LENGTH
from server.web.fields import Name
from server.web.serialize import staff_json
from server.web.staff_account import change_account
from server.web.validation import Body, int_param, parse_body

routes = web.RouteTableDef()


class StaffCreate(Body):
    username: str = Field(min_length=3, max_length=64, pattern=r"^[a-z0-9._-]+$")
    name: Name
    role: Role
    password: str = Field(min_length=MIN_LENGTH, max_length=1024)
    # Nomor Induk Pegawai (18 digits for civil servants); printed under signatures.
    nip: str = Field(default="", max_length=30, pattern=r"^[0-9 ]*$")


class StaffUpdate(Body):
    name: Name | None = None
    role: Role | None = None
    active: bool | None = None
    password: str | None = Field(default=None, min_length=MIN_LENGTH, max_length=1024)
    nip: str | None = Field(default=None, max_length=30, pattern=r"^[0-9 ]*$")


@routes.get("/api/staff")
async def list_staff(request: web.Request) -> web.Response:
    me = current_staff(request)
    async with request.app[db_key]() as db:
        query = select(Staff).where(Staff.office_id == me.office_id).order_by(Staff.name)
        if me.role == Role.pk:
            query = query.where(Staff.id == me.id)
        rows = (await db.execute(query)).scalars().all()
    return web.json_response({"staff": [staff_json(s) for s in rows]})


@routes.post("/api/staff")
async def create_staff(request: web.Request) -> web.Response:
    me = current_staff(request)
    require_role(me, Role.admin)
    body = await parse_body(request, StaffCreate)
    # In the worker pool, before the database is opened (server/security/passwords.py).
    password_hash = await request.app[passwords_key].hash(body.password)
    async with request.app[db_key]() as db:
        staff = await add_staff(db, me.office_id, body.username, body.name, body.role, password_hash, nip=body.nip)
        await db.commit()
    await request.app[audit_key].record("staff.create", actor=me, target_type="staff", target_id=staff.id, detail={"username": staff.username, "role": staff.role.value})
    return web.json_response(staff_json(staff), status=201)


@routes.patch("/api/staff/{id}")
async def update_staff(request: web.Request) -> web.Response:
    me = current_staff(request)
    require_role(me, Role.admin)
    body = await parse_body(request, StaffUpdate)
    staff, _changes = await change_account(
        request, me, int_param(request, "id"), name=body.name, role=body.role, active=body.active, password=body.password, nip=body.nip
    )
    return web.json_response(staff_json(staff))
