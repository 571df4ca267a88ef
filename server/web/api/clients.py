"""Clients and their supervision records."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from pydantic import Field

from server.db.models import Client, ClientCategory, Office, Program
from server.domain.access import require_client
from server.domain.guidance import assessments as assessments_domain
from server.domain.guidance import plans as plans_domain
from server.domain.guidance import progress as progress_domain
from server.domain.guidance import stages as stages_domain
from server.domain.guidance.settings import guidance_settings
from server.domain.guidance.stages import current_stage
from server.domain.record import clients as clients_domain
from server.domain.record.ledger import attendance, caseload_sort_key, period_list
from server.domain.violations import alerts as alerts_domain
from server.domain.violations.path import client_violations
from server.domain.violations.sittings import client_decisions
from server.keys import audit_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.api.sentences import sentence_and_hours
from server.web.dates import today
from server.web.fields import Id, Name, Phone, ShortText
from server.web.api.violations import alert_json, tpp_decision_json, violation_json
from server.web.guidance_json import assessment_json, goal_line_json, stages_json
from server.web.ledger import judge_for, rules_for
from server.web.serialize import attendance_json, client_json, session_json
from server.web.validation import Body, int_param, parse_body

routes = web.RouteTableDef()


class ClientCreate(Body):
    name: Name
    register_number: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9./ -]+$")
    program: Program
    supervision_start: date
    supervision_end: date
    # Without it the client gets the office's stages (thirds of the term, the office's intervals).
    reporting_interval_days: int | None = Field(default=None, ge=1, le=365)
    kelurahan: str = Field(min_length=1, max_length=100)
    phone: Phone = ""
    officer_id: Id | None = None
    category: ClientCategory = ClientCategory.adult
    employment: ShortText = ""
    street: ShortText = ""
    rt_rw: str = Field(default="", max_length=16, pattern=r"^[0-9/ ]*$")


async def client_fields(db, staff, body: ClientCreate) -> dict:
    """A new client's fields: without ``reporting_interval_days``, the office's stages
    (server/domain/guidance/stages.py), the first stage's interval standing for it."""
    fields = body.model_dump()
    if body.reporting_interval_days is None:
        # An end before the start is refused by create_client; the stages wait for a valid term.
        end = max(body.supervision_end, body.supervision_start)
        fields["stage_plan"] = await stages_domain.office_stage_plan(db, staff.office_id, body.supervision_start, end)
        fields["reporting_interval_days"] = fields["stage_plan"][0]["interval_days"]
    return fields


@routes.get("/api/clients")
async def list_clients(request: web.Request) -> web.Response:
    staff = current_staff(request)
    tz = request.app[settings_key].timezone
    now = today(request)
    async with request.app[db_key]() as db:
        rows = await clients_domain.caseload(db, staff)
        rules = await rules_for(request, db, staff.office_id)
        assessed = await assessments_domain.assessments_of(db, [c.id for c, _ in rows])
        office = await db.get(Office, staff.office_id)
        done = await alerts_domain.answered(db, [c.id for c, _ss in rows])
    # The three-misses alerts not answered yet (issue 21), from the same ledger as the attendance.
    alerts = {c.id: alerts_domain.pending(c, ss, now, rules, done) for c, ss in rows}
    guidance = guidance_settings(office)
    items = sorted(((c, attendance(c, ss, now, rules)) for c, ss in rows), key=caseload_sort_key)
    out = []
    for c, a in items:
        latest = assessed[c.id][-1] if assessed[c.id] else None
        out.append(dict(client_json(c, tz), attendance=attendance_json(a), risk_category=latest.category.value if latest else None,
                        assessment_due=assessments_domain.assessment_due(c, latest, guidance, now).as_dict(),
                        stage=(stage.stage if (stage := current_stage(c, now)) else None),
                        alerts=[alert_json(r) for r in alerts[c.id]]))
    return web.json_response({"clients": out})


@routes.post("/api/clients")
async def create_client(request: web.Request) -> web.Response:
    staff = current_staff(request)
    body = await parse_body(request, ClientCreate)
    async with request.app[db_key]() as db:
        client = await clients_domain.create_client(db, staff, **await client_fields(db, staff, body))
        await db.commit()
        # The new row is still in the identity map without its officer: load it here,
        # inside the session (a lazy load after the block would fail under asyncio).
        await db.refresh(client, ["officer"])
    await request.app[audit_key].record("client.create", actor=staff, target_type="client", target_id=client.id, detail={"register_number": client.register_number, "officer_id": client.officer_id})
    return web.json_response(client_json(client, request.app[settings_key].timezone), status=201)


@routes.get("/api/clients/{id}")
async def get_client(request: web.Request) -> web.Response:
    staff = current_staff(request)
    client_id = int_param(request, "id")
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, client_id))
    return web.json_response(client_json(client, request.app[settings_key].timezone))


@routes.get("/api/clients/{id}/record")
async def get_record(request: web.Request) -> web.Response:
    staff = current_staff(request)
    client_id = int_param(request, "id")
    tz = request.app[settings_key].timezone
    as_of = today(request)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, client_id))
        sessions = await clients_domain.client_sessions(db, client.id)
        judge = await judge_for(request, db, client.office_id)
        sentence = await sentence_and_hours(db, client.id)  # {"sentence", "service_hours", "completion_letter_due"}
        violations = [violation_json(v, tz) for v in await client_violations(db, client.id)]
        decisions = [tpp_decision_json(case, sitting) for case, sitting in await client_decisions(db, staff, client)]
        assessed = (await assessments_domain.assessments_of(db, [client.id]))[client.id]
        guidance = guidance_settings(await db.get(Office, client.office_id))
        plan = await plans_domain.latest_plan(db, client.id)
        lines = await progress_domain.goal_lines(db, client.id, plan)
    rules = judge.rules
    latest = assessed[-1] if assessed else None
    await request.app[audit_key].record("record.view", actor=staff, target_type="client", target_id=client.id)
    return web.json_response(
        {
            "client": client_json(client, tz),
            "attendance": attendance_json(attendance(client, sessions, as_of, rules)),
            "periods": [p.as_dict() for p in period_list(client, sessions, as_of, rules)],
            "sessions": [session_json(s, tz, events=False, judge=judge) for s in sessions],
            **sentence,
            # Issue 21: the client's violations with their steps, and what sidang TPP decided about them.
            "violations": violations,
            "tpp_decisions": decisions,
            **stages_json(client, as_of),
            "assessment": assessment_json(latest, tz) if latest else None,
            "assessment_due": assessments_domain.assessment_due(client, latest, guidance, as_of).as_dict(),
            "plan": {"version": plan.version, "status": plan.status.value, "agreement": plan.agreement.value} if plan else None,
            "goals": [goal_line_json(line, tz) for line in lines],
        }
    )
