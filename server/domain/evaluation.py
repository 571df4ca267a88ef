"""The office's evaluation over months: trends, areas, strategies, PKs.

What the head of office reads to judge the work (docs/api.md, "Evaluation"):

- ``months``: per calendar month (office time zone) the sessions held by mode
  and by evidence, wajib lapor periods due and met, the clients overdue at the
  month's end, kendala by type and how they ended, and no-shows;
- ``areas``: per kelurahan of the office's area tree (city → kecamatan →
  kelurahan) the clients, their attendance rate, the overdue, and the last
  mobile-counseling day there;
- ``officers``: per PK the caseload, sessions held, median duration, sessions
  without notes, open kendala and how long they wait, and clients overdue;
- ``strategies``: attendance before and after clients were first served by
  video, mobile counseling or a home visit (an observation, not a cause);
- ``previous``: the headline figures of the period of the same length before.

Periods: a client's wajib lapor is cut into periods by
``records.reporting_periods``. For a month, ``periods_due`` is the number of
periods that began in it and ``periods_met`` the number that became met in it
(the difference of ``reporting_periods`` at this and the previous month's end),
so the months add up to the supervision's own count. ``_Timeline`` computes the
same numbers as ``reporting_periods`` from pre-computed local days, since the
call repeats it for every client and month (tests/test_evaluation.py checks
them against ``reporting_periods`` itself).

Every figure is computed from rows the caller may see (``access.scope_*``: a
PK's own caseload). The sessions come from the session digest
(server/domain/session_digest.py): each client's read once, in one pass per
client over an index that holds every column read (migration 0007), and again
only when the database says they changed (migration 0008). What a window makes
of one client (``_Part``: its months' codes, periods, strategies) is kept there
too, so a call after a write redoes one client and adds up the rest
(bench/README.md, "evaluation.py", has the measurements behind this shape).
"""

from __future__ import annotations

import statistics
from bisect import bisect_left, bisect_right
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from itertools import chain
from typing import Any, Iterable, Sequence
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import (
    Area,
    AreaLevel,
    Client,
    ClientCategory,
    Evidence,
    Kendala,
    MobileEvent,
    MobileEventStatus,
    Program,
    Role,
    SessionMode,
    Staff,
)
from server.domain.access import scope_clients
from server.domain.errors import DomainError, ErrorKind
from server.domain.reports import month_first
from server.domain.session_digest import (
    ATTENDED_AT,
    DAY_SHIFT,
    HELD_AT,
    NO_SHOW_AT,
    LocalDays,
    Packed,
    day_number,
    digest_for,
    evidence_of,
    from_day_number,
    is_held,
    mode_of,
)

STRATEGY_MODES = (SessionMode.video, SessionMode.mobile, SessionMode.home_visit)
# Figures resting on fewer clients are not shown: too few to read anything into.
MIN_CLIENTS = 5
STRATEGY_WINDOW_DAYS = 90
MAX_MONTHS = 36


@dataclass(frozen=True)
class EvaluationFilter:
    date_from: date  # first day of the first month
    date_to: date  # last day of the last month
    officer_id: int | None = None
    program: Program | None = None
    category: ClientCategory | None = None
    city: str | None = None
    kecamatan: str | None = None
    kelurahan: str | None = None


def month_span(from_month: str, to_month: str) -> tuple[date, date]:
    """``2026-01``, ``2026-12`` → (2026-01-01, 2026-12-31); at most MAX_MONTHS."""
    start, end_first = month_first(from_month, "from"), month_first(to_month, "to")
    if end_first < start:
        raise DomainError(ErrorKind.invalid, "invalid-query", "to: before from", fields={"to": "before from"})
    months = (end_first.year - start.year) * 12 + end_first.month - start.month + 1
    if months > MAX_MONTHS:
        raise DomainError(ErrorKind.invalid, "invalid-query", f"to: at most {MAX_MONTHS} months", fields={"to": f"at most {MAX_MONTHS} months"})
    return start, _month_end(end_first)


def _month_end(first: date) -> date:
    return date(first.year + (first.month == 12), first.month % 12 + 1, 1) - timedelta(days=1)


def months_between(start: date, end: date) -> list[date]:
    """First days of each month from ``start`` to ``end``."""
    out, d = [], date(start.year, start.month, 1)
    while d <= end:
        out.append(d)
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return out


