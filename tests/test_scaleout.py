"""Several ``bimbing serve`` processes share rooms and the call lifecycle through
the real Redis (BIMBING_REDIS_URL): the officer on one process, the client on
another, a real aiortc call between them, and what happens when a process dies
or a new one starts while the call runs."""

from __future__ import annotations

import time

import aiohttp
import pytest

from tests.peers import MEDIA_SETTLE, CallPeer, open_join_link, party_http, session_json, sign_in, start_video_session, until
from tests.services import drop_redis_keys, redis_test_prefix, require_redis
from tests.test_restart import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


@pytest.fixture
async def redis_env():
    """The real Redis, under a prefix of this test's own; its keys are removed after."""
    url = require_redis()
    prefix = redis_test_prefix()
    yield {"BIMBING_REDIS_URL": url, "BIMBING_REDIS_PREFIX": prefix}
    await drop_redis_keys(url, prefix)


@pytest.fixture
async def cluster(tmp_path, settings, redis_env):
    """Start processes on demand (same database, secret, data dir and Redis); kill them all after."""
    servers: list[ServerProcess] = []

    async def start() -> ServerProcess:
        server = ServerProcess(tmp_path, settings, **redis_env)
        servers.append(server)
        await server.start()
        return server

    yield start
    for server in servers:
        await server.kill()


def moved(http: aiohttp.ClientSession, base: str) -> aiohttp.ClientSession:
    """The same browser (its cookies) talking to another process."""
    other = party_http(base)
    other.cookie_jar.update_cookies(http.cookie_jar.filter_cookies(http._base_url))
    return other


async def kinds(http, sid) -> list[str]:
    return [e["kind"] for e in (await session_json(http, sid))["events"]]


async def _event(http, sid, kind):
    record = await session_json(http, sid)
    return next((e for e in record["events"] if e["kind"] == kind), None)


async def test_a_call_between_two_processes_and_a_third_starting_meanwhile(cluster, office):
    a, b = await cluster(), await cluster()
    async with party_http(a.base) as pk_http, party_http(b.base) as phone:
        await sign_in(pk_http, "pk1")
        session = await start_video_session(pk_http, office.clients["c1"].id)
        sid = session["id"]
        assert (await open_join_link(phone, session["client_join_url"])).status == 303
        officer, client = CallPeer(pk_http, sid, "officer"), CallPeer(phone, sid, "client")
        try:
            await officer.join()
            welcome = await client.join()
            assert welcome["peer_present"] is True  # the officer sits on the other process
            await client.next("waiting")
            waiting = await officer.next("client-waiting")
            wall_from = time.monotonic()
            await officer.admit(waiting["device"])
            await client.next("admitted")
            await officer.wait_connected()
            await client.wait_connected()
            await until(lambda: _event(pk_http, sid, "media_connected"), timeout=MEDIA_SETTLE, what="media_connected")
            connected_from = time.monotonic()
            await client.wait_frames(video=10, audio=10)
            await officer.wait_frames(video=10, audio=10)

            # A third process starting now must not take this call for one cut by a restart.
            c = await cluster()
            async with party_http(c.base) as supervisor:
                await sign_in(supervisor, "pk1")
                record = await session_json(supervisor, sid)
                assert record["status"] == "active"
                assert "server_restarted" not in [e["kind"] for e in record["events"]]
            # The call still goes on: signaling through both processes still works.
            seen = client.video_frames
            await until(lambda: client.video_frames >= seen + 10, what="more video after the third process started")
            assert (await officer.ping())["type"] == "pong"
            assert (await client.ping())["type"] == "pong"

            observed = time.monotonic() - connected_from
            await officer.end()
            # The client's process heard of the end through Redis.
            await client.next("session-ended")
            assert await client.wait_closed() == 1000
            wall = time.monotonic() - wall_from
        finally:
            await officer.close()
            await client.close()
        record = await session_json(pk_http, sid)

    events = record["events"]
    assert [e["kind"] for e in events] == [
        "created", "link_issued", "link_opened", "officer_joined", "client_waiting", "admitted",
        "media_connected", "disconnected", "ended",
    ]
    assert record["status"] == "ended"
    seconds = events[7]["detail"]["seconds"]
    assert events[7]["detail"]["reason"] == "ended"
    assert observed <= seconds <= wall
    assert record["duration_seconds"] == round(seconds)


