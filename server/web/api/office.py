"""The office's own settings (``GET``/``PUT /api/office/settings``): what the
ledger counts by (server/domain/record/rules.py) and whether reminders sent
through the gateway carry their full text (server/domain/outreach/wording.py)."""

from __future__ import annotations

from aiohttp import web
from pydantic import Field
from sqlalchemy import select

from server.db.models import Office, Role
from server.domain.access import require_role
from server.domain.errors import invalid, not_found
from server.domain.outreach.wording import full_text_on, set_full_text
from server.domain.record.rules import MIN_REPORT_MINUTES_RANGE, TPP_QUORUM_RANGE, rules_of, update_rules
from server.keys import audit_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.validation import Body, parse_body

routes = web.RouteTableDef()


class OfficeSettingsUpdate(Body):
    # Each optional, never null (a sent null is 400): a field left out keeps its value.
    min_report_minutes: int = Field(None, ge=MIN_REPORT_MINUTES_RANGE[0], le=MIN_REPORT_MINUTES_RANGE[1])  # type: ignore[assignment]
    tpp_quorum: int = Field(None, ge=TPP_QUORUM_RANGE[0], le=TPP_QUORUM_RANGE[1], description="members a sidang TPP needs present to close")  # type: ignore[assignment]
    reminder_full_text: bool = None  # type: ignore[assignment]


# The office's rules (server/domain/record/rules.py) among the settings.
RULE_FIELDS = ("min_report_minutes", "tpp_quorum")


def office_settings(office: Office, tz: str) -> dict:
    """The JSON of ``GET /api/office/settings``."""
    return {**rules_of(office, tz).office_settings(), "reminder_full_text": full_text_on(office)}


def change_office_settings(office: Office, tz: str, **fields) -> dict[str, tuple]:
    """Validate, change, and return what changed (field → (old, new)) for the audit trail."""
    changed: dict[str, tuple] = {}
    rules = {name: fields[name] for name in RULE_FIELDS if name in fields}
    if rules:
        _after, changed = update_rules(office, tz, **rules)
    if "reminder_full_text" in fields:
        old, new = set_full_text(office, fields["reminder_full_text"])
        if old != new:
            changed["reminder_full_text"] = (old, new)
    return changed


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
    return web.json_response(office_settings(office, request.app[settings_key].timezone))


@routes.put("/api/office/settings")
async def put_settings(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_role(staff, Role.supervisor, Role.admin)
    body = await parse_body(request, OfficeSettingsUpdate)
    fields = body.model_dump(exclude_unset=True)
    if not fields:
        raise invalid("body", "min_report_minutes, tpp_quorum or reminder_full_text")
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        office = await _office(db, staff.office_id)
        changed = change_office_settings(office, tz, **fields)
        await db.commit()
        answer = office_settings(office, tz)
    if changed:
        await request.app[audit_key].record("office.settings", actor=staff, target_type="office", target_id=staff.office_id,
                                            detail={k: {"old": old, "new": new} for k, (old, new) in changed.items()})
    return web.json_response(answer)
