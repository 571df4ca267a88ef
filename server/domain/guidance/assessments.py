"""Assessments: the result of the RRI (a score and the risk category rendah,
sedang or tinggi) and the criminogenic needs found, from the office's list of
need areas (server/domain/guidance/settings.py). Bimbing records the
instrument's result; it does not reproduce the instrument's questions.

An assessment is entered once and kept (a later one is a reassessment, never
an edit). A reassessment is due when the latest is older than the office's
``reassessment_days``, or older than the start of the client's current stage
(each stage change calls for one); a client never assessed is ``assessment``
due, shown on the caseload, and among the reminders only once a first
assessment exists to renew.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.guidance import Assessment
from server.db.models import Client, RiskCategory, Staff
from server.domain.errors import invalid
from server.domain.guidance.settings import GuidanceSettings
from server.domain.guidance.stages import current_stage

INSTRUMENTS = ("rri",)
SCORE_RANGE = (0, 1000)
NOTES_LENGTH = 5000
# An assessment may have been made in the Lapas before the release, within a year.
BEFORE_SUPERVISION_DAYS = 366


async def add_assessment(db: AsyncSession, staff: Staff, client: Client, settings: GuidanceSettings, today: date, *, assessed_on: date,
                         instrument: str, score: float | None, category: RiskCategory, needs: list[str], notes: str) -> Assessment:
    """Record an assessment of ``client``; validates before it writes."""
    if assessed_on > today:
        raise invalid("date", "not after today")
    if (client.supervision_start - assessed_on).days > BEFORE_SUPERVISION_DAYS:
        raise invalid("date", "within a year before the supervision began, or later")
    if instrument not in INSTRUMENTS:
        raise invalid("instrument", f"one of {', '.join(INSTRUMENTS)}")
    if score is not None and not SCORE_RANGE[0] <= score <= SCORE_RANGE[1]:
        raise invalid("score", f"a number from {SCORE_RANGE[0]} to {SCORE_RANGE[1]}")
    known = {n.casefold(): n for n in settings.needs}
    chosen = []
    for need in needs:
        found = known.get(need.strip().casefold())
        if found is None:
            raise invalid("needs", f"{need!r} is not one of the office's need areas ({', '.join(settings.needs)})")
        if found not in chosen:
            chosen.append(found)
    if len(notes) > NOTES_LENGTH:
        raise invalid("notes", f"at most {NOTES_LENGTH} characters")
    row = Assessment(office_id=client.office_id, client_id=client.id, assessed_on=assessed_on, instrument=instrument, score=score,
                     category=category, needs=chosen, notes=notes, author_id=staff.id)
    db.add(row)
    await db.flush()
    return row


async def assessments_of(db: AsyncSession, client_ids: list[int]) -> dict[int, list[Assessment]]:
    """Each client's assessments, oldest first (by date, then as entered)."""
    out: dict[int, list[Assessment]] = {i: [] for i in client_ids}
    for start in range(0, len(client_ids), 500):
        rows = await db.execute(select(Assessment).where(Assessment.client_id.in_(client_ids[start:start + 500]))
                                .order_by(Assessment.assessed_on, Assessment.id))
        for row in rows.scalars():
            out[row.client_id].append(row)
    return out


@dataclass(frozen=True)
class AssessmentDue:
    state: str  # none (never assessed) | due | ok
    reason: str | None  # never | interval | stage
    since: date | None  # the day the reassessment became due

    def as_dict(self) -> dict[str, Any]:
        return {"state": self.state, "reason": self.reason, "since": self.since.isoformat() if self.since else None}


def assessment_due(client: Client, latest: Assessment | None, settings: GuidanceSettings, today: date) -> AssessmentDue:
    if latest is None:
        return AssessmentDue("none", "never", None)
    by_interval = latest.assessed_on + timedelta(days=settings.reassessment_days)
    stage = current_stage(client, today)
    if stage is not None and stage.start > latest.assessed_on and stage.stage != "awal":
        return AssessmentDue("due", "stage", stage.start)
    if by_interval <= today:
        return AssessmentDue("due", "interval", by_interval)
    return AssessmentDue("ok", None, None)
