"""The admin's page for the office's particulars (the letterhead: name,
address, phone, e-mail, logo, letter number prefix, the Kepala Bapas and NIP)
and the logo file itself, which staff pages and printed letters show."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import select

from server.db.models import Office, Role
from server.domain.access import require_role
from server.domain.errors import DomainError
from server.domain.office.logo import logo_file, save_logo
from server.domain.office.profile import FIELDS, office_profile, update_profile
from server.keys import audit_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.errors import http_status
from server.web.render import error_text, render

routes = web.RouteTableDef()

# The fields the form edits, in the order shown (logo_path has its own upload form).
FORM_FIELDS = ("name", "address", "phone", "email", "letter_prefix", "head_name", "head_nip")


async def _office(db, office_id: int) -> Office:
    return await db.scalar(select(Office).where(Office.id == office_id))


def _limits() -> dict[str, int]:
    return {"name": 200, **FIELDS}


@routes.get("/admin/office")
async def office_page(request: web.Request) -> web.Response:
    me = current_staff(request)
    require_role(me, Role.admin)
    async with request.app[db_key]() as db:
        profile = office_profile(await _office(db, me.office_id))
    return render(request, "admin/office.html", {"profile": profile, "fields": FORM_FIELDS, "limits": _limits(), "errors": {}, "saved": request.query.get("saved")})


@routes.post("/admin/office")
async def office_submit(request: web.Request) -> web.Response:
    me = current_staff(request)
    require_role(me, Role.admin)
    form = await request.post()
    changes = {k: str(form.get(k, "")) for k in FORM_FIELDS if k in form}
    async with request.app[db_key]() as db:
        office = await _office(db, me.office_id)
        try:
            _profile, changed = update_profile(office, **changes)
        except DomainError as exc:
            await db.rollback()
            field = next(iter(exc.extra.get("fields", {})), "form")
            shown = office_profile(await _office(db, me.office_id))
            return render(request, "admin/office.html", {"profile": shown, "fields": FORM_FIELDS, "limits": _limits(), "errors": {field: error_text(request, exc)}, "saved": None}, status=http_status(exc))
        await db.commit()
    if changed:
        await request.app[audit_key].record("office.profile", actor=me, target_type="office", target_id=me.office_id, detail={k: {"old": old, "new": new} for k, (old, new) in changed.items()})
    raise web.HTTPFound("/admin/office?saved=1")


@routes.post("/admin/office/logo")
async def logo_upload(request: web.Request) -> web.Response:
    me = current_staff(request)
    require_role(me, Role.admin)
    settings = request.app[settings_key]
    form = await request.post()
    upload = form.get("logo")
    data = upload.file.read(settings.max_logo_bytes + 1) if isinstance(upload, web.FileField) else b""
    async with request.app[db_key]() as db:
        office = await _office(db, me.office_id)
        try:
            path = save_logo(settings.data_dir, data, settings.max_logo_bytes)
        except DomainError as exc:
            return render(request, "admin/office.html", {"profile": office_profile(office), "fields": FORM_FIELDS, "limits": _limits(), "errors": {"logo": error_text(request, exc)}, "saved": None}, status=http_status(exc))
        _profile, changed = update_profile(office, logo_path=path)
        await db.commit()
    await request.app[audit_key].record("office.logo", actor=me, target_type="office", target_id=me.office_id, detail={"logo_path": path, "bytes": len(data), "previous": changed.get("logo_path", ("", ""))[0]})
    raise web.HTTPFound("/admin/office?saved=1")


@routes.get("/office/logo")
async def logo(request: web.Request) -> web.StreamResponse:
    """The letterhead logo for any signed-in staff page or printed letter."""
    me = current_staff(request)
    async with request.app[db_key]() as db:
        profile = office_profile(await _office(db, me.office_id))
    found = logo_file(request.app[settings_key].data_dir, profile.logo_path)
    if found is None:
        raise web.HTTPNotFound()
    path, content_type = found
    return web.Response(body=path.read_bytes(), content_type=content_type, headers={"Cache-Control": "private, max-age=300", "X-Content-Type-Options": "nosniff"})
