"""The PK's caseload, adding a client, and the client's supervision record."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select

from server.db.models import (
    Agreement,
    Client,
    ClientCategory,
    Evidence,
    Letter,
    LetterKind,
    Office,
    Program,
    RiskCategory,
    Role,
    SessionMode,
    Staff,
    ViolationKind,
)
from server.domain.calls import guests as guests_domain
from server.domain.access import require_client, runs_guidance
from server.domain.documents.letters import HAND_KINDS
from server.domain.errors import DomainError
from server.domain.guidance import plans as plans_domain
from server.domain.guidance import progress as progress_domain
from server.domain.guidance.assessments import assessment_due, assessments_of
from server.domain.guidance.settings import guidance_settings
from server.domain.guidance.stages import current_stage, stages_of
from server.domain.office.areas import kelurahan_list
from server.domain.outreach import kendala as kendala_domain
from server.domain.record import clients as clients_domain
from server.domain.record.ledger import (
    attendance,
    caseload_sort_key,
    local_date,
    period_list,
)
from server.domain.violations import alerts as alerts_domain
from server.domain.violations.path import ORDER as VIOLATION_PATH
from server.domain.violations.path import client_violations
from server.keys import audit_key, db_key, settings_key
from server.security import auth
from server.web.api.clients import ClientCreate, client_fields
from server.web.dates import today
from server.web.errors import http_status
from server.web.forms import form_dict
from server.web.ledger import judge_for, rules_for
from server.web.pages.partners import client_sections
from server.web.progress_chart import LEVELS, goal_chart
from server.web.render import error_text, gettext_for, render
from server.web.validation import int_param, page_errors

routes = web.RouteTableDef()


@routes.get("/caseload")
async def caseload_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    now = today(request)
    async with request.app[db_key]() as db:
        rows = await clients_domain.caseload(db, staff)
        kendala_open = await kendala_domain.open_counts(db, [c.id for c, _ss in rows])
        rules = await rules_for(request, db, staff.office_id)
        done = await alerts_domain.answered(db, [c.id for c, _ss in rows])
        assessed = await assessments_of(db, [c.id for c, _ss in rows])
    alerts = {c.id: alerts_domain.pending(c, ss, now, rules, done) for c, ss in rows}
    risk = {cid: found[-1].category.value for cid, found in assessed.items() if found}
    items = sorted(((c, attendance(c, ss, now, rules)) for c, ss in rows), key=caseload_sort_key)
    upcoming = sorted(
        (s for _c, ss in rows for s in ss if s.status.value in ("scheduled", "active") and s.mode == SessionMode.video),
        key=lambda s: s.scheduled_at,
    )
    return render(request, "clients/caseload.html", {"items": items, "upcoming": upcoming, "today": now, "kendala_open": kendala_open, "alerts": alerts, "risk": risk})


async def _pk_choices(db, staff: Staff) -> list[Staff]:
    if staff.role == Role.pk:
        return [staff]
    return list((await db.execute(select(Staff).where(Staff.office_id == staff.office_id, Staff.role == Role.pk, Staff.active).order_by(Staff.name))).scalars())


@routes.get("/clients/new")
async def new_client_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    async with request.app[db_key]() as db:
        pks = await _pk_choices(db, staff)
        kelurahan_choices = await kelurahan_list(db, staff.office_id)
    return render(request, "clients/client_form.html", {"pks": pks, "programs": list(Program), "categories": list(ClientCategory), "form": {}, "errors": {}, "kelurahan_choices": kelurahan_choices})


@routes.post("/clients/new")
async def new_client_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    form = form_dict(await request.post())
    async with request.app[db_key]() as db:
        pks = await _pk_choices(db, staff)
        kelurahan_choices = await kelurahan_list(db, staff.office_id)
        try:
            body = ClientCreate.model_validate(form)
            client = await clients_domain.create_client(db, staff, **await client_fields(db, staff, body))
            await db.commit()
        except ValidationError as exc:
            errors = page_errors(exc, gettext_for(request))
            return render(request, "clients/client_form.html", {"pks": pks, "programs": list(Program), "categories": list(ClientCategory), "form": form, "errors": errors, "kelurahan_choices": kelurahan_choices}, status=400)
        except DomainError as exc:
            return render(request, "clients/client_form.html", {"pks": pks, "programs": list(Program), "categories": list(ClientCategory), "form": form, "errors": {"form": error_text(request, exc)}, "kelurahan_choices": kelurahan_choices}, status=http_status(exc))
    await request.app[audit_key].record("client.create", actor=staff, target_type="client", target_id=client.id)
    raise web.HTTPFound(f"/clients/{client.id}")


async def client_record_context(request: web.Request, staff: Staff, client_id: int) -> dict:
    """What client.html shows; also used to show a kendala answer form again with its error."""
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, client_id))
        sessions = await clients_domain.client_sessions(db, client.id)
        kendala = await kendala_domain.for_client(db, client.id)
        letters = list((await db.execute(select(Letter).where(Letter.client_id == client.id).order_by(Letter.id.desc()))).scalars())
        judge = await judge_for(request, db, client.office_id)
        partner_sections = await client_sections(db, staff, client)  # referrals, sentence and hours (server/web/pages/partners.py)
        # Issue 21: the three-misses alerts not answered yet, and the violations with their steps.
        alerts = alerts_domain.pending(client, sessions, judge.as_of, judge.rules, await alerts_domain.answered(db, [client.id]))
        violations = await client_violations(db, client.id)
        guidance = await guidance_context(db, client, judge.as_of)
        # Who else was in each call (issue 22): a guest by link, with role and name.
        guests = await guests_domain.attended(db, [s.id for s in sessions if s.mode == SessionMode.video])
    from server.web.pages.portal import (
        portal_share,  # the portal module builds on call.py's helpers
    )

    guidance["goal_charts"] = goal_charts(request, client, guidance["goal_lines"], guidance["stages"])
    return {"client": client, "sessions": sessions, "guests_by_session": guests, "att": attendance(client, sessions, judge.as_of, judge.rules),
            "periods": period_list(client, sessions, judge.as_of, judge.rules), "judged": {s.id: judge.judge(s) for s in sessions}, "rules": judge.rules,
            "kendala": kendala, "kendala_errors": {}, "kendala_form": {}, "runs_guidance": runs_guidance(staff),
            # The client's link is their credential: shown to who runs their guidance, not to an admin.
            "portal": await portal_share(request, client) if runs_guidance(staff) else None,
            "letters": letters, "letter_kinds": [k.value for k in HAND_KINDS if k not in (LetterKind.kerja_sosial_selesai, LetterKind.perkembangan)], "letter_error": None, "letter_form": {},
            "alerts": alerts, "violations": violations, "violation_kinds": [k.value for k in ViolationKind], "violation_path": [s.value for s in VIOLATION_PATH],
            "evidence_kinds": [e.value for e in Evidence], **partner_sections, **guidance}


async def guidance_context(db, client: Client, as_of) -> dict:
    """Where the client's guidance is going, for the record page: stages, the
    latest assessment (and whether a reassessment is due), the plan and its goals."""
    assessed = (await assessments_of(db, [client.id]))[client.id]
    latest = assessed[-1] if assessed else None
    plan = await plans_domain.latest_plan(db, client.id)
    settings = guidance_settings(await db.get(Office, client.office_id))
    stages = stages_of(client)
    return {
        "stages": stages, "stage_now": current_stage(client, as_of), "assessment": latest,
        "assessment_due": assessment_due(client, latest, settings, as_of),
        "plan": plan, "goal_lines": await progress_domain.goal_lines(db, client.id, plan),
        # What the forms offer: the stages not begun yet, the office's need areas, the choices.
        "movable_stages": [s for s in stages[1:] if s.start > as_of], "need_areas": settings.needs,
        "risk_categories": [c.value for c in RiskCategory], "agreements": [a.value for a in Agreement],
        "guidance_error": None, "guidance_form": {}, "today": as_of,
    }


def goal_charts(request: web.Request, client: Client, lines: list, stages: list) -> dict[int, object]:
    """Each goal's line over the supervision (server/web/progress_chart.py), by goal id."""
    t = gettext_for(request)
    tz = request.app[settings_key].timezone
    labels = {level: t("rating." + level) for level in LEVELS}
    out = {}
    for line in lines:
        points = [(local_date(r.at, tz), r.rating, f"{local_date(r.at, tz).strftime('%d-%m-%Y')}: {labels[r.rating]}{' — ' + r.note if r.note else ''}")
                  for r in line.ratings]
        out[line.goal["id"]] = goal_chart(points, client.supervision_start, client.supervision_end, labels, [s.start for s in stages],
                                          t("guidance.chart_title", goal=line.goal["text"]))
    return out


@routes.get("/clients/{id}")
async def client_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    ctx = await client_record_context(request, staff, int_param(request, "id"))
    await request.app[audit_key].record("record.view", actor=staff, target_type="client", target_id=ctx["client"].id)
    return render(request, "clients/client.html", ctx)
