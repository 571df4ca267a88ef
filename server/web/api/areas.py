"""The office's working area, and the clients whose kelurahan is not in it."""

from __future__ import annotations

from aiohttp import web

from server.db.models import Role
from server.domain.access import require_role
from server.domain.office import areas as areas_domain
from server.keys import db_key
from server.security.auth import current_staff

routes = web.RouteTableDef()


@routes.get("/api/areas")
async def list_kelurahan(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        rows = await areas_domain.kelurahan_list(db, staff.office_id)
    return web.json_response({"kelurahan": [{"id": k.id, "name": k.name, "kecamatan": k.kecamatan, "city": k.city} for k in rows]})


@routes.get("/api/areas/unmatched")
async def unmatched(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_role(staff, Role.supervisor, Role.admin)
    async with request.app[db_key]() as db:
        clients = await areas_domain.unmatched_clients(db, staff.office_id)
    return web.json_response({"clients": [{"id": c.id, "name": c.name, "register_number": c.register_number, "kelurahan": c.kelurahan} for c in clients]})