def previous_span(start: date, end: date) -> tuple[date, date]:
    n = len(months_between(start, end))
    first = start
    for _ in range(n):
        first = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    return first, start - timedelta(days=1)


class _Timeline:
    """One client's attended days as day numbers (days since 1970-01-01, office
    time), for ``reporting_periods`` and ``attendance`` as of any day: ``firsts``
    holds the first attended day of each period met, so the periods met by a day
    are a bisection, and ``add_months`` walks all month ends in one pass."""

    __slots__ = ("start", "end", "interval", "days", "firsts")

    def __init__(self, client: Any, attended_days: Iterable[date]):
        self._set(client, sorted({day_number(d) for d in attended_days}))

    @classmethod
    def of_numbers(cls, client: Any, days: list[int]) -> "_Timeline":
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


@dataclass
class MonthFigures:
    month: str
    sessions_by_mode: dict[str, int] = field(default_factory=lambda: {m.value: 0 for m in SessionMode})
    sessions_by_evidence: dict[str, int] = field(default_factory=lambda: {e.value: 0 for e in Evidence})
    periods_due: int = 0
    periods_met: int = 0
    overdue_clients: int = 0
    kendala_by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    no_shows: int = 0
    # For the page and the links: the month's first and last day.
    first: date | None = None
    last: date | None = None

    @property
    def held(self) -> int:
        return sum(self.sessions_by_mode.values())

    @property
    def rate(self) -> float | None:
        return round(min(self.periods_met / self.periods_due, 1.0), 3) if self.periods_due else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "sessions_by_mode": self.sessions_by_mode,
            "sessions_by_evidence": self.sessions_by_evidence,
            "periods_due": self.periods_due,
            "periods_met": self.periods_met,
            "overdue_clients": self.overdue_clients,
            "kendala_by_type": self.kendala_by_type,
            "no_shows": self.no_shows,
        }


@dataclass
class AreaFigures:
    city: str | None
    kecamatan: str | None
    kelurahan: str
    clients: int = 0
    due: int = 0
    met: int = 0
    overdue: int = 0
    last_mobile_day: date | None = None
    client_ids: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return round(min(self.met / self.due, 1.0), 3) if self.due else None

    def as_dict(self) -> dict[str, Any]:
        return {
            "city": self.city, "kecamatan": self.kecamatan, "kelurahan": self.kelurahan, "clients": self.clients,
            "rate": self.rate, "overdue": self.overdue, "last_mobile_day": self.last_mobile_day.isoformat() if self.last_mobile_day else None,
        }


@dataclass
class OfficerFigures:
    officer_id: int
    name: str
    caseload: int = 0
    sessions_held: int = 0
    median_duration_seconds: float | None = None
    sessions_without_notes: int = 0
    open_kendala: int = 0
    kendala_waiting_days_max: int | None = None
    kendala_waiting_days_median: float | None = None
    clients_overdue: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "officer_id": self.officer_id, "name": self.name, "caseload": self.caseload, "sessions_held": self.sessions_held,
            "median_duration_seconds": self.median_duration_seconds, "sessions_without_notes": self.sessions_without_notes,
            "open_kendala": self.open_kendala, "kendala_waiting_days_max": self.kendala_waiting_days_max,
            "kendala_waiting_days_median": self.kendala_waiting_days_median, "clients_overdue": self.clients_overdue,
        }


@dataclass
class StrategyFigures:
    mode: str
    clients: int
    rate_before: float | None  # None also when hidden (fewer than MIN_CLIENTS)
    rate_after: float | None
    hidden: bool

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "clients": self.clients, "rate_before": self.rate_before, "rate_after": self.rate_after, "hidden": self.hidden}


@dataclass
class Headline:
    sessions_held: int
    periods_due: int
    periods_met: int
    overdue_clients: int  # at the period's end
    no_shows: int
    kendala: int

    @property
    def rate(self) -> float | None:
        return round(min(self.periods_met / self.periods_due, 1.0), 3) if self.periods_due else None

    def as_dict(self) -> dict[str, Any]:
        return {"sessions_held": self.sessions_held, "periods_due": self.periods_due, "periods_met": self.periods_met,
                "rate": self.rate, "overdue_clients": self.overdue_clients, "no_shows": self.no_shows, "kendala": self.kendala}


