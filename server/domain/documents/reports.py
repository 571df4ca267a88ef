"""What supervisors read: the office's session log (filtered, sorted, paged),
per-client attendance, per-PK statistics and the monthly "laporan bimbingan".

Every query goes through ``server.domain.access`` so a PK only ever sees their
own sessions and clients; a supervisor or admin sees the whole office. No HTTP
here: the API, the pages, the CSV export and bench/audit.py share these.
"""

from __future__ import annotations

import base64
import json
import re
import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, AsyncIterator
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.ids import MAX_ID
from server.db.models import (
    Client,
    Evidence,
    GuidanceSession,
    Outcome,
    Role,
    SessionMode,
    SessionStatus,
    Staff,
)
from server.domain.access import scope_clients, scope_sessions
from server.domain.errors import DomainError, ErrorKind
from server.domain.record.ledger import Attendance, attendance
from server.domain.record.rules import office_rules

MAX_PER_PAGE = 200
HELD = (SessionStatus.ended, SessionStatus.interrupted)

# sort name -> (column, descending). Every order ends with the id so that the
# order is total and keyset pagination never skips or repeats a row.
SORTS: dict[str, tuple[Any, bool]] = {
    "-scheduled_at": (GuidanceSession.scheduled_at, True),
    "scheduled_at": (GuidanceSession.scheduled_at, False),
    "-duration": (GuidanceSession.duration_seconds, True),
    "duration": (GuidanceSession.duration_seconds, False),
}
DEFAULT_SORT = "-scheduled_at"


@dataclass(frozen=True)
class SessionFilter:
    officer_id: int | None = None
    client_id: int | None = None
    mode: SessionMode | None = None
    evidence: Evidence | None = None
    outcome: str | None = None  # an Outcome value, or "none" for sessions without one
    status: SessionStatus | None = None
    date_from: date | None = None  # office-local dates, both inclusive
    date_to: date | None = None
    sort: str = DEFAULT_SORT

    def as_query(self) -> dict[str, str]:
        """The same filter as URL query parameters (for the CSV link and the audit entry)."""
        out = {}
        for name in ("officer_id", "client_id", "mode", "evidence", "outcome", "status", "date_from", "date_to"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value.value if hasattr(value, "value") else (value.isoformat() if isinstance(value, date) else str(value))
        if self.sort != DEFAULT_SORT:
            out["sort"] = self.sort
        return out


def local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time.min, ZoneInfo(tz)).astimezone(timezone.utc)


MIN_YEAR, MAX_YEAR = 1900, 2999


def month_first(text: str, name: str = "month") -> date:
    """``2026-10`` -> 2026-10-01, for the query parameter ``name``: one place
    that reads a month from outside (the audit's, the evaluation's)."""
    match = re.fullmatch(r"([0-9]{4})-([0-9]{2})", text)
    try:
        if match is None:
            raise ValueError
        year, mon = int(match[1]), int(match[2])
        # Bounded so that every date computed from the month (its next month, local
        # midnights in UTC) stays representable: 9999-12 answered 500 (issue #12).
        if not MIN_YEAR <= year <= MAX_YEAR:
            raise ValueError
        return date(year, mon, 1)
    except ValueError:
        raise DomainError(ErrorKind.invalid, "invalid-query", f"{name}: expected YYYY-MM, year {MIN_YEAR}-{MAX_YEAR}", fields={name: "expected YYYY-MM"}) from None


def month_range(month: str) -> tuple[date, date]:
    """``2026-10`` -> (2026-10-01, 2026-10-31)."""
    first = month_first(month)
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return first, nxt - timedelta(days=1)


