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
from bisect import bisect_right
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
    Outcome,
    Role,
    SessionMode,
    SessionStatus,
    Staff,
    utcnow,
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
    add_periods,
    month_end,
    months_between,
    no_periods,
    place_of_clients,
    previous_span,
)
from server.domain.fieldwork.mobile_events import is_over
from server.domain.guidance.progress_figures import progress_figures, standing
from server.domain.partners.counts import referral_figures, service_hours_figures
from server.domain.record.ledger import Ledger, reporting_reason, stage_starts
from server.domain.record.rules import office_rules
from server.domain.record.session_digest import (
    ATTENDED_AT,
    DAY_SHIFT,
    EXCUSED_AT,
    HELD_AT,
    NO_SHOW_AT,
    LocalDays,
    Packed,
    day_number,
    digest_for,
    evidence_of,
    is_held,
    mode_of,
    status_of,
)
from server.domain.violations.counts import tpp_figures, violation_figures

# --- the computation -------------------------------------------------------------


async def _clients_in_scope(db: AsyncSession, staff: Staff, f: EvaluationFilter) -> tuple[list[Any], dict[int, Place]]:
    """The clients the caller may see that pass the filter, with their places."""
    client_query = scope_clients(
        select(Client.id, Client.name, Client.register_number, Client.officer_id, Client.kelurahan, Client.supervision_start, Client.supervision_end,
               Client.reporting_interval_days, Client.sessions_revision, Client.stage_plan),
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


def _ledger(client: Any, p: Packed, as_of: int, min_report_seconds: int) -> Ledger:
    """The client's ledger (server/domain/record/ledger.py) from its packed
    sessions: the days, by ``as_of``, of those that met a period and of the
    absences excused; the same rules the record counts by (``reporting_reason``)."""
    meetings, excuses = [], []
    for code, duration in zip(p.codes, p.durations):
        day = code >> DAY_SHIFT
        if day > as_of:
            continue
        outcome = code & 63
        if outcome == EXCUSED_AT:
            excuses.append(day)
        elif outcome == ATTENDED_AT:
            mode, status = _decoded(code)
            if reporting_reason(mode, status, Outcome.attended, duration, day, as_of, min_report_seconds) is None:
                meetings.append(day)
    return Ledger(client.supervision_start, client.supervision_end, client.reporting_interval_days, meetings, excuses, stage_starts(client))


_DECODED: dict[int, tuple[SessionMode, SessionStatus]] = {}


def _decoded(code: int) -> tuple[SessionMode, SessionStatus]:
    """A code's mode and status as enums, decoded once per distinct pair."""
    key = code & _BELOW_DAY
    found = _DECODED.get(key)
    if found is None:
        found = _DECODED[key] = (SessionMode(mode_of(code)), status_of(code))
    return found


async def clients_behind(db: AsyncSession, staff: Staff, f: EvaluationFilter, tz: str, on: date, today: date, *,
                         overdue: bool = False, open_kendala: bool = False) -> list[dict[str, Any]]:
    """The clients behind a figure of the page: the filter's clients supervised
    on ``on`` (never after today: a later day is counted as of today), only the
    overdue ones or those with open kendala if asked, with their place and
    their periods' statuses by that day."""
    on = min(on, today)
    clients, places = await _clients_in_scope(db, staff, f)
    rules = await office_rules(db, staff.office_id, tz)
    n = day_number(on)
    packed = await digest_for(db).sessions(db, LocalDays.over(tz, on, on), staff.office_id, ((c.id, c.sessions_revision) for c in clients))
    with_kendala = set()
    if open_kendala:
        with_kendala = set((await db.execute(select(Kendala.client_id).where(Kendala.status == "open"))).scalars())
    out = []
    for c in clients:
        if c.supervision_start > on or c.supervision_end < f.date_from:
            continue
        ledger = _ledger(c, packed[c.id], n, rules.min_report_seconds)
        late = ledger.overdue_on(n)
        if (overdue and not late) or (open_kendala and c.id not in with_kendala):
            continue
        periods = ledger.counts(n)
        p = places[c.id]
        out.append({"id": c.id, "name": c.name, "register_number": c.register_number, "city": p.city, "kecamatan": p.kecamatan,
                    "kelurahan": p.kelurahan, "periods": periods, "due": sum(periods.values()), "met": periods["met"], "overdue": late})
    out.sort(key=lambda r: (not r["overdue"], r["name"]))
    return out


@dataclass(frozen=True)
class _Window:
    """The days a call counts, as local day numbers: the previous period's first
    day, the range's first and last, the day counted to (``as_of``: the last, or
    today); the first and last day of each month; and the office's shortest call
    that meets a period (part of the window: a part made under another rule is
    not reused)."""

    first: int
    start: int
    last: int
    as_of: int
    month_firsts: tuple[int, ...]
    month_lasts: tuple[int, ...]
    min_report_seconds: int


@dataclass(frozen=True)
class _Part:
    """What one client's sessions give a window (``_part``): the codes of the
    sessions counted in its months (with the month's position in place of the
    day), per PK the durations of the sessions held in the range and the number
    without notes; from the client's ledger, the statuses of the periods begun
    in each month and in the range, whether it was overdue at each month's end
    (or as of the window's day) and at the range's; and the attendance rates
    before and after each strategy's first use."""

    counted: list[int]
    held: dict[int, list[int]]
    no_notes: dict[int, int]
    months: list[dict[str, int]]
    overdue: list[bool]
    range_periods: dict[str, int]
    overdue_at_end: bool
    rates: dict[str, tuple[float, float]]


def _rate_between(ledger: Ledger, low: int, high: int) -> float | None:
    """Periods met of those begun from ``low`` to ``high``, as of ``high``."""
    if high < low:
        return None
    counts = ledger.counts_begun_between(low, high, high)
    due = sum(counts.values())
    return counts["met"] / due if due else None


def _part(client: Any, p: Packed, w: _Window) -> _Part:
    """One client's figures for a window, from its packed sessions: a session
    counts when its day is by the window's ``as_of``."""
    first, start, last, as_of, firsts = w.first, w.start, w.last, w.as_of, w.month_firsts
    counted, attended = [], []
    held: dict[int, list[int]] = {}
    for code, officer, duration in zip(p.codes, p.officers, p.durations):
        day = code >> DAY_SHIFT
        if day > as_of:
            continue
        if first <= day <= last:
            # the month's position in place of the day: a few hundred distinct values to decode
            counted.append((bisect_right(firsts, day) - 1) << DAY_SHIFT | code & _BELOW_DAY)
        if code & 63 == ATTENDED_AT:
            attended.append(code)
        if day >= start and is_held(code):
            held.setdefault(officer, []).append(duration)
    no_notes: dict[int, int] = {}
    for day_status, officer in zip(p.bare, p.bare_officers):
        if start <= day_status >> 6 <= as_of and day_status & 63 in HELD_AT:
            no_notes[officer] = no_notes.get(officer, 0) + 1
    ledger = _ledger(client, p, as_of, w.min_report_seconds)
    months = [ledger.counts_begun_between(mf, min(ml, as_of), as_of) for mf, ml in zip(firsts, w.month_lasts)]
    overdue = [ledger.overdue_on(min(ml, as_of)) for ml in w.month_lasts]
    attended.sort()  # by day first
    first_use: dict[str, int] = {}  # mode → day number
    for code in attended:
        mode = mode_of(code)
        if mode in _STRATEGY_VALUES and mode not in first_use:
            first_use[mode] = code >> DAY_SHIFT
    rates = {}
    # strategies: attendance in the 90 days before and after a client's first
    # session of the mode within the range (an observation, not a cause)
    for mode, d in first_use.items():
        if not (start <= d <= as_of):
            continue
        before = _rate_between(ledger, d - STRATEGY_WINDOW_DAYS, d - 1)
        after = _rate_between(ledger, d, min(d + STRATEGY_WINDOW_DAYS, as_of))
        if before is not None and after is not None:  # else no period before or after to compare with
            rates[mode] = (before, after)
    return _Part(counted, held, no_notes, months, overdue, ledger.counts_begun_between(start, as_of, as_of), ledger.overdue_on(as_of), rates)


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
        stamp = (p.revision, c.supervision_start, c.supervision_end, c.reporting_interval_days, c.stage_plan)
        hit = kept.get(c.id)
        if hit is None or hit[0] != stamp:
            hit = kept[c.id] = (stamp, _part(c, p, w))
        out[c.id] = hit[1]
    return out


async def evaluate(db: AsyncSession, staff: Staff, f: EvaluationFilter, tz: str, today: date) -> Evaluation:
    """The evaluation of ``f``'s months, every figure counted as of the range's
    last day or today, whichever comes first: a month not over yet is counted
    "per hari ini", never at its end."""
    as_of = min(f.date_to, today)
    prev_from, prev_to = previous_span(f.date_from, f.date_to)
    local = LocalDays.over(tz, prev_from, f.date_to)
    range_end_utc = datetime.combine(as_of + timedelta(days=1), time(0), ZoneInfo(tz))
    prev_start_utc = datetime.combine(prev_from, time(0), ZoneInfo(tz))

    rules = await office_rules(db, staff.office_id, tz)
    clients, places = await _clients_in_scope(db, staff, f)
    month_list = [MonthFigures(m.strftime("%Y-%m"), first=m, last=month_end(m), as_of=min(month_end(m), as_of)) for m in months_between(prev_from, f.date_to)]
    months = {m.month: m for m in month_list}
    window = _Window(day_number(prev_from), day_number(f.date_from), day_number(f.date_to), day_number(as_of),
                     tuple(day_number(m.first) for m in month_list), tuple(day_number(m.last) for m in month_list), rules.min_report_seconds)
    parts = await _parts(db, staff, clients, local, window)
    # The clients the months are about (supervised on some day of the window, the
    # previous span included) and those the range is about (the areas, the PKs' caseloads).
    in_window = [c for c in clients if c.supervision_start <= as_of and c.supervision_end >= prev_from]
    ranged = [c for c in in_window if c.supervision_end >= f.date_from]
    ids = {c.id for c in in_window}
    by_id = {c.id: c for c in in_window}

    # month by month: held by mode and evidence, no-shows; each distinct code decoded once
    for code, n in Counter(chain.from_iterable(parts[c.id].counted for c in in_window)).items():
        m = month_list[code >> DAY_SHIFT]
        if is_held(code):
            m.sessions_by_mode[mode_of(code)] += n
            m.sessions_by_evidence[evidence_of(code)] += n
        if code & 63 == NO_SHOW_AT:
            m.no_shows += n
    # periods begun in each month, with their statuses; clients overdue at each month's end
    for c in in_window:
        part = parts[c.id]
        for m, periods, late in zip(month_list, part.months, part.overdue):
            add_periods(m.periods, periods)
            m.overdue_clients += late

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
        periods = no_periods()
        for m in ms:
            add_periods(periods, m.periods)
        return Headline(
            sessions_held=sum(m.held for m in ms), periods=periods,
            overdue_clients=ms[-1].overdue_clients if ms else 0, no_shows=sum(m.no_shows for m in ms),
            kendala=sum(b["total"] for m in ms for b in m.kendala_by_type.values()), as_of=ms[-1].as_of if ms else None,
        )

    # The office's mobile-counseling days held in each kelurahan (not cancelled, over by
    # now, by the day counted to): the kelurahan of the event, never the home of a client
    # who came. A day still under way today is not held yet (mobile_events.is_over).
    last_mobile: dict[str, date] = {}
    held_days = await db.execute(
        select(MobileEvent.kelurahan, func.max(MobileEvent.date))
        .where(MobileEvent.office_id == staff.office_id, MobileEvent.status == MobileEventStatus.planned, MobileEvent.date < as_of)
        .group_by(MobileEvent.kelurahan)
    )
    last_day = (await db.execute(
        select(MobileEvent).where(MobileEvent.office_id == staff.office_id, MobileEvent.status == MobileEventStatus.planned, MobileEvent.date == as_of)
    )).scalars()
    now = utcnow()
    for kelurahan, day in [*held_days.all(), *((e.kelurahan, e.date) for e in last_day if is_over(e, now, tz))]:
        k = kelurahan.casefold()
        last_mobile[k] = max(day, last_mobile.get(k, day))

    # areas: over the range, sorted by need (most overdue, then lowest rate)
    area_rows: dict[tuple, AreaFigures] = {}
    for c in ranged:
        p = places[c.id]
        key = (p.city or "", p.kecamatan or "", p.kelurahan.casefold())
        a = area_rows.get(key)
        if a is None:
            a = area_rows[key] = AreaFigures(p.city, p.kecamatan, p.kelurahan, last_mobile_day=last_mobile.get(p.kelurahan.casefold()))
        part = parts[c.id]
        a.clients += 1
        a.client_ids.append(c.id)
        add_periods(a.periods, part.range_periods)
        a.overdue += part.overdue_at_end
    areas_out = sorted(area_rows.values(), key=lambda a: (-a.overdue, a.rate if a.rate is not None else 2.0, a.city or "~", a.kecamatan or "~", a.kelurahan))

    # officers: every PK in scope, and anyone else who holds a client or held a session
    # counted here, so that the table adds up to the office's figures
    durations: dict[int, list[int]] = defaultdict(list)
    no_notes: dict[int, int] = {}
    for c in in_window:
        part = parts[c.id]
        for officer_id, values in part.held.items():
            durations[officer_id] += values
        for officer_id, n in part.no_notes.items():
            no_notes[officer_id] = no_notes.get(officer_id, 0) + n
    officer_query = select(Staff.id, Staff.name, Staff.role).where(Staff.office_id == staff.office_id, Staff.role == Role.pk)
    if staff.role == Role.pk:
        officer_query = officer_query.where(Staff.id == staff.id)
    if f.officer_id is not None:
        officer_query = officer_query.where(Staff.id == f.officer_id)
    rows = list(await db.execute(officer_query))
    others = ({c.officer_id for c in ranged} | set(durations) | set(no_notes) | set(open_waits)) - {row.id for row in rows}
    if others:
        rows += list(await db.execute(select(Staff.id, Staff.name, Staff.role).where(Staff.id.in_(sorted(others)))))
    rows.sort(key=lambda r: (r.role != Role.pk, r.name, r.id))
    officers = {row.id: OfficerFigures(row.id, row.name, not_pk=row.role != Role.pk) for row in rows}
    for c in ranged:
        o = officers[c.officer_id]
        o.caseload += 1
        o.clients_overdue += parts[c.id].overdue_at_end
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
        pairs = [parts[c.id].rates[mode] for c in ranged if mode in parts[c.id].rates]
        n = len(pairs)
        hidden = n < MIN_CLIENTS
        strategies.append(StrategyFigures(
            mode, n,
            None if hidden else round(statistics.fmean(b for b, _ in pairs), 3),
            None if hidden else round(statistics.fmean(a for _, a in pairs), 3),
            hidden,
        ))

    # The casework of the clients the range is about, each figure as it stood on the
    # day counted to (rows and steps dated after ``range_end_utc`` are not seen):
    # referrals made in the range by partner, kind and result; violations of the range by
    # kind and state; the sittings of the TPP and their decisions; community-service hours.
    ranged_ids = {c.id for c in ranged}
    range_start_utc = datetime.combine(f.date_from, time(0), ZoneInfo(tz))
    referrals = await referral_figures(db, ranged_ids, range_start_utc, range_end_utc)
    violations = await violation_figures(db, staff.office_id, ranged_ids, f.date_from, as_of, range_end_utc)
    tpp = await tpp_figures(db, staff.office_id, ranged_ids, f.date_from, as_of, range_end_utc)
    service_hours = await service_hours_figures(db, ranged_ids, f.date_from, as_of, range_end_utc)
    # goals rated at sessions over the range, by need, stage and mode (an observation, not a cause),
    # and where the clients stand: latest risk category, case plans
    progress = {**(await progress_figures(db, ranged, f.date_from, as_of, tz)).as_dict(), **await standing(db, ranged_ids, as_of, range_end_utc)}

    return Evaluation(f.date_from, f.date_to, as_of, current, areas_out, list(officers.values()), strategies, headline(current), headline(previous),
                      referrals=referrals, progress=progress, violations=violations, tpp=tpp, service_hours=service_hours)
