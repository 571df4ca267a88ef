"""The client's own link (tautan klien): issue (reissue) and revoke it."""

from __future__ import annotations

from aiohttp import web

from server.db.models import Client
from server.domain.access import require_client
from server.domain.outreach import portal as portal_domain
from server.keys import audit_key, db_key, settings_key
from server.security import portalpass
from server.security.auth import current_staff
from server.web.links import base_url
from server.web.serialize import iso
from server.web.validation import int_param

routes = web.RouteTableDef()


def portal_url(request: web.Request, link) -> str:
    settings = request.app[settings_key]
    return f"{base_url(request, settings)}/k/{portalpass.link_token(settings.secret_key, link.id, link.salt)}"


@routes.post("/api/clients/{id}/portal-link")
async def issue_portal_link(request: web.Request) -> web.Response:
    staff = current_staff(request)
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        link = await portal_domain.issue(db, staff, client, settings.timezone)
        await db.commit()
        url, expires = portal_url(request, link), link.expires_at
    await request.app[audit_key].record("portal.issue", actor=staff, target_type="client", target_id=client.id, detail={"link_id": link.id})
    return web.json_response({"url": url, "expires_at": iso(expires, settings.timezone)}, status=201, headers={"Cache-Control": "no-store"})


@routes.delete("/api/clients/{id}/portal-link")
async def revoke_portal_link(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        revoked = await portal_domain.revoke_by(db, staff, client.id)
        await db.commit()
    await request.app[audit_key].record("portal.revoke", actor=staff, target_type="client", target_id=client.id, detail={"revoked": revoked})
    return web.json_response({"revoked": revoked > 0})
