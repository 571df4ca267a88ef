"""Benchmark of the evaluation for the head of office: an office of 2,000
clients and 100,000 sessions over 12 months (plus the year before, which the
change against the previous period reads), on SQLite and PostgreSQL.

    .venv/bin/python bench/evaluation.py                         # both databases, 20 runs each
    .venv/bin/python bench/evaluation.py --backends sqlite --repeat 50
    .venv/bin/python bench/evaluation.py --clients 2000 --sessions 100000 --out bench/evaluation.md

It times the real call (``server.domain.documents.evaluation.evaluate``: every query and
the computation, as ``GET /api/reports/evaluation`` runs it, less the JSON
encoding) and, beside it, the same SQL statements run bare: captured from that
call with SQLAlchemy's ``before_cursor_execute`` event and replayed on the same
driver, fetching every row and doing nothing with them. The difference is the
work done in Python. Two calls are timed in each run: a process's first (a new
engine, so an empty session digest, server/domain/record/session_digest.py: every
session is read, as every call did before the digest), then, after a write
(one session's duration changes), the next, which rereads only that session's
client. It prints the figures and the time of each statement bare, and writes
them to ``bench/results/evaluation.md`` (and ``--out``).
Seeding is bulk (``executemany`` on SQLite, ``COPY`` on PostgreSQL) into a
throwaway database.
"""

from __future__ import annotations

import asyncio
import random
import sqlite3
import sys
import tempfile
import time
from datetime import date, datetime, timedelta, timezone
from datetime import time as dtime
from pathlib import Path
from zoneinfo import ZoneInfo

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import asyncpg  # noqa: E402
from audit import drop_database, fresh_database, sqlite_value  # noqa: E402
from common import bench_parser, machine, parse_bench_args, percentile, print_table, write_results  # noqa: E402
from sqlalchemy import event, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from server.db.engine import make_engine, make_sessionmaker  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from server.db.models import Staff  # noqa: E402
from server.domain.documents.evaluation import evaluate  # noqa: E402
from server.domain.documents.evaluation_figures import EvaluationFilter  # noqa: E402

TZ = "Asia/Jakarta"
WIB = ZoneInfo(TZ)
PKS = 40
FROM, TO = date(2025, 12, 1), date(2026, 11, 30)
TODAY = date(2026, 12, 2)
MODES = ["video", "video", "video", "office", "office", "home_visit", "mobile"]
KENDALA_KINDS = ["work_shift", "transport_cost", "illness", "family", "other"]
AREAS = {
    "Jakarta Timur": {"Cakung": ["Cakung Barat", "Cakung Timur", "Pulo Gebang", "Jatinegara", "Penggilingan", "Rawa Terate", "Ujung Menteng"],
                      "Duren Sawit": ["Klender", "Pondok Bambu", "Duren Sawit", "Pondok Kelapa", "Malaka Jaya", "Malaka Sari", "Pondok Kopi"]},
    "Jakarta Utara": {"Koja": ["Koja", "Tugu Utara", "Tugu Selatan", "Lagoa", "Rawa Badak Utara", "Rawa Badak Selatan"],
                      "Cilincing": ["Cilincing", "Kalibaru", "Marunda", "Semper Barat", "Semper Timur", "Sukapura", "Rorotan"]},
    "Kepulauan Seribu": {"Kepulauan Seribu Utara": ["Pulau Panggang", "Pulau Kelapa", "Pulau Harapan"],
                         "Kepulauan Seribu Selatan": ["Pulau Tidung", "Pulau Pari", "Pulau Untung Jawa"]},
}
SESSION_COLUMNS = (
    "id", "office_id", "client_id", "officer_id", "mode", "evidence", "status", "scheduled_at", "started_at", "ended_at", "duration_seconds",
    "notes", "outcome", "topics", "record", "location", "link_version", "created_at",
)


def session_rows(n: int, clients: list[tuple[int, int]], rng: random.Random):
    """n sessions over the two years before TODAY (the range and the year
    before it), weighted to the last 12 months (about n in them)."""
    start = datetime.combine(FROM - timedelta(days=365), dtime(0), WIB)
    for i in range(n):
        client_id, officer_id = clients[i % len(clients)]
        # 80% in the range, 20% in the year before it.
        days = rng.randrange(365, 730) if rng.random() < 0.8 else rng.randrange(0, 365)
        scheduled = start + timedelta(days=days, hours=rng.randrange(8, 16), minutes=rng.randrange(60))
        roll = rng.random()
        status = "ended" if roll < 0.90 else "interrupted" if roll < 0.93 else "cancelled" if roll < 0.95 else "scheduled"
        mode = MODES[rng.randrange(len(MODES))]
        held = status in ("ended", "interrupted")
        duration = rng.randint(60, 3600) if held else 0
        outcome = rng.choice(["attended"] * 8 + ["excused", "no_show"]) if held else None
        evidence = "observed" if mode == "video" else ("roll_call" if mode == "mobile" and rng.random() < 0.5 else "reported")
        yield (
            i + 1, 1, client_id, officer_id, mode, evidence, status, scheduled, scheduled if held else None,
            scheduled + timedelta(seconds=duration) if held else None, duration,
            "" if rng.random() < 0.1 else "Klien hadir; membahas pekerjaan dan keluarga.", outcome, "[]", False, "", 1, scheduled,
        )


