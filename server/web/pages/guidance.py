"""Where a client's guidance is going, on pages: the forms of the client's
record (move a stage, assess, write the case plan, countersign it), each
validated by the API's own model and carried out by the API's own function;
and the laporan perkembangan klien, a printable report of a client's progress
over a period on the office's letterhead: the stages, wajib lapor by period,
the assessments, the goals with their ratings in the period, and room for the
PK's summary and signature (docs/api.md, "Where guidance is going")."""

from __future__ import annotations

import re
from datetime import date

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from server.db.models import Client, GuidanceSession, Office, SessionStatus
from server.domain.access import require_client, require_guidance, require_session
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
from server.web.api.guidance import (
    AssessmentCreate,
    PlanApprove,
    PlanSave,
    StageMove,
    assess_for,
    plan_approve_for,
    plan_save_for,
    stage_move_for,
)
from server.web.api.sessions import SessionUpdate
from server.web.dates import today
from server.web.ledger import judge_for
from server.web.pages.clients import client_record_context
from server.web.pages.page_errors import page_refusal
from server.web.pages.sessions import session_page_context
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
        last = min(q.date_to or now, now)
        first = q.date_from or min(client.supervision_start, last)
        if first > last:
            raise DomainError(ErrorKind.invalid, "invalid-query", "from: not after to, nor after today")
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


# --- the forms of the client's record ------------------------------------------------

# Goal slots the plan form posts (``goal-{i}-text`` …): the goals kept, and empty ones to add.
FORM_GOALS = 12


def _text_fields(form) -> dict[str, str]:
    # Text fields only: a file sent under a field's name is no text (and no 500).
    return {k: v.strip() for k, v in form.items() if isinstance(v, str) and k != "csrf_token"}


def _plan_body(form) -> PlanSave:
    fields = _text_fields(form)
    goals = []
    for i in range(FORM_GOALS):
        g = {k: fields.get(f"goal-{i}-{k}", "") for k in ("id", "need", "need_reason", "text", "steps", "target_date", "helpers")}
        if not g["text"]:
            continue
        goals.append({"id": g["id"] or None, "need": g["need"], "need_reason": g["need_reason"], "text": g["text"],
                      "steps": [line.strip() for line in g["steps"].splitlines() if line.strip()], "target_date": g["target_date"] or None,
                      "helpers": g["helpers"]})
    return PlanSave.model_validate({"goals": goals, "agreement": fields.get("agreement", ""), "agreement_reason": fields.get("agreement_reason", "")})


async def _form_action(request: web.Request, anchor: str, build, act) -> web.Response:
    """Validate the form with the API's model, act with the API's function, then
    back to the record at ``anchor``; a refusal the PK can act on shows the
    record again with the sentence above the guidance section."""
    staff = current_staff(request)
    require_guidance(staff)
    client_id = int_param(request, "id")
    form = await request.post()
    try:
        await act(request, staff, build(form))
    except (ValidationError, DomainError) as exc:
        if isinstance(exc, DomainError) and exc.kind in (ErrorKind.not_found, ErrorKind.forbidden):
            raise
        message, status = page_refusal(request, exc)
        ctx = await client_record_context(request, staff, client_id)
        ctx.update(guidance_error=message, guidance_form=_text_fields(form))
        return render(request, "clients/client.html", ctx, status=status)
    raise web.HTTPFound(f"/clients/{client_id}#{anchor}")


@routes.post("/clients/{id}/stage")
async def stage_form(request: web.Request) -> web.Response:
    return await _form_action(request, "stages", lambda form: StageMove.model_validate(
        {k: v for k, v in _text_fields(form).items() if k in ("stage", "start", "reason")}), stage_move_for)


@routes.post("/clients/{id}/assessments")
async def assessment_form(request: web.Request) -> web.Response:
    def build(form):
        fields = _text_fields(form)
        body = {k: fields[k] for k in ("date", "category", "notes") if fields.get(k)}
        if fields.get("score"):
            body["score"] = fields["score"]
        body["needs"] = [n for n in form.getall("needs", []) if isinstance(n, str)]
        return AssessmentCreate.model_validate(body)
    return await _form_action(request, "asesmen", build, assess_for)


@routes.post("/clients/{id}/plan")
async def plan_form(request: web.Request) -> web.Response:
    async def save(request, staff, body):
        await plan_save_for(request, staff, body)
    return await _form_action(request, "plan", _plan_body, save)


@routes.post("/clients/{id}/plan/approve")
async def approve_form(request: web.Request) -> web.Response:
    def build(form):
        version = _text_fields(form).get("version")
        return PlanApprove.model_validate({"version": version} if version else {})
    return await _form_action(request, "plan", build, plan_approve_for)


@routes.post("/sessions/{id}/progress")
async def session_progress_form(request: web.Request) -> web.Response:
    """The goals rated on the session's page: ``goal-{id}-rating`` and ``-note``
    for each goal; a goal left at "—" is not rated. Done by the API's PATCH."""
    staff = current_staff(request)
    require_guidance(staff)
    session_id = int_param(request, "id")
    fields = _text_fields(await request.post())
    items = []
    for key, rating in fields.items():
        found = re.fullmatch(r"goal-(\d{1,12})-rating", key)
        if found and rating:
            items.append({"goal_id": int(found.group(1)), "rating": rating, "note": fields.get(f"goal-{found.group(1)}-note", "")})
    if items:
        try:
            body = SessionUpdate.model_validate({"progress": items})
            async with request.app[db_key]() as db:
                session = require_session(staff, await db.get(GuidanceSession, session_id))
                if session.status == SessionStatus.cancelled:
                    raise DomainError(ErrorKind.conflict, "session-cancelled", "A cancelled session cannot be changed.")
                rated = await progress_domain.rate_goals(db, staff, session, [progress_domain.ProgressInput(i.goal_id, i.rating, i.note)
                                                                             for i in body.progress])
                await db.commit()
        except (ValidationError, DomainError) as exc:
            if isinstance(exc, DomainError) and exc.kind in (ErrorKind.not_found, ErrorKind.forbidden):
                raise
            message, status = page_refusal(request, exc)
            ctx = await session_page_context(request, staff, session_id)
            ctx.update(progress_error=message)
            return render(request, "sessions/session.html", ctx, status=status)
        await request.app[audit_key].record("session.progress", actor=staff, target_type="session", target_id=session_id,
                                            detail={"progress": [{"goal_id": p.goal_id, "rating": p.rating.value} for p in rated]})
    raise web.HTTPFound(f"/sessions/{session_id}#session-progress")
