"""Benchmark of the audit trail at national scale (issue 24), on SQLite and
PostgreSQL: entries appended per second in group commits beside plain inserts,
and the time of a full ``verify``, beside reading the same rows.

    .venv/bin/python bench/audit_trail.py                                      # 2,000 appends, 100,000 entries verified
    .venv/bin/python bench/audit_trail.py --appends 20000 --verify-entries 1000000
    .venv/bin/python bench/audit_trail.py --backends sqlite --callers 1,16,64

Appends: ``--callers`` tasks at once, each appending through the real
``AuditLog.record`` (hash chain, a head signed every 100 entries) and waiting
for its entry's commit, as a request handler does, until ``--appends`` entries
are written (a tenth of them for a lone caller, which waits one commit per
entry); then the same tasks insert the same rows one per transaction, no chain
(the plain insert), in the same throwaway database. The trail they built must
then verify intact, with every head.

Verify: ``--verify-entries`` entries stored as the app stores them (chain,
detail as ``ChainJSON`` writes it, a signed head every 100), written in bulk
(``executemany`` on SQLite, ``COPY`` on PostgreSQL); then ``verify`` as
``bimbing audit verify`` runs it, beside a read of the same rows in the same
batches with nothing checked (``server.audit.verify.entry_batches``).
"""

from __future__ import annotations

import asyncio
import hashlib
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
from sqlalchemy import insert  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.audit import drop_database, fresh_database, sqlite_value  # noqa: E402
from bench.common import bench_parser, note, parse_bench_args, percentile, print_table, write_results  # noqa: E402
from server.audit.chain import GENESIS, AuditLog, encode  # noqa: E402
from server.audit.signing import HeadSigner  # noqa: E402
from server.audit.verify import entry_batches, verify  # noqa: E402
from server.db.engine import make_engine, make_sessionmaker  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from server.db.models import AuditEntry, AuditHead, ChainJSON  # noqa: E402
from server.settings import Settings  # noqa: E402

SIGN_EVERY = 100
SEED_CHUNK = 50_000
ENTRY_COLUMNS = ("seq", "at", "actor_id", "actor", "action", "target_type", "target_id", "detail", "prev_hash", "hash")
HEAD_COLUMNS = ("kind", "seq", "hash", "signed_at", "key_id", "signature")
_detail_text = ChainJSON._encode


def detail_of(i: int) -> dict:
    # Varied, as a real trail's are (an address, an id), so no cache could help.
    return {"ip": f"10.{i % 7}.{i // 256 % 256}.{i % 256}", "client_id": i % 5000}


def settings_for(url: str, key: Path) -> Settings:
    return Settings(database_url=url, secret_key="x" * 40, audit_signing_key_path=key)


# --- appends ------------------------------------------------------------------------


async def _callers(callers: int, count: int, append) -> tuple[float, list[float]]:
    """``callers`` tasks calling ``append(i)`` until ``count`` calls are made:
    entries per second and each call's wait (s)."""
    waits: list[float] = []
    issued = 0

    async def caller():
        nonlocal issued
        while issued < count:
            i = issued
            issued += 1
            t0 = time.perf_counter()
            await append(i)
            waits.append(time.perf_counter() - t0)

    t0 = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(callers)))
    return count / (time.perf_counter() - t0), waits


async def append_rates(url: str, key: Path, callers: int, count: int) -> dict:
    engine = make_engine(url)
    try:
        sm = make_sessionmaker(engine)
        log = AuditLog(sm, HeadSigner.load(key, create=True), sign_every=SIGN_EVERY)
        groups_before = log.groups
        chained, waits = await _callers(
            callers, count, lambda i: log.record("record.view", actor="bench", target_type="client", target_id=i % 5000, detail=detail_of(i))
        )
        groups = log.groups - groups_before

        async def plain(i: int) -> None:
            async with sm() as db:
                await db.execute(insert(AuditEntry.__table__), [{
                    "seq": 100_000_000 + i, "at": datetime.now(timezone.utc), "actor": "bench", "action": "record.view",
                    "target_type": "client", "target_id": str(i % 5000), "detail": detail_of(i), "prev_hash": "", "hash": "",
                }])
                await db.commit()

        plain_rate, _ = await _callers(callers, count, plain)
        # Gone before the next measurement: the chain would go on after their seqs.
        async with sm() as db:
            await db.execute(AuditEntry.__table__.delete().where(AuditEntry.seq >= 100_000_000))
            await db.commit()
    finally:
        await engine.dispose()
    return {"chained": chained, "plain": plain_rate, "groups": groups, "p50": percentile(waits, 50), "p99": percentile(waits, 99)}


