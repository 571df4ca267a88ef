"""The ledger of wajib lapor: one client's reporting periods, each with one
status, as of a day.

Every figure about a client's compliance is read from here, by every view
(the record, the caseload, the audit's clients and anomalies, reminders, the
client's own page, letters, the evaluation): docs/api.md, "What the counts
mean", is the table. The rules:

- Supervision is cut into periods of ``reporting_interval_days`` from its
  start, the last one cut short at its end. A client with stages (awal,
  lanjutan, akhir: ``Client.stage_plan``, server/domain/guidance/stages.py) is
  cut stage by stage: each stage into periods of its own interval from the
  stage's start, the last one cut short at the day before the next stage
  begins. The periods *due* as of a day are those begun by then (within
  supervision).
- A session *meets* its period when it happened by the day counted to, was not
  cancelled, the client attended, and, for a call (video or phone), it lasted
  at least the office's ``min_report_minutes``; otherwise ``reporting_reason``
  says why not (``cancelled``, ``future``, ``not_attended``, ``too_short``). A
  shorter call is a contact: it is in the record, it meets nothing.
- Each period due has exactly one status: ``met`` (a session met it),
  ``excused`` (not met, but an absence in it was excused), ``open`` (the
  current period, not met yet) or ``missed`` (ended without either).
- The client's standing follows from the periods: ``overdue`` when the last
  ended period was missed and the current one is still open (overdue since the
  end of the first of those missed in a row), ``due`` when the open period ends
  within ``DUE_SOON_DAYS``, else ``ok``; ``not_started`` and ``completed``
  outside supervision.

Days are office-local day numbers (``session_digest.day_number``), so the
evaluation, which reads packed sessions, and the record, which reads rows,
build the same ``Ledger`` and get the same answers.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Iterable, NamedTuple
from zoneinfo import ZoneInfo

from server.db.models import (
    Client,
    Evidence,
    GuidanceSession,
    Outcome,
    SessionMode,
    SessionStatus,
)
from server.domain.record.rules import Rules
from server.domain.record.session_digest import day_number, from_day_number

DUE_SOON_DAYS = 3
ONE_DAY = timedelta(days=1)
PERIOD_STATUSES = ("met", "excused", "missed", "open")
REPORTING_REASONS = ("cancelled", "future", "not_attended", "too_short")
# Calls whose length the ledger weighs; a meeting in person (office, home visit,
# roll call) meets its period whatever its length.
TIMED_MODES = frozenset({SessionMode.video, SessionMode.phone})


def local_date(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


def session_day(session: Any, tz: str) -> date:
    """The office-local day a session counts on: when it began, else when it was due."""
    return local_date(session.started_at or session.scheduled_at, tz)


def reporting_reason(mode: SessionMode, status: SessionStatus, outcome: Outcome | None, duration_seconds: int | None,
                     day: date | int, as_of: date | int, min_report_seconds: int) -> str | None:
    """Why a session does not meet its reporting period as of ``as_of``, or None
    when it does. ``day`` and ``as_of`` are both dates or both day numbers."""
    if status == SessionStatus.cancelled:
        return "cancelled"
    if day > as_of:
        return "future"
    if outcome != Outcome.attended:
        return "not_attended"
    if mode in TIMED_MODES and (duration_seconds or 0) < min_report_seconds:
        return "too_short"
    return None


def verdict(session: Any, as_of: date, rules: Rules) -> str | None:
    """``reporting_reason`` of a session row (an ORM object or a row with its columns)."""
    return reporting_reason(session.mode, session.status, session.outcome, session.duration_seconds,
                            session_day(session, rules.tz), as_of, rules.min_report_seconds)


def is_late_entry(day: date, entered: date | None, late_entry_days: int) -> bool:
    """Entered more than ``late_entry_days`` (``BIMBING_LATE_ENTRY_DAYS``) after the day it is about."""
    return entered is not None and (entered - day).days > late_entry_days


@dataclass(frozen=True)
class Judgement:
    """How the ledger counts one session: whether it meets its reporting period
    (and why not), and whether it was entered late (and when it was entered)."""

    meets_reporting: bool
    reporting_reason: str | None
    late_entry: bool
    entered_on: date | None  # the office-local day its outcome was first entered

    def as_dict(self) -> dict[str, Any]:
        return {"meets_reporting": self.meets_reporting, "reporting_reason": self.reporting_reason,
                "late_entry": self.late_entry, "entered_on": self.entered_on.isoformat() if self.entered_on else None}


@dataclass(frozen=True)
class SessionJudge:
    """The ledger's reading of single sessions as of a day, for every view that
    lists sessions (their JSON, the CSV, the record, the monthly report)."""

    rules: Rules
    as_of: date
    late_entry_days: int

    def judge(self, session: Any) -> Judgement:
        reason = verdict(session, self.as_of, self.rules)
        entered = getattr(session, "outcome_entered_at", None)
        entered_on = local_date(entered, self.rules.tz) if entered is not None else None
        late = is_late_entry(session_day(session, self.rules.tz), entered_on, self.late_entry_days)
        return Judgement(reason is None, reason, late, entered_on)


class Period(NamedTuple):
    """One reporting period (a tuple: a client's table may hold thousands of them)."""

    index: int
    start: date
    end: date  # the last day of the period
    status: str

    def as_dict(self) -> dict[str, Any]:
        return {"index": self.index, "start": self.start.isoformat(), "end": self.end.isoformat(), "status": self.status}


@dataclass(frozen=True)
class Standing:
    state: str  # not_started | ok | due | overdue | completed
    overdue_days: int
    next_due: date | None  # the last day to report by (past when overdue)
    missed_in_a_row: int  # ended periods missed one after another, up to the last ended one


def count_statuses(statuses: Iterable[str]) -> dict[str, int]:
    counts = dict.fromkeys(PERIOD_STATUSES, 0)
    for s in statuses:
        counts[s] += 1
    return counts


class Ledger:
    """One client's periods, from the days (office-local day numbers) of the
    sessions that met a period and of the absences that were excused. Every
    question is asked as of a day ``n``: only meetings and excuses by then count.

    ``stages`` (the later stages' first days and intervals, in order, as
    ``(date, interval)``) cut the supervision into segments, each into periods
    of its interval; without them it is one segment of ``interval``. A period
    is found by arithmetic within its segment, so a long supervision cut into
    short periods costs no list of them.

    A period that ended before ``n`` has the same status whatever ``n`` is:
    ``met`` when a meeting falls in it, else ``excused`` when an excuse does,
    else ``missed``. So the ledger keeps only the periods a meeting or an excuse
    marks (found by arithmetic from their days, with running counts of each
    status) and every question about ended periods is a search among those: a
    supervision to 2099 cut into days costs what its meetings cost, not its
    periods. Only the period holding ``n`` is looked at afresh. The evaluation
    asks every client at every month's end, and this keeps each question a
    lookup."""

    __slots__ = ("start", "end", "interval", "meetings", "excuses", "_marked", "_met_upto", "_excused_upto",
                 "_seg_days", "_seg_ends", "_seg_intervals", "_seg_first")

    def __init__(self, start: date, end: date, interval: int, meeting_days: Iterable[int], excused_days: Iterable[int] = (),
                 stages: Iterable[tuple[date, int]] = ()):
        self.start, self.end = day_number(start), day_number(end)
        self.interval = max(interval, 1)
        self.meetings = sorted({d for d in meeting_days if self.start <= d <= self.end})
        self.excuses = sorted({d for d in excused_days if self.start <= d <= self.end})
        # Segments: the first from the start on ``interval``, then one per later stage
        # that begins inside the supervision (a later start replaces an earlier one of
        # the same day; a stage beginning before the one before it is ignored).
        days, intervals = [self.start], [self.interval]
        for first, every in stages:
            d = day_number(first)
            if d > self.end or d < days[-1]:
                continue
            if d == days[-1]:
                intervals[-1] = max(every, 1)
            else:
                days.append(d)
                intervals.append(max(every, 1))
        self._seg_days, self._seg_intervals = days, intervals
        self._seg_ends = [d - 1 for d in days[1:]] + [self.end]
        firsts, k = [], 0
        for d, last, every in zip(days, self._seg_ends, intervals):
            firsts.append(k)
            k += (last - d) // every + 1
        self._seg_first = firsts
        # The periods a meeting or an excuse marks, in order, and how many of the
        # marked before each (``_met_upto[k]``: among ``_marked[:k]``) are met and excused.
        met = {self.period_of(d) for d in self.meetings}
        excused = {self.period_of(d) for d in self.excuses} - met
        self._marked = sorted(met | excused)
        self._met_upto, self._excused_upto = [0], [0]
        for i in self._marked:
            self._met_upto.append(self._met_upto[-1] + (i in met))
            self._excused_upto.append(self._excused_upto[-1] + (i in excused))

    # --- periods -----------------------------------------------------------------

    def due(self, n: int) -> int:
        """How many periods had begun by day ``n``."""
        if n < self.start:
            return 0
        m = min(n, self.end)
        j = bisect_right(self._seg_days, m) - 1
        return self._seg_first[j] + (m - self._seg_days[j]) // self._seg_intervals[j] + 1

    def bounds(self, i: int) -> tuple[int, int]:
        j = bisect_right(self._seg_first, i) - 1
        first = self._seg_days[j] + (i - self._seg_first[j]) * self._seg_intervals[j]
        return first, min(first + self._seg_intervals[j] - 1, self._seg_ends[j])

    def period_of(self, n: int) -> int:
        """The period holding day ``n`` (within supervision)."""
        return self.due(n) - 1

    @staticmethod
    def _any_between(days: list[int], low: int, high: int) -> bool:
        i = bisect_left(days, low)
        return i < len(days) and days[i] <= high

    def _final(self, i: int) -> str:
        """The status of period ``i`` once it has ended."""
        k = bisect_left(self._marked, i)
        return self._marked_status(k) if k < len(self._marked) and self._marked[k] == i else "missed"

    def _marked_status(self, k: int) -> str:
        """The status of the ``k``-th marked period once it has ended."""
        return "met" if self._met_upto[k + 1] > self._met_upto[k] else "excused"

    def status(self, i: int, n: int) -> str:
        first, last = self.bounds(i)
        if last < n:
            return self._final(i)
        if self._any_between(self.meetings, first, n):
            return "met"
        if self._any_between(self.excuses, first, n):
            return "excused"
        return "open"

    def _ended(self, n: int) -> tuple[int, int]:
        """(periods begun by day ``n``, how many of them had ended before it): all
        but the last, and the last too once ``n`` is past its end."""
        due = self.due(n)
        if due == 0:
            return 0, 0
        return due, (due if self.bounds(due - 1)[1] < n else due - 1)

    def statuses(self, n: int, first_period: int = 0) -> list[str]:
        due, ended = self._ended(n)
        out = ["missed"] * max(ended - first_period, 0)
        for k in range(bisect_left(self._marked, first_period), bisect_left(self._marked, ended)):
            out[self._marked[k] - first_period] = self._marked_status(k)
        return out + [self.status(i, n) for i in range(max(first_period, ended), due)]

    def counts(self, n: int) -> dict[str, int]:
        return self._counts_between(0, n)

    def counts_begun_between(self, low: int, high: int, n: int) -> dict[str, int]:
        """The statuses, as of ``n``, of the periods that began from day ``low`` to
        day ``high`` (both included; ``high`` at most ``n``)."""
        first = self.due(low - 1)
        return self._counts_between(first, n, self.due(min(high, n)))

    def _counts_between(self, first: int, n: int, stop: int | None = None) -> dict[str, int]:
        """The statuses as of ``n`` of periods ``first`` to ``stop`` - 1 (to every
        period begun by ``n`` without ``stop``), from the running counts."""
        due, ended = self._ended(n)
        stop = due if stop is None else min(stop, due)
        counts = dict.fromkeys(PERIOD_STATUSES, 0)
        if stop <= first:
            return counts
        upto = min(stop, ended)
        if upto > first:
            low, high = bisect_left(self._marked, first), bisect_left(self._marked, upto)
            met = self._met_upto[high] - self._met_upto[low]
            excused = self._excused_upto[high] - self._excused_upto[low]
            counts["met"], counts["excused"], counts["missed"] = met, excused, upto - first - met - excused
        for i in range(max(first, upto), stop):
            counts[self.status(i, n)] += 1
        return counts

    def periods(self, n: int) -> list[Period]:
        statuses = self.statuses(n)
        out = []
        start = from_day_number(self.start)
        for i, status in enumerate(statuses):
            # Periods tile the supervision: each begins the day after the one before ends.
            end = from_day_number(self.bounds(i)[1])
            out.append(Period(i, start, end, status))
            start = end + ONE_DAY
        return out

    def missed_runs(self, n: int, length: int) -> list[tuple[int, int]]:
        """(first, last) period of every run of ``length`` or more periods missed
        one after another, as of day ``n`` (only ended periods are missed)."""
        _, ended = self._ended(n)
        out, before = [], -1  # the marked period before the run
        for marked in [*self._marked[:bisect_left(self._marked, ended)], ended]:
            if marked - before - 1 >= max(length, 1):
                out.append((before + 1, marked - 1))
            before = marked
        return out

    # --- the client's standing ---------------------------------------------------

    def last_met(self, n: int) -> int | None:
        i = bisect_right(self.meetings, n)
        return self.meetings[i - 1] if i else None

    def standing(self, n: int) -> Standing:
        if n < self.start:
            return Standing("not_started", 0, from_day_number(self.bounds(0)[1]), 0)
        if n > self.end:
            return Standing("completed", 0, None, self._missed_run(self.due(n) - 1))
        current = self.period_of(n)
        status = self.status(current, n)
        run = self._missed_run(current - 1)
        if status != "open":
            nxt = current + 1
            next_due = from_day_number(self.bounds(nxt)[1]) if self.bounds(nxt)[0] <= self.end else None
            return Standing("ok", 0, next_due, run)
        if run:
            deadline = self.bounds(current - run)[1]
            return Standing("overdue", n - deadline, from_day_number(deadline), run)
        deadline = self.bounds(current)[1]
        return Standing("due" if deadline - n <= DUE_SOON_DAYS else "ok", 0, from_day_number(deadline), 0)

    def overdue_on(self, n: int) -> bool:
        """``standing(n).state == "overdue"``, without building the standing."""
        if n < self.start or n > self.end:
            return False
        current = self.period_of(n)
        return current > 0 and self._missed_run(current - 1) > 0 and self.status(current, n) == "open"

    def _missed_run(self, last: int) -> int:
        """Ended periods missed one after another, up to period ``last``."""
        if last < 0:
            return 0
        k = bisect_right(self._marked, last)
        return last - (self._marked[k - 1] if k else -1)


# --- a client's record from its session rows ----------------------------------------


@dataclass(frozen=True)
class Attendance:
    """A client's wajib lapor as of ``as_of``: periods (each with one status),
    the standing that follows, and, apart, the sessions counted as sessions."""

    as_of: date
    periods: dict[str, int]  # met / excused / missed / open: sums to periods_due
    periods_due: int
    state: str
    overdue_days: int
    next_due: date | None
    last_attended: date | None  # the last day a session met a period
    missed_in_a_row: int
    # Sessions, not periods: held with the client present, excused, not come, and
    # the attended calls too short to meet a period (contacts).
    attended: int
    excused: int
    no_show: int
    contacts: int
    # Attended sessions by how they are known (observed | reported | roll_call), so a
    # supervisor sees how much of the record rests on the officer's word.
    attended_by_evidence: dict[str, int] = field(default_factory=dict)

    @property
    def periods_met(self) -> int:
        return self.periods["met"]

    @property
    def due(self) -> int:
        return self.periods_due

    @property
    def rate(self) -> float | None:
        """Periods met of periods due: never above 1."""
        return round(self.periods["met"] / self.periods_due, 3) if self.periods_due else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "as_of": self.as_of.isoformat(),
            "periods": dict(self.periods),
            "periods_due": self.periods_due,
            "periods_met": self.periods_met,
            "due": self.periods_due,
            "rate": self.rate,
            "state": self.state,
            "overdue_days": self.overdue_days,
            "next_due": self.next_due.isoformat() if self.next_due else None,
            "last_attended": self.last_attended.isoformat() if self.last_attended else None,
            "missed_in_a_row": self.missed_in_a_row,
            "sessions": {"attended": self.attended, "excused": self.excused, "no_show": self.no_show, "contacts": self.contacts},
            "attended": self.attended,
            "excused": self.excused,
            "no_show": self.no_show,
            "attended_by_evidence": dict(self.attended_by_evidence),
        }


