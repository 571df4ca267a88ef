"""The stages of a client's supervision: *tahap awal*, *lanjutan*, *akhir*.

A client made with stages keeps them in ``Client.stage_plan``: for each stage
its first day, its reporting interval, the day first planned, and the moves
made since. A stage ends the day before the next begins; the last ends with
the supervision. The ledger (server/domain/record/ledger.py, ``stage_starts``)
cuts each stage into periods of its own interval, so wajib lapor thins out as
the stages go.

A new client's stages split the supervision into thirds, on the office's
intervals (server/domain/guidance/settings.py). A PK or supervisor may move
the next stage earlier or later, with a reason (after a sidang TPP, say): only
a stage that has not begun, and only to today or later, so that no period
already past is cut again. A client kept on one interval (every client made
before stages, or made with ``reporting_interval_days``) has no stages.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Client, Office
from server.domain.errors import DomainError, ErrorKind, invalid
from server.domain.guidance.settings import STAGES, guidance_settings

REASON_LENGTH = 500


@dataclass(frozen=True)
class StageSpan:
    stage: str
    start: date
    end: date  # the last day (before start when a stage was squeezed out by its neighbours)
    interval_days: int
    planned_start: date
    moves: tuple[dict[str, Any], ...]

    def as_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "start": self.start.isoformat(), "end": self.end.isoformat(), "interval_days": self.interval_days,
                "planned_start": self.planned_start.isoformat(), "moves": [dict(m) for m in self.moves]}


def default_stage_plan(start: date, end: date, intervals: dict[str, int]) -> list[dict[str, Any]]:
    """Thirds of the supervision, one per stage, on the office's intervals."""
    length = (end - start).days + 1
    starts = [start, start + timedelta(days=length // 3), start + timedelta(days=2 * length // 3)]
    return [{"stage": s, "start": d.isoformat(), "interval_days": intervals[s], "planned_start": d.isoformat(), "moves": []}
            for s, d in zip(STAGES, starts)]


def stages_of(client: Client | Any) -> list[StageSpan]:
    plan = getattr(client, "stage_plan", None) or []
    out = []
    for i, s in enumerate(plan):
        start = date.fromisoformat(s["start"])
        end = date.fromisoformat(plan[i + 1]["start"]) - timedelta(days=1) if i + 1 < len(plan) else client.supervision_end
        out.append(StageSpan(s["stage"], start, min(end, client.supervision_end), int(s["interval_days"]),
                             date.fromisoformat(s.get("planned_start", s["start"])), tuple(s.get("moves", ()))))
    return out


def current_stage(client: Client | Any, today: date) -> StageSpan | None:
    """The stage holding ``today`` (none before the supervision, after it, or without stages)."""
    for span in stages_of(client):
        if span.start <= today <= span.end:
            return span
    return None


def move_stage(client: Client, stage: str, start: date, reason: str, actor_id: int, today: date) -> tuple[date, date]:
    """Set the first day of ``stage`` (not begun yet) to ``start``: the client moves
    to it early or late. Returns (the old first day, the new one) for the audit
    trail. Validates everything before it touches the row."""
    plan = list(client.stage_plan or [])
    if not plan:
        raise DomainError(ErrorKind.conflict, "no-stages", "This client is kept on one reporting interval, without stages.")
    names = [s["stage"] for s in plan]
    if stage not in names or names.index(stage) == 0:
        raise invalid("stage", f"one of {', '.join(names[1:])} (the first stage begins with the supervision)")
    reason = reason.strip()
    if not reason or len(reason) > REASON_LENGTH:
        raise invalid("reason", f"say why, in 1 to {REASON_LENGTH} characters")
    i = names.index(stage)
    old = date.fromisoformat(plan[i]["start"])
    if old <= today:
        raise DomainError(ErrorKind.conflict, "stage-begun", f"The {stage} stage began on {old.isoformat()}; only a stage still ahead can be moved.")
    if start < today:
        raise invalid("start", "today or later: periods already past are not cut again")
    if start <= date.fromisoformat(plan[i - 1]["start"]):
        raise invalid("start", f"after the start of the {names[i - 1]} stage ({plan[i - 1]['start']})")
    if i + 1 < len(plan) and start >= date.fromisoformat(plan[i + 1]["start"]):
        raise invalid("start", f"before the start of the {names[i + 1]} stage ({plan[i + 1]['start']}); move that one first")
    if start > client.supervision_end:
        raise invalid("start", f"within the supervision (it ends on {client.supervision_end.isoformat()})")
    if start == old:
        raise invalid("start", "the stage already begins on that day")
    move = {"from": old.isoformat(), "to": start.isoformat(), "reason": reason, "by": actor_id, "on": today.isoformat()}
    plan[i] = {**plan[i], "start": start.isoformat(), "moves": [*plan[i].get("moves", []), move]}
    client.stage_plan = plan  # a new list: the JSON column is written
    return old, start


async def office_stage_plan(db: AsyncSession, office_id: int, start: date, end: date) -> list[dict[str, Any]]:
    """A new client's stages on the office's settings (thirds, the office's intervals)."""
    office = await db.get(Office, office_id)
    return default_stage_plan(start, end, guidance_settings(office).stage_intervals)