# --- verification -------------------------------------------------------------------


def trail(m: int, signer: HeadSigner):
    """m entries as the app writes them, and a signed head every SIGN_EVERY."""
    prev = GENESIS
    base = datetime(2025, 1, 1, tzinfo=timezone.utc)
    for seq in range(1, m + 1):
        at = base + timedelta(seconds=seq, microseconds=seq % 1_000_000 or 1)
        detail = detail_of(seq)
        h = hashlib.sha256(encode(seq, at, 10 + seq % 40, f"pk{seq % 40}", "record.view", "client", str(seq % 5000), detail, prev)).hexdigest()
        head = signer.sign("head", seq, h, at) if seq % SIGN_EVERY == 0 else None
        yield (seq, at, 10 + seq % 40, f"pk{seq % 40}", "record.view", "client", str(seq % 5000), _detail_text(detail), prev, h), head
        prev = h


async def seed_trail(url: str, m: int, signer: HeadSigner) -> float:
    started = time.perf_counter()
    entries, heads = [], []

    if url.startswith("sqlite"):
        import sqlite3

        conn = sqlite3.connect(url.split(":///", 1)[1])

        def flush():
            conn.executemany(f"INSERT INTO audit_entry ({','.join(ENTRY_COLUMNS)}) VALUES ({','.join('?' * len(ENTRY_COLUMNS))})", [tuple(sqlite_value(v) for v in r) for r in entries])
            conn.executemany(f"INSERT INTO audit_head ({','.join(HEAD_COLUMNS)}) VALUES ({','.join('?' * len(HEAD_COLUMNS))})", [tuple(sqlite_value(v) for v in r) for r in heads])

        for entry, head in trail(m, signer):
            entries.append(entry)
            if head is not None:
                heads.append((head.kind, head.seq, head.hash, head.signed_at, head.key_id, head.signature))
            if len(entries) == SEED_CHUNK:
                flush()
                entries.clear()
                heads.clear()
        flush()
        conn.commit()
        conn.close()
    else:
        u = make_url(url)
        conn = await asyncpg.connect(user=u.username, host=u.host, port=u.port, database=u.database)
        try:
            async def flush():
                await conn.copy_records_to_table("audit_entry", records=entries, columns=list(ENTRY_COLUMNS))
                await conn.copy_records_to_table("audit_head", records=heads, columns=list(HEAD_COLUMNS))

            for entry, head in trail(m, signer):
                entries.append(entry)
                if head is not None:
                    heads.append((head.kind, head.seq, head.hash, head.signed_at, head.key_id, head.signature))
                if len(entries) == SEED_CHUNK:
                    await flush()
                    entries.clear()
                    heads.clear()
            await flush()
            await conn.execute("ANALYZE audit_entry")
        finally:
            await conn.close()
    return time.perf_counter() - started