def _filtered(query: Select, staff: Staff, f: SessionFilter, tz: str) -> Select:
    query = scope_sessions(query, staff)
    if f.officer_id is not None:
        query = query.where(GuidanceSession.officer_id == f.officer_id)
    if f.client_id is not None:
        query = query.where(GuidanceSession.client_id == f.client_id)
    if f.mode is not None:
        query = query.where(GuidanceSession.mode == f.mode)
    if f.evidence is not None:
        query = query.where(GuidanceSession.evidence == f.evidence)
    if f.status is not None:
        query = query.where(GuidanceSession.status == f.status)
    if f.outcome == "none":
        query = query.where(GuidanceSession.outcome.is_(None))
    elif f.outcome is not None:
        query = query.where(GuidanceSession.outcome == Outcome(f.outcome))
    if f.date_from is not None:
        query = query.where(GuidanceSession.scheduled_at >= local_midnight(f.date_from, tz))
    if f.date_to is not None:
        query = query.where(GuidanceSession.scheduled_at < local_midnight(f.date_to + timedelta(days=1), tz))
    return query


LOG_COLUMNS = (
    GuidanceSession.id,
    GuidanceSession.scheduled_at,
    GuidanceSession.started_at,
    GuidanceSession.ended_at,
    GuidanceSession.client_id,
    Client.name.label("client_name"),
    Client.register_number,
    GuidanceSession.officer_id,
    Staff.name.label("officer_name"),
    GuidanceSession.mode,
    GuidanceSession.evidence,
    GuidanceSession.status,
    GuidanceSession.outcome,
    GuidanceSession.duration_seconds,
    GuidanceSession.topics,
    GuidanceSession.location,
    GuidanceSession.notes,
    GuidanceSession.met_with,
    GuidanceSession.findings,
    GuidanceSession.mobile_event_id,
    GuidanceSession.outcome_entered_at,
)


def log_query(staff: Staff, f: SessionFilter, tz: str) -> Select:
    query = select(*LOG_COLUMNS).join(Client, Client.id == GuidanceSession.client_id).join(Staff, Staff.id == GuidanceSession.officer_id)
    return _filtered(query, staff, f, tz)


def _order(query: Select, sort: str) -> Select:
    column, desc = SORTS[sort]
    if desc:
        return query.order_by(column.desc(), GuidanceSession.id.desc())
    return query.order_by(column.asc(), GuidanceSession.id.asc())


def _after(query: Select, sort: str, cursor: tuple[Any, int]) -> Select:
    column, desc = SORTS[sort]
    value, last_id = cursor
    # A plain tuple on the right takes the column types (UTCDateTime binds UTC on SQLite too).
    key = tuple_(column, GuidanceSession.id)
    return query.where(key < (value, last_id)) if desc else query.where(key > (value, last_id))


def encode_cursor(sort: str, row) -> str:
    column, _desc = SORTS[sort]
    value = getattr(row, column.key)
    raw = value.astimezone(timezone.utc).isoformat() if isinstance(value, datetime) else value
    return base64.urlsafe_b64encode(json.dumps([sort, raw, row.id]).encode()).decode().rstrip("=")


def decode_cursor(sort: str, token: str) -> tuple[Any, int]:
    try:
        data = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        cursor_sort, raw, last_id = data
        if cursor_sort != sort or not isinstance(last_id, int):
            raise ValueError
        if not -MAX_ID <= last_id <= MAX_ID:
            raise ValueError
        column, _ = SORTS[sort]
        if column.key == "scheduled_at":
            value = datetime.fromisoformat(raw)
            # Compared with UTC timestamps: a time without a zone is not one of ours.
            if value.tzinfo is None:
                raise ValueError
        elif isinstance(raw, int) and not isinstance(raw, bool) and -MAX_ID <= raw <= MAX_ID:
            value = raw
        else:  # 1e308, a string, a number no column holds
            raise ValueError
    except (ValueError, TypeError, KeyError, OverflowError, json.JSONDecodeError):
        raise DomainError(ErrorKind.invalid, "invalid-query", "after: not a cursor from this listing and sort", fields={"after": "invalid"}) from None
    return value, last_id


@dataclass
class LogPage:
    rows: list[Any]
    total: int | None  # None for keyset pages (``after``)
    page: int
    per_page: int
    next_after: str | None


