"""The server process dies in the middle of a call (SIGKILL) and starts again:
the session is resumed when both parties come back in time, or closed as
``interrupted`` at its last heartbeat when they do not. No event is lost."""

from __future__ import annotations

import asyncio
import signal
import sys
import time
from datetime import datetime
from pathlib import Path

import aiohttp
import pytest

from server.db.engine import make_engine, make_sessionmaker
from server.db.models import GuidanceSession
from tests.conftest import server_env
from tests.peers import MEDIA_SETTLE, CallPeer, connected_call, open_join_link, party_http, session_json, sign_in, start_video_session, until
from tests.services import STARTUP_TIMEOUT, await_port_file

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

BIMBING = Path(sys.executable).with_name("bimbing")


class ServerProcess:
    """``bimbing serve`` as its own process, with a tmp database. The first start
    binds port 0 and reads the port it got from ``--port-file``; a restart binds
    that port again, since the parties come back to the address they know."""

    _started = 0

    def __init__(self, tmp_path: Path, settings, **env: str):
        ServerProcess._started += 1
        self.port = 0
        self.log = tmp_path / f"server-{ServerProcess._started}.log"
        self.port_file = self.log.with_suffix(".port")
        self.env = server_env(
            BIMBING_DATABASE_URL=settings.database_url,
            BIMBING_DATA_DIR=str(tmp_path / "data"),
            BIMBING_SECRET_KEY=settings.secret_key,
            BIMBING_HEARTBEAT_SECONDS="1",
            **env,
        )
        self.proc: asyncio.subprocess.Process | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, **env: str) -> None:
        self.port_file.unlink(missing_ok=True)  # the last start's, until this one listens
        with open(self.log, "ab") as log:
            self.proc = await asyncio.create_subprocess_exec(
                str(BIMBING), "serve", "--host", "127.0.0.1", "--port", str(self.port), "--port-file", str(self.port_file),
                env={**self.env, **env}, stdout=log, stderr=log,
            )
        self.port = await await_port_file(self.port_file, self.proc, self.log)

        async def healthy():
            if self.proc.returncode is not None:
                raise AssertionError(f"server exited early: {self.log.read_text()[-2000:]}")
            try:
                async with aiohttp.ClientSession() as http, http.get(f"{self.base}/healthz") as resp:
                    return resp.status == 200
            except aiohttp.ClientError:
                return False

        await until(healthy, timeout=STARTUP_TIMEOUT, interval=0.1, what="the server to answer /healthz")

    async def kill(self) -> None:
        if self.proc and self.proc.returncode is None:
            self.proc.send_signal(signal.SIGKILL)
            await self.proc.wait()


async def _row(database_url: str, session_id: int) -> GuidanceSession:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            return await db.get(GuidanceSession, session_id)
    finally:
        await engine.dispose()


async def _call_then_crash(server: ServerProcess, settings, office, pk_http, phone):
    """Start a call, let heartbeats land for a while after media connected, SIGKILL."""
    await sign_in(pk_http, "pk1")
    session = await start_video_session(pk_http, office.clients["c1"].id)
    sid = session["id"]
    await open_join_link(phone, session["client_join_url"])
    officer, client = CallPeer(pk_http, sid, "officer"), CallPeer(phone, sid, "client")
    try:
        await officer.join()
        await client.join()
        await connected_call(officer, client)
        officer.start_heartbeat(0.3)
        client.start_heartbeat(0.3)
        record = await until(lambda: _event(pk_http, sid, "media_connected"), timeout=MEDIA_SETTLE, what="media_connected")
        connected_at = datetime.fromisoformat(record["at"])

        async def heartbeat_after_connect():
            row = await _row(settings.database_url, sid)
            return row.last_heartbeat_at and (row.last_heartbeat_at - connected_at).total_seconds() >= 1.5

        await until(heartbeat_after_connect, timeout=15, what="heartbeats stored after media connected")
        await server.kill()
    finally:
        await officer.close()
        await client.close()
    row = await _row(settings.database_url, sid)
    return sid, connected_at, row.last_heartbeat_at


async def _event(http, sid, kind):
    try:
        record = await session_json(http, sid)
    except (aiohttp.ClientError, AssertionError):
        return None
    return next((e for e in record["events"] if e["kind"] == kind), None)


