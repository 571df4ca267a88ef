"""The office's mobile-counseling cadence and the planner that proposes the
next days with a kelurahan each.

The cadence (every ``every_days`` days on Saturday from an ``anchor`` Saturday)
lives in ``Office.settings["mobile_cadence"]`` so a supervisor or admin changes
it in the app (audited by the caller). Dates are plain calendar days of the
office (WIB): the arithmetic never touches a clock, so it holds across month
and year ends at any hour.

The planner ranks kelurahan by the clients there who are due or overdue, then
by how long since the office last went there (never: first), and says why.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Client, MobileEvent, MobileEventStatus, Office
from server.domain.errors import invalid
from server.domain.fieldwork.mobile_events import attendance_of
from server.domain.office.areas import kelurahan_list

CADENCE_KEY = "mobile_cadence"
SATURDAY = 5
DEFAULT_ANCHOR = date(2026, 1, 3)  # a Saturday
DEFAULT_EVERY = 14
MAX_COUNT = 26


@dataclass(frozen=True)
class Cadence:
    anchor: date
    every_days: int

    def as_dict(self) -> dict:
        return {"anchor": self.anchor.isoformat(), "every_days": self.every_days}


def cadence_of(office: Office) -> Cadence:
    stored = (office.settings or {}).get(CADENCE_KEY)
    if isinstance(stored, dict):
        try:
            return Cadence(date.fromisoformat(stored["anchor"]), int(stored["every_days"]))
        except (KeyError, ValueError, TypeError):
            pass
    return Cadence(DEFAULT_ANCHOR, DEFAULT_EVERY)


def set_cadence(office: Office, anchor: date, every_days: int) -> tuple[Cadence, Cadence]:
    """Validate, store; returns (before, after) for the audit trail."""
    if anchor.weekday() != SATURDAY:
        raise invalid("anchor", "must be a Saturday")
    if every_days % 7 or not 7 <= every_days <= 56:
        raise invalid("every_days", "a whole number of weeks, 7 to 56 days, so every day is a Saturday")
    before = cadence_of(office)
    after = Cadence(anchor, every_days)
    office.settings = {**(office.settings or {}), CADENCE_KEY: after.as_dict()}
    return before, after


def cadence_dates(cadence: Cadence, start: date, count: int) -> list[date]:
    """The next ``count`` days on the cadence, on or after ``start``."""
    steps = -((cadence.anchor - start).days // cadence.every_days)  # ceil((start - anchor) / every)
    first = cadence.anchor + timedelta(days=steps * cadence.every_days)
    return [first + timedelta(days=i * cadence.every_days) for i in range(count)]


@dataclass(frozen=True)
class Proposal:
    date: date
    kelurahan: str
    area_id: int | None
    expected: int  # clients under supervision there on the day (who would be invited)
    due: int
    overdue: int
    last_visit: date | None
    reason: str

    def as_dict(self) -> dict:
        return {
            "date": self.date.isoformat(), "kelurahan": self.kelurahan, "area_id": self.area_id, "expected": self.expected,
            "due": self.due, "overdue": self.overdue, "last_visit": self.last_visit.isoformat() if self.last_visit else None,
            "reason": self.reason,
        }


async def plan(db: AsyncSession, office: Office, start: date, count: int, today: date, tz: str) -> list[Proposal]:
    if not 1 <= count <= MAX_COUNT:
        raise invalid("count", f"from 1 to {MAX_COUNT}")
    dates = cadence_dates(cadence_of(office), start, count)
    clients = [c for c in (await db.execute(select(Client).where(Client.office_id == office.id))).scalars() if c.supervision_end >= today]
    att = await attendance_of(db, clients, today, tz)
    areas = await kelurahan_list(db, office.id)
    names = {a.name.lower(): (a.name, a.id) for a in areas} or {c.kelurahan.lower(): (c.kelurahan, None) for c in clients}
    events = (await db.execute(select(MobileEvent).where(MobileEvent.office_id == office.id, MobileEvent.status == MobileEventStatus.planned))).scalars().all()
    last: dict[str, date] = {}
    booked: set[str] = set()
    for e in events:
        key = e.kelurahan.lower()
        if e.date <= today:
            last[key] = max(last.get(key, e.date), e.date)
        else:
            booked.add(key)  # already planned ahead: not proposed again
    rows = []
    for key, (name, area_id) in names.items():
        here = [c for c in clients if (c.area_id == area_id and area_id is not None) or c.kelurahan.lower() == key]
        if not here or key in booked:
            continue
        due = sum(1 for c in here if att[c.id].state == "due")
        overdue = sum(1 for c in here if att[c.id].state == "overdue")
        since = (today - last[key]).days if key in last else None
        rows.append((name, area_id, here, due, overdue, last.get(key), since))
    # Most clients due or overdue first; then the longest since the last visit (never: first).
    rows.sort(key=lambda r: (-(r[3] + r[4]), -(r[6] if r[6] is not None else 10**6), r[0]))
    proposals = []
    for day, (name, area_id, here, due, overdue, last_visit, since) in zip(dates, rows):
        expected = sum(1 for c in here if c.supervision_start <= day <= c.supervision_end)
        visited = f"terakhir dikunjungi {since} hari lalu" if since is not None else "belum pernah dikunjungi"
        reason = f"{overdue} klien terlambat lapor, {due} jatuh tempo; {visited}"
        proposals.append(Proposal(day, name, area_id, expected, due, overdue, last_visit, reason))
    return proposals
