"""The supervision record: a client's sessions measured against wajib lapor."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import date, datetime, timedelta
from typing import Iterable
from zoneinfo import ZoneInfo

from server.db.models import Client, GuidanceSession, Outcome, SessionStatus

DUE_SOON_DAYS = 3


@dataclass(frozen=True)
class Attendance:
    due: int  # reporting occasions since supervision started (up to today or the end)
    attended: int
    excused: int
    no_show: int
    rate: float | None  # attended / due
    last_attended: date | None
    next_due: date | None
    overdue_days: int
    state: str  # not_started | ok | due | overdue | completed

    def as_dict(self) -> dict:
        d = asdict(self)
        for k in ("last_attended", "next_due"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def local_date(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def attendance(client: Client, sessions: Iterable[GuidanceSession], today: date, tz: str) -> Attendance:
    interval = max(client.reporting_interval_days, 1)
    start, end = client.supervision_start, client.supervision_end
    attended_days: list[date] = []
    excused = no_show = 0
    for s in sessions:
        if s.status == SessionStatus.cancelled:
            continue
        if s.outcome == Outcome.attended:
            attended_days.append(local_date(s.started_at or s.scheduled_at, tz))
        elif s.outcome == Outcome.excused:
            excused += 1
        elif s.outcome == Outcome.no_show:
            no_show += 1
    last = max(attended_days) if attended_days else None
    if today < start:
        due = 0
    else:
        due = (min(today, end) - start).days // interval + 1
    attended = len(attended_days)
    rate = round(min(attended / due, 1.0), 3) if due else None
    next_due = (last + timedelta(days=interval)) if last else start
    if next_due > end:
        next_due = None
    overdue = max((today - next_due).days, 0) if next_due and today <= end else 0
    if today < start:
        state = "not_started"
    elif today > end:
        state = "completed"
    elif overdue > 0:
        state = "overdue"
    elif next_due and (next_due - today).days <= DUE_SOON_DAYS:
        state = "due"
    else:
        state = "ok"
    return Attendance(due, attended, excused, no_show, rate, last, next_due, overdue, state)


@dataclass(frozen=True)
class Periods:
    """Wajib lapor counted by reporting period, as of a day."""

    due: int  # periods begun by the day (the current one included), within supervision
    met: int  # of those, periods in which an attended session fell

    @property
    def rate(self) -> float | None:
        return round(self.met / self.due, 3) if self.due else None


def period_of(client: Client, day: date) -> int:
    """The index of the reporting period holding ``day`` (0 is the first)."""
    return (day - client.supervision_start).days // max(client.reporting_interval_days, 1)


def reporting_periods(client: Client, sessions: Iterable[GuidanceSession], as_of: date, tz: str) -> Periods:
    """Cut supervision into periods of ``reporting_interval_days`` from its start;
    a period is met by an attended session in it. Several sessions in one period
    count once, and a session after ``as_of`` clears nothing, so the rate can
    never pass 1 nor be raised by an entry dated ahead."""
    start, end = client.supervision_start, client.supervision_end
    if as_of < start:
        return Periods(0, 0)
    last_day = min(as_of, end)
    due = period_of(client, last_day) + 1
    met = set()
    for s in sessions:
        if s.status == SessionStatus.cancelled or s.outcome != Outcome.attended:
            continue
        day = local_date(s.started_at or s.scheduled_at, tz)
        if start <= day <= last_day:
            met.add(period_of(client, day))
    return Periods(due, len(met))


STATE_ORDER = {"overdue": 0, "due": 1, "ok": 2, "not_started": 3, "completed": 4}


def caseload_sort_key(item: tuple[Client, Attendance]):
    client, att = item
    return (STATE_ORDER[att.state], -att.overdue_days, att.next_due or date.max, client.name)