async def session_log_page(
    db: AsyncSession, staff: Staff, f: SessionFilter, tz: str, *, page: int = 1, per_page: int = 50, after: str | None = None
) -> LogPage:
    """One page, by offset (``page``) or by keyset (``after``, stays fast deep into a million rows)."""
    per_page = max(1, min(per_page, MAX_PER_PAGE))
    query = _order(log_query(staff, f, tz), f.sort)
    if after:
        query = _after(query, f.sort, decode_cursor(f.sort, after))
    else:
        query = query.offset((page - 1) * per_page)
    rows = list((await db.execute(query.limit(per_page + 1))).all())
    more = len(rows) > per_page
    rows = rows[:per_page]
    # Counting a million rows costs more than the page itself (bench/audit.py): a
    # keyset client walks on with ``next_after`` and does not need the total again.
    total = None if after else (await db.scalar(_filtered(select(func.count()).select_from(GuidanceSession), staff, f, tz)) or 0)
    return LogPage(rows, total, page, per_page, encode_cursor(f.sort, rows[-1]) if more and rows else None)


async def iter_session_log(db: AsyncSession, staff: Staff, f: SessionFilter, tz: str, batch: int = 1000) -> AsyncIterator[Any]:
    """Every row of the filter in the listing's order, batch by batch (keyset), for the CSV."""
    base = _order(log_query(staff, f, tz), f.sort)
    cursor = None
    while True:
        query = base if cursor is None else _after(base, f.sort, cursor)
        rows = (await db.execute(query.limit(batch))).all()
        for row in rows:
            yield row
        if len(rows) < batch:
            return
        column, _ = SORTS[f.sort]
        cursor = (getattr(rows[-1], column.key), rows[-1].id)


# --- per-client attendance --------------------------------------------------

# What the ledger reads of a session (server/domain/record/ledger.py, ``verdict``).
_ATT_COLUMNS = (GuidanceSession.client_id, GuidanceSession.status, GuidanceSession.outcome, GuidanceSession.started_at, GuidanceSession.scheduled_at,
                GuidanceSession.evidence, GuidanceSession.mode, GuidanceSession.duration_seconds)


@dataclass(frozen=True)
class ClientAttendance:
    client: Client
    attendance: Attendance
    last_session: datetime | None  # the latest session held (ended or interrupted)
    next_session: datetime | None  # the earliest session still scheduled

    def __iter__(self):  # ``for client, att, *_ in rows``
        return iter((self.client, self.attendance, self.last_session, self.next_session))


async def client_attendance(
    db: AsyncSession, staff: Staff, today: date, tz: str, officer_id: int | None = None, client_id: int | None = None
) -> list[ClientAttendance]:
    """Each client in scope measured against wajib lapor as of ``today`` (the
    office's today or an earlier day), with their last and next session."""
    query = scope_clients(select(Client), staff).order_by(Client.name, Client.id)
    if officer_id is not None:
        query = query.where(Client.officer_id == officer_id)
    if client_id is not None:
        query = query.where(Client.id == client_id)
    clients = list((await db.execute(query)).scalars())
    if not clients:
        return []
    by_client: dict[int, list[Any]] = {c.id: [] for c in clients}
    ids = list(by_client)
    for start in range(0, len(ids), 500):
        rows = await db.execute(select(*_ATT_COLUMNS).where(GuidanceSession.client_id.in_(ids[start : start + 500])))
        for row in rows:
            by_client[row.client_id].append(row)
    rules = await office_rules(db, staff.office_id, tz)
    out = []
    for c in clients:
        rows = by_client[c.id]
        held = [r.started_at or r.scheduled_at for r in rows if r.status in HELD]
        upcoming = [r.scheduled_at for r in rows if r.status == SessionStatus.scheduled]
        out.append(ClientAttendance(c, attendance(c, rows, today, rules), max(held) if held else None, min(upcoming) if upcoming else None))
    return out


# --- per-PK statistics --------------------------------------------------------


@dataclass
class OfficerStats:
    officer_id: int
    name: str
    username: str
    held: int = 0
    by_mode: dict[str, int] = field(default_factory=lambda: {m.value: 0 for m in SessionMode})
    total_seconds: int = 0
    median_seconds: float | None = None
    without_notes: int = 0
    interrupted: int = 0
    clients: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "officer_id": self.officer_id,
            "name": self.name,
            "username": self.username,
            "sessions_held": self.held,
            "by_mode": self.by_mode,
            "total_duration_seconds": self.total_seconds,
            "median_duration_seconds": self.median_seconds,
            "sessions_without_notes": self.without_notes,
            "interrupted": self.interrupted,
            "clients": self.clients,
        }


