"""The supervision record: a client's sessions measured against wajib lapor."""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import asdict, dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from server.db.models import Client, Evidence, GuidanceSession, Outcome, SessionStatus
from server.domain.record.session_digest import day_number

DUE_SOON_DAYS = 3


@dataclass(frozen=True)
class Attendance:
    due: int  # reporting periods begun since supervision started (up to today or the end)
    attended: int  # attended sessions up to today (several in one period each count here)
    excused: int
    no_show: int
    rate: float | None  # periods_met / periods_due, never above 1
    last_attended: date | None  # never after today: a session ahead clears nothing
    next_due: date | None
    overdue_days: int
    state: str  # not_started | ok | due | overdue | completed
    periods_due: int = 0
    periods_met: int = 0
    # Attended sessions by how they are known (observed | reported | roll_call), so a
    # supervisor sees how much of the record rests on the officer's word.
    attended_by_evidence: dict[str, int] = field(default_factory=dict)

    def as_dict(self) -> dict:
        d = asdict(self)
        for k in ("last_attended", "next_due"):
            d[k] = d[k].isoformat() if d[k] else None
        return d


def local_date(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def attendance(client: Client, sessions: Iterable[GuidanceSession], today: date, tz: str) -> Attendance:
    """The client's state against wajib lapor as of ``today``. Only sessions dated
    up to today count: an entry dated ahead (which the rules now refuse, but old
    rows may hold) can neither set "last attended" nor clear an overdue state."""
    sessions = list(sessions)
    interval = max(client.reporting_interval_days, 1)
    start, end = client.supervision_start, client.supervision_end
    attended_days: list[date] = []
    by_evidence = {e.value: 0 for e in Evidence}
    excused = no_show = 0
    for s in sessions:
        if s.status == SessionStatus.cancelled:
            continue
        day = local_date(s.started_at or s.scheduled_at, tz)
        if day > today:
            continue
        if s.outcome == Outcome.attended:
            attended_days.append(day)
            evidence = getattr(s, "evidence", None)
            by_evidence[evidence.value if evidence is not None else Evidence.reported.value] += 1
        elif s.outcome == Outcome.excused:
            excused += 1
        elif s.outcome == Outcome.no_show:
            no_show += 1
    last = max(attended_days) if attended_days else None
    periods = reporting_periods(client, sessions, today, tz)
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
    return Attendance(
        periods.due, len(attended_days), excused, no_show, periods.rate, last, next_due, overdue, state,
        periods_due=periods.due, periods_met=periods.met, attended_by_evidence=by_evidence,
    )


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


class Timeline:
    """One client's attended days as day numbers (days since 1970-01-01, office
    time), for ``reporting_periods`` and ``attendance`` as of any day: ``firsts``
    holds the first attended day of each period met, so the periods met by a day
    are a bisection, and ``add_months`` walks all month ends in one pass."""

    __slots__ = ("start", "end", "interval", "days", "firsts")

    def __init__(self, client: Any, attended_days: Iterable[date]):
        self._set(client, sorted({day_number(d) for d in attended_days}))

    @classmethod
    def of_numbers(cls, client: Any, days: list[int]) -> "Timeline":
        """From day numbers already sorted and distinct (the scan's)."""
        tl = cls.__new__(cls)
        tl._set(client, days)
        return tl

    def _set(self, client: Any, days: list[int]) -> None:
        s, e = day_number(client.supervision_start), day_number(client.supervision_end)
        iv = max(client.reporting_interval_days, 1)
        self.start, self.end, self.interval, self.days = s, e, iv, days
        firsts, seen = [], None
        for d in days:
            if s <= d <= e:
                p = (d - s) // iv  # records.period_of, in day numbers
                if p != seen:
                    firsts.append(d)
                    seen = p
        self.firsts = firsts

    def due(self, n: int) -> int:
        return 0 if n < self.start else (min(n, self.end) - self.start) // self.interval + 1

    def met(self, n: int) -> int:
        return bisect_right(self.firsts, n)  # every first is within supervision

    def periods(self, as_of: date) -> tuple[int, int]:
        """(due, met) exactly as ``records.reporting_periods(client, sessions, as_of)``."""
        n = day_number(as_of)
        return self.due(n), self.met(n)

    def overdue_on(self, n: int) -> bool:
        s, e = self.start, self.end
        if n < s or n > e:
            return False
        i = bisect_right(self.days, n)
        next_due = self.days[i - 1] + self.interval if i else s
        return next_due <= e and n > next_due

    def overdue(self, day: date) -> bool:
        """``records.attendance(...).state == "overdue"`` on ``day``, counting attended sessions up to it."""
        return self.overdue_on(day_number(day))

    def add_months(self, ends: Sequence[int], due: list[int], met: list[int], overdue: list[int]) -> None:
        """Add this client's periods due and met in each month, and whether it was
        overdue at each month's end, to the office's lists: ``ends[0]`` is the day
        before the first month, ``ends[k]`` the last day of month k-1. The same
        figures as ``periods``/``overdue`` at each end, in one walk (the call runs
        it for every client and month)."""
        s, e, iv, days, firsts = self.start, self.end, self.interval, self.days, self.firsts
        i = j = 0
        n_days, n_firsts = len(days), len(firsts)
        prev_due = prev_met = 0
        for k, x in enumerate(ends):
            if x < s:
                continue  # nothing due, met nor overdue before supervision
            while i < n_days and days[i] <= x:
                i += 1
            while j < n_firsts and firsts[j] <= x:
                j += 1
            d = ((x if x <= e else e) - s) // iv + 1
            if k:
                due[k - 1] += d - prev_due
                met[k - 1] += j - prev_met
                if x <= e:
                    next_due = days[i - 1] + iv if i else s
                    if next_due <= e and x > next_due:
                        overdue[k - 1] += 1
            prev_due, prev_met = d, j
            if x > e:
                break  # nothing changes after supervision