async def test_call_cut_by_a_crash_resumes_when_both_come_back(tmp_path, settings, office):
    server = ServerProcess(tmp_path, settings, BIMBING_RESUME_GRACE_SECONDS="60")
    await server.start()
    try:
        async with party_http(server.base) as pk_http, party_http(server.base) as phone:
            sid, connected_at, last_heartbeat = await _call_then_crash(server, settings, office, pk_http, phone)

            await server.start()
            officer, client = CallPeer(pk_http, sid, "officer"), CallPeer(phone, sid, "client")
            try:
                await officer.join()
                await client.join()
                # A device admitted before the crash is let back in directly.
                await client.next("admitted")
                await officer.wait_connected()
                await client.wait_connected()
                await until(lambda: _event(pk_http, sid, "resumed"), what="resumed")
                resumed_from = time.monotonic()
                await client.wait_frames(video=10, audio=10)
                await officer.wait_frames(video=10, audio=10)
                observed = time.monotonic() - resumed_from
                await officer.end()
            finally:
                await officer.close()
                await client.close()
            record = await session_json(pk_http, sid)
    finally:
        await server.kill()

    events = record["events"]
    assert [e["kind"] for e in events] == [
        "created", "link_issued", "link_opened", "officer_joined", "client_waiting", "admitted", "media_connected",
        "server_restarted", "officer_joined", "admitted", "resumed",
        "disconnected", "ended",
    ]
    restarted = events[7]["detail"]
    cut_interval = restarted["seconds"]
    # The interval the crash cut is closed at the last stored heartbeat.
    assert datetime.fromisoformat(restarted["interval_closed_at"]) == last_heartbeat
    assert cut_interval == pytest.approx((last_heartbeat - connected_at).total_seconds(), abs=1.0)
    assert cut_interval >= 1.0
    assert events[9]["detail"].get("automatic") is True
    final_interval = events[11]["detail"]["seconds"]
    assert final_interval >= observed
    assert record["duration_seconds"] == round(cut_interval + final_interval)
    assert record["status"] == "ended"


async def test_call_cut_by_a_crash_is_closed_as_interrupted_when_nobody_returns(tmp_path, settings, office):
    server = ServerProcess(tmp_path, settings, BIMBING_RESUME_GRACE_SECONDS="2")
    await server.start()
    try:
        async with party_http(server.base) as pk_http, party_http(server.base) as phone:
            sid, connected_at, last_heartbeat = await _call_then_crash(server, settings, office, pk_http, phone)
            await server.start()

            async def interrupted():
                record = await session_json(pk_http, sid)
                return record if record["status"] == "interrupted" else None

            record = await until(interrupted, timeout=20, interval=0.2, what="the session to be closed as interrupted")

            # Too late now: the room is closed for the client.
            late = CallPeer(phone, sid, "client")
            try:
                await late.connect()
                await late.send({"type": "join", "role": "client"})
                assert (await late.next("error"))["code"] == "session-closed"
            finally:
                await late.close()
    finally:
        await server.kill()

    kinds = [e["kind"] for e in record["events"]]
    assert kinds == [
        "created", "link_issued", "link_opened", "officer_joined", "client_waiting", "admitted", "media_connected",
        "server_restarted", "interrupted",
    ]
    assert datetime.fromisoformat(record["ended_at"]) == last_heartbeat.replace(microsecond=0)
    cut = record["events"][7]["detail"]["seconds"]
    assert record["duration_seconds"] == round(cut) and cut >= 1.0


async def test_a_clean_shutdown_closes_every_socket_and_keeps_the_session_open(tmp_path, settings, office):
    server = ServerProcess(tmp_path, settings)
    await server.start()
    try:
        async with party_http(server.base) as pk_http, party_http(server.base) as phone:
            await sign_in(pk_http, "pk1")
            session = await start_video_session(pk_http, office.clients["c1"].id)
            await open_join_link(phone, session["client_join_url"])
            officer = CallPeer(pk_http, session["id"], "officer", webrtc=False)
            client = CallPeer(phone, session["id"], "client", webrtc=False)
            try:
                await officer.join()
                await client.join()
                await officer.admit((await officer.next("client-waiting"))["device"])
                await client.next("admitted")
                server.proc.send_signal(signal.SIGTERM)
                # Going away (1001): the pages reconnect by themselves.
                assert await officer.wait_closed(timeout=15) == 1001
                assert await client.wait_closed(timeout=15) == 1001
                assert await asyncio.wait_for(server.proc.wait(), 15) == 0
            finally:
                await officer.close()
                await client.close()
            row = await _row(settings.database_url, session["id"])
            assert row.status.value == "active" and row.ended_at is None
    finally:
        await server.kill()
