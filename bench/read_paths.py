"""Benchmark: the event loop's CPU for one sign-in check, the read every staff
request and every officer's join makes (issue 24), four ways, on SQLite and
PostgreSQL, interleaved in rounds:

- **ORM session** (the baseline, the way it was read before server/db/reads.py):
  ``select(StaffSession)`` with its staff joined, built at each read, in an
  ``AsyncSession`` of the read pool with the pool's pre-ping;
- **ORM session, built once**: ``server.security.auth.signed_in_staff``, the read
  ``staff_for_token`` runs now, in an ``AsyncSession`` with the pre-ping;
- **plain connection, pre-ping**: that read on a connection (``Reader``) of a
  pool that pings each connection before use;
- **plain connection** (what the server does): ``server.security.auth.staff_for_token``
  itself, on the read pool the app makes (``make_read_engine``: no pre-ping).

Each read is awaited one after another (nothing else on the loop), after a
warm-up; CPU is the process's (``time.process_time``), the database's own not
included. Every way must find the signed-in staff member, or the bench exits 1.

    .venv/bin/python bench/read_paths.py                      # 2,000 reads a way, 3 rounds
    .venv/bin/python bench/read_paths.py --reads 500 --repeat 1 --databases sqlite
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import select  # noqa: E402

from bench.common import bench_parser, drop_database, fresh_database, parse_bench_args, print_table, write_results  # noqa: E402
from server.db.engine import make_engine, make_read_engine, make_sessionmaker  # noqa: E402
from server.db.migrate import upgrade  # noqa: E402
from server.db.models import Office, Role, Staff, StaffSession, utcnow  # noqa: E402
from server.db.reads import Reader  # noqa: E402
from server.keys import db_read_key  # noqa: E402
from server.security import auth  # noqa: E402

WARMUP = 100


async def seeded(url: str) -> str:
    """A migrated database with one signed-in staff member; the cookie's token."""
    engine = make_engine(url)
    try:
        await upgrade(engine)
        token = secrets.token_urlsafe(32)
        async with make_sessionmaker(engine)() as db:
            office = Office(name="Bapas Bench")
            db.add(office)
            await db.flush()
            staff = Staff(office_id=office.id, username="pk_read", name="PK Read", role=Role.pk, password_hash="x")
            db.add(staff)
            await db.flush()
            db.add(StaffSession(staff_id=staff.id, token_hash=hashlib.sha256(token.encode()).hexdigest(), expires_at=utcnow() + timedelta(hours=1)))
            await db.commit()
        return token
    finally:
        await engine.dispose()


def ways(url: str, token: str):
    """(name, engine to dispose, read) for each way; each read returns the staff member or None."""
    hashed = hashlib.sha256(token.encode()).hexdigest()
    # The read pool as it was: pinged before each use on PostgreSQL (SQLite's pool never pinged).
    pinged = make_engine(url, isolation_level="AUTOCOMMIT")
    sessions = make_sessionmaker(pinged)

    async def orm_session():
        async with sessions() as db:
            row = (await db.execute(select(StaffSession).where(StaffSession.token_hash == hashed))).scalar_one_or_none()
            return row.staff if row is not None and row.expires_at > utcnow() and row.staff.active else None

    async def orm_built_once():
        async with sessions() as db:
            return await auth.signed_in_staff(db, token)

    pinged_reader = Reader(pinged)

    async def plain_pinged():
        return await pinged_reader.run(lambda db: auth.signed_in_staff(db, token))

    # The server's own read pool and function, as a request meets them.
    read_engine = make_read_engine(url)
    request = SimpleNamespace(app={db_read_key: Reader(read_engine)})

    async def plain():
        return await auth.staff_for_token(request, token)  # type: ignore[arg-type]

    return [pinged, read_engine], [
        ("ORM session (baseline)", orm_session),
        ("ORM session, built once", orm_built_once),
        ("plain connection, pre-ping", plain_pinged),
        ("plain connection (the server)", plain),
    ]


async def measure(read, reads: int) -> tuple[float, float]:
    for _ in range(WARMUP):
        if await read() is None:
            raise SystemExit("a read did not find the signed-in staff member")
    cpu, wall = time.process_time(), time.perf_counter()
    for _ in range(reads):
        await read()
    return (time.process_time() - cpu) / reads * 1e6, (time.perf_counter() - wall) / reads * 1e6


async def main(reads: int, repeat: int, databases: list[str]) -> int:
    rows = []
    for database in databases:
        with tempfile.TemporaryDirectory(prefix="bimbing-reads-") as workdir:
            url, name = await fresh_database(database, Path(workdir))
            try:
                token = await seeded(url)
                engines, each = ways(url, token)
                try:
                    for round_ in range(1, repeat + 1):
                        for label, read in each:
                            cpu, wall = await measure(read, reads)
                            rows.append([round_, database, label, f"{cpu:.0f}", f"{wall:.0f}"])
                            print(f"  round {round_} {database} {label}: {cpu:.0f} µs CPU, {wall:.0f} µs wall", flush=True)
                finally:
                    for engine in engines:
                        await engine.dispose()
            finally:
                await drop_database(url, name)
    print()
    print_table(["round", "database", "read", "CPU µs per read", "wall µs per read"], rows,
                f"{reads} sign-in checks a way, one after another, after {WARMUP} to warm up; each round runs every way once.")
    return 0


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--databases", default="sqlite,postgres")
    args = parse_bench_args(parser)
    databases = [d.strip() for d in args.databases.split(",") if d.strip()]
    if not 1 <= args.reads <= 1_000_000 or not 1 <= args.repeat <= 20 or not databases or set(databases) - {"sqlite", "postgres"}:
        parser.error("--reads 1..1000000, --repeat 1..20, --databases sqlite and/or postgres")
    code = asyncio.run(main(args.reads, args.repeat, databases))
    write_results("read_paths", "A sign-in check's CPU, four ways", "bench/read_paths.py " + " ".join(sys.argv[1:]))
    sys.exit(code)
