"""The office's own rules (``GET``/``PUT /api/office/settings``): what the
ledger counts by, chosen by the office (server/domain/record/rules.py), and its
guidance settings: the stages' intervals, when a reassessment is due, the need
areas (server/domain/guidance/settings.py)."""

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
from server.domain.record.rules import MIN_REPORT_MINUTES_RANGE, rules_of, update_rules
from server.keys import audit_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.validation import Body, parse_body

routes = web.RouteTableDef()


class StageIntervals(Body):
    awal: int | None = Field(default=None, ge=INTERVAL_RANGE[0], le=INTERVAL_RANGE[1])
    lanjutan: int | None = Field(default=None, ge=INTERVAL_RANGE[0], le=INTERVAL_RANGE[1])
    akhir: int | None = Field(default=None, ge=INTERVAL_RANGE[0], le=INTERVAL_RANGE[1])


class OfficeSettingsUpdate(Body):
    min_report_minutes: int | None = Field(default=None, ge=MIN_REPORT_MINUTES_RANGE[0], le=MIN_REPORT_MINUTES_RANGE[1])
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


def _settings_json(office: Office, tz: str) -> dict:
    return {**rules_of(office, tz).office_settings(), **guidance_settings(office).as_dict()}


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
    return web.json_response(_settings_json(office, request.app[settings_key].timezone))


@routes.put("/api/office/settings")
async def put_settings(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_role(staff, Role.supervisor, Role.admin)
    body = await parse_body(request, OfficeSettingsUpdate)
    async with request.app[db_key]() as db:
        office = await _office(db, staff.office_id)
        tz = request.app[settings_key].timezone
        _, changed = update_rules(office, tz, min_report_minutes=body.min_report_minutes)
        intervals = body.stage_intervals.model_dump(exclude_none=True) if body.stage_intervals else None
        _, guidance_changed = update_guidance(office, stage_intervals=intervals, reassessment_days=body.reassessment_days, needs=body.needs)
        changed = {**changed, **guidance_changed}
        await db.commit()
        data = _settings_json(office, tz)
    if changed:
        def plain(v):
            return list(v) if isinstance(v, tuple) else v
        await request.app[audit_key].record("office.settings", actor=staff, target_type="office", target_id=staff.office_id,
                                            detail={k: {"old": plain(old), "new": plain(new)} for k, (old, new) in changed.items()})
    return web.json_response(data)