async def empty_trail(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(AuditEntry.__table__.delete())
            await conn.execute(AuditHead.__table__.delete())
    finally:
        await engine.dispose()


async def verify_times(url: str, key: Path) -> tuple[float, float, object]:
    """Seconds of a full verify, and of reading the same rows unchecked; the report."""
    engine = make_engine(url)
    try:
        async with make_sessionmaker(engine)() as db:
            t0 = time.perf_counter()
            report = await verify(db, settings_for(url, key))
            full = time.perf_counter() - t0
        async with make_sessionmaker(engine)() as db:
            t0 = time.perf_counter()
            async for _rows in entry_batches(db):
                pass
            read = time.perf_counter() - t0
    finally:
        await engine.dispose()
    return full, read, report


# --- the run ------------------------------------------------------------------------


async def main() -> int:
    """0 when every trail verified intact with every head."""
    parser = bench_parser(__doc__)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--callers", default="1,64", help="comma-separated numbers of callers appending at once")
    parser.add_argument("--appends", type=int, default=2000, help="entries appended per measurement (a tenth for a lone caller)")
    parser.add_argument("--verify-entries", type=int, default=100_000)
    args = parse_bench_args(parser)
    backends = [b for b in args.backends.split(",") if b]
    callers = [int(c) for c in args.callers.split(",") if c]
    workdir = Path(tempfile.mkdtemp(prefix="bimbing-bench-"))
    failures: list[str] = []
    print(f"bench/audit_trail.py — {', '.join(backends)}; callers {callers}; {args.appends:,} appends; {args.verify_entries:,} entries verified\n")

    append_rows, verify_rows = [], []
    for backend in backends:
        key = workdir / f"key-{backend}.pem"
        url, name = await fresh_database(backend, workdir)
        try:
            engine = make_engine(url)
            await upgrade(engine)
            await engine.dispose()
            appended = 0
            for c in callers:
                count = max(args.appends // 10, 10) if c == 1 else args.appends
                r = await append_rates(url, key, c, count)
                appended += count
                append_rows.append([
                    backend, c, f"{count:,}", f"{r['chained']:,.0f}", f"{count / max(r['groups'], 1):.1f}",
                    f"{r['p50'] * 1000:.1f}", f"{r['p99'] * 1000:.1f}", f"{r['plain']:,.0f}",
                ])
                print(f"{backend}, {c} callers: {r['chained']:,.0f} entries/s in group commits, {r['plain']:,.0f} plain inserts/s", flush=True)
            _, _, report = await verify_times(url, key)
            if not (report.ok and report.entries == appended and report.heads_ok == appended // SIGN_EVERY):
                failures.append(f"the {appended:,} entries appended on {backend} did not verify intact with every head: {report.summary()}")

            await empty_trail(url)
            seeded = await seed_trail(url, args.verify_entries, HeadSigner.load(key, create=True))
            full, read, report = await verify_times(url, key)
        finally:
            await drop_database(url, name)
        intact = report.ok and report.entries == args.verify_entries and report.heads_ok == args.verify_entries // SIGN_EVERY
        if not intact:
            failures.append(f"the trail of {args.verify_entries:,} entries on {backend} did not verify intact: {report.summary()}")
        verify_rows.append([
            backend, f"{args.verify_entries:,}", f"{report.heads_ok:,}", f"{full:.2f}", f"{args.verify_entries / full:,.0f}",
            f"{read:.2f}", "yes" if intact else "NO", f"{seeded:.1f}",
        ])
        print(f"{backend}: verify of {args.verify_entries:,} entries {full:.2f} s (reading them {read:.2f} s)\n", flush=True)

    print_table(
        ["database", "callers", "entries", "group commit, entries/s", "entries per commit", "caller waits p50 ms", "p99 ms", "plain insert, entries/s"],
        append_rows,
        caption="Appends: callers at once, each waiting for its entry's commit (chain + a head signed every 100) / the same rows inserted one per transaction, no chain",
    )
    print()
    print_table(
        ["database", "entries", "signed heads verified", "verify s", "entries/s", "reading them only, s", "intact", "seeded in s"],
        verify_rows,
        caption="Verification: the whole trail, streamed (links, hashes, head signatures) / the same rows read in the same batches, unchecked",
    )
    for failure in failures:
        note(f"- FAILED: {failure}")
    write_results("audit_trail", "Audit trail: group-commit appends and streamed verification", "bench/audit_trail.py " + " ".join(sys.argv[1:]))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
