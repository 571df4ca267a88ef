"""Where a client's guidance is going: moving between stages, assessments,
the case plan and its countersignature (server/domain/guidance/).

Reading follows the record (a PK's own clients, the office for supervisors and
admins); changing is guidance (PK or supervisor: an admin gets
``no-guidance-role``); countersigning a plan is a supervisor's."""

from __future__ import annotations

from datetime import date

from aiohttp import web
from pydantic import Field

from server.db.models import Agreement, Client, Office, RiskCategory, Stage
from server.domain.access import require_client, require_guidance
from server.domain.guidance import assessments as assessments_domain
from server.domain.guidance import plans as plans_domain
from server.domain.guidance import stages as stages_domain
from server.domain.guidance.settings import guidance_settings
from server.keys import audit_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.dates import today
from server.web.guidance_json import assessment_json, plan_json, stages_json
from server.web.validation import Body, int_param, parse_body, parse_query

routes = web.RouteTableDef()

ShortLine = Field(default="", max_length=1000)


class StageMove(Body):
    stage: Stage
    start: date
    reason: str = Field(min_length=1, max_length=500)


class AssessmentCreate(Body):
    date: date
    instrument: str = Field(default="rri", max_length=32)
    score: float | None = Field(default=None, allow_inf_nan=False)
    category: RiskCategory
    needs: list[str] = Field(default_factory=list, max_length=30)
    notes: str = Field(default="", max_length=5000)


class GoalBody(Body):
    id: int | None = Field(default=None, ge=1, le=2**31 - 1)
    need: str = Field(min_length=1, max_length=60)
    need_reason: str = Field(default="", max_length=1000)
    text: str = Field(min_length=1, max_length=500)
    steps: list[str] = Field(default_factory=list, max_length=10)
    target_date: date | None = None
    helpers: str = Field(default="", max_length=300)


class PlanSave(Body):
    goals: list[GoalBody] = Field(min_length=1, max_length=12)
    agreement: Agreement
    agreement_reason: str = Field(default="", max_length=1000)


class PlanQuery(Body):
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


class PlanApprove(Body):
    version: int | None = Field(default=None, ge=1, le=2**31 - 1)


async def _client(request: web.Request, db, staff) -> Client:
    return require_client(staff, await db.get(Client, int_param(request, "id")))


async def _guidance_settings(db, office_id: int):
    return guidance_settings(await db.get(Office, office_id))


@routes.post("/api/clients/{id}/stage")
async def move_stage(request: web.Request) -> web.Response:
    """Move the client to a stage early or late: set the first day of a stage not begun yet."""
    staff = current_staff(request)
    require_guidance(staff)
    return web.json_response(await stage_move_for(request, staff, await parse_body(request, StageMove)))


async def stage_move_for(request: web.Request, staff, body: StageMove) -> dict:
    """Move the stage (the API's and the page's form's), audited; the stages as JSON."""
    day = today(request)
    async with request.app[db_key]() as db:
        client = await _client(request, db, staff)
        old, new = stages_domain.move_stage(client, body.stage.value, body.start, body.reason, staff.id, day)
        await db.commit()
        data = stages_json(client, day)
    await request.app[audit_key].record("client.stage_move", actor=staff, target_type="client", target_id=client.id,
                                        detail={"stage": body.stage.value, "old": old.isoformat(), "new": new.isoformat(), "reason": body.reason.strip()})
    return data


@routes.get("/api/clients/{id}/assessments")
async def list_assessments(request: web.Request) -> web.Response:
    staff = current_staff(request)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        client = await _client(request, db, staff)
        rows = (await assessments_domain.assessments_of(db, [client.id]))[client.id]
        settings = await _guidance_settings(db, client.office_id)
    due = assessments_domain.assessment_due(client, rows[-1] if rows else None, settings, today(request))
    return web.json_response({"client_id": client.id, "assessments": [assessment_json(a, tz) for a in rows], "due": due.as_dict(),
                              "needs": list(settings.needs)})


@routes.post("/api/clients/{id}/assessments")
async def add_assessment(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    return web.json_response(await assess_for(request, staff, await parse_body(request, AssessmentCreate)), status=201)


async def assess_for(request: web.Request, staff, body: AssessmentCreate) -> dict:
    """Record the assessment (the API's and the page's form's), audited; it as JSON."""
    async with request.app[db_key]() as db:
        client = await _client(request, db, staff)
        settings = await _guidance_settings(db, client.office_id)
        row = await assessments_domain.add_assessment(
            db, staff, client, settings, today(request), assessed_on=body.date, instrument=body.instrument, score=body.score,
            category=body.category, needs=body.needs, notes=body.notes)
        await db.commit()
        data = assessment_json(row, request.app[settings_key].timezone)
    await request.app[audit_key].record("assessment.create", actor=staff, target_type="client", target_id=client.id,
                                        detail={"assessment_id": data["id"], "instrument": data["instrument"], "category": data["category"]})
    return data


@routes.get("/api/clients/{id}/plan")
async def get_plan(request: web.Request) -> web.Response:
    staff = current_staff(request)
    version = parse_query(request, PlanQuery).version
    async with request.app[db_key]() as db:
        client = await _client(request, db, staff)
        plan = await plans_domain.plan_version(db, client.id, version)
        latest = await plans_domain.latest_plan(db, client.id)
    return web.json_response(dict(plan_json(plan, request.app[settings_key].timezone), latest_version=latest.version))


@routes.put("/api/clients/{id}/plan")
async def put_plan(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    data, new = await plan_save_for(request, staff, await parse_body(request, PlanSave))
    return web.json_response(data, status=201 if new else 200)


async def plan_save_for(request: web.Request, staff, body: PlanSave) -> tuple[dict, bool]:
    """Save the plan (the API's and the page's form's), audited; it as JSON and whether it is a new version."""
    async with request.app[db_key]() as db:
        client = await _client(request, db, staff)
        settings = await _guidance_settings(db, client.office_id)
        assessed = (await assessments_domain.assessments_of(db, [client.id]))[client.id]
        goals = [plans_domain.GoalInput(g.need, g.text, g.steps, g.target_date, g.helpers, g.need_reason, g.id) for g in body.goals]
        plan, new = await plans_domain.save_plan(db, staff, client, settings, goals=goals, agreement=body.agreement,
                                                 agreement_reason=body.agreement_reason, latest_assessment=assessed[-1] if assessed else None)
        await db.commit()
        data = plan_json(plan, request.app[settings_key].timezone)
    await request.app[audit_key].record("plan.save", actor=staff, target_type="client", target_id=client.id,
                                        detail={"version": data["version"], "new_version": new, "goal_ids": [g["id"] for g in data["goals"]],
                                                "agreement": data["agreement"]})
    return dict(data, latest_version=data["version"]), new


@routes.post("/api/clients/{id}/plan/approve")
async def approve_plan(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    return web.json_response(await plan_approve_for(request, staff, await parse_body(request, PlanApprove)))


async def plan_approve_for(request: web.Request, staff, body: PlanApprove) -> dict:
    """Countersign the latest version (the API's and the page's button's), audited; it as JSON."""
    async with request.app[db_key]() as db:
        client = await _client(request, db, staff)
        plan = await plans_domain.approve_plan(db, staff, client, body.version)
        await db.commit()
        data = plan_json(plan, request.app[settings_key].timezone)
    await request.app[audit_key].record("plan.approve", actor=staff, target_type="client", target_id=client.id, detail={"version": data["version"]})
    return dict(data, latest_version=data["version"])
