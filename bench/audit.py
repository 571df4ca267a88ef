"""Benchmark of the supervisor's audit: filtered session-log queries at 10,000,
100,000 and 1,000,000 sessions on SQLite and PostgreSQL (p50/p95, with the
indexes and, beside them, the same query with the session indexes dropped).
The audit trail's appends and ``verify`` are bench/audit_trail.py's.

    .venv/bin/python bench/audit.py                          # 10k and 100k, both databases
    .venv/bin/python bench/audit.py --sizes 10000,100000,1000000
    .venv/bin/python bench/audit.py --backends sqlite --repeat 5

Queries go through the real code (``server.domain.documents.reports.session_log_page``,
which also counts the matching rows), on the real async drivers. Seeding is
bulk: ``executemany`` on SQLite, ``COPY`` on PostgreSQL. Each size gets a fresh
throwaway database; the baseline drops the indexes in it after the indexed run.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import asyncpg  # noqa: E402
from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from bench.common import bench_parser, drop_database, fresh_database, parse_bench_args, print_table, write_results  # noqa: E402
from server.db.engine import make_engine, make_sessionmaker  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from server.db.models import Staff  # noqa: E402
from server.domain.documents import reports  # noqa: E402

TZ = "Asia/Jakarta"
PKS = 40
SESSIONS_PER_CLIENT = 40
SESSION_INDEXES = ("ix_session_client_scheduled", "ix_session_officer_scheduled", "ix_session_office_scheduled", "ix_session_status", "ix_session_office_duration")
MODES = ["video", "video", "video", "office", "office", "home_visit", "mobile"]
NOW = datetime(2026, 11, 1, tzinfo=timezone.utc)


# --- seeding ----------------------------------------------------------------------


def session_rows(n: int, office_id: int, pk_ids: list[int], client_officer: list[tuple[int, int]], rng: random.Random):
    """n sessions spread over three years before NOW, plausible mixes of mode,
    status, outcome, duration and empty notes."""
    span = 3 * 365 * 86400
    for i in range(n):
        client_id, officer_id = client_officer[i % len(client_officer)]
        scheduled = NOW - timedelta(seconds=rng.randrange(span))
        roll = rng.random()
        status = "ended" if roll < 0.90 else "interrupted" if roll < 0.93 else "cancelled" if roll < 0.95 else "scheduled"
        mode = MODES[rng.randrange(len(MODES))]
        held = status in ("ended", "interrupted")
        duration = rng.randint(60, 3600) if held else 0
        outcome = (rng.choice(["attended"] * 8 + ["excused", "no_show"]) if held else None)
        notes = "" if rng.random() < 0.1 else "Klien hadir; membahas pekerjaan dan keluarga."
        yield (
            i + 1, office_id, client_id, officer_id, mode, status, scheduled,
            scheduled if held else None, scheduled + timedelta(seconds=duration) if held else None,
            duration, notes, outcome, "[]", False, "", 1, None, None, scheduled - timedelta(days=2), officer_id,
        )


SESSION_COLUMNS = (
    "id", "office_id", "client_id", "officer_id", "mode", "status", "scheduled_at", "started_at", "ended_at", "duration_seconds",
    "notes", "outcome", "topics", "record", "location", "link_version", "last_heartbeat_at", "notes_updated_at", "created_at", "created_by_id",
)


def sqlite_value(v):
    # The stored form SQLAlchemy uses on SQLite: naive UTC text with microseconds.
    if isinstance(v, datetime):
        return v.astimezone(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f")
    return v


async def seed(url: str, n: int) -> dict:
    engine = make_engine(url)
    await upgrade(engine)
    async with make_sessionmaker(engine)() as db:
        await db.execute(text("INSERT INTO office (id, name, city, timezone, settings, created_at) VALUES (1, 'Bapas Bench', 'Jakarta', :tz, '{}', :now)"), {"tz": TZ, "now": NOW})
        staff_rows = [{"id": 1, "username": "kasie", "role": "supervisor"}] + [{"id": 10 + i, "username": f"pk{i}", "role": "pk"} for i in range(PKS)]
        for s in staff_rows:
            await db.execute(
                text("INSERT INTO staff (id, office_id, username, name, role, password_hash, active, created_at) VALUES (:id, 1, :username, :username, :role, 'x', true, :now)"),
                {**s, "now": NOW},
            )
        clients = max(n // SESSIONS_PER_CLIENT, 1)
        for c in range(clients):
            await db.execute(
                text(
                    "INSERT INTO client (id, office_id, officer_id, register_number, name, category, program, supervision_start, supervision_end, "
                    "reporting_interval_days, kelurahan, phone, employment, created_at) VALUES (:id, 1, :officer, :reg, :name, 'adult', 'PB', :start, :end, 14, 'Cakung Barat', '', '', :now)"
                ),
                {"id": c + 1, "officer": 10 + c % PKS, "reg": f"REG-{c}", "name": f"Klien {c}", "start": date(2023, 1, 1), "end": date(2027, 12, 31), "now": NOW},
            )
        await db.commit()
    await engine.dispose()
    client_officer = [(c + 1, 10 + c % PKS) for c in range(clients)]
    rows = session_rows(n, 1, [10 + i for i in range(PKS)], client_officer, random.Random(n))
    started = time.perf_counter()
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split(":///", 1)[1])
        marks = ",".join("?" * len(SESSION_COLUMNS))
        batch = []
        for row in rows:
            batch.append(tuple(sqlite_value(v) for v in row))
            if len(batch) == 50_000:
                conn.executemany(f"INSERT INTO guidance_session ({','.join(SESSION_COLUMNS)}) VALUES ({marks})", batch)
                batch.clear()
        conn.executemany(f"INSERT INTO guidance_session ({','.join(SESSION_COLUMNS)}) VALUES ({marks})", batch)
        conn.commit()
        conn.execute("ANALYZE")
        conn.close()
    else:
        u = make_url(url)
        conn = await asyncpg.connect(user=u.username, host=u.host, port=u.port, database=u.database)
        try:
            await conn.copy_records_to_table("guidance_session", records=list(rows), columns=list(SESSION_COLUMNS))
            await conn.execute("SELECT setval(pg_get_serial_sequence('guidance_session', 'id'), (SELECT max(id) FROM guidance_session))")
            await conn.execute("ANALYZE")
        finally:
            await conn.close()
    return {"clients": clients, "seed_seconds": time.perf_counter() - started}


# --- the queries ------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = (len(values) - 1) * p
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


async def query_plan(url: str, n: int, clients: int) -> list[tuple[str, dict]]:
    """The filters a supervisor uses, and two ways to reach a page deep in the log."""
    last_month = (date(2026, 10, 1), date(2026, 10, 31))
    deep_page = max(int(n * 0.9) // 50, 1)
    engine = make_engine(url)
    async with make_sessionmaker(engine)() as db:
        kasie = await db.get(Staff, 1)
        deep = (await db.execute(reports._order(reports.log_query(kasie, reports.SessionFilter(), TZ), reports.DEFAULT_SORT).offset(deep_page * 50 - 1).limit(1))).first()
        cursor = reports.encode_cursor(reports.DEFAULT_SORT, deep) if deep else None
    await engine.dispose()
    return [
        ("office, newest first", {}),
        ("one PK", {"f": reports.SessionFilter(officer_id=10 + 7)}),
        ("one client", {"f": reports.SessionFilter(client_id=clients // 2 + 1)}),
        ("video, last month", {"f": reports.SessionFilter(mode=reports.SessionMode.video, date_from=last_month[0], date_to=last_month[1])}),
        ("PK + month + no-show", {"f": reports.SessionFilter(officer_id=10 + 3, outcome="no_show", date_from=last_month[0], date_to=last_month[1])}),
        ("interrupted", {"f": reports.SessionFilter(status=reports.SessionStatus.interrupted)}),
        ("shortest first", {"f": reports.SessionFilter(sort="duration")}),
        (f"page {deep_page} by offset", {"page": deep_page}),
        (f"page {deep_page} by keyset", {"after": cursor}),
    ]


async def time_queries(url: str, plan, repeat: int) -> dict[str, tuple[float, float, int]]:
    engine = make_engine(url)
    out = {}
    try:
        async with make_sessionmaker(engine)() as db:
            kasie = await db.get(Staff, 1)
            for name, args in plan:
                f = args.get("f", reports.SessionFilter())
                samples = []
                rows = 0
                for i in range(repeat + 1):
                    t0 = time.perf_counter()
                    page = await reports.session_log_page(db, kasie, f, TZ, page=args.get("page", 1), per_page=50, after=args.get("after"))
                    if i:  # the first run warms the caches
                        samples.append((time.perf_counter() - t0) * 1000)
                    rows = page.total
                out[name] = (percentile(samples, 0.5), percentile(samples, 0.95), rows)
    finally:
        await engine.dispose()
    return out


async def drop_indexes(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as conn:
            for name in SESSION_INDEXES:
                await conn.execute(text(f"DROP INDEX IF EXISTS {name}"))
            await conn.execute(text("ANALYZE"))
    finally:
        await engine.dispose()


# --- the run --------------------------------------------------------------------------


async def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated session counts (add 1000000 for the full run)")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--repeat", type=int, default=9, help="timed runs per query (after one warm-up)")
    args = parse_bench_args(parser)
    sizes = [int(s) for s in args.sizes.split(",") if s]
    backends = [b for b in args.backends.split(",") if b]
    workdir = Path(tempfile.mkdtemp(prefix="bimbing-bench-"))
    print(f"bench/audit.py — {', '.join(backends)}; sizes {sizes}; {args.repeat} runs per query; times in ms (p50 / p95)\n")

    for backend in backends:
        for n in sizes:
            url, name = await fresh_database(backend, workdir)
            try:
                info = await seed(url, n)
                plan = await query_plan(url, n, info["clients"])
                indexed = await time_queries(url, plan, args.repeat)
                await drop_indexes(url)
                baseline = await time_queries(url, plan, max(3, args.repeat // 3))
            finally:
                await drop_database(url, name)
            caption = f"{backend}, {n:,} sessions ({info['clients']:,} clients, {PKS} PKs; seeded in {info['seed_seconds']:.1f} s); ms"
            print(f"## {caption}")
            table = []
            for q, (p50, p95, rows) in indexed.items():
                b50, b95, _ = baseline[q]
                table.append([q, f"{rows:,}" if rows is not None else "(no count)", f"{p50:.1f}", f"{p95:.1f}", f"{b50:.1f}", f"{b95:.1f}"])
            print_table(["query", "rows", "indexed p50", "p95", "no index p50", "p95"], table, caption=caption)
            print(flush=True)

    write_results("audit", "Audit queries", "bench/audit.py " + " ".join(sys.argv[1:]))
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
