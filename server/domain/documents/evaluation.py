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
so the months add up to the supervision's own count. ``Timeline`` computes the
same numbers as ``reporting_periods`` from pre-computed local days, since the
call repeats it for every client and month (tests/test_evaluation.py checks
them against ``reporting_periods`` itself).

Every figure is computed from rows the caller may see (``access.scope_*``: a
PK's own caseload). The sessions come from the session digest
(server/domain/record/session_digest.py): each client's read once, in one pass per
client over an index that holds every column read (migration 0007), and again
only when the database says they changed (migration 0008). What a window makes
of one client (``_Part``: its months' codes, periods, strategies) is kept there
too, so a call after a write redoes one client and adds up the rest
(bench/README.md, "evaluation.py", has the measurements behind this shape).
"""

from __future__ import annotations

import statistics
from bisect import bisect_left
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from itertools import chain
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import (
    Area,
    Client,
    Kendala,
    MobileEvent,
    MobileEventStatus,
    Role,
    SessionMode,
    Staff,
)
from server.domain.access import scope_clients
from server.domain.documents.evaluation_figures import (
    MIN_CLIENTS,
    STRATEGY_MODES,
    STRATEGY_WINDOW_DAYS,
    AreaFigures,
    Evaluation,
    EvaluationFilter,
    Headline,
    MonthFigures,
    OfficerFigures,
    Place,
    StrategyFigures,
    month_end,
    months_between,
    place_of_clients,
    previous_span,
)
from server.domain.record.ledger import Timeline
from server.domain.record.session_digest import (
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
        tl = Timeline.of_numbers(c, sorted(set(attended_by(packed[c.id]))))
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
    after the day before the first month, as ``Timeline.add_months`` takes them)."""

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
    tl = Timeline.of_numbers(client, list(dict.fromkeys(code >> DAY_SHIFT for code in attended)))
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

    month_list = [MonthFigures(m.strftime("%Y-%m"), first=m, last=month_end(m)) for m in months_between(prev_from, f.date_to)]
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
    # The office's mobile-counseling days held there (server/domain/fieldwork/mobile_events.py),
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