async def seed(url: str, n_clients: int, n_sessions: int) -> float:
    rng = random.Random(2026)
    engine = make_engine(url)
    await upgrade(engine)
    now = datetime(2026, 12, 1, tzinfo=timezone.utc)
    kelurahan = []
    async with make_sessionmaker(engine)() as db:
        await db.execute(text("INSERT INTO office (id, name, city, timezone, settings, created_at) VALUES (1, 'Bapas Bench', 'Jakarta', :tz, '{}', :now)"), {"tz": TZ, "now": now})
        await db.execute(text("INSERT INTO staff (id, office_id, username, name, role, password_hash, active, created_at, nip) VALUES (1, 1, 'kasie', 'Kasie', 'supervisor', 'x', true, :now, '')"), {"now": now})
        for i in range(PKS):
            await db.execute(text("INSERT INTO staff (id, office_id, username, name, role, password_hash, active, created_at, nip) VALUES (:id, 1, :u, :u, 'pk', 'x', true, :now, '')"), {"id": 10 + i, "u": f"pk{i}", "now": now})
        area_id = 0
        for city, kecs in AREAS.items():
            area_id += 1
            city_id = area_id
            await db.execute(text("INSERT INTO area (id, office_id, parent_id, level, name) VALUES (:id, 1, NULL, 'city', :n)"), {"id": city_id, "n": city})
            for kec, kels in kecs.items():
                area_id += 1
                kec_id = area_id
                await db.execute(text("INSERT INTO area (id, office_id, parent_id, level, name) VALUES (:id, 1, :p, 'kecamatan', :n)"), {"id": kec_id, "p": city_id, "n": kec})
                for kel in kels:
                    area_id += 1
                    await db.execute(text("INSERT INTO area (id, office_id, parent_id, level, name) VALUES (:id, 1, :p, 'kelurahan', :n)"), {"id": area_id, "p": kec_id, "n": kel})
                    kelurahan.append(kel)
        clients = []
        for c in range(n_clients):
            start = FROM - timedelta(days=rng.randrange(0, 540))
            await db.execute(
                text("INSERT INTO client (id, office_id, officer_id, register_number, name, category, program, supervision_start, supervision_end, "
                     "reporting_interval_days, kelurahan, phone, employment, created_at) VALUES (:id, 1, :o, :r, :n, :cat, :prog, :s, :e, :iv, :k, '', '', :now)"),
                {"id": c + 1, "o": 10 + c % PKS, "r": f"REG-{c}", "n": f"Klien {c}", "cat": "child" if c % 9 == 0 else "adult",
                 "prog": ["PB", "CB", "CMB", "Asimilasi"][c % 4], "s": start, "e": start + timedelta(days=rng.randrange(300, 1100)),
                 "iv": rng.choice([7, 14, 14, 30]), "k": rng.choice(kelurahan), "now": now},
            )
            clients.append((c + 1, 10 + c % PKS))
        for k in range(n_clients // 2):
            created = datetime.combine(FROM + timedelta(days=rng.randrange(0, 365)), dtime(9), WIB)
            await db.execute(
                text("INSERT INTO kendala (client_id, kind, message, status, device, created_at, reply) VALUES (:c, :k, 'x', :s, '', :at, '')"),
                {"c": rng.randrange(1, n_clients + 1), "k": rng.choice(KENDALA_KINDS), "s": rng.choice(["open", "accepted", "declined"]), "at": created},
            )
        await db.commit()
    await engine.dispose()
    rows = session_rows(n_sessions, clients, rng)
    started = time.perf_counter()
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.split(":///", 1)[1])
        marks = ",".join("?" * len(SESSION_COLUMNS))
        conn.executemany(f"INSERT INTO guidance_session ({','.join(SESSION_COLUMNS)}) VALUES ({marks})", (tuple(sqlite_value(v) for v in r) for r in rows))
        conn.commit()
        conn.execute("ANALYZE")
        conn.close()
    else:
        u = make_url(url)
        conn = await asyncpg.connect(user=u.username, host=u.host, port=u.port, database=u.database)
        try:
            await conn.copy_records_to_table("guidance_session", records=list(rows), columns=list(SESSION_COLUMNS))
            # What autovacuum does to a table at rest: statistics, and the visibility map
            # that lets PostgreSQL answer from an index alone.
            await conn.execute("VACUUM ANALYZE")
        finally:
            await conn.close()
    return time.perf_counter() - started


