"""The office's own settings (``GET``/``PUT /api/office/settings``): what the
ledger counts by (server/domain/record/rules.py), its guidance settings (the
stages' intervals, when a reassessment is due, the need areas:
server/domain/guidance/settings.py), and whether reminders sent through the
gateway carry their full text (server/domain/outreach/wording.py)."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import Field, StringConstraints, model_validator
from sqlalchemy import select

from server.db.models import Office, Role
from server.domain.access import require_role
from server.domain.errors import not_found
from server.domain.guidance.settings import (
    INTERVAL_RANGE,
    MAX_NEEDS,
    NEED_LENGTH,
    REASSESSMENT_RANGE,
    guidance_settings,
    update_guidance,
)
from server.domain.outreach.wording import full_text_on, set_full_text
from server.domain.record.rules import (
    MIN_REPORT_MINUTES_RANGE,
    TPP_QUORUM_RANGE,
    rules_of,
    update_rules,
)
from server.keys import audit_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.validation import Body, parse_body

routes = web.RouteTableDef()


class StageIntervals(Body):
    awal: int | None = Field(default=None, ge=INTERVAL_RANGE[0], le=INTERVAL_RANGE[1])
    lanjutan: int | None = Field(default=None, ge=INTERVAL_RANGE[0], le=INTERVAL_RANGE[1])
    akhir: int | None = Field(default=None, ge=INTERVAL_RANGE[0], le=INTERVAL_RANGE[1])


class OfficeSettingsUpdate(Body):
    # Each optional, never null (a sent null is 400): a field left out keeps its value.
    min_report_minutes: int | None = Field(default=None, ge=MIN_REPORT_MINUTES_RANGE[0], le=MIN_REPORT_MINUTES_RANGE[1])
    tpp_quorum: int | None = Field(default=None, ge=TPP_QUORUM_RANGE[0], le=TPP_QUORUM_RANGE[1], description="members a sidang TPP needs present to close")
    reminder_full_text: bool | None = None
    stage_intervals: StageIntervals | None = None
    reassessment_days: int | None = Field(default=None, ge=REASSESSMENT_RANGE[0], le=REASSESSMENT_RANGE[1])
    needs: list[Annotated[str, StringConstraints(min_length=1, max_length=NEED_LENGTH)]] | None = Field(default=None, min_length=1, max_length=MAX_NEEDS)

    @model_validator(mode="after")
    def _something(self):
        if not self.model_fields_set:
            raise ValueError("give at least one setting")
        if any(getattr(self, name) is None for name in self.model_fields_set):
            raise ValueError("a setting given is a value, not null")
        return self


# The office's rules (server/domain/record/rules.py) among the settings.
RULE_FIELDS = ("min_report_minutes", "tpp_quorum")


def office_settings(office: Office, tz: str) -> dict:
    """The JSON of ``GET /api/office/settings``."""
    return {**rules_of(office, tz).office_settings(), "reminder_full_text": full_text_on(office), **guidance_settings(office).as_dict()}


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
    guidance = {name: fields[name] for name in ("stage_intervals", "reassessment_days", "needs") if name in fields}
    if guidance:
        _after, guidance_changed = update_guidance(office, **guidance)
        changed.update(guidance_changed)
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


def _plain(value):
    return list(value) if isinstance(value, tuple) else value


@routes.put("/api/office/settings")
async def put_settings(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_role(staff, Role.supervisor, Role.admin)
    body = await parse_body(request, OfficeSettingsUpdate)
    fields = body.model_dump(exclude_unset=True)
    if "stage_intervals" in fields:
        fields["stage_intervals"] = body.stage_intervals.model_dump(exclude_none=True)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        office = await _office(db, staff.office_id)
        changed = change_office_settings(office, tz, **fields)
        await db.commit()
        answer = office_settings(office, tz)
    if changed:
        await request.app[audit_key].record("office.settings", actor=staff, target_type="office", target_id=staff.office_id,
                                            detail={k: {"old": _plain(old), "new": _plain(new)} for k, (old, new) in changed.items()})
    return web.json_response(answer)
