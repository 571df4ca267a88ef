"""Each client's sessions as the evaluation counts them, kept in the process.

The evaluation (server/domain/documents/evaluation.py) reads every session of the office
on every call: 100,000 sessions for an office of 2,000 clients. Most of them
have not changed since the last call. So each client's sessions are read once,
packed into a few arrays of integers (``Packed``), and kept here with the
client's ``sessions_revision``. The database raises that revision itself
(triggers, migration 0008) whenever a session of the client is inserted,
deleted, or changed in a column read here, whoever writes it: the ORM, the
write batcher's plain statements, another process, an operator's SQL. A call
reads the revisions with the clients (it reads the clients anyway) and rereads
only the clients whose revision moved.

What a call makes of one client's sessions for its window of months (the
evaluation's ``_Part``) is kept too (``kept``), under a stamp the caller
chooses (the revision and the client's own fields), for the last few windows.

One ``Digest`` per engine (``digest_for``): a process with one database has
one. What a crash loses is nothing: this is a copy, and a new process reads
the sessions again at its first call.
"""

from __future__ import annotations

import weakref
from array import array
from collections import OrderedDict
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Hashable, Iterable
from zoneinfo import ZoneInfo

from sqlalchemy import (
    BigInteger,
    Date,
    Float,
    Integer,
    String,
    cast,
    func,
    literal,
    literal_column,
    select,
    type_coerce,
)
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import (
    Client,
    Evidence,
    GuidanceSession,
    Outcome,
    SessionMode,
    SessionStatus,
)

HELD = (SessionStatus.ended, SessionStatus.interrupted)

_EPOCH = date(1970, 1, 1).toordinal()


def day_number(day: date) -> int:
    """Days since 1970-01-01: the unit local days are counted in."""
    return day.toordinal() - _EPOCH


def from_day_number(n: int) -> date:
    return date.fromordinal(n + _EPOCH)


# One session is one integer (``code``): the local day of its moment (started,
# else scheduled) and the positions of its mode, evidence, status and outcome in
# these strings (``instr``/``strpos``: one call a row instead of a CASE or a
# comparison per value), so the database does no grouping by month and Python
# counts the integers (Counter, in C) and decodes only the distinct ones. Each
# value's first position is its own; the outcomes start with a space so that no
# outcome (NULL, read as '') is position 1.
_MODES = " ".join(m.value for m in SessionMode)
_EVIDENCES = " ".join(e.value for e in Evidence)
_STATUSES = " ".join(s.value for s in SessionStatus)
_OUTCOMES = " " + " ".join(o.value for o in Outcome)
MODE_AT = {_MODES.index(m.value) + 1: m.value for m in SessionMode}
EVIDENCE_AT = {_EVIDENCES.index(e.value) + 1: e.value for e in Evidence}
HELD_AT = frozenset(_STATUSES.index(s.value) + 1 for s in HELD)
NO_SHOW_AT, ATTENDED_AT = _OUTCOMES.index(Outcome.no_show.value) + 1, _OUTCOMES.index(Outcome.attended.value) + 1
EXCUSED_AT = _OUTCOMES.index(Outcome.excused.value) + 1
STATUS_AT = {_STATUSES.index(s.value) + 1: s for s in SessionStatus}
assert len(MODE_AT) == len(SessionMode) and len(EVIDENCE_AT) == len(Evidence) and max(MODE_AT) < 64 and max(EVIDENCE_AT) < 32
assert len({_STATUSES.index(s.value) for s in SessionStatus}) == len(SessionStatus) and len(_STATUSES) < 64
assert len({_OUTCOMES.index(o.value) for o in Outcome}) == len(Outcome) and len(_OUTCOMES) < 64
# day * 2**23 + mode position * 2**17 + evidence position * 2**12 + status position * 2**6 + outcome position
MODE_SHIFT, EVIDENCE_SHIFT, STATUS_SHIFT, DAY_SHIFT = 17, 12, 6, 23


def mode_of(code: int) -> str:
    return MODE_AT[(code >> MODE_SHIFT) & 63]


def evidence_of(code: int) -> str:
    return EVIDENCE_AT[(code >> EVIDENCE_SHIFT) & 31]


def status_of(code: int) -> SessionStatus:
    return STATUS_AT[(code >> STATUS_SHIFT) & 63]


def is_held(code: int) -> bool:
    return (code >> STATUS_SHIFT) & 63 in HELD_AT


def _code(day: int, mode: SessionMode, evidence: Evidence, status: SessionStatus, outcome: Outcome | None) -> int:
    """``code`` in Python, as the SQL below computes it."""
    return ((((day * 64 + _MODES.index(mode.value) + 1) * 32 + _EVIDENCES.index(evidence.value) + 1) * 64
             + _STATUSES.index(status.value) + 1) * 64 + (_OUTCOMES.index(outcome.value) + 1 if outcome else 1))  # instr(x, '') is 1


