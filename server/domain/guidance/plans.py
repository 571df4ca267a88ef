"""The case plan (*rencana program pembimbingan*): goals, each serving a need
area, in plain words, with steps, a target date and who helps; the client's
agreement (with the client's reason when they disagree); versions.

The latest version is a draft until a supervisor countersigns it; then it is
locked, and the next change makes the next version (a draft again). Every
version stays readable. A goal keeps its id across versions (``PlanGoal``), so
the ratings given at sessions follow it. A goal names a need from the latest
assessment, or says why it serves another of the office's need areas.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.guidance import Assessment, CasePlan, PlanGoal
from server.db.models import (
    Agreement,
    Client,
    PlanStatus,
    Role,
    Staff,
    utcnow,
)
from server.domain.errors import DomainError, ErrorKind, conflict, invalid, not_found
from server.domain.guidance.settings import GuidanceSettings

MAX_GOALS = 12
MAX_STEPS = 10
TEXT_LENGTH = 500
STEP_LENGTH = 300
HELPERS_LENGTH = 300
REASON_LENGTH = 1000


@dataclass(frozen=True)
class GoalInput:
    need: str
    text: str
    steps: list[str]
    target_date: date | None = None
    helpers: str = ""
    need_reason: str = ""
    id: int | None = None


async def latest_plan(db: AsyncSession, client_id: int) -> CasePlan | None:
    return await db.scalar(select(CasePlan).where(CasePlan.client_id == client_id).order_by(CasePlan.version.desc()).limit(1))


async def agreed_plan(db: AsyncSession, client_id: int) -> CasePlan | None:
    """The latest countersigned version: what the client's own page shows."""
    return await db.scalar(select(CasePlan).where(CasePlan.client_id == client_id, CasePlan.status == PlanStatus.approved)
                           .order_by(CasePlan.version.desc()).limit(1))


async def plan_version(db: AsyncSession, client_id: int, version: int | None) -> CasePlan:
    if version is None:
        plan = await latest_plan(db, client_id)
    else:
        plan = await db.scalar(select(CasePlan).where(CasePlan.client_id == client_id, CasePlan.version == version))
    if plan is None:
        raise not_found("case plan")
    return plan


def _clean_goals(goals: list[GoalInput], client: Client, settings: GuidanceSettings, assessed: list[str], known_ids: set[int]) -> list[GoalInput]:
    if not 1 <= len(goals) <= MAX_GOALS:
        raise invalid("goals", f"1 to {MAX_GOALS} goals")
    needs = {n.casefold(): n for n in settings.needs}
    assessed_folded = {n.casefold() for n in assessed}
    seen: set[int] = set()
    out = []
    for i, g in enumerate(goals):
        where = f"goals.{i}"
        need = needs.get(g.need.strip().casefold())
        if need is None:
            raise invalid(f"{where}.need", f"one of the office's need areas ({', '.join(settings.needs)})")
        reason = g.need_reason.strip()
        if need.casefold() not in assessed_folded and not reason:
            raise DomainError(ErrorKind.invalid, "need-not-assessed",
                              f"{where}.need: {need!r} is not a need of the latest assessment; give need_reason to keep it",
                              fields={f"{where}.need_reason": "required"})
        if len(reason) > REASON_LENGTH:
            raise invalid(f"{where}.need_reason", f"at most {REASON_LENGTH} characters")
        text = g.text.strip()
        if not text or len(text) > TEXT_LENGTH:
            raise invalid(f"{where}.text", f"the goal in plain words, 1 to {TEXT_LENGTH} characters")
        steps = [s.strip() for s in g.steps]
        if len(steps) > MAX_STEPS or any(not s or len(s) > STEP_LENGTH for s in steps):
            raise invalid(f"{where}.steps", f"up to {MAX_STEPS} steps, each 1 to {STEP_LENGTH} characters")
        if g.target_date is not None and not client.supervision_start <= g.target_date <= client.supervision_end:
            raise invalid(f"{where}.target_date", "within the supervision")
        if len(g.helpers) > HELPERS_LENGTH:
            raise invalid(f"{where}.helpers", f"at most {HELPERS_LENGTH} characters")
        if g.id is not None:
            if g.id not in known_ids:
                raise invalid(f"{where}.id", "not a goal of this client's plan")
            if g.id in seen:
                raise invalid(f"{where}.id", "each goal once")
            seen.add(g.id)
        out.append(GoalInput(need, text, steps, g.target_date, g.helpers.strip(), reason, g.id))
    return out


async def save_plan(db: AsyncSession, staff: Staff, client: Client, settings: GuidanceSettings, *, goals: list[GoalInput],
                    agreement: Agreement, agreement_reason: str, latest_assessment: Assessment | None) -> tuple[CasePlan, bool]:
    """Write the plan: the latest version while it is a draft, else the next one.
    Returns the plan and whether it is a new version. Validates before it writes."""
    known = set((await db.execute(select(PlanGoal.id).where(PlanGoal.client_id == client.id))).scalars())
    cleaned = _clean_goals(goals, client, settings, list(latest_assessment.needs or []) if latest_assessment else [], known)
    agreement_reason = agreement_reason.strip()
    if len(agreement_reason) > REASON_LENGTH:
        raise invalid("agreement_reason", f"at most {REASON_LENGTH} characters")
    if agreement == Agreement.tidak_setuju and not agreement_reason:
        raise invalid("agreement_reason", "the client's reason, when the client does not agree")
    latest = await latest_plan(db, client.id)
    stored = []
    for g in cleaned:
        goal_id = g.id
        if goal_id is None:
            row = PlanGoal(client_id=client.id)
            db.add(row)
            await db.flush()
            goal_id = row.id
        stored.append({"id": goal_id, "need": g.need, "need_reason": g.need_reason, "text": g.text, "steps": g.steps,
                       "target_date": g.target_date.isoformat() if g.target_date else None, "helpers": g.helpers})
    fields = {"goals": stored, "agreement": agreement, "agreement_reason": agreement_reason,
              "assessment_id": latest_assessment.id if latest_assessment else None, "author_id": staff.id, "updated_at": utcnow()}
    if latest is not None and latest.status == PlanStatus.draft:
        for k, v in fields.items():
            setattr(latest, k, v)
        await db.flush()
        return latest, False
    plan = CasePlan(office_id=client.office_id, client_id=client.id, version=(latest.version + 1) if latest else 1, status=PlanStatus.draft, **fields)
    db.add(plan)
    try:
        await db.flush()
    except IntegrityError as exc:  # another save made this version first
        raise conflict("plan-changed", "The plan was changed at the same time; read it again.") from exc
    return plan, True


async def approve_plan(db: AsyncSession, staff: Staff, client: Client, version: int | None) -> CasePlan:
    """A supervisor's countersignature: the latest version, a draft, is locked."""
    if staff.role != Role.supervisor:
        raise DomainError(ErrorKind.forbidden, "forbidden", "Only a supervisor (Kasie) countersigns a case plan.")
    plan = await latest_plan(db, client.id)
    if plan is None:
        raise not_found("case plan")
    if version is not None and version != plan.version:
        raise conflict("plan-changed", f"The latest version is {plan.version}, not {version}.")
    if plan.status == PlanStatus.approved:
        raise conflict("plan-approved", f"Version {plan.version} is already countersigned.")
    plan.status = PlanStatus.approved
    plan.approved_by_id = staff.id
    plan.approved_at = utcnow()
    await db.flush()
    return plan