async def replay(engine, captured: list[tuple[str, object]]) -> tuple[float, list[tuple[float, int]]]:
    """The statements of one call run bare on the same driver: every row fetched,
    nothing done with them. Total seconds, and (seconds, rows) per statement."""
    each = []
    async with engine.connect() as conn:
        t0 = time.perf_counter()
        for statement, parameters in captured:
            s0 = time.perf_counter()
            result = await conn.exec_driver_sql(statement, parameters)
            rows = len(result.fetchall()) if result.returns_rows else 0
            each.append((time.perf_counter() - s0, rows))
        return time.perf_counter() - t0, each


async def timed_call(engine, maker, f: EvaluationFilter) -> tuple[float, list[tuple[str, object]]]:
    """One evaluation call as the API runs it, and the statements it ran."""
    captured: list[tuple[str, object]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        captured.append((statement, parameters))

    async with maker() as db:
        kasie = await db.scalar(select(Staff).where(Staff.id == 1))
        event.listen(engine.sync_engine, "before_cursor_execute", capture)
        try:
            t0 = time.perf_counter()
            await evaluate(db, kasie, f, TZ, TODAY)
            return time.perf_counter() - t0, captured
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", capture)


async def measure(url: str, repeat: int) -> dict[str, list]:
    """``first``: a process's first call (an engine, so a digest, of its own: every
    session read, as every call read them before the digest); ``call``: a call after
    a write, in a process that made one call before (the digest rereads the client
    the write changed)."""
    f = EvaluationFilter(FROM, TO)
    first, first_bare, call, bare = [], [], [], []
    first_statements: list = []
    statements: list = []
    for i in range(repeat):
        engine = make_engine(url)
        maker = make_sessionmaker(engine)
        try:
            seconds, captured = await timed_call(engine, maker, f)
            first.append(seconds)
            total, each = await replay(engine, captured)
            first_bare.append(total)
            first_statements.append((captured, each))
            # a write: one session's duration changes, so one client's sessions are read again
            async with maker() as db:
                await db.execute(text("UPDATE guidance_session SET duration_seconds = duration_seconds + 1 WHERE id = :id"), {"id": i + 1})
                await db.commit()
            seconds, captured = await timed_call(engine, maker, f)
            call.append(seconds)
            total, each = await replay(engine, captured)
            bare.append(total)
            statements.append((captured, each))
        finally:
            await engine.dispose()
    print(f"  {len(first_statements[0][0])} statements in a first call, {len(statements[0][0])} in a call after a write")

    def per_statement(runs: list) -> list[tuple[str, int, list[float]]]:
        out = []
        for n, (statement, _) in enumerate(runs[0][0]):
            out.append((" ".join(statement.split())[:90], runs[-1][1][n][1], [each[n][0] for _, each in runs]))
        return out

    return {"first": first, "first_bare": first_bare, "call": call, "bare": bare,
            "first_statements": per_statement(first_statements), "statements": per_statement(statements)}


def table(results: dict[str, dict[str, list]], args) -> str:
    caption = (f"Evaluation of {args.clients:,} clients and {args.sessions:,} sessions, {FROM:%Y-%m}..{TO:%Y-%m} (and the 12 months before), "
               f"{args.repeat} runs; ms. A first call reads every session (a new process; before the session digest every call did); "
               f"a call after a write rereads the one client whose session changed")
    rows = []

    def ms(values: list[float], q: int) -> str:
        return f"{percentile(values, q) * 1000:.0f}"

    for backend, r in results.items():
        rows.append([backend, ms(r["first"], 50), ms(r["first"], 95), ms(r["first_bare"], 50), ms(r["call"], 50), ms(r["call"], 95),
                     ms(r["bare"], 50), ms(r["bare"], 95), "< 300"])
    headers = ["database", "first call p50", "p95", "its queries bare p50", "call after a write p50", "p95",
               "its queries bare p50", "p95", "goal p95"]
    print_table(headers, rows, caption)
    for backend, r in results.items():
        for key, what in (("first_statements", "a first call"), ("statements", "a call after a write")):
            print_table(["statement (bare, as replayed)", "rows", "p50 ms", "p95 ms"],
                        [[f"`{text_}`", n, f"{percentile(t, 50) * 1000:.1f}", f"{percentile(t, 95) * 1000:.1f}"] for text_, n, t in r[key]],
                        f"{backend}: each statement of {what}, bare")
    lines = [caption, "", "| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    lines += ["", machine()]
    return "\n".join(lines)


async def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--clients", type=int, default=2000)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--out", type=Path, default=None, help="write the markdown table here too")
    args = parse_bench_args(parser)
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for backend in args.backends.split(","):
            url, name = await fresh_database(backend, Path(tmp))
            try:
                seconds = await seed(url, args.clients, args.sessions)
                print(f"{backend}: seeded {args.sessions:,} sessions in {seconds:.1f} s")
                results["SQLite" if backend == "sqlite" else "PostgreSQL"] = await measure(url, args.repeat)
            finally:
                await drop_database(url, name)
    out = table(results, args)
    write_results("evaluation", "The evaluation for the head of office", "bench/evaluation.py " + " ".join(sys.argv[1:]))
    if args.out:
        args.out.write_text(out + "\n", encoding="utf-8")


if __name__ == "__main__":
    asyncio.run(main())