@dataclass
class Evaluation:
    date_from: date
    date_to: date
    months: list[MonthFigures]
    areas: list[AreaFigures]
    officers: list[OfficerFigures]
    strategies: list[StrategyFigures]
    headline: Headline
    previous: Headline

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.date_from.strftime("%Y-%m"),
            "to": self.date_to.strftime("%Y-%m"),
            "months": [m.as_dict() for m in self.months],
            "areas": [a.as_dict() for a in self.areas],
            "officers": [o.as_dict() for o in self.officers],
            "strategies": [s.as_dict() for s in self.strategies],
            "headline": self.headline.as_dict(),
            "previous": self.previous.as_dict(),
        }


# --- areas ---------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    city: str | None
    kecamatan: str | None
    kelurahan: str


def place_of_clients(areas: Iterable[Area], clients: Iterable[Any]) -> dict[int, Place]:
    """Each client's place in the office's area tree, by matching the client's
    ``kelurahan`` to a kelurahan node by name (case and outer spaces ignored).
    The one place where clients meet areas: a kelurahan the tree does not know
    keeps its name with no city or kecamatan."""
    by_id = {a.id: a for a in areas}
    known: dict[str, Place] = {}
    for a in by_id.values():
        if a.level != AreaLevel.kelurahan:
            continue
        kec = by_id.get(a.parent_id) if a.parent_id else None
        city = by_id.get(kec.parent_id) if kec is not None and kec.parent_id else None
        known[a.name.strip().casefold()] = Place(city.name if city else None, kec.name if kec else None, a.name)
    out = {}
    for c in clients:
        name = (c.kelurahan or "").strip()
        out[c.id] = known.get(name.casefold()) or Place(None, None, name or "—")
    return out


# --- the computation -------------------------------------------------------------


async def _clients_in_scope(db: AsyncSession, staff: Staff, f: EvaluationFilter) -> tuple[list[Any], dict[int, Place]]:
    """The clients the caller may see that pass the filter, with their places."""
    client_query = scope_clients(
        select(Client.id, Client.name, Client.register_number, Client.officer_id, Client.kelurahan, Client.supervision_start, Client.supervision_end,
               Client.reporting_interval_days, Client.sessions_revision),
        staff,
    )
    if f.officer_id is not None:
        client_query = client_query.where(Client.officer_id == f.officer_id)
    if f.program is not None:
        client_query = client_query.where(Client.program == f.program)
    if f.category is not None:
        client_query = client_query.where(Client.category == f.category)
    clients = list(await db.execute(client_query))
    areas = list((await db.execute(select(Area).where(Area.office_id == staff.office_id))).scalars())
    places = place_of_clients(areas, clients)
    if f.city or f.kecamatan or f.kelurahan:
        def wanted(p: Place) -> bool:
            return all(
                want is None or (have or "").casefold() == want.strip().casefold()
                for want, have in ((f.city, p.city), (f.kecamatan, p.kecamatan), (f.kelurahan, p.kelurahan))
            )
        clients = [c for c in clients if wanted(places[c.id])]
    return clients, places


async def clients_behind(db: AsyncSession, staff: Staff, f: EvaluationFilter, tz: str, on: date, *, overdue: bool = False, open_kendala: bool = False) -> list[dict[str, Any]]:
    """The clients behind a figure of the page: the filter's clients supervised
    on ``on`` (only the overdue ones, or those with open kendala, if asked), with
    their place, periods due and met by that day, and whether they were overdue."""
    clients, places = await _clients_in_scope(db, staff, f)
    last = day_number(on)
    packed = await digest_for(db).sessions(db, LocalDays.over(tz, on, on), staff.office_id, ((c.id, c.sessions_revision) for c in clients))

    def attended_by(p: Packed) -> list[int]:
        """Days attended by ``on``, of sessions scheduled by then."""
        return [code >> DAY_SHIFT for code, scheduled in zip(p.codes, p.scheduled) if scheduled <= last and code & 63 == ATTENDED_AT and code >> DAY_SHIFT <= last]

    with_kendala = set()
    if open_kendala:
        with_kendala = set((await db.execute(select(Kendala.client_id).where(Kendala.status == "open"))).scalars())
    out = []
    for c in clients:
        if c.supervision_start > on or c.supervision_end < f.date_from:
            continue
        tl = _Timeline.of_numbers(c, sorted(set(attended_by(packed[c.id]))))
        late = tl.overdue(on)
        if (overdue and not late) or (open_kendala and c.id not in with_kendala):
            continue
        due, met = tl.periods(on)
        p = places[c.id]
        out.append({"id": c.id, "name": c.name, "register_number": c.register_number, "city": p.city, "kecamatan": p.kecamatan,
                    "kelurahan": p.kelurahan, "due": due, "met": met, "overdue": late})
    out.sort(key=lambda r: (not r["overdue"], r["name"]))
    return out


