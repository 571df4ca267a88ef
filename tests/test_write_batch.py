"""Group commits of the call log (server/domain/calls/writebatch.py): an event is
committed before its step goes on, a heartbeat within the flush delay and on
shutdown; and a process killed between a heartbeat and its flush loses that
heartbeat and nothing else (docs/signaling.md §6)."""

from __future__ import annotations

import asyncio
import signal
from datetime import timedelta

import pytest
from sqlalchemy import select

from server.db.engine import make_engine, make_sessionmaker
from server.db.models import GuidanceSession, SessionEvent, SessionStatus, utcnow
from server.domain.calls.writebatch import WriteBatcher
from tests.peers import (
    MEDIA_SETTLE,
    CallPeer,
    admitted_call,
    open_join_link,
    party_http,
    sign_in,
    start_video_session,
    until,
)
from tests.test_restart import ServerProcess


async def _video_session(database_url: str, office) -> int:
    from server.db.models import SessionMode

    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            session = GuidanceSession(
                office_id=office.id, client_id=office.clients["c1"].id, officer_id=office.staff["pk1"].id,
                mode=SessionMode.video, status=SessionStatus.scheduled, scheduled_at=utcnow(), created_by_id=office.staff["pk1"].id,
            )
            db.add(session)
            await db.commit()
            return session.id
    finally:
        await engine.dispose()


async def test_events_are_committed_when_awaited_and_heartbeats_within_the_delay(database_url, office):
    sid = await _video_session(database_url, office)
    engine = make_engine(database_url)
    sessions = make_sessionmaker(engine)
    writes = WriteBatcher(sessions, max_delay=30.0)  # heartbeats would wait 30 s
    try:
        t0 = utcnow()
        ok = await asyncio.gather(
            writes.event(sid, "officer_joined", "officer", t0, staff="pk1"),
            writes.event(sid, "client_waiting", "client", t0 + timedelta(milliseconds=1), device="d1"),
            writes.event(sid, "admitted", "officer", t0 + timedelta(milliseconds=2), activate=True, device="d1"),
        )
        assert ok == [True, True, True]
        async with sessions() as db:
            row = await db.get(GuidanceSession, sid)
            assert row.status == SessionStatus.active and row.started_at is not None
            assert [e.kind for e in row.events] == ["officer_joined", "client_waiting", "admitted"]
            assert row.last_heartbeat_at is None

        later = utcnow()
        writes.heartbeat(sid, later)
        writes.heartbeat(sid, later - timedelta(seconds=5))  # the last stamp of a session wins, but never moves back
        assert writes.pending() == 1
        async with sessions() as db:
            assert (await db.get(GuidanceSession, sid)).last_heartbeat_at is None
        await writes.close()  # shutdown writes what is pending
        async with sessions() as db:
            stamped = (await db.get(GuidanceSession, sid)).last_heartbeat_at
        assert stamped is not None and abs((stamped - (later - timedelta(seconds=5))).total_seconds()) < 0.01

        # Never moved back: an older stamp after a newer one changes nothing.
        writes2 = WriteBatcher(sessions, max_delay=0.01)
        writes2.heartbeat(sid, later - timedelta(seconds=60))
        await writes2.close()
        async with sessions() as db:
            assert (await db.get(GuidanceSession, sid)).last_heartbeat_at == stamped

        # An ended session takes no more events, and its caller is told.
        async with sessions() as db:
            row = await db.get(GuidanceSession, sid)
            row.status = SessionStatus.ended
            await db.commit()
        assert await writes2.event(sid, "officer_joined", "officer", utcnow()) is False
        async with sessions() as db:
            assert len((await db.execute(select(SessionEvent).where(SessionEvent.session_id == sid))).scalars().all()) == 3
    finally:
        await engine.dispose()


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_killed_between_a_heartbeat_and_its_flush_the_heartbeat_is_lost_and_nothing_else(tmp_path, settings, office, database_url):
    # A 30 s flush window: the heartbeat below is certainly still pending at the kill.
    server = ServerProcess(tmp_path, settings, BIMBING_WRITE_FLUSH_MS="30000", BIMBING_METRICS_TOKEN=TOKEN)
    await server.start()
    try:
        async with party_http(server.base) as pk, party_http(server.base) as phone:
            await sign_in(pk, "pk1")
            session = await start_video_session(pk, office.clients["c1"].id)
            sid = session["id"]
            assert (await open_join_link(phone, session["client_join_url"])).status == 303
            officer = CallPeer(pk, sid, "officer", webrtc=False)
            client = CallPeer(phone, sid, "client", webrtc=False)
            try:
                await admitted_call(officer, client)
                # Both report media: the interval opens, written before the step goes on.
                await officer.send({"type": "media-state", "state": "connected"})
                await client.send({"type": "media-state", "state": "connected"})
                # Signaling-only doubles of a real call: both also report media arriving (signaling.md §6).
                for peer in (officer, client):
                    await peer.send({"type": "ping", "inbound": {"audio": {"packets": 50, "bytes": 4000}}})
                    await peer.next("pong")
                opened = await until(lambda: _event_at(database_url, sid, "media_connected"), timeout=MEDIA_SETTLE, what="media_connected written")
                # A heartbeat a second later (BIMBING_HEARTBEAT_SECONDS=1): answered, its stamp pending.
                await asyncio.sleep(1.1)  # the heartbeat throttle is a wall-clock period
                assert (await officer.ping())["type"] == "pong"
                # The stamp is pending, not written (the server says so on /metrics).
                assert await _pending_writes(pk) == 1
                await server.kill()  # SIGKILL, before the flush
            finally:
                await officer.close()
                await client.close()
    finally:
        await server.kill()

    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            row = await db.get(GuidanceSession, sid)
            kinds = [e.kind for e in row.events]
            last = row.last_heartbeat_at
    finally:
        await engine.dispose()
    # Every event a party was told of survived; the pending heartbeat did not:
    # the last stamp is still the one media_connected wrote.
    assert kinds == ["created", "link_issued", "link_opened", "officer_joined", "client_waiting", "admitted", "media_connected"]
    assert last == opened

    # The restart closes the open interval at that stamp: what the crash lost is
    # the time since (at most heartbeat period + flush delay).
    await server.start()
    try:
        restarted = await until(lambda: _event_detail(database_url, sid, "server_restarted"), what="server_restarted")
    finally:
        server.proc.send_signal(signal.SIGTERM)
        await server.proc.wait()
    assert restarted["seconds"] == 0.0


TOKEN = "write-batch-metrics-token-0123456789"


async def _pending_writes(http) -> float:
    async with http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
        assert resp.status == 200
        for line in (await resp.text()).splitlines():
            if line.startswith("bimbing_call_writes_pending "):
                return float(line.split()[1])
    raise AssertionError("no bimbing_call_writes_pending")


async def _event_at(database_url: str, sid: int, kind: str):
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            event = (await db.execute(select(SessionEvent).where(SessionEvent.session_id == sid, SessionEvent.kind == kind))).scalars().first()
            return event.at if event else None
    finally:
        await engine.dispose()


async def _event_detail(database_url: str, sid: int, kind: str):
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            event = (await db.execute(select(SessionEvent).where(SessionEvent.session_id == sid, SessionEvent.kind == kind))).scalars().first()
            return event.detail if event else None
    finally:
        await engine.dispose()
