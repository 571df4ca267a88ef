"""A session read while its call writes it: every answer is one moment of the
record. A call closes a connected interval in one commit (the ``disconnected``
event with its seconds, and the session's duration, always the log's intervals
summed and rounded: server/domain/calls/intervals.py). A supervisor's view read
in two statements could fall between the two halves of such a commit: a CI run
showed the new event beside the duration from before it (0 s where the interval
said 0.527). Through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio

from sqlalchemy.orm import joinedload

from server.db.models import GuidanceSession, SessionMode, SessionStatus
from server.domain.calls.intervals import CLOSERS, count_interval
from server.domain.record.sessions import add_event
from tests.audit_support import add_session
from tests.foundation import database

# Intervals the call closes while the view reads: on the old two-statement read,
# 14 and 17 of the reads beside them were torn (SQLite, PostgreSQL; measured).
INTERVALS = 150


async def _call_closing_intervals(database_url: str, session_id: int, done: asyncio.Event) -> None:
    """What the call log does on each drop and return, one commit each: an
    interval opened, then closed with its seconds and the duration summed."""
    try:
        async with database(database_url) as db:
            for n in range(INTERVALS):
                session = await db.get(GuidanceSession, session_id, options=(joinedload(GuidanceSession.events),), populate_existing=True)
                add_event(db, session, "reconnected")
                await db.commit()
                seconds = count_interval(session, 0.4 + (n % 7) / 10)
                add_event(db, session, "disconnected", seconds=seconds)
                await db.commit()
    finally:
        done.set()


def _summed(record: dict) -> int:
    return round(sum(float(e["detail"].get("seconds", 0) or 0) for e in record["events"] if e["kind"] in CLOSERS))


async def test_a_session_read_while_its_call_writes_shows_a_duration_its_events_add_up_to(client, office, sign_in, database_url):
    c1 = office.clients["c1"]
    sid = await add_session(database_url, c1, mode=SessionMode.video, status=SessionStatus.active, outcome=None)
    await sign_in(client, "pk1")
    done = asyncio.Event()
    writer = asyncio.ensure_future(_call_closing_intervals(database_url, sid, done))
    reads = torn = 0
    while not done.is_set():
        record = await (await client.get(f"/api/sessions/{sid}")).json()
        reads += 1
        if record["duration_seconds"] != _summed(record):
            torn += 1
    await writer
    # The reads really ran beside the writes: 121-205 of them, measured under load.
    assert reads >= INTERVALS // 5, reads
    assert torn == 0, f"{torn} of {reads} reads showed a duration their own events do not add up to"
    final = await (await client.get(f"/api/sessions/{sid}")).json()
    assert sum(e["kind"] == "disconnected" for e in final["events"]) == INTERVALS
    assert final["duration_seconds"] == _summed(final) > 0