@dataclass(frozen=True)
class _Window:
    """The days a call counts, as local day numbers: the previous period's first
    day, the range's first and last; and the last day of each month (``ends``,
    after the day before the first month, as ``_Timeline.add_months`` takes them)."""

    first: int
    start: int
    last: int
    ends: tuple[int, ...]


@dataclass(frozen=True)
class _Part:
    """What one client's sessions give a window (``_part``): the codes of the
    sessions counted in its months (with the month's position in place of the
    day), the last mobile day, per PK the durations of the sessions held in the
    range and the number without notes; from the client's periods, the due, met
    and overdue of each month, of the range, and at its end; and the attendance
    rates before and after each strategy's first use."""

    counted: list[int]
    last_mobile: date | None
    held: dict[int, list[int]]
    no_notes: dict[int, int]
    due: list[int]
    met: list[int]
    overdue: list[int]
    range_due: int
    range_met: int
    overdue_at_end: bool
    rates: dict[str, tuple[float, float]]


def _part(client: Any, p: Packed, w: _Window) -> _Part:
    """One client's figures for a window, from its packed sessions: a session
    counts when it was scheduled by the range's last day (``scheduled``)."""
    last, first, start, ends = w.last, w.first, w.start, w.ends
    counted, attended = [], []
    held: dict[int, list[int]] = {}
    for code, scheduled, officer, duration in zip(p.codes, p.scheduled, p.officers, p.durations):
        if scheduled > last:
            continue
        day = code >> DAY_SHIFT
        if first <= day <= last:
            # the month's position in place of the day: a few hundred distinct values to decode
            counted.append((bisect_left(ends, day) - 1) << DAY_SHIFT | code & _BELOW_DAY)
        if code & 63 == ATTENDED_AT:
            attended.append(code)
        if day >= start and is_held(code):
            held.setdefault(officer, []).append(duration)
    no_notes: dict[int, int] = {}
    for day_status, scheduled, officer in zip(p.bare, p.bare_scheduled, p.bare_officers):
        if scheduled <= last and day_status >> 6 >= start and day_status & 63 in HELD_AT:
            no_notes[officer] = no_notes.get(officer, 0) + 1
    attended.sort()  # by day first
    first_use: dict[str, int] = {}  # mode → day number
    last_mobile = None
    for code in attended:
        mode = mode_of(code)
        if mode in _STRATEGY_VALUES and mode not in first_use:
            first_use[mode] = code >> DAY_SHIFT
        if mode == SessionMode.mobile.value:
            last_mobile = from_day_number(code >> DAY_SHIFT)
    tl = _Timeline.of_numbers(client, list(dict.fromkeys(code >> DAY_SHIFT for code in attended)))
    n = len(w.ends) - 1
    due, met, overdue = [0] * n, [0] * n, [0] * n
    tl.add_months(w.ends, due, met, overdue)
    due0, met0 = tl.due(start - 1), tl.met(start - 1)
    rates = {}
    # strategies: attendance in the 90 days before and after a client's first
    # session of the mode within the range (an observation, not a cause)
    for mode, d in first_use.items():
        if not (start <= d <= last):
            continue
        b0, bm0 = tl.due(d - STRATEGY_WINDOW_DAYS - 1), tl.met(d - STRATEGY_WINDOW_DAYS - 1)
        b1, bm1 = tl.due(d - 1), tl.met(d - 1)
        a1, am1 = tl.due(min(d + STRATEGY_WINDOW_DAYS, last)), tl.met(min(d + STRATEGY_WINDOW_DAYS, last))
        if b1 - b0 > 0 and a1 - b1 > 0:  # else no period before or after to compare with
            rates[mode] = (min((bm1 - bm0) / (b1 - b0), 1.0), min((am1 - bm1) / (a1 - b1), 1.0))
    return _Part(counted, last_mobile, held, no_notes, due, met, overdue,
                 tl.due(last) - due0, tl.met(last) - met0, tl.overdue_on(last), rates)


