"""The laporan perkembangan klien: a printable report of a client's progress
over a period, on the office's letterhead: the stages, wajib lapor by period,
the assessments, the goals with their ratings in the period, and room for the
PK's summary and signature (docs/api.md, "Where guidance is going")."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from server.db.models import Client, Office
from server.domain.access import require_client
from server.domain.errors import DomainError, ErrorKind
from server.domain.guidance import plans as plans_domain
from server.domain.guidance import progress as progress_domain
from server.domain.guidance.assessments import assessments_of
from server.domain.guidance.stages import stages_of
from server.domain.office.profile import office_profile
from server.domain.record import clients as clients_domain
from server.domain.record.ledger import attendance, local_date, period_list
from server.keys import audit_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.dates import today
from server.web.ledger import judge_for
from server.web.render import render
from server.web.validation import int_param

routes = web.RouteTableDef()

class ReportQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")
    date_from: date | None = Field(default=None, alias="from")
    date_to: date | None = Field(default=None, alias="to")

    @model_validator(mode="after")
    def _order(self):
        for d in (self.date_from, self.date_to):
            if d is not None and not 1900 <= d.year <= 2999:
                raise ValueError("dates from 1900 to 2999")
        if self.date_from and self.date_to and self.date_to < self.date_from:
            raise ValueError("to: not before from")
        return self


@routes.get("/clients/{id}/perkembangan")
async def progress_report(request: web.Request) -> web.Response:
    staff = current_staff(request)
    try:
        q = ReportQuery.model_validate({k: v for k, v in request.query.items() if v != ""})
    except ValueError as exc:
        raise DomainError(ErrorKind.invalid, "invalid-query", f"from/to: ISO dates, from not after to ({exc.__class__.__name__})") from None
    tz = request.app[settings_key].timezone
    now = today(request)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        first = q.date_from or client.supervision_start
        last = min(q.date_to or now, now)
        sessions = await clients_domain.client_sessions(db, client.id)
        judge = await judge_for(request, db, client.office_id)
        assessed = (await assessments_of(db, [client.id]))[client.id]
        plan = await plans_domain.latest_plan(db, client.id)
        lines = await progress_domain.goal_lines(db, client.id, plan)
        profile = office_profile(await db.get(Office, client.office_id))
    # Counted as of the period's last day (never after today): the periods that overlap the period.
    as_of = last
    periods = [p for p in period_list(client, sessions, as_of, judge.rules) if p.end >= first and p.start <= last]
    in_range = [(line, [r for r in line.ratings if first <= local_date(r.at, tz) <= last]) for line in lines]
    await request.app[audit_key].record("report.view", actor=staff, target_type="client", target_id=client.id,
                                        detail={"report": "perkembangan", "from": first.isoformat(), "to": last.isoformat()})
    return render(request, "guidance/progress_report.html", {
        "client": client, "profile": profile, "first": first, "last": last, "stages": stages_of(client),
        "att": attendance(client, sessions, as_of, judge.rules), "periods": periods,
        "assessments": [a for a in assessed if a.assessed_on <= last], "plan": plan, "lines": in_range,
    })
