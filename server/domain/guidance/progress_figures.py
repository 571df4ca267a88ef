"""The evaluation's figures of progress (issue 20): the ratings PKs gave at
sessions over a range, counted by need area, by the client's stage on the
session's day, and by the session's mode (the office's strategies: how often
goals moved after video, office, home-visit, mobile and phone sessions).

An observation, not a cause: a goal rated ``maju`` after a home visit says what
the PK saw then, not that the visit moved it. Each rating is counted once in
each of the three tables, so the three add up to the same totals.

Beside the ratings, where the clients stand on the evaluation's day
(``standing``): each client's risk category from their latest assessment made
by then (``none`` for a client not yet assessed), and how many have a case plan
(a version written by then) and how many a countersigned one (approved by
then). Both count the clients the range is about, once each.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.guidance import Assessment, CasePlan, GoalProgress
from server.db.models import (
    GoalRating,
    GuidanceSession,
    PlanStatus,
    RiskCategory,
    SessionStatus,
)
from server.domain.guidance.stages import current_stage

RATINGS = tuple(r.value for r in GoalRating)
NO_STAGE = "none"  # a client kept on one interval


def no_ratings() -> dict[str, int]:
    return dict.fromkeys(RATINGS, 0)


@dataclass
class ProgressFigures:
    by_need: dict[str, dict[str, int]] = field(default_factory=dict)
    by_stage: dict[str, dict[str, int]] = field(default_factory=dict)
    by_mode: dict[str, dict[str, int]] = field(default_factory=dict)
    total: dict[str, int] = field(default_factory=no_ratings)

    def add(self, need: str, stage: str, mode: str, rating: str) -> None:
        for table, key in ((self.by_need, need), (self.by_stage, stage), (self.by_mode, mode)):
            table.setdefault(key, no_ratings())[rating] += 1
        self.total[rating] += 1

    def as_dict(self) -> dict[str, Any]:
        def moved(counts: dict[str, int]) -> float | None:
            n = sum(counts.values())
            return round((counts["maju"] + counts["tercapai"]) / n, 3) if n else None

        def table(rows: dict[str, dict[str, int]]) -> dict[str, Any]:
            return {k: {**v, "ratings": sum(v.values()), "moved_share": moved(v)} for k, v in sorted(rows.items())}

        return {"by_need": table(self.by_need), "by_stage": table(self.by_stage), "by_mode": table(self.by_mode),
                "total": {**self.total, "ratings": sum(self.total.values()), "moved_share": moved(self.total)}}


async def progress_figures(db: AsyncSession, clients: Iterable[Any], date_from: date, as_of: date, tz: str) -> ProgressFigures:
    """The ratings given at sessions (not cancelled) of ``clients`` (rows with
    ``id``, ``supervision_end`` and ``stage_plan``) whose day falls from
    ``date_from`` to ``as_of``, office days."""
    by_id = {c.id: c for c in clients}
    out = ProgressFigures()
    if not by_id:
        return out
    zone = ZoneInfo(tz)
    low = datetime.combine(date_from, time.min, zone)
    high = datetime.combine(as_of + timedelta(days=1), time.min, zone)
    ids = sorted(by_id)
    needs: dict[int, str] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        # A goal's need as its latest version words it.
        for plan in (await db.execute(select(CasePlan).where(CasePlan.client_id.in_(chunk)).order_by(CasePlan.version))).scalars():
            needs.update({g["id"]: g["need"] for g in plan.goals})
        rows = await db.execute(
            select(GoalProgress.client_id, GoalProgress.goal_id, GoalProgress.rating, GuidanceSession.mode, GuidanceSession.started_at,
                   GuidanceSession.scheduled_at)
            .join(GuidanceSession, GuidanceSession.id == GoalProgress.session_id)
            .where(GoalProgress.client_id.in_(chunk), GuidanceSession.status != SessionStatus.cancelled)
        )
        for client_id, goal_id, rating, mode, started, scheduled in rows:
            moment = started or scheduled
            if not low <= moment < high:
                continue
            stage = current_stage(by_id[client_id], moment.astimezone(zone).date())
            out.add(needs.get(goal_id, "?"), stage.stage if stage else NO_STAGE, mode.value, rating.value)
    return out


NOT_ASSESSED = "none"
RISKS = (*(c.value for c in RiskCategory), NOT_ASSESSED)


async def standing(db: AsyncSession, client_ids: Iterable[int], as_of: date, end: datetime) -> dict[str, Any]:
    """``{"risk": {rendah, sedang, tinggi, none}, "plans": {"clients", "with_plan", "countersigned"}}``
    as of ``as_of`` (assessments dated by it and entered before ``end``, plan versions before ``end``)."""
    ids = sorted(set(client_ids))
    latest: dict[int, tuple] = {}  # client → (date, id, category)
    with_plan: set[int] = set()
    countersigned: set[int] = set()
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        rows = await db.execute(select(Assessment.client_id, Assessment.assessed_on, Assessment.id, Assessment.category)
                                .where(Assessment.client_id.in_(chunk), Assessment.assessed_on <= as_of, Assessment.created_at < end))
        for client_id, day, row_id, category in rows:
            # The latest as the record orders them: by date, then as entered.
            if client_id not in latest or (day, row_id) > latest[client_id][:2]:
                latest[client_id] = (day, row_id, getattr(category, "value", category))
        plans = await db.execute(select(CasePlan.client_id, CasePlan.status, CasePlan.approved_at)
                                 .where(CasePlan.client_id.in_(chunk), CasePlan.created_at < end))
        for client_id, status, approved_at in plans:
            with_plan.add(client_id)
            if status == PlanStatus.approved and approved_at is not None and approved_at < end:
                countersigned.add(client_id)
    risk = dict.fromkeys(RISKS, 0)
    for client_id in ids:
        risk[latest[client_id][2] if client_id in latest else NOT_ASSESSED] += 1
    return {"risk": risk, "plans": {"clients": len(ids), "with_plan": len(with_plan), "countersigned": len(countersigned)}}
