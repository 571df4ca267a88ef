"""Re-walking the whole audit trail (``bimbing audit verify``, ``GET /api/audit/verify``).

One streamed pass over the entries in ``seq`` order checks every link and
every hash, and collects the hashes at the seqs of the signed heads; then each
head's signature is checked against the public key and its hash against the
chain. The first problem (lowest seq) is what gets named.

The pass reads the rows in batches straight from the driver (aiosqlite's
``fetchmany``, an asyncpg cursor), with constant memory: through SQLAlchemy's
async result every row cost a greenlet switch, and with its JSON and date
processing that was most of the 20 s that 100,000 entries took (cProfile,
bench/README.md "audit_trail.py").

``GET /api/audit/verify`` runs it with :func:`verify_off_loop`: past
``ON_LOOP_ENTRIES`` in a process of its own (spawned for the one verify, with
its own connection), so the walk's CPU (a million entries take seconds) never
holds the loop that relays every call's signaling. A thread was not enough: the walk, aiosqlite's thread and
the loop contend for one interpreter lock, and the loop stood still 100-270 ms
at a time during a verify of 60,000 entries (tests/test_audit_verify_loop.py).
The walk also yields every ``YIELD_EVERY`` entries, for a caller that runs it
on its loop (the CLI, a short trail, or an in-memory SQLite database that
another process would not see).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import AsyncIterator

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.chain import GENESIS, Break, ChainWalker
from server.audit.signing import CHECKPOINT, load_public_keys, signature_ok
from server.db.engine import make_engine, make_sessionmaker
from server.db.models import AuditEntry, AuditHead
from server.settings import Settings

log = logging.getLogger(__name__)

_NAMES = ("id", "seq", "at", "actor_id", "actor", "action", "target_type", "target_id", "detail", "prev_hash", "hash")
_COLUMNS = [getattr(AuditEntry, name) for name in _NAMES]
_SQL = f"SELECT {', '.join(_NAMES)} FROM audit_entry ORDER BY seq"
# On PostgreSQL the server writes ``at`` as the chain encodes it (UTC, microseconds,
# Z), cheaper there than in Python, and detail is the text stored (asyncpg would
# decode json into a dict): see chain.stored_matches.
_PG_SQL = _SQL.replace(" at,", """ to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),""").replace(" detail,", " detail::text,")
BATCH = 5000
YIELD_EVERY = 200
# Up to this many entries (about a quarter second of walking, in slices of a few
# ms) ``verify_off_loop`` walks on the loop: a spawned process costs more to start.
ON_LOOP_ENTRIES = 10_000


@dataclass
class VerifyReport:
    entries: int
    first_break: Break | None
    last_seq: int = 0
    start_seq: int = 1
    heads_total: int = 0
    heads_ok: int = 0
    heads_unchecked: int = 0
    last_signed_seq: int | None = None
    key_ids: list[str] = field(default_factory=list)
    head_problems: list[Break] = field(default_factory=list)
    checkpoint: dict | None = None

    @property
    def first_problem(self) -> Break | None:
        problems = ([self.first_break] if self.first_break else []) + self.head_problems
        return min(problems, key=lambda b: b.seq) if problems else None

    @property
    def ok(self) -> bool:
        return self.first_problem is None

    @property
    def heads_status(self) -> str:
        if self.head_problems:
            return "broken"
        if self.heads_total == 0:
            return "none"
        if self.heads_unchecked:
            return "unchecked"
        return "ok"

    @property
    def unsigned_tail(self) -> int:
        return max(self.last_seq - (self.last_signed_seq or (self.start_seq - 1)), 0)

    def summary(self) -> str:
        lines = []
        if self.ok:
            lines.append(f"Audit trail intact: {self.entries} entries (seq {self.start_seq}..{self.last_seq}).")
        else:
            b = self.first_problem
            ident = f" (id={b.entry_id})" if b.entry_id is not None else ""
            lines.append(f"Audit trail BROKEN at entry seq={b.seq}{ident}: {b.reason}.")
            if self.first_break and self.first_break is not b:
                lines.append(f"  chain: first break at seq={self.first_break.seq}: {self.first_break.reason}.")
            for p in self.head_problems:
                if p is not b:
                    lines.append(f"  signed head at seq={p.seq}: {p.reason}.")
        lines.append(
            f"Signed heads: {self.heads_status}; {self.heads_ok} of {self.heads_total} verified"
            + (f", {self.heads_unchecked} not checkable (no public key)" if self.heads_unchecked else "")
            + (f"; last signed seq={self.last_signed_seq}, {self.unsigned_tail} entries after it unsigned" if self.last_signed_seq else "")
            + "."
        )
        if self.checkpoint:
            lines.append(f"Retention checkpoint: entries up to seq={self.checkpoint['seq']} removed; signature {self.checkpoint['signature']}.")
        return "\n".join(lines)

    def as_dict(self) -> dict:
        def brk(b: Break | None):
            return None if b is None else {"seq": b.seq, "id": b.entry_id, "reason": b.reason}

        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_seq": self.start_seq,
            "last_seq": self.last_seq,
            "first_broken": brk(self.first_problem),
            "chain_break": brk(self.first_break),
            "signed_heads": {
                "status": self.heads_status,
                "total": self.heads_total,
                "verified": self.heads_ok,
                "unchecked": self.heads_unchecked,
                "last_signed_seq": self.last_signed_seq,
                "unsigned_tail": self.unsigned_tail,
                "key_ids": self.key_ids,
                "problems": [brk(p) for p in self.head_problems],
            },
            "checkpoint": self.checkpoint,
            "summary": self.summary(),
        }


async def verify(db: AsyncSession, settings: Settings | None = None) -> VerifyReport:
    keys = load_public_keys(settings) if settings is not None else {}
    heads = list((await db.execute(select(AuditHead).order_by(AuditHead.seq, AuditHead.id))).scalars())
    checkpoints = [h for h in heads if h.kind == CHECKPOINT]
    signed = [h for h in heads if h.kind != CHECKPOINT]
    problems: list[Break] = []

    # The newest checkpoint is the genesis of what remains; it must carry a valid signature.
    start_seq, start_hash, checkpoint_info = 1, GENESIS, None
    if checkpoints:
        cp = checkpoints[-1]
        status = signature_ok(cp, keys)
        checkpoint_info = {"seq": cp.seq, "hash": cp.hash, "key_id": cp.key_id, "signature": {True: "valid", False: "INVALID", None: "not checkable"}[status]}
        if status is False:
            problems.append(Break(cp.seq + 1, None, "the retention checkpoint's signature does not verify (checkpoint edited)"))
        start_seq, start_hash = cp.seq + 1, cp.hash

    live_heads = [h for h in signed if h.seq >= start_seq]
    walker = ChainWalker(start_seq, start_hash, watch={h.seq for h in live_heads})
    feed = walker.feed_values
    async for rows in entry_batches(db):
        for start in range(0, len(rows), YIELD_EVERY):
            for row in rows[start:start + YIELD_EVERY]:
                feed(*row)
            await asyncio.sleep(0)

    report = VerifyReport(walker.count, walker.first_break, last_seq=walker.last_seq, start_seq=start_seq, checkpoint=checkpoint_info)
    report.key_ids = sorted(keys)
    report.heads_total = len(live_heads)
    for head in live_heads:
        status = signature_ok(head, keys)
        if status is None:
            if keys:
                problems.append(Break(head.seq, None, f"signed head carries an unknown key id {head.key_id!r} (head edited or key missing)"))
            else:
                report.heads_unchecked += 1
            continue
        if status is False:
            problems.append(Break(head.seq, None, "signed head's signature does not verify (head edited)"))
            continue
        seen = walker.seen.get(head.seq)
        if seen is None:
            problems.append(Break(head.seq, None, f"entry {head.seq} was signed but is gone (entries removed or the tail truncated)"))
        elif seen != head.hash:
            problems.append(Break(head.seq, None, "entry does not match the hash in its signed head (edited or replaced)"))
        else:
            report.heads_ok += 1
            report.last_signed_seq = max(report.last_signed_seq or 0, head.seq)
    report.head_problems = sorted(problems, key=lambda b: b.seq)
    return report


async def entry_batches(db: AsyncSession) -> AsyncIterator[list[tuple]]:
    """Every entry in ``seq`` order as tuples of ``_NAMES``, ``BATCH`` at a time;
    ``detail`` is the stored JSON text and ``at`` the chain's text of it.

    The next batch is already being fetched while the caller walks this one
    (aiosqlite's thread, or PostgreSQL's process, works beside the walk)."""
    conn = await db.connection()
    dialect = conn.dialect.name
    driver = (await conn.get_raw_connection()).driver_connection
    if dialect == "sqlite":
        cursor = await driver.execute(_SQL)
        try:
            async for rows in _ahead(lambda: cursor.fetchmany(BATCH)):
                yield [(r[0], r[1], _sqlite_at(r[2]), *r[3:]) for r in rows]
        finally:
            await cursor.close()
    elif dialect == "postgresql":
        # An asyncpg cursor lives in a transaction: the session's, opened if need be.
        if not driver.is_in_transaction():
            await conn.execute(select(1))
        cursor = await driver.cursor(_PG_SQL)
        async for rows in _ahead(lambda: cursor.fetch(BATCH)):
            yield rows
    else:
        result = await db.stream(select(*_COLUMNS).order_by(AuditEntry.seq).execution_options(yield_per=BATCH))
        async for part in result.partitions():
            yield part


async def _ahead(fetch) -> AsyncIterator[list]:
    """The batches ``fetch()`` returns until an empty one, each asked for before
    the one before it is handed on."""
    pending = asyncio.ensure_future(fetch())
    try:
        while rows := await pending:
            pending = asyncio.ensure_future(fetch())
            yield rows
    finally:
        # Left early: let the fetch under way finish, so that the connection stays usable.
        if not pending.done():
            await asyncio.wait([pending])
        elif not pending.cancelled():
            pending.exception()  # retrieved, so an error after an error is not logged as lost


def _sqlite_at(stored) -> str | datetime:
    """SQLite keeps ``at`` as naive UTC text, ``2026-11-02 02:00:00.123456``: the
    chain's text is the same digits with ``T`` and ``Z``. Any other shape (not
    written by the app) is parsed, as SQLAlchemy would; text that is no time at
    all is left as it is, and its entry fails its hash (edited)."""
    if type(stored) is str and len(stored) == 26 and stored[10] == " " and stored[19] == ".":
        return f"{stored[:10]}T{stored[11:]}Z"
    try:
        at = datetime.fromisoformat(stored)
    except (TypeError, ValueError):
        return stored
    return at.replace(tzinfo=timezone.utc) if at.tzinfo is None else at


async def verify_off_loop(settings: Settings, db: AsyncSession) -> VerifyReport:
    """``verify`` in a child process with its own loop and engine (its own
    connection), awaited here without holding this loop. ``db`` is used, on
    this loop, only for an in-memory SQLite database, which only the app's own
    connection sees."""
    url = settings.database_url
    if url.startswith("sqlite") and url.split(":///", 1)[-1] in ("", ":memory:"):
        return await verify(db, settings)
    # A short trail is walked here, yielding every YIELD_EVERY entries (a few ms each):
    # a process of its own costs a second or more of CPU to start, more than the walk.
    low, high = (await db.execute(select(func.min(AuditEntry.seq), func.max(AuditEntry.seq)))).one()
    if high is None or high - low < ON_LOOP_ENTRIES:
        return await verify(db, settings)
    # Said as the walk leaves: an operator sees why a process appeared (and a test
    # sees the verify under way, tests/test_audit_verify_loop.py).
    log.info("audit verify: %d entries, walked in a process of its own", high - low + 1)
    # Spawned, not forked: a fork would copy this process's loop, threads and sockets.
    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    try:
        return await asyncio.get_running_loop().run_in_executor(pool, _verify_in_child, settings)
    finally:
        pool.shutdown(wait=False, cancel_futures=True)


def _verify_in_child(settings: Settings) -> VerifyReport:
    return asyncio.run(verify_database(settings))


async def verify_database(settings: Settings) -> VerifyReport:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            return await verify(db, settings)
    finally:
        await engine.dispose()