@dataclass(frozen=True)
class Packed:
    """One client's sessions (none cancelled), as of ``revision``: session i in
    position i of ``codes``, ``scheduled`` (the local day it was scheduled on),
    ``officers`` and ``durations``; and the sessions without notes, by what the
    evaluation counts of them: the local day of their moment times 64 plus their
    status's position (``bare``), the day scheduled and the PK."""

    revision: int
    local: Hashable
    codes: array
    scheduled: array
    officers: array
    durations: array
    bare: array
    bare_scheduled: array
    bare_officers: array


_EMPTY = array("q")
_EVER = datetime(1970, 1, 1, tzinfo=timezone.utc)


class LocalDays:
    """How UTC moments become office-local days: the zone's fixed offset when it
    has one over the span looked at (Asia/Jakarta always: one addition a
    moment, and in SQL one more term), else the zone itself for each moment."""

    def __init__(self, tz: str, offset: timedelta | None):
        self.tz, self.offset = tz, offset
        self.zone = ZoneInfo(tz)
        self.key: Hashable = (tz, offset)

    @classmethod
    def over(cls, tz: str, start: date, end: date) -> "LocalDays":
        """For moments from about a year before ``start`` to a month after ``end``:
        the offset at noon UTC every 28 days, fixed if it never changed."""
        zone = ZoneInfo(tz)
        first, last = start - timedelta(days=400), end + timedelta(days=31)
        probes = [datetime.combine(first + timedelta(days=n), time(12)) for n in range(0, (last - first).days + 1, 28)]
        offsets = {zone.utcoffset(p) for p in probes}
        return cls(tz, offsets.pop() if len(offsets) == 1 else None)

    def local_date(self, moment: datetime) -> date:
        if self.offset is not None:
            return (moment + self.offset).date()
        return moment.astimezone(self.zone).date()

    def day(self, moment: datetime) -> int:
        return day_number(self.local_date(moment))


async def _read_in_sql(db: AsyncSession, dialect: str, local: LocalDays, where: list[Any]) -> dict[int, Packed]:
    """Two passes, both in the order of an index that holds every column read
    (migration 0007: no sort, no table row; bench/README.md, "evaluation.py",
    says why this shape): every session per client as comma-separated lists of
    integers, then per client the sessions without notes (about one in ten).

    Local days are day numbers: the zone's fixed offset added to the moment when
    it has one, else (PostgreSQL only; SQLite then reads session by session,
    ``_read_in_python``) the zone's own conversion."""
    if dialect == "postgresql":
        def day_of(moment: Any) -> Any:
            if local.offset is not None:
                # Seconds since the epoch plus the fixed offset, in whole days: half the
                # cost of timezone() a row (bench/README.md, "evaluation.py").
                epoch = type_coerce(func.date_part("epoch", moment), Float)  # double precision: no numeric arithmetic
                return cast(func.floor((epoch + local.offset.total_seconds()) / 86400.0), BigInteger)
            return cast(cast(func.timezone(local.tz, moment), Date) - cast(literal("1970-01-01"), Date), BigInteger)

        position = func.strpos

        def listed(expr: Any) -> Any:
            return func.string_agg(cast(expr, String), ",")
    else:
        assert local.offset is not None, "SQLite counts a zone with daylight saving in Python"
        seconds = int(local.offset.total_seconds())

        def day_of(moment: Any) -> Any:
            # Julian day numbers start at noon: +0.5 and the offset, truncated, is the local
            # day; 2440588 is 1970-01-01's. One function call a row instead of date()+julianday().
            return cast(func.julianday(moment) + (0.5 + seconds / 86400), Integer) - 2440588

        position = func.instr
        listed = func.group_concat
    s = GuidanceSession
    moment_day, scheduled_day = day_of(func.coalesce(s.started_at, s.scheduled_at)), day_of(s.scheduled_at)
    code = ((((moment_day * 64 + position(_MODES, s.mode)) * 32 + position(_EVIDENCES, s.evidence)) * 64
             + position(_STATUSES, s.status)) * 64 + position(_OUTCOMES, func.coalesce(s.outcome, "")))
    base = select().select_from(s).join(Client, Client.id == s.client_id).where(*where, s.status != SessionStatus.cancelled).group_by(Client.id)
    # The outer loop's order (clients by id): no sort on SQLite.
    every = base.add_columns(Client.id, Client.sessions_revision, listed(code), listed(scheduled_day), listed(s.officer_id), listed(s.duration_seconds))
    # Read through ix_session_without_notes: what the counts of sessions without notes need.
    # A literal '', not a parameter, so that the planner sees at once that the partial
    # index applies; and a range on its second column, true of every session, without
    # which SQLite's planner, short of statistics (no ANALYZE yet), takes the narrower
    # ix_session_client_scheduled and reads every table row to test the notes.
    bare = base.where(s.notes == literal_column("''"), s.scheduled_at >= _EVER).add_columns(Client.id, listed(moment_day * 64 + position(_STATUSES, s.status)), listed(scheduled_day), listed(s.officer_id))

    def ints(text: str | None) -> array:
        return array("q", map(int, text.split(","))) if text else _EMPTY

    out: dict[int, Packed] = {}
    for client_id, revision, codes, scheduled, officers, durations in await db.execute(every):
        out[client_id] = Packed(revision, local.key, ints(codes), ints(scheduled), ints(officers), ints(durations), _EMPTY, _EMPTY, _EMPTY)
    for client_id, days_status, scheduled, officers in await db.execute(bare):
        p = out.get(client_id)
        if p is not None:  # else its sessions changed between the two statements: its revision says so next call
            out[client_id] = Packed(p.revision, p.local, p.codes, p.scheduled, p.officers, p.durations, ints(days_status), ints(scheduled), ints(officers))
    return out


