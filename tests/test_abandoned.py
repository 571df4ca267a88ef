"""A live session that everyone left ends (issue 18: "a video session whose two
sides dropped without ending stays 'Berlangsung' for ever"). When no party has
been connected for ``BIMBING_ABANDONED_MINUTES`` the server ends the session
with reason ``abandoned``: the duration counted before the drop, the events in
order, an anomaly for the supervisor, and a console or phone coming back is
told the session is closed. A call whose parties stay connected, however quiet,
is not ended, nor a session nobody was ever admitted to; two processes sharing
the rooms through Redis end it once; a restart in between changes nothing.

The limit is set to seconds here (fractional minutes are a documented setting)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from types import SimpleNamespace

import pytest

from server.app import create_app
from server.db.engine import make_engine, make_sessionmaker
from server.db.models import GuidanceSession, SessionEvent, SessionMode, SessionStatus
from server.domain.calls.call_log import CallLog
from server.domain.calls.presence import everyone_left
from server.settings import ConfigError, Settings
from tests.audit_support import add_session
from tests.clock import utc_now
from tests.foundation import database
from tests.peers import (
    MEDIA_SETTLE,
    CallPeer,
    admitted_call,
    connected_call,
    has_event,
    open_join_link,
    party_http,
    session_json,
    sign_in,
    stage,
    start_video_session,
    until,
)
from tests.services import drop_redis_keys, redis_test_prefix, require_redis
from tests.test_restart import ServerProcess

# 3 seconds: long enough for a call to be set up, short enough to wait for.
LIMIT_MINUTES = 0.05
LIMIT = timedelta(minutes=LIMIT_MINUTES)


def kinds(record: dict) -> list[str]:
    return [e["kind"] for e in record["events"]]


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


async def status_is(http, sid: int, status: str) -> dict | None:
    record = await session_json(http, sid)
    return record if record["status"] == status else None


def assert_ended_as_abandoned(record: dict, last_party_left: dict) -> dict:
    """One ``ended`` by the system, reason ``abandoned``, stamped no sooner than
    the limit after the last party left; ``ended_at`` is when they left."""
    ended = [e for e in record["events"] if e["kind"] == "ended"]
    assert len(ended) == 1, kinds(record)
    ended = ended[0]
    assert ended["actor"] == "system" and ended["detail"]["reason"] == "abandoned"
    assert ended["detail"]["abandoned_minutes"] == LIMIT_MINUTES
    idle_since = at(ended["detail"]["idle_since"])
    assert idle_since.replace(microsecond=0) == at(last_party_left["at"])
    assert at(ended["at"]) >= (idle_since + LIMIT).replace(microsecond=0)
    assert at(record["ended_at"]) == at(last_party_left["at"])
    assert record["status"] == "ended"
    return ended


@pytest.fixture
def short_limit(settings) -> Settings:
    # The drops here are told at once, without the place held for the phone's return
    # (test_client_hold.py holds it; the two processes below hold it for a second).
    return settings.with_(abandoned_minutes=LIMIT_MINUTES, client_hold_seconds=0)


@pytest.mark.slow
async def test_a_call_both_parties_dropped_is_ended_as_abandoned_with_the_time_counted_before_the_drop(aiohttp_server, short_limit, office):
    server = await aiohttp_server(create_app(short_limit))
    base = str(server.make_url("/"))
    async with party_http(base) as pk_http, party_http(base) as phone, party_http(base) as kasie:
        await sign_in(pk_http, "pk1")
        await sign_in(kasie, "kasie")
        session = await start_video_session(pk_http, office.clients["c1"].id)
        sid = session["id"]
        await open_join_link(phone, session["client_join_url"])
        officer, client = CallPeer(pk_http, sid, "officer"), CallPeer(phone, sid, "client")
        try:
            await officer.join()
            await client.join()
            await connected_call(officer, client)
            await until(lambda: has_event(pk_http, sid, "media_connected"), timeout=MEDIA_SETTLE, what="the interval to open")
            from_connected = time.monotonic()
            await client.wait_frames(video=10, audio=10)
            observed = time.monotonic() - from_connected

            # Both lose their network and never come back; nobody presses End.
            await client.drop()
            assert (await officer.next("peer-left"))["reason"] == "dropped"
            await until(lambda: has_event(pk_http, sid, "client_left"), what="the client's drop logged")
            await officer.drop()
            dropped_by = time.monotonic()
            record = await until(lambda: status_is(kasie, sid, "ended"), timeout=30, interval=0.2, what="the session to be ended as abandoned")
            assert time.monotonic() - dropped_by >= LIMIT.total_seconds() - 1

            # The console (and the phone) coming back learn it is over: what they react to.
            for http, role in ((pk_http, "officer"), (phone, "client")):
                late = CallPeer(http, sid, role, webrtc=False)
                try:
                    await late.connect()
                    await late.send({"type": "join", "role": role})
                    assert (await late.next("error"))["code"] == "session-closed"
                    assert await late.wait_closed() == 1008
                finally:
                    await late.close()
        finally:
            await officer.close()
            await client.close()

        assert kinds(record) == [
            "created", "link_issued", "link_opened", "officer_joined", "client_waiting", "admitted", "media_connected",
            "disconnected", "client_left", "officer_left", "ended",
        ]
        events = record["events"]
        closed = events[7]["detail"]
        assert (closed["role"], closed["reason"]) == ("client", "dropped")
        assert events[9]["detail"]["reason"] == "dropped"
        assert_ended_as_abandoned(record, last_party_left=events[9])
        # The time counted is the interval before the drop, and nothing after it.
        assert closed["seconds"] >= observed
        assert record["duration_seconds"] == round(closed["seconds"])

        # The supervisor sees it once among the anomalies, on the page too.
        listed = (await (await kasie.get("/api/audit/anomalies")).json())["anomalies"]
        mine = [a for a in listed if a["session_id"] == sid and a["kind"] == "abandoned"]
        assert len(mine) == 1
        detail = mine[0]["detail"]
        assert (detail["abandoned_minutes"], detail["duration_seconds"]) == (LIMIT_MINUTES, record["duration_seconds"])
        assert at(detail["idle_since"]).replace(microsecond=0) == at(events[9]["at"])
        assert at(mine[0]["at"]) == at(record["ended_at"])
        page = await (await kasie.get("/audit/anomalies")).text()
        assert f'data-kind="abandoned" data-session-id="{sid}"' in page and "Ditinggalkan tanpa diakhiri" in page
        session_page = await (await kasie.get(f"/sessions/{sid}")).text()
        assert "Diakhiri otomatis: tidak ada yang terhubung" in session_page


async def test_quiet_parties_still_connected_and_a_session_nobody_was_admitted_to_are_not_ended(aiohttp_server, short_limit, office):
    async with stage(aiohttp_server, short_limit, office) as st:
        # A call whose two sockets stay open and say nothing: no ping, no media report.
        officer, client = await st.officer_and_admitted_client()
        # A session the PK opened and left before anyone was admitted: still an appointment.
        pk = st.pk
        unjoined = await start_video_session(pk, office.clients["c1"].id)
        visitor = st.peer(pk, "officer", session_id=unjoined["id"])
        await visitor.join()
        await visitor.hangup()
        await until(lambda: has_event(pk, unjoined["id"], "officer_left"), what="the PK's leaving logged")

        # A third call everyone leaves afterwards: once the server has ended it, it
        # has looked at the two others too, with the limit passed for them as well.
        witness = await start_video_session(pk, office.clients["c1"].id)
        w_phone = await st.browser(join_url=witness["client_join_url"])
        w_officer, w_client = st.peer(pk, "officer", session_id=witness["id"]), st.peer(w_phone, "client", session_id=witness["id"])
        await admitted_call(w_officer, w_client)
        await w_client.hangup()
        await w_officer.hangup()
        await until(lambda: status_is(pk, witness["id"], "ended"), timeout=30, interval=0.2, what="the witness to be ended as abandoned")

        quiet = await session_json(pk, st.session_id)
        assert quiet["status"] == "active" and "ended" not in kinds(quiet)
        assert "session-ended" not in officer.types() + client.types()
        assert (await officer.ping())["type"] == "pong" and (await client.ping())["type"] == "pong"
        scheduled = await session_json(pk, unjoined["id"])
        assert scheduled["status"] == "scheduled" and kinds(scheduled)[-2:] == ["officer_joined", "officer_left"]


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_call_left_before_a_crash_is_ended_as_abandoned_after_the_restart_not_interrupted(tmp_path, settings, office):
    # A grace period shorter than the limit: were the restart to take the call
    # for one it cut, it would close it as interrupted first.
    server = ServerProcess(tmp_path, settings, BIMBING_ABANDONED_MINUTES="0.1", BIMBING_RESUME_GRACE_SECONDS="1")
    await server.start()
    try:
        async with party_http(server.base) as pk_http, party_http(server.base) as phone:
            await sign_in(pk_http, "pk1")
            session = await start_video_session(pk_http, office.clients["c1"].id)
            sid = session["id"]
            await open_join_link(phone, session["client_join_url"])
            officer, client = CallPeer(pk_http, sid, "officer", webrtc=False), CallPeer(phone, sid, "client", webrtc=False)
            try:
                await admitted_call(officer, client)
                await client.hangup()
                await officer.hangup()
                await until(lambda: has_event(pk_http, sid, "officer_left"), what="both leavings logged")
            finally:
                await officer.close()
                await client.close()
            await server.kill()

            await server.start()
            record = await until(lambda: _closed(pk_http, sid), timeout=40, interval=0.2, what="the session to be closed after the restart")
    finally:
        await server.kill()

    assert kinds(record) == ["created", "link_issued", "link_opened", "officer_joined", "client_waiting", "admitted", "client_left", "officer_left", "ended"]
    ended = record["events"][-1]
    assert (ended["actor"], ended["detail"]["reason"]) == ("system", "abandoned")
    assert at(record["ended_at"]) == at(record["events"][-2]["at"])
    assert record["duration_seconds"] == 0


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_two_processes_end_a_call_everyone_left_once_and_not_while_a_party_stays_on_the_other(tmp_path, settings, office):
    url = require_redis()
    prefix = redis_test_prefix()
    # The client's place is held a second after its drop (test_client_hold.py), across processes too.
    env = {"BIMBING_REDIS_URL": url, "BIMBING_REDIS_PREFIX": prefix, "BIMBING_ABANDONED_MINUTES": str(LIMIT_MINUTES),
           "BIMBING_CLIENT_HOLD_SECONDS": "1"}
    a = ServerProcess(tmp_path, settings, **env)
    b = ServerProcess(tmp_path, settings, **env)
    await a.start()
    await b.start()
    try:
        async with party_http(a.base) as pk_http, party_http(b.base) as phone, party_http(b.base) as phone2:
            await sign_in(pk_http, "pk1")
            # The officer sits on A, the client on B.
            session = await start_video_session(pk_http, office.clients["c1"].id)
            sid = session["id"]
            await open_join_link(phone, session["client_join_url"])
            officer, client = CallPeer(pk_http, sid, "officer", webrtc=False), CallPeer(phone, sid, "client", webrtc=False)
            # A second call, both parties on B, left after the client above: the witness.
            witness = await start_video_session(pk_http, office.clients["c1"].id)
            await open_join_link(phone2, witness["client_join_url"])
            async with party_http(b.base) as pk_on_b:
                await sign_in(pk_on_b, "pk1")
                w_officer, w_client = CallPeer(pk_on_b, witness["id"], "officer", webrtc=False), CallPeer(phone2, witness["id"], "client", webrtc=False)
                try:
                    await admitted_call(officer, client)
                    await admitted_call(w_officer, w_client)
                    await client.drop()
                    assert (await officer.next("peer-left"))["reason"] == "dropped"
                    await until(lambda: has_event(pk_http, sid, "client_left"), what="the client's drop logged")
                    await w_client.hangup()
                    await w_officer.hangup()
                    await until(lambda: status_is(pk_http, witness["id"], "ended"), timeout=30, interval=0.2, what="the witness ended")
                    # B holds no socket of the first call any more, but A holds its officer.
                    assert (await session_json(pk_http, sid))["status"] == "active"
                    assert (await officer.ping())["type"] == "pong"

                    await officer.drop()
                    record = await until(lambda: status_is(pk_http, sid, "ended"), timeout=30, interval=0.2, what="the call ended once everyone left")
                finally:
                    for peer in (officer, client, w_officer, w_client):
                        await peer.close()
            witness_record = await session_json(pk_http, witness["id"])
    finally:
        await a.kill()
        await b.kill()
        await drop_redis_keys(url, prefix)

    assert kinds(record) == ["created", "link_issued", "link_opened", "officer_joined", "client_waiting", "admitted", "client_left", "officer_left", "ended"]
    assert_ended_as_abandoned(record, last_party_left=record["events"][-2])
    assert kinds(witness_record).count("ended") == 1
    for server in (a, b):
        assert "Traceback" not in server.log.read_text()


async def test_an_interval_the_log_still_shows_open_is_closed_at_the_last_heartbeat_and_ended_once(database_url, settings, office):
    """The call log's own step, on a log whose closing was lost (a process that
    died before anything closed the interval): closed where the restart recovery
    would close it, then ended; a second ending finds nothing to end."""
    now = utc_now()
    opened = now - timedelta(minutes=10)
    heartbeat = opened + timedelta(seconds=95)
    cut = await add_session(database_url, office.clients["c1"], mode=SessionMode.video, status=SessionStatus.active, scheduled_at=opened - timedelta(minutes=2),
                            duration_seconds=0, notes="", outcome=None)
    fresh = await add_session(database_url, office.clients["c1"], mode=SessionMode.video, status=SessionStatus.active, scheduled_at=now - timedelta(minutes=1),
                              duration_seconds=0, notes="", outcome=None)
    async with database(database_url) as db:
        for sid, base in ((cut, opened), (fresh, now)):
            session = await db.get(GuidanceSession, sid)
            session.started_at = base - timedelta(seconds=30)
            db.add_all([
                SessionEvent(session_id=sid, kind="officer_joined", actor="officer", at=base - timedelta(seconds=60), detail={}),
                SessionEvent(session_id=sid, kind="admitted", actor="officer", at=base - timedelta(seconds=30), detail={"device": "a1b2c3d4e5f60708"}),
                SessionEvent(session_id=sid, kind="media_connected", actor="system", at=base, detail={}),
            ])
        (await db.get(GuidanceSession, cut)).last_heartbeat_at = heartbeat
        await db.commit()

    engine = make_engine(database_url)
    calls = CallLog(make_sessionmaker(engine), settings.with_(abandoned_minutes=LIMIT_MINUTES))
    try:
        # The session seen a moment ago is not idle, and is not ended if asked anyway.
        assert await calls.idle_sessions() == [cut]
        assert await calls.end_abandoned(fresh) is False
        assert await calls.end_abandoned(cut) is True
        assert await calls.end_abandoned(cut) is False
    finally:
        await calls.close()
        await engine.dispose()

    async with database(database_url) as db:
        session = await db.get(GuidanceSession, cut)
        events = [(e.kind, e.actor, e.at, e.detail) for e in session.events]
        assert [e[0] for e in events] == ["created", "officer_joined", "admitted", "media_connected", "disconnected", "ended"]
        assert events[4][1:] == ("system", heartbeat, {"reason": "abandoned", "seconds": 95.0})
        assert events[5][1] == "system" and events[5][3] == {"reason": "abandoned", "idle_since": heartbeat.isoformat(), "abandoned_minutes": LIMIT_MINUTES}
        assert events[5][2] >= now
        assert (session.status, session.ended_at, session.duration_seconds) == (SessionStatus.ended, heartbeat, 95)
        assert (await db.get(GuidanceSession, fresh)).status == SessionStatus.active


def test_the_limit_is_a_positive_number_of_minutes_at_most_a_day():
    base = {"BIMBING_SECRET_KEY": "x" * 40, "BIMBING_DATA_DIR": "/nonexistent"}
    assert Settings.from_env(base).abandoned_minutes == 15
    assert Settings.from_env({**base, "BIMBING_ABANDONED_MINUTES": "0.05"}).abandoned_minutes == 0.05
    for bad in ("0", "-1", "1441", "nan", "inf", "lima belas", "15m"):
        with pytest.raises(ConfigError, match="BIMBING_ABANDONED_MINUTES"):
            Settings.from_env({**base, "BIMBING_ABANDONED_MINUTES": bad})


def _events(*steps: tuple) -> SimpleNamespace:
    return SimpleNamespace(events=[SimpleNamespace(kind=kind, detail=detail, at=None) for kind, detail in steps])


@pytest.mark.parametrize(
    "steps, left",
    [
        ([("officer_joined", {}), ("client_waiting", {"device": "a"}), ("admitted", {"device": "a"}), ("client_left", {"device": "a"}), ("officer_left", {})], True),
        ([("officer_joined", {}), ("admitted", {"device": "a"}), ("officer_left", {})], False),  # the client is still there
        ([("officer_joined", {}), ("officer_joined", {}), ("officer_left", {})], True),  # replaced by its own new socket, then gone
        # Another device admitted in place of the first, which logs no leaving; the second leaves.
        ([("officer_joined", {}), ("admitted", {"device": "a"}), ("client_waiting", {"device": "b"}), ("admitted", {"device": "b"}),
          ("client_left", {"device": "b"}), ("officer_left", {})], True),
        ([("admitted", {"device": "a"}), ("client_waiting", {"device": "b"}), ("client_left", {"device": "a"})], False),  # b still waits
        ([("client_waiting", {"device": "b"}), ("denied", {"device": "b"})], True),
        ([("client_waiting", {"device": "b"}), ("client_left", {"device": "b", "waiting": True})], True),
        ([("officer_joined", {}), ("admitted", {"device": "a"}), ("server_restarted", {})], True),
        ([("admitted", {"device": "a"}), ("client_resumed", {"device": "a"})], False),
    ],
)
def test_who_the_log_shows_in_the_room(steps, left):
    assert everyone_left(_events(*steps)) is left


async def _closed(http, sid: int) -> dict | None:
    try:
        record = await session_json(http, sid)
    except Exception:  # the server is still starting
        return None
    return record if record["status"] != "active" else None