_STRATEGY_ORDER = tuple(m.value for m in STRATEGY_MODES)
_STRATEGY_VALUES = frozenset(_STRATEGY_ORDER)
_BELOW_DAY = (1 << DAY_SHIFT) - 1


def _median(values: list[int]) -> float | int:
    value = statistics.median(sorted(values))
    return int(value) if float(value).is_integer() else value


async def _parts(db: AsyncSession, staff: Staff, clients: list[Any], days: LocalDays, w: _Window) -> dict[int, _Part]:
    """Each client's part of the window: its sessions from the digest (reread
    only when they changed), its part kept there while neither they nor the
    client's supervision changed."""
    digest = digest_for(db)
    packed = await digest.sessions(db, days, staff.office_id, ((c.id, c.sessions_revision) for c in clients))
    kept = digest.kept((days.key, w))
    out = {}
    for c in clients:
        p = packed[c.id]
        stamp = (p.revision, c.supervision_start, c.supervision_end, c.reporting_interval_days)
        hit = kept.get(c.id)
        if hit is None or hit[0] != stamp:
            hit = kept[c.id] = (stamp, _part(c, p, w))
        out[c.id] = hit[1]
    return out


async def evaluate(db: AsyncSession, staff: Staff, f: EvaluationFilter, tz: str, today: date) -> Evaluation:
    prev_from, prev_to = previous_span(f.date_from, f.date_to)
    local = LocalDays.over(tz, prev_from, f.date_to)
    range_end_utc = datetime.combine(f.date_to + timedelta(days=1), time(0), ZoneInfo(tz))
    prev_start_utc = datetime.combine(prev_from, time(0), ZoneInfo(tz))

    clients, places = await _clients_in_scope(db, staff, f)
    ids = {c.id for c in clients}
    by_id = {c.id: c for c in clients}

    month_list = [MonthFigures(m.strftime("%Y-%m"), first=m, last=_month_end(m)) for m in months_between(prev_from, f.date_to)]
    months = {m.month: m for m in month_list}
    window = _Window(day_number(prev_from), day_number(f.date_from), day_number(f.date_to),
                     tuple([day_number(prev_from) - 1] + [day_number(m.last) for m in month_list]))
    parts = await _parts(db, staff, clients, local, window)

    # month by month: held by mode and evidence, no-shows; each distinct code decoded once
    for code, n in Counter(chain.from_iterable(part.counted for part in parts.values())).items():
        m = month_list[code >> DAY_SHIFT]
        if is_held(code):
            m.sessions_by_mode[mode_of(code)] += n
            m.sessions_by_evidence[evidence_of(code)] += n
        if code & 63 == NO_SHOW_AT:
            m.no_shows += n
    # periods and overdue at each month's end
    columns = [map(sum, zip(*(getattr(part, name) for part in parts.values()))) for name in ("due", "met", "overdue")]
    for m, due, met, overdue in zip(month_list, *columns):
        m.periods_due, m.periods_met, m.overdue_clients = due, met, overdue

    last_mobile: dict[str, date] = {}

    def went(kelurahan: str, day: date) -> None:
        k = kelurahan.casefold()
        last_mobile[k] = max(day, last_mobile.get(k, day))

    for cid, part in parts.items():
        if part.last_mobile is not None:
            went(places[cid].kelurahan, part.last_mobile)
    # The office's mobile-counseling days held there (server/domain/mobile_events.py),
    # with or without a roll call yet: the day the office went is what the head asks.
    held = await db.execute(
        select(MobileEvent.kelurahan, func.max(MobileEvent.date))
        .where(MobileEvent.office_id == staff.office_id, MobileEvent.status == MobileEventStatus.planned, MobileEvent.date <= min(today, f.date_to))
        .group_by(MobileEvent.kelurahan)
    )
    for kelurahan, day in held.all():
        went(kelurahan, day)

    # kendala by type and how each ended
    kendala_rows = await db.execute(
        select(Kendala.client_id, Kendala.kind, Kendala.status, Kendala.created_at, Kendala.new_session_id)
        .join(Client, Client.id == Kendala.client_id)
        .where(Client.office_id == staff.office_id, Kendala.created_at >= prev_start_utc, Kendala.created_at < range_end_utc)
    )
    open_waits: dict[int, list[int]] = defaultdict(list)
    for k in kendala_rows:
        if k.client_id not in ids:
            continue
        month = months.get(local.local_date(k.created_at).strftime("%Y-%m"))
        if month is not None:
            ended = {"accepted": "moved" if k.new_session_id else "accepted", "declined": "declined"}.get(k.status, "unanswered")
            bucket = month.kendala_by_type.setdefault(k.kind, {"total": 0, "accepted": 0, "moved": 0, "declined": 0, "unanswered": 0})
            bucket["total"] += 1
            bucket[ended] += 1
    # open kendala wait as of today, whenever they were made
    open_rows = await db.execute(
        select(Kendala.client_id, Kendala.created_at).join(Client, Client.id == Kendala.client_id)
        .where(Client.office_id == staff.office_id, Kendala.status == "open")
    )
    for k in open_rows:
        if k.client_id in ids:
            open_waits[by_id[k.client_id].officer_id].append(max((today - local.local_date(k.created_at)).days, 0))

    current = [m for m in month_list if m.first >= f.date_from]
    previous = [m for m in month_list if m.first < f.date_from]

    def headline(ms: list[MonthFigures]) -> Headline:
        return Headline(
            sessions_held=sum(m.held for m in ms), periods_due=sum(m.periods_due for m in ms), periods_met=sum(m.periods_met for m in ms),
            overdue_clients=ms[-1].overdue_clients if ms else 0, no_shows=sum(m.no_shows for m in ms),
            kendala=sum(b["total"] for m in ms for b in m.kendala_by_type.values()),
        )

    # areas: over the range, sorted by need (most overdue, then lowest rate)
    area_rows: dict[tuple, AreaFigures] = {}
    for c in clients:
        p = places[c.id]
        key = (p.city or "", p.kecamatan or "", p.kelurahan.casefold())
        a = area_rows.get(key)
        if a is None:
            a = area_rows[key] = AreaFigures(p.city, p.kecamatan, p.kelurahan, last_mobile_day=last_mobile.get(p.kelurahan.casefold()))
        part = parts[c.id]
        a.clients += 1
        a.client_ids.append(c.id)
        a.due += part.range_due
        a.met += part.range_met
        a.overdue += part.overdue_at_end
    areas_out = sorted(area_rows.values(), key=lambda a: (-a.overdue, a.rate if a.rate is not None else 2.0, a.city or "~", a.kecamatan or "~", a.kelurahan))

    # officers
    officer_query = select(Staff.id, Staff.name).where(Staff.office_id == staff.office_id, Staff.role == Role.pk)
    if staff.role == Role.pk:
        officer_query = officer_query.where(Staff.id == staff.id)
    if f.officer_id is not None:
        officer_query = officer_query.where(Staff.id == f.officer_id)
    officers = {row.id: OfficerFigures(row.id, row.name) for row in await db.execute(officer_query.order_by(Staff.name, Staff.id))}
    durations: dict[int, list[int]] = defaultdict(list)
    no_notes: dict[int, int] = {}
    for c in clients:
        part = parts[c.id]
        for officer_id, values in part.held.items():
            durations[officer_id] += values
        for officer_id, n in part.no_notes.items():
            no_notes[officer_id] = no_notes.get(officer_id, 0) + n
        o = officers.get(c.officer_id)
        if o is None:
            continue
        if c.supervision_start <= f.date_to and c.supervision_end >= f.date_from:
            o.caseload += 1
        o.clients_overdue += part.overdue_at_end
    for oid, o in officers.items():
        values = durations.get(oid)
        o.sessions_held = len(values) if values else 0
        o.median_duration_seconds = _median(values) if values else None
        o.sessions_without_notes = no_notes.get(oid, 0)
        waits = open_waits.get(oid, [])
        o.open_kendala = len(waits)
        o.kendala_waiting_days_max = max(waits) if waits else None
        o.kendala_waiting_days_median = statistics.median(waits) if waits else None

    # strategies: attendance before and after each client's first use (``_part``)
    strategies = []
    for mode in _STRATEGY_ORDER:
        pairs = [part.rates[mode] for part in parts.values() if mode in part.rates]
        n = len(pairs)
        hidden = n < MIN_CLIENTS
        strategies.append(StrategyFigures(
            mode, n,
            None if hidden else round(statistics.fmean(b for b, _ in pairs), 3),
            None if hidden else round(statistics.fmean(a for _, a in pairs), 3),
            hidden,
        ))

    return Evaluation(f.date_from, f.date_to, current, areas_out, list(officers.values()), strategies, headline(current), headline(previous))