async def _read_in_python(db: AsyncSession, local: LocalDays, where: list[Any]) -> dict[int, Packed]:
    """The same, session by session: a zone with daylight saving on SQLite."""
    s = GuidanceSession
    rows = await db.execute(
        select(Client.id, Client.sessions_revision, s.mode, s.evidence, s.status, s.outcome, s.scheduled_at, s.started_at, s.officer_id,
               s.duration_seconds, (s.notes == "").label("without_notes"))
        .join(Client, Client.id == s.client_id).where(*where, s.status != SessionStatus.cancelled).order_by(Client.id)
    )
    columns: dict[int, tuple[int, list[list[int]]]] = {}
    for r in rows:
        c = columns.get(r.id)
        if c is None:
            c = columns[r.id] = (r.sessions_revision, [[] for _ in range(7)])
        lists = c[1]
        day, scheduled = local.day(r.started_at or r.scheduled_at), local.day(r.scheduled_at)
        for values, value in zip(lists, (_code(day, r.mode, r.evidence, r.status, r.outcome), scheduled, r.officer_id, r.duration_seconds or 0)):
            values.append(value)
        if r.without_notes:
            lists[4].append(day * 64 + _STATUSES.index(r.status.value) + 1)
            lists[5].append(scheduled)
            lists[6].append(r.officer_id)
    return {cid: Packed(rev, local.key, *(array("q", values) for values in lists)) for cid, (rev, lists) in columns.items()}


async def read_sessions(db: AsyncSession, local: LocalDays, where: list[Any]) -> dict[int, Packed]:
    """The packed sessions of the clients ``where`` (conditions on Client) selects;
    a client with no session is absent."""
    dialect = db.get_bind().dialect.name
    if dialect == "postgresql" or local.offset is not None:
        return await _read_in_sql(db, dialect, local, where)
    return await _read_in_python(db, local, where)


# Reread client by client when fewer are stale than this, else the office in one pass.
_FEW = 200
# Windows whose derived values are kept (a page and its previous period, a PK's own...).
_WINDOWS = 8


class Digest:
    """The packed sessions of every client read so far through one engine, and
    what the last few windows made of them."""

    def __init__(self) -> None:
        self._packed: dict[int, Packed] = {}
        self._derived: OrderedDict[Hashable, dict[int, tuple[Hashable, Any]]] = OrderedDict()
        self.reads = 0  # clients whose sessions were read from the database (tests count them)

    async def sessions(self, db: AsyncSession, local: LocalDays, office_id: int, clients: Iterable[tuple[int, int]]) -> dict[int, Packed]:
        """``clients``: (id, sessions_revision) as just read. Each client's packed
        sessions at that revision or later, rereading only the stale ones."""
        wanted = dict(clients)
        stale = [cid for cid, rev in wanted.items() if (p := self._packed.get(cid)) is None or p.revision != rev or p.local != local.key]
        if stale:
            if len(stale) > _FEW:
                fresh = await read_sessions(db, local, [Client.office_id == office_id])
            else:
                fresh = await read_sessions(db, local, [Client.office_id == office_id, Client.id.in_(sorted(stale))])
            self.reads += len(fresh)
            for cid in stale:
                # A client with no session has none at the revision read with the client.
                self._packed[cid] = Packed(wanted[cid], local.key, *([_EMPTY] * 7))
            for cid, p in fresh.items():
                if cid in wanted or cid in self._packed:
                    self._packed[cid] = p
        return {cid: self._packed[cid] for cid in wanted}

    def kept(self, window: Hashable) -> dict[int, tuple[Hashable, Any]]:
        """What the caller made of each client's sessions for one window, by client
        id: (stamp, value), the stamp the caller's own (the revision and whatever
        else it read). The last ``_WINDOWS`` windows are kept."""
        per_client = self._derived.get(window)
        if per_client is None:
            per_client = self._derived[window] = {}
            while len(self._derived) > _WINDOWS:
                self._derived.popitem(last=False)
        else:
            self._derived.move_to_end(window)
        return per_client


_digests: "weakref.WeakKeyDictionary[Any, Digest]" = weakref.WeakKeyDictionary()


def digest_for(db: AsyncSession) -> Digest:
    """The digest of the database ``db`` talks to (one per engine)."""
    engine = db.get_bind()
    digest = _digests.get(engine)
    if digest is None:
        digest = _digests[engine] = Digest()
    return digest
