"""The office's own rules (``GET``/``PUT /api/office/settings``): what the
ledger counts by, chosen by the office (server/domain/record/rules.py)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field
from sqlalchemy import select

from server.db.models import Office, Role
from server.domain.access import require_role
from server.domain.errors import not_found
from server.domain.record.rules import MIN_REPORT_MINUTES_RANGE, TPP_QUORUM_RANGE, rules_of, update_rules
from server.keys import audit_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.validation import Body, parse_body

routes = web.RouteTableDef()


class OfficeSettingsUpdate(Body):
    # Each is optional, but null is no value (400): the default is not validated, a sent null is.
    min_report_minutes: int = Field(default=None, ge=MIN_REPORT_MINUTES_RANGE[0], le=MIN_REPORT_MINUTES_RANGE[1])
    tpp_quorum: int = Field(default=None, ge=TPP_QUORUM_RANGE[0], le=TPP_QUORUM_RANGE[1], description="members a sidang TPP needs present to close")


async def _office(db, office_id: int) -> Office:
    office = await db.scalar(select(Office).where(Office.id == office_id))
    if office is None:
        raise not_found("office")
    return office


@routes.get("/api/office/settings")
async def get_settings(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        office = await _office(db, staff.office_id)
    return web.json_response(rules_of(office, request.app[settings_key].timezone).office_settings())


@routes.put("/api/office/settings")
async def put_settings(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_role(staff, Role.supervisor, Role.admin)
    body = await parse_body(request, OfficeSettingsUpdate)
    async with request.app[db_key]() as db:
        office = await _office(db, staff.office_id)
        after, changed = update_rules(office, request.app[settings_key].timezone, **body.model_dump(exclude_unset=True))
        await db.commit()
    if changed:
        await request.app[audit_key].record("office.settings", actor=staff, target_type="office", target_id=staff.office_id,
                                            detail={k: {"old": old, "new": new} for k, (old, new) in changed.items()})
    return web.json_response(after.office_settings())