async def officer_stats(db: AsyncSession, staff: Staff, date_from: date | None, date_to: date | None, tz: str) -> list[OfficerStats]:
    """Sessions *held* (ended or interrupted) in the range, per PK of the office
    (a PK: only themselves), with durations and sessions lacking notes."""
    officers = select(Staff).where(Staff.office_id == staff.office_id, Staff.role == Role.pk)
    if staff.role == Role.pk:
        officers = officers.where(Staff.id == staff.id)
    stats = {s.id: OfficerStats(s.id, s.name, s.username) for s in (await db.execute(officers.order_by(Staff.name, Staff.id))).scalars()}
    f = SessionFilter(date_from=date_from, date_to=date_to)
    query = _filtered(
        select(GuidanceSession.officer_id, GuidanceSession.mode, GuidanceSession.status, GuidanceSession.duration_seconds, (GuidanceSession.notes == "").label("no_notes")),
        staff,
        f,
        tz,
    ).where(GuidanceSession.status.in_(HELD))
    durations: dict[int, list[int]] = {i: [] for i in stats}
    for row in await db.execute(query):
        st = stats.get(row.officer_id)
        if st is None:  # a session of a former PK whose role changed
            continue
        st.held += 1
        st.by_mode[row.mode.value] += 1
        st.total_seconds += row.duration_seconds or 0
        durations[row.officer_id].append(row.duration_seconds or 0)
        st.without_notes += bool(row.no_notes)
        st.interrupted += row.status == SessionStatus.interrupted
    counts = await db.execute(
        scope_clients(select(Client.officer_id, func.count()).select_from(Client), staff).group_by(Client.officer_id)
    )
    for officer_id, n in counts:
        if officer_id in stats:
            stats[officer_id].clients = n
    for officer_id, values in durations.items():
        stats[officer_id].median_seconds = statistics.median(values) if values else None
    return list(stats.values())


# --- monthly report ("laporan bimbingan") -----------------------------------


async def sessions_in_range(db: AsyncSession, staff: Staff, f: SessionFilter, tz: str) -> list[Any]:
    query = _order(log_query(staff, f, tz), "scheduled_at")
    return list((await db.execute(query)).all())


def totals(rows: list[Any]) -> dict[str, Any]:
    held = [r for r in rows if r.status in HELD]
    durations = [r.duration_seconds or 0 for r in held]
    return {
        "sessions": len(rows),
        "held": len(held),
        "attended": sum(1 for r in rows if r.outcome == Outcome.attended),
        # How each attendance is known: the server's observation, an officer's word, a roll call.
        "attended_by_evidence": {e.value: sum(1 for r in rows if r.outcome == Outcome.attended and r.evidence == e) for e in Evidence},
        "excused": sum(1 for r in rows if r.outcome == Outcome.excused),
        "no_show": sum(1 for r in rows if r.outcome == Outcome.no_show),
        "by_mode": {m.value: sum(1 for r in held if r.mode == m) for m in SessionMode},
        "total_seconds": sum(durations),
        "median_seconds": statistics.median(durations) if durations else None,
        "without_notes": sum(1 for r in held if not r.notes),
    }


async def attended_by_evidence(db: AsyncSession, staff: Staff, f: SessionFilter, tz: str) -> dict[str, int]:
    """Attended sessions of the filter by evidence, for the head of the audit view."""
    query = _filtered(select(GuidanceSession.evidence, func.count()).select_from(GuidanceSession), staff, f, tz)
    query = query.where(GuidanceSession.outcome == Outcome.attended, GuidanceSession.status != SessionStatus.cancelled).group_by(GuidanceSession.evidence)
    counts = {e.value: 0 for e in Evidence}
    for evidence, n in await db.execute(query):
        counts[Evidence(evidence).value] = n
    return counts
