"""The office's mobile-counseling cadence and the planner that proposes the
next days with a kelurahan each.

The cadence (every ``every_days`` days on Saturday from an ``anchor`` Saturday)
lives in ``Office.settings["mobile_cadence"]`` so a supervisor or admin changes
it in the app (audited by the caller). Dates are plain calendar days of the
office (WIB): the arithmetic never touches a clock, so it holds across month
and year ends at any hour.

The planner proposes ``count`` cadence days, a kelurahan each, whenever any
kelurahan has clients under supervision: the office rotates through its area.
Every kelurahan with clients gets a turn before any gets a second one. In the
first round the most clients due or overdue go first, then the longest since
the office last went there (never: first); later rounds repeat the order in
which the turns were taken, so a kelurahan comes back once every other has had
its turn since. A day already planned ahead is its kelurahan's turn: its
Saturday is not proposed again, and the kelurahan is not proposed before it.
The reason says why, in Bahasa Indonesia.
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
    cadence = cadence_of(office)
    clients = [c for c in (await db.execute(select(Client).where(Client.office_id == office.id))).scalars() if c.supervision_end >= today]
    att = await attendance_of(db, clients, today, tz)
    areas = await kelurahan_list(db, office.id)
    names = {a.name.lower(): (a.name, a.id) for a in areas} or {c.kelurahan.lower(): (c.kelurahan, None) for c in clients}
    events = (await db.execute(select(MobileEvent).where(MobileEvent.office_id == office.id, MobileEvent.status == MobileEventStatus.planned))).scalars().all()
    last: dict[str, date] = {}
    ahead: list[tuple[date, str]] = []
    for e in events:
        key = e.kelurahan.lower()
        if e.date <= today:
            last[key] = max(last.get(key, e.date), e.date)
        else:
            ahead.append((e.date, key))  # already planned: that kelurahan's turn, and its Saturday taken
    rows = []
    for key, (name, area_id) in names.items():
        here = [c for c in clients if (c.area_id == area_id and area_id is not None) or c.kelurahan.lower() == key]
        if not here:
            continue
        due = sum(1 for c in here if att[c.id].state == "due")
        overdue = sum(1 for c in here if att[c.id].state == "overdue")
        since = (today - last[key]).days if key in last else None
        rows.append((name, area_id, here, due, overdue, last.get(key), since))
    # Most clients due or overdue first; then the longest since the last visit (never: first).
    rows.sort(key=lambda r: (-(r[3] + r[4]), -(r[6] if r[6] is not None else 10**6), r[0]))
    try:
        # Each day planned ahead takes at most one Saturday: count + len(ahead) days always suffice.
        dates = cadence_dates(cadence, start, count + len(ahead))
    except OverflowError:
        raise invalid("from", "too far ahead", code="invalid-query") from None
    return _rotate(dates, count, rows, ahead)


def _rotate(dates: list[date], count: int, rows: list, ahead: list[tuple[date, str]]) -> list[Proposal]:
    """Walk the cadence ``dates``, one kelurahan per free Saturday (``rows`` ranked by
    need), until ``count`` are proposed; ``ahead``: (date, key) of the days already planned."""
    if not rows:
        return []
    rank = {r[0].lower(): i for i, r in enumerate(rows)}
    turns = dict.fromkeys(rank, 0)  # turns taken from today on, planned or proposed
    last_turn: dict[str, date] = {}
    taken = {day for day, _key in ahead}
    pending = sorted(ahead)
    proposals: list[Proposal] = []
    for day in dates:
        while pending and pending[0][0] <= day:
            when, key = pending.pop(0)
            if key in turns:
                turns[key] += 1
                last_turn[key] = when
        if day in taken:
            continue
        booked_later = {key for _when, key in pending}
        # Not one already planned later on, and one with someone to invite that day, if there is such.
        ready = [r for r in rows if r[0].lower() not in booked_later] or rows
        expected = {r[0].lower(): sum(1 for c in r[2] if c.supervision_start <= day <= c.supervision_end) for r in ready}
        ready = [r for r in ready if expected[r[0].lower()]] or ready
        # Whose turn: the fewest turns so far, then the longest since its last turn, then need.
        name, area_id, here, due, overdue, last_visit, since = min(
            ready, key=lambda r: (turns[r[0].lower()], last_turn.get(r[0].lower(), date.min), rank[r[0].lower()]))
        key = name.lower()
        visited = f"terakhir dikunjungi {since} hari lalu" if since is not None else "belum pernah dikunjungi"
        reason = f"{overdue} klien terlambat lapor, {due} jatuh tempo; {visited}"
        if key in last_turn:
            reason += f"; giliran berikutnya setelah {last_turn[key].strftime('%d-%m-%Y')}, kelurahan lain sudah mendapat giliran"
        proposals.append(Proposal(day, name, area_id, expected[key], due, overdue, last_visit, reason))
        turns[key] += 1
        last_turn[key] = day
        if len(proposals) == count:
            break
    return proposals
