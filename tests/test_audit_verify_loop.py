"""``GET /api/audit/verify`` walks the audit trail off the event loop (issue 24):
the loop that answers every request and relays every call's signaling keeps
answering while a supervisor verifies a long trail, on SQLite and PostgreSQL.

The app runs in this test's own process and loop (aiohttp's test server): the
CPU this process spends on the API's verify, against what the same walk costs
on the loop, shows where it ran; a wall-clock stall bound would measure the
shared machine's load as much as the code."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from datetime import timedelta

from sqlalchemy import insert

from server.audit.chain import _next_link, encode
from server.audit.verify import verify
from server.db.engine import make_engine, make_sessionmaker
from server.db.models import AuditEntry
from tests.clock import utc_now

ENTRIES = 60_000
# PostgreSQL walks the same trail for a third of SQLite's CPU (0.24 s measured on
# the loop at 60,000): there the API's own fixed cost (0.25 s in one CI run) came
# near a third of the walk, so the trail is longer, for the walk to dominate as on SQLite.
PG_ENTRIES = 180_000
CHUNK = 5_000


async def seed_trail(settings, n: int) -> None:
    """``n`` entries chained after whatever the trail holds, as the app links them."""
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            seq, prev = await _next_link(db)
            base = utc_now() - timedelta(days=1)
            rows = []
            for i in range(n):
                at = base + timedelta(milliseconds=i)
                detail = {"note": f"entri {seq}"}
                h = hashlib.sha256(encode(seq, at, None, "system", "record.view", "client", str(seq % 500), detail, prev)).hexdigest()
                rows.append({"seq": seq, "at": at, "actor_id": None, "actor": "system", "action": "record.view",
                             "target_type": "client", "target_id": str(seq % 500), "detail": detail, "prev_hash": prev, "hash": h})
                seq, prev = seq + 1, h
                if len(rows) == CHUNK:
                    await db.execute(insert(AuditEntry.__table__), rows)
                    rows = []
            if rows:
                await db.execute(insert(AuditEntry.__table__), rows)
            await db.commit()
    finally:
        await engine.dispose()


async def walk_started(caplog, verifying: asyncio.Task, timeout: float = 60.0) -> None:
    """Until the server says the verify's walk has left for its process (its log line):
    from then on the verify is under way, and the loop is free to answer."""
    deadline = time.monotonic() + timeout
    while not any(r.name == "server.audit.verify" and "in a process of its own" in r.getMessage() for r in caplog.records):
        assert not verifying.done(), "the verify answered without handing its walk to a process"
        assert time.monotonic() < deadline, f"no verify walk started within {timeout:.0f} s"
        await asyncio.sleep(0.01)


async def test_the_walk_runs_in_no_thread_of_the_server_and_its_loop_keeps_answering(settings, office, client, sign_in, caplog):
    caplog.set_level(logging.INFO, logger="server.audit.verify")
    entries = PG_ENTRIES if settings.database_url.startswith("postgresql") else ENTRIES
    await seed_trail(settings, entries)
    # The reference: the same walk on this loop, as the route did before issue 24.
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            cpu = time.process_time()
            reference = await verify(db, settings)
            on_loop_cpu = time.process_time() - cpu
    finally:
        await engine.dispose()
    assert reference.ok and reference.entries >= entries

    await sign_in(client, "kasie")
    cpu = time.process_time()
    verifying = asyncio.create_task(client.get("/api/audit/verify"))
    await walk_started(caplog, verifying)
    # The loop that serves the verify answers another request while it runs.
    health = await client.get("/healthz")
    answered_meanwhile = not verifying.done()
    assert health.status == 200
    resp = await verifying
    report = await resp.json()
    api_cpu = time.process_time() - cpu
    assert resp.status == 200, report
    assert report["ok"] is True, report["summary"]
    assert report["entries"] >= reference.entries  # and the sign-in since
    # This process (the server and this test) spent a fraction of the walk's CPU:
    # the walk ran elsewhere. On the loop it cost all of it, healthz answers besides.
    assert api_cpu < on_loop_cpu / 3, f"the server spent {api_cpu:.2f} s CPU on a verify whose walk costs {on_loop_cpu:.2f} s"
    assert answered_meanwhile, "no request was answered while the verify ran"
