"""The laporan perkembangan klien as a registered letter (issue 20).

The report of a client's progress over a period (``from`` … ``to``, never
after today) is issued like every letter (server/domain/documents/letters.py):
numbered, signed, with a QR code to ``/v/{code}``. What it prints is gathered
here once, as plain JSON, and kept with the letter (``printed["report"]``,
covered by the signature), so the issued report says what it said on the day
it was issued whatever the plan, the ratings or the sessions say later:

- the stages (with their moves);
- wajib lapor as of ``to``, from the ledger (server/domain/record/ledger.py):
  the counts and every period that overlaps the range with its status;
- the assessments up to ``to``;
- the goals of the plan as it stands, each with its ratings in the range;
- the PK's summary, in the PK's words.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Client
from server.domain.errors import invalid
from server.domain.guidance import plans as plans_domain
from server.domain.guidance import progress as progress_domain
from server.domain.guidance.assessments import assessments_of
from server.domain.guidance.stages import stages_of
from server.domain.record.clients import client_sessions
from server.domain.record.ledger import attendance, local_date, period_list
from server.domain.record.rules import Rules

SUMMARY_MAX = 4000


def report_range(client: Client, date_from: date | None, date_to: date | None, today: date) -> tuple[date, date]:
    """The report's first and last day: ``to`` defaults to today and may not be
    after it (a report says only what is true on the day it is issued); ``from``
    defaults to the supervision's start."""
    last = date_to or today
    if last > today:
        raise invalid("to", "not after today: a report says what is known on the day it is issued")
    first = date_from or min(client.supervision_start, last)
    if first > last:
        raise invalid("from", "not after to")
    return first, last


async def report_facts(db: AsyncSession, client: Client, first: date, last: date, rules: Rules, tz: str, summary: str) -> dict[str, Any]:
    """Everything the report prints beyond the letter's own facts, as JSON."""
    summary = summary.strip()
    if len(summary) > SUMMARY_MAX:
        raise invalid("summary", f"at most {SUMMARY_MAX} characters")
    sessions = await client_sessions(db, client.id)
    att = attendance(client, sessions, last, rules)
    periods = [p for p in period_list(client, sessions, last, rules) if p.end >= first and p.start <= last]
    assessed = (await assessments_of(db, [client.id]))[client.id]
    plan = await plans_domain.latest_plan(db, client.id)
    lines = await progress_domain.goal_lines(db, client.id, plan)
    return {
        "from": first.isoformat(), "to": last.isoformat(),
        "stages": [s.as_dict() for s in stages_of(client)],
        "reporting_interval_days": client.reporting_interval_days,
        "attendance": {"as_of": last.isoformat(), "state": att.state, "periods_due": att.periods_due, "periods_met": att.periods_met,
                       "periods": {k: int(v) for k, v in att.periods.items()}},
        "periods": [{"start": p.start.isoformat(), "end": p.end.isoformat(), "status": p.status} for p in periods],
        "assessments": [{"date": a.assessed_on.isoformat(), "instrument": a.instrument, "score": a.score, "category": a.category.value, "needs": list(a.needs)}
                        for a in assessed if a.assessed_on <= last],
        "plan": {"version": plan.version, "status": plan.status.value} if plan else None,
        "goals": [{"id": line.goal["id"], "need": line.goal["need"], "text": line.goal["text"], "reached": line.reached,
                   "ratings": [{"date": local_date(r.at, tz).isoformat(), "mode": r.mode, "rating": r.rating, "note": r.note}
                               for r in line.ratings if first <= local_date(r.at, tz) <= last]}
                  for line in lines],
        "summary": summary,
    }