def ledger_of(client: Any, sessions: Iterable[Any], as_of: date, rules: Rules) -> Ledger:
    """The client's ledger from its session rows (ORM objects or rows with the
    columns ``verdict`` reads)."""
    meetings, excuses = [], []
    for s in sessions:
        if s.status == SessionStatus.cancelled:
            continue
        day = session_day(s, rules.tz)
        if day > as_of:
            continue
        if s.outcome == Outcome.excused:
            excuses.append(day_number(day))
        elif verdict(s, as_of, rules) is None:
            meetings.append(day_number(day))
    return Ledger(client.supervision_start, client.supervision_end, client.reporting_interval_days, meetings, excuses, stage_starts(client))


def stage_starts(client: Any) -> list[tuple[date, int]]:
    """The stages of ``client`` as the ledger cuts by them: each stage's first
    day and interval (``Client.stage_plan``; none for a client kept on one interval)."""
    plan = getattr(client, "stage_plan", None) or ()
    return [(date.fromisoformat(s["start"]), int(s["interval_days"])) for s in plan]


def attendance(client: Client | Any, sessions: Iterable[GuidanceSession | Any], as_of: date, rules: Rules) -> Attendance:
    """The client's wajib lapor as of ``as_of`` (never after the office's today:
    the caller's ``today`` or an earlier day). Sessions dated after it count for
    nothing, so an entry dated ahead can neither meet a period nor clear a state."""
    sessions = list(sessions)
    ledger = ledger_of(client, sessions, as_of, rules)
    n = day_number(as_of)
    by_evidence = {e.value: 0 for e in Evidence}
    attended = excused = no_show = contacts = 0
    for s in sessions:
        if s.status == SessionStatus.cancelled or session_day(s, rules.tz) > as_of:
            continue
        if s.outcome == Outcome.attended:
            attended += 1
            evidence = getattr(s, "evidence", None)
            by_evidence[evidence.value if evidence is not None else Evidence.reported.value] += 1
            contacts += verdict(s, as_of, rules) == "too_short"
        elif s.outcome == Outcome.excused:
            excused += 1
        elif s.outcome == Outcome.no_show:
            no_show += 1
    counts = ledger.counts(n)
    standing = ledger.standing(n)
    last = ledger.last_met(n)
    return Attendance(
        as_of, counts, sum(counts.values()), standing.state, standing.overdue_days, standing.next_due,
        from_day_number(last) if last is not None else None, standing.missed_in_a_row,
        attended, excused, no_show, contacts, by_evidence,
    )


def period_list(client: Any, sessions: Iterable[Any], as_of: date, rules: Rules) -> list[Period]:
    """Every period due as of ``as_of``, with its status (the record's table)."""
    return ledger_of(client, sessions, as_of, rules).periods(day_number(as_of))


STATE_ORDER = {"overdue": 0, "due": 1, "ok": 2, "not_started": 3, "completed": 4}


def caseload_sort_key(item: tuple[Client, Attendance]):
    client, att = item
    return (STATE_ORDER[att.state], -att.overdue_days, att.next_due or date.max, client.name)
