"""Redis goes away under the Redis scale-out mode and comes back.

A private ``redis-server`` (its own port, no persistence) serves one real
``bimbing serve`` process; the test kills it in the middle of a call: both
sockets get ``unavailable`` and close with 1013, the process stays up, /healthz
says ``"redis": false``, the open connected interval is closed in the log as
``disconnected`` reason ``unavailable``. With Redis started again on the same
port, /healthz recovers and a fresh officer + client join and relay again. The
shared Redis on 6379 that other tests use is never touched."""

from __future__ import annotations

import asyncio
import signal
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest
import redis.asyncio as redis

from server.domain.calls.intervals import CLOSERS, OPENERS
from tests.peers import (
    MEDIA_SETTLE,
    CallPeer,
    has_event,
    open_join_link,
    party_http,
    report_media_arriving,
    session_json,
    sign_in,
    start_video_session,
    until,
)
from tests.services import free_port, require_redis_server
from tests.test_restart import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]


class PrivateRedis:
    """``redis-server`` as a child process on a port of its own."""

    def __init__(self, binary: str, workdir: Path, port: int):
        self.binary, self.workdir, self.port = binary, workdir, port
        self.log = workdir / f"redis-{port}.log"
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
                "--daemonize", "no", "--dir", str(self.workdir), stdout=log, stderr=log,
            )

        async def answers():
            if self.proc.returncode is not None:
                raise AssertionError(f"redis-server exited: {self.log.read_text()[-2000:]}")
            client = redis.from_url(self.url)
            try:
                return await client.ping()
            except (redis.ConnectionError, OSError):
                return False
            finally:
                await client.aclose()

        await until(answers, timeout=15, interval=0.05, what="the private redis-server to answer")

    async def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()


@pytest.fixture
async def private_redis(tmp_path):
    # redis-server cannot bind port 0 and tell which port it got (its --port 0 turns
    # TCP off), so it gets a port free a moment ago; when another process took that
    # port meanwhile, it exits saying so, and it tries another.
    for attempt in range(5):
        server = PrivateRedis(require_redis_server(), tmp_path / "redis", free_port())
        try:
            await server.start()
            break
        except AssertionError:
            if attempt == 4 or "Address already in use" not in server.log.read_text():
                raise
    yield server
    await server.kill()


async def health(base: str) -> tuple[int, dict]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/healthz") as resp:
        return resp.status, await resp.json()


async def events(http, sid) -> list[dict]:
    return (await session_json(http, sid))["events"]


async def call_in_room(pk_http, phone, sid) -> tuple[CallPeer, CallPeer]:
    """Officer and admitted client, signaling only, both reporting ICE connected."""
    officer, client = CallPeer(pk_http, sid, "officer", webrtc=False), CallPeer(phone, sid, "client", webrtc=False)
    await officer.join()
    await client.join()
    return officer, client


async def test_redis_down_closes_sockets_cleanly_and_the_service_recovers(tmp_path, settings, office, private_redis):
    server = ServerProcess(tmp_path, settings, BIMBING_REDIS_URL=private_redis.url, BIMBING_REDIS_PREFIX="bimbing-down")
    await server.start()
    try:
        status, body = await health(server.base)
        assert status == 200 and body["redis"] is True and body["database"] is True

        async with party_http(server.base) as pk_http, party_http(server.base) as phone:
            await sign_in(pk_http, "pk1")
            session = await start_video_session(pk_http, office.clients["c1"].id)
            sid = session["id"]
            assert (await open_join_link(phone, session["client_join_url"])).status == 303

            officer, client = await call_in_room(pk_http, phone, sid)
            try:
                await client.next("waiting")
                await officer.admit((await officer.next("client-waiting"))["device"])
                await client.next("admitted")
                await officer.next("peer-joined")
                await client.next("peer-joined")
                wall_from = time.monotonic()
                await officer.send({"type": "media-state", "state": "connected"})
                await client.send({"type": "media-state", "state": "connected"})
                await report_media_arriving(officer, client)
                await until(lambda: has_event(pk_http, sid, "media_connected"), timeout=MEDIA_SETTLE, what="media_connected")

                # ---- Redis goes away --------------------------------------------
                await private_redis.kill()
                for peer in (officer, client):
                    error = await peer.next("error", timeout=20)
                    assert error["code"] == "unavailable" and error["message"]
                    assert await peer.wait_closed(timeout=20) == 1013
                wall = time.monotonic() - wall_from
                assert server.proc.returncode is None

                async def degraded():
                    status, body = await health(server.base)
                    return status == 503 and body == {**body, "status": "degraded", "redis": False, "database": True}

                await until(degraded, timeout=15, what="/healthz to report redis false")
                # The log closed the open interval and both parties, without Redis.
                await until(lambda: has_event(pk_http, sid, "client_left"), timeout=15, what="client_left")
                await until(lambda: has_event(pk_http, sid, "officer_left"), timeout=15, what="officer_left")
                # A join meanwhile is refused the same way.
                meanwhile = CallPeer(pk_http, sid, "officer", webrtc=False)
                try:
                    await meanwhile.connect()
                    await meanwhile.send({"type": "join", "role": "officer"})
                    assert (await meanwhile.next("error", timeout=15))["code"] == "unavailable"
                    assert await meanwhile.wait_closed(timeout=15) == 1013
                finally:
                    await meanwhile.close()
            finally:
                await officer.close()
                await client.close()

            # ---- Redis comes back (empty, same port) ----------------------------
            await private_redis.start()

            async def healthy():
                status, body = await health(server.base)
                return status == 200 and body["redis"] is True and body["status"] == "ok"

            await until(healthy, timeout=20, what="/healthz to recover")
            officer, client = await call_in_room(pk_http, phone, sid)
            try:
                # The device was admitted before (the log says so): straight back in.
                await client.next("admitted")
                await officer.next("peer-joined")
                await client.next("peer-joined")
                await officer.send({"type": "offer", "sdp": "v=0\r\n"})
                assert (await client.next("offer"))["from"] == "officer"
                await client.send({"type": "answer", "sdp": "v=0\r\n"})
                assert (await officer.next("answer"))["from"] == "client"
                await officer.send({"type": "media-state", "state": "connected"})
                await client.send({"type": "media-state", "state": "connected"})
                await report_media_arriving(officer, client)
                await until(lambda: has_event(pk_http, sid, "reconnected"), what="reconnected")
                await officer.end()
                await client.next("session-ended")
            finally:
                await officer.close()
                await client.close()
            record = await session_json(pk_http, sid)
    finally:
        await server.kill()

    log = server.log.read_text()
    assert "Traceback" not in log, log[-3000:]
    assert log.count("Redis unavailable (") == 1, log[-3000:]

    got = record["events"]
    kinds = [e["kind"] for e in got]
    assert record["status"] == "ended"
    assert kinds[:9] == [
        "created", "link_issued", "link_opened", "officer_joined", "client_waiting", "admitted",
        "media_connected", "disconnected", "officer_left" if kinds[8] == "officer_left" else "client_left",
    ]
    outage = got[7]["detail"]
    assert outage["reason"] == "unavailable"
    assert 0 <= outage["seconds"] <= wall
    left = {e["kind"]: e["detail"] for e in got[8:10]}
    assert set(left) == {"officer_left", "client_left"}
    assert all(detail["reason"] == "unavailable" for detail in left.values())
    assert kinds[10:] == ["officer_joined", "admitted", "reconnected", "disconnected", "ended"]
    # Intervals alternate: never two open at once, each closed once.
    open_at = None
    for event in got:
        if event["kind"] in OPENERS:
            assert open_at is None, kinds
            open_at = datetime.fromisoformat(event["at"])
        elif event["kind"] in CLOSERS:
            assert open_at is not None, kinds
            assert datetime.fromisoformat(event["at"]) >= open_at
            open_at = None
    assert open_at is None
    closes = [e["detail"]["seconds"] for e in got if e["kind"] == "disconnected"]
    assert len(closes) == 2
    assert record["duration_seconds"] == round(sum(closes))


