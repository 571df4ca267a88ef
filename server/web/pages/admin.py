"""The admin's view of the office settings that matter for calls and evidence.

Settings come from the environment (docs/deploy.md), not from this page: a
change to TURN or retention is an operator's act on the server, reviewed like
any deployment, so the page shows what is in force and where to change it.
Secrets are never shown, only whether they are set.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select

from server.db.models import Office, Role, Staff
from server.domain.access import require_role
from server.domain.errors import DomainError
from server.domain.staff import add_staff
from server.keys import audit_key, db_key, settings_key
from server.security import auth
from server.security.auth import current_staff
from server.web.api.staff import StaffCreate
from server.web.errors import http_status
from server.web.forms import form_dict
from server.web.render import error_text, gettext_for, render
from server.web.validation import page_errors

routes = web.RouteTableDef()

# The catalogue keys of the rows, in the order shown (tests/test_i18n.py checks them).
SETTING_KEYS = (
    "settings.office", "settings.timezone", "settings.public_url", "settings.stun_urls", "settings.turn_urls",
    "settings.turn_secret", "settings.turn_ttl", "settings.join_window", "settings.min_video",
    "settings.audit_retention", "settings.session_retention", "settings.audit_key", "settings.recordings_dir", "settings.redis",
)


@routes.get("/admin/settings")
async def settings_page(request: web.Request) -> web.Response:
    me = current_staff(request)
    require_role(me, Role.admin)
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        office = await db.scalar(select(Office).where(Office.id == me.office_id))
    signer = request.app[audit_key].signer
    values = {
        "settings.office": office.name if office else "—",
        "settings.timezone": settings.timezone,
        "settings.public_url": settings.public_url or "—",
        "settings.stun_urls": ", ".join(settings.stun_urls) or "—",
        "settings.turn_urls": ", ".join(settings.turn_urls) or "—",
        "settings.turn_secret": "set" if settings.turn_secret else "unset",
        "settings.turn_ttl": f"{settings.turn_ttl_seconds} s",
        "settings.join_window": f"-{settings.join_opens_before_minutes} min / +{settings.join_expires_after_hours} h",
        "settings.min_video": f"{settings.min_video_minutes} min",
        "settings.audit_retention": f"{settings.audit_retention_days} d",
        "settings.session_retention": f"{settings.session_retention_days} d",
        "settings.audit_key": signer.key_id if signer else "unset",
        "settings.recordings_dir": str(settings.recordings_dir),
        "settings.redis": "set" if settings.redis_url else "unset",
    }
    rows = [(key, values[key]) for key in SETTING_KEYS]
    return render(request, "admin/settings.html", {"rows": rows, "turn_ok": settings.turn_enabled})


@routes.get("/admin/staff")
async def staff_page(request: web.Request) -> web.Response:
    me = auth.current_staff(request)
    require_role(me, Role.admin)
    async with request.app[db_key]() as db:
        rows = list((await db.execute(select(Staff).where(Staff.office_id == me.office_id).order_by(Staff.role, Staff.name))).scalars())
    return render(request, "admin/staff.html", {"rows": rows, "roles": list(Role), "errors": {}, "form": {}})


@routes.post("/admin/staff")
async def staff_submit(request: web.Request) -> web.Response:
    me = auth.current_staff(request)
    require_role(me, Role.admin)
    form = form_dict(await request.post())
    async with request.app[db_key]() as db:
        rows = list((await db.execute(select(Staff).where(Staff.office_id == me.office_id).order_by(Staff.role, Staff.name))).scalars())
        try:
            body = StaffCreate.model_validate(form)
            staff = await add_staff(db, me.office_id, body.username, body.name, body.role, body.password, nip=body.nip)
            await db.commit()
        except ValidationError as exc:
            errors = page_errors(exc, gettext_for(request))
            form.pop("password", None)
            return render(request, "admin/staff.html", {"rows": rows, "roles": list(Role), "errors": errors, "form": form}, status=400)
        except DomainError as exc:
            form.pop("password", None)
            return render(request, "admin/staff.html", {"rows": rows, "roles": list(Role), "errors": {"form": error_text(request, exc)}, "form": form}, status=http_status(exc))
    await request.app[audit_key].record("staff.create", actor=me, target_type="staff", target_id=staff.id, detail={"username": staff.username, "role": staff.role.value})
    raise web.HTTPFound("/admin/staff")
