"""Progress at every session: for each open goal of the client's case plan,
the PK's rating (mundur, tetap, maju, tercapai) and a note, given with the
session (``POST /api/sessions``, ``PATCH /api/sessions/{id}``) whatever its
mode. A goal is open until a rating says ``tercapai``; its ratings, in the
order of the sessions, are its line over the supervision.

A rating belongs to a session already held or begun (never to one ahead), and
to a goal of the plan's latest version.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.guidance import CasePlan, GoalProgress
from server.db.models import (
    GoalRating,
    GuidanceSession,
    Staff,
    utcnow,
)
from server.domain.errors import DomainError, ErrorKind, invalid
from server.domain.guidance.plans import latest_plan

NOTE_LENGTH = 2000


@dataclass(frozen=True)
class ProgressInput:
    goal_id: int
    rating: GoalRating
    note: str = ""


async def rate_goals(db: AsyncSession, staff: Staff, session: GuidanceSession, items: list[ProgressInput], now: datetime | None = None) -> list[GoalProgress]:
    """Set the ratings of ``session`` for the goals named (one per goal: a second
    rating at the same session replaces the first). Validates before it writes."""
    if not items:
        return []
    now = now or utcnow()
    if (session.started_at or session.scheduled_at) > now:
        raise DomainError(ErrorKind.conflict, "session-ahead", "Progress is rated at or after a session, not before it.")
    plan = await latest_plan(db, session.client_id)
    goals = {g["id"] for g in plan.goals} if plan else set()
    seen = set()
    for i, item in enumerate(items):
        if item.goal_id not in goals:
            raise invalid(f"progress.{i}.goal_id", "not a goal of the client's case plan")
        if item.goal_id in seen:
            raise invalid(f"progress.{i}.goal_id", "each goal once")
        seen.add(item.goal_id)
        if len(item.note) > NOTE_LENGTH:
            raise invalid(f"progress.{i}.note", f"at most {NOTE_LENGTH} characters")
    existing = {p.goal_id: p for p in (await db.execute(select(GoalProgress).where(GoalProgress.session_id == session.id))).scalars()}
    out = []
    for item in items:
        row = existing.get(item.goal_id)
        if row is None:
            row = GoalProgress(client_id=session.client_id, session_id=session.id, goal_id=item.goal_id)
            db.add(row)
        row.rating, row.note, row.rated_by_id, row.rated_at = item.rating, item.note.strip(), staff.id, now
        out.append(row)
    await db.flush()
    return out


async def session_progress(db: AsyncSession, session_id: int) -> list[GoalProgress]:
    return list((await db.execute(select(GoalProgress).where(GoalProgress.session_id == session_id).order_by(GoalProgress.goal_id))).scalars())


@dataclass(frozen=True)
class Rated:
    session_id: int
    at: datetime  # when the session began (or was due)
    mode: str
    rating: str
    note: str


@dataclass(frozen=True)
class GoalLine:
    goal: dict[str, Any]  # as the plan's latest version words it
    ratings: tuple[Rated, ...]  # in the order of the sessions

    @property
    def reached(self) -> bool:
        return any(r.rating == GoalRating.tercapai.value for r in self.ratings)

    @property
    def latest(self) -> str | None:
        return self.ratings[-1].rating if self.ratings else None


async def goal_lines(db: AsyncSession, client_id: int, plan: CasePlan | None = None) -> list[GoalLine]:
    """The goals of the client's latest plan, each with its ratings in order."""
    plan = plan or await latest_plan(db, client_id)
    if plan is None:
        return []
    rows = await db.execute(
        select(GoalProgress, GuidanceSession.started_at, GuidanceSession.scheduled_at, GuidanceSession.mode)
        .join(GuidanceSession, GuidanceSession.id == GoalProgress.session_id)
        .where(GoalProgress.client_id == client_id)
    )
    by_goal: dict[int, list[Rated]] = {}
    for p, started, scheduled, mode in rows:
        by_goal.setdefault(p.goal_id, []).append(Rated(p.session_id, started or scheduled, mode.value, p.rating.value, p.note))
    return [GoalLine(g, tuple(sorted(by_goal.get(g["id"], []), key=lambda r: (r.at, r.session_id)))) for g in plan.goals]