async def test_a_redis_that_stops_answering_counts_as_down_until_it_answers_again(tmp_path, settings, office, private_redis):
    """SIGSTOP: the connection stays open but nothing answers (the timeout case).
    A client still in the waiting room is closed too, and logged as such."""
    server = ServerProcess(tmp_path, settings, BIMBING_REDIS_URL=private_redis.url, BIMBING_REDIS_PREFIX="bimbing-hang")
    await server.start()
    try:
        async with party_http(server.base) as pk_http, party_http(server.base) as phone:
            await sign_in(pk_http, "pk1")
            session = await start_video_session(pk_http, office.clients["c1"].id)
            sid = session["id"]
            await open_join_link(phone, session["client_join_url"])
            officer, client = await call_in_room(pk_http, phone, sid)
            try:
                await client.next("waiting")
                await officer.next("client-waiting")

                private_redis.proc.send_signal(signal.SIGSTOP)
                try:
                    for peer in (officer, client):
                        assert (await peer.next("error", timeout=30))["code"] == "unavailable"
                        assert await peer.wait_closed(timeout=15) == 1013
                    status, body = await health(server.base)
                    assert status == 503 and body["redis"] is False
                    assert server.proc.returncode is None
                finally:
                    private_redis.proc.send_signal(signal.SIGCONT)
            finally:
                await officer.close()
                await client.close()

            async def healthy():
                status, body = await health(server.base)
                return status == 200 and body["redis"] is True

            await until(healthy, timeout=30, what="/healthz to recover after SIGCONT")
            # Redis kept its data this time: the closed sockets' places are removed from it.
            store = redis.from_url(private_redis.url, decode_responses=True)
            try:
                async def places_cleared():
                    held = await store.hgetall(f"bimbing-hang:room:{sid}:places")
                    waiting = await store.hgetall(f"bimbing-hang:room:{sid}:waiting")
                    return not held and not waiting

                await until(places_cleared, timeout=15, what="the lost places to be removed from Redis")
            finally:
                await store.aclose()
            officer, client = await call_in_room(pk_http, phone, sid)
            try:
                await client.next("waiting")
                waiting = await officer.next("client-waiting")
                # Only the device that is really there, once.
                assert [m["device"] for m in officer.received if m["type"] == "client-waiting"] == [waiting["device"]]
                await officer.admit(waiting["device"])
                await client.next("admitted")
                await officer.next("peer-joined")
                await officer.send({"type": "offer", "sdp": "v=0\r\n"})
                assert (await client.next("offer"))["from"] == "officer"
                await officer.end()
            finally:
                await officer.close()
                await client.close()
            record = await session_json(pk_http, sid)
    finally:
        await server.kill()

    assert "Traceback" not in server.log.read_text()
    kinds = [e["kind"] for e in record["events"]]
    assert kinds[:5] == ["created", "link_issued", "link_opened", "officer_joined", "client_waiting"]
    left = {e["kind"]: e["detail"] for e in record["events"][5:7]}
    assert left == {"officer_left": {"reason": "unavailable"}, "client_left": {"reason": "unavailable", "device": left["client_left"]["device"], "waiting": True}}
    assert kinds[7:] == ["officer_joined", "client_waiting", "admitted", "ended"]
    assert "disconnected" not in kinds
