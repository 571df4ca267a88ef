"""Partners (mitra) of the office and their site supervisors' links.

Any staff member of the office lists the partners; the Kasie (supervisor) adds
and changes them; a PK or supervisor issues and revokes a site supervisor's
link (docs/api.md, "Partners, referrals and sentences")."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field

from server.db.partners import PartnerKind, SiteLink
from server.domain.access import require_guidance
from server.domain.partners import directory, site_links
from server.keys import audit_key, db_key, settings_key
from server.security import sitepass
from server.security.auth import current_staff
from server.web.fields import Name, ShortText
from server.web.links import base_url
from server.web.serialize import iso
from server.web.validation import Body, int_param, parse_body

routes = web.RouteTableDef()


class PartnerCreate(Body):
    name: Name
    kind: PartnerKind
    contact: ShortText = ""
    address: str = Field(default="", max_length=300)
    kelurahan: str = Field(default="", max_length=100)


class PartnerUpdate(Body):
    name: Name | None = None
    kind: PartnerKind | None = None
    contact: ShortText | None = None
    address: str | None = Field(default=None, max_length=300)
    kelurahan: str | None = Field(default=None, max_length=100)
    active: bool | None = None


class SiteLinkCreate(Body):
    name: Name = Field(description="the site supervisor the link is for")
    days: int = Field(default=90, ge=1, le=site_links.MAX_DAYS, description="how long the link lasts")


def site_url(request: web.Request, link: SiteLink) -> str:
    settings = request.app[settings_key]
    return f"{base_url(request, settings)}/p/{sitepass.link_token(settings.secret_key, link.id, link.salt)}"


def site_link_json(request: web.Request, link: SiteLink) -> dict:
    tz = request.app[settings_key].timezone
    live = site_links.live(link)
    return {"id": link.id, "partner_id": link.partner_id, "name": link.name, "expires_at": iso(link.expires_at, tz),
            "revoked_at": iso(link.revoked_at, tz), "last_opened_at": iso(link.last_opened_at, tz), "live": live,
            "url": site_url(request, link) if live else None}


@routes.get("/api/partners")
async def list_partners(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        rows = await directory.office_partners(db, staff.office_id)
    return web.json_response({"partners": [directory.partner_dict(p) for p in rows]})


@routes.post("/api/partners")
async def create_partner(request: web.Request) -> web.Response:
    staff = current_staff(request)
    directory.require_partner_manager(staff)
    body = await parse_body(request, PartnerCreate)
    async with request.app[db_key]() as db:
        partner = await directory.add_partner(db, staff, **body.model_dump())
        await db.commit()
        data = directory.partner_dict(partner)
    await request.app[audit_key].record("partner.create", actor=staff, target_type="partner", target_id=data["id"], detail={"name": data["name"], "kind": data["kind"]})
    return web.json_response(data, status=201)


@routes.get("/api/partners/{id}")
async def get_partner(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        partner = await directory.get_partner(db, staff, int_param(request, "id"))
    return web.json_response(directory.partner_dict(partner))


@routes.patch("/api/partners/{id}")
async def update_partner(request: web.Request) -> web.Response:
    staff = current_staff(request)
    directory.require_partner_manager(staff)
    body = await parse_body(request, PartnerUpdate)
    async with request.app[db_key]() as db:
        partner = await directory.get_partner(db, staff, int_param(request, "id"))
        changed = await directory.change_partner(db, staff, partner, body.model_dump(exclude_none=True))
        await db.commit()
        data = directory.partner_dict(partner)
    if changed:
        await request.app[audit_key].record("partner.update", actor=staff, target_type="partner", target_id=data["id"], detail=changed)
    return web.json_response(data)


@routes.get("/api/partners/{id}/site-links")
async def list_site_links(request: web.Request) -> web.Response:
    staff = current_staff(request)
    # The links carry tokens: only those who may issue them see them.
    require_guidance(staff)
    async with request.app[db_key]() as db:
        partner = await directory.get_partner(db, staff, int_param(request, "id"))
        rows = await site_links.links_of(db, partner.id)
    return web.json_response({"site_links": [site_link_json(request, link) for link in rows]}, headers={"Cache-Control": "no-store"})


@routes.post("/api/partners/{id}/site-links")
async def create_site_link(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    body = await parse_body(request, SiteLinkCreate)
    async with request.app[db_key]() as db:
        partner = await directory.get_partner(db, staff, int_param(request, "id"))
        link = await site_links.issue(db, staff, partner, name=body.name, days=body.days)
        await db.commit()
        data = site_link_json(request, link)
    await request.app[audit_key].record("site_link.issue", actor=staff, target_type="partner", target_id=partner.id, detail={"link_id": link.id, "name": link.name})
    return web.json_response(data, status=201, headers={"Cache-Control": "no-store"})


@routes.delete("/api/site-links/{id}")
async def revoke_site_link(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        link = await site_links.get_link(db, staff, int_param(request, "id"))
        changed = site_links.revoke(staff, link)
        await db.commit()
        data = site_link_json(request, link)
    if changed:
        await request.app[audit_key].record("site_link.revoke", actor=staff, target_type="partner", target_id=link.partner_id, detail={"link_id": link.id})
    return web.json_response(data)