async def test_a_client_reconnecting_through_the_other_process_replaces_its_old_socket(cluster, office):
    a, b = await cluster(), await cluster()
    async with party_http(a.base) as pk_http, party_http(b.base) as phone:
        await sign_in(pk_http, "pk1")
        session = await start_video_session(pk_http, office.clients["c1"].id)
        sid = session["id"]
        await open_join_link(phone, session["client_join_url"])
        officer = CallPeer(pk_http, sid, "officer", webrtc=False)
        old = CallPeer(phone, sid, "client", webrtc=False)
        async with moved(phone, a.base) as same_phone_on_a:
            new = CallPeer(same_phone_on_a, sid, "client", webrtc=False)
            try:
                await officer.join()
                await old.join()
                await officer.admit((await officer.next("client-waiting"))["device"])
                await old.next("admitted")
                await officer.next("peer-joined")

                await new.join()
                # The old socket (on B) is told and closed by its own process.
                assert (await old.next("error"))["code"] == "replaced"
                assert await old.wait_closed() == 4000
                # The device was admitted before: straight back into the call.
                await new.next("admitted")
                left = await officer.next("peer-left")
                assert left["reason"] == "replaced" and left["device"] == old.welcome["device"]
                await officer.next("peer-joined")
                await new.next("peer-joined")
                # Relay works between the officer and the new socket, both on A now.
                await officer.send({"type": "offer", "sdp": "v=0\r\n"})
                assert (await new.next("offer"))["from"] == "officer"
                await officer.end()
            finally:
                for peer in (officer, old, new):
                    await peer.close()
        assert await kinds(pk_http, sid) == [
            "created", "link_issued", "link_opened", "officer_joined", "client_waiting", "admitted", "admitted", "ended",
        ]


async def test_a_process_killed_under_the_client_and_the_client_resumes_through_another(cluster, office):
    a, b = await cluster(), await cluster()
    async with party_http(a.base) as pk_http, party_http(b.base) as phone:
        await sign_in(pk_http, "pk1")
        session = await start_video_session(pk_http, office.clients["c1"].id)
        sid = session["id"]
        await open_join_link(phone, session["client_join_url"])
        officer, client = CallPeer(pk_http, sid, "officer"), CallPeer(phone, sid, "client")
        async with moved(phone, a.base) as same_phone_on_a:
            again = CallPeer(same_phone_on_a, sid, "client")
            try:
                await officer.join()
                await client.join()
                await officer.admit((await officer.next("client-waiting"))["device"])
                await client.wait_connected()
                await officer.wait_connected()
                await until(lambda: _event(pk_http, sid, "media_connected"), timeout=MEDIA_SETTLE, what="media_connected")

                await b.kill()
                await client.wait_closed()
                await client.close()  # the page reloads: a new peer connection
                await again.join()
                await again.next("admitted")
                await again.wait_connected()
                await officer.wait_connected()
                await again.wait_frames(video=10, audio=10)
                await until(lambda: _event(pk_http, sid, "reconnected"), what="reconnected")
                record = await session_json(pk_http, sid)
                assert record["status"] == "active"
                await officer.end()
            finally:
                for peer in (officer, client, again):
                    await peer.close()
        record = await session_json(pk_http, sid)

    got = [e["kind"] for e in record["events"]]
    assert "interrupted" not in got and "server_restarted" not in got
    assert got[:7] == ["created", "link_issued", "link_opened", "officer_joined", "client_waiting", "admitted", "media_connected"]
    assert got[-1] == "ended" and record["status"] == "ended"
    # Back in the same session: re-admitted directly, a new connected interval.
    assert got[got.index("media_connected"):].count("admitted") == 1
    assert {"automatic": True, "device": record["events"][5]["detail"]["device"]}.items() <= record["events"][got.index("admitted", 6)]["detail"].items()
    assert got.index("reconnected") > got.index("admitted", 6)
    # The first interval closed when the old call went away (its ICE closing, the
    # place taken over, or the dead process reaped, whichever came first); the last one at the end.
    closes = [e for e in record["events"] if e["kind"] == "disconnected"]
    assert closes[-1]["detail"]["reason"] == "ended" and len(closes) == 2
    assert record["duration_seconds"] == round(sum(e["detail"]["seconds"] for e in closes))
