"""The log of a real ``bimbing serve`` run, in JSON: one line per request and
per call event, each with a request id (and the session id where there is
one), and never a password, a join token, a cookie or note text."""

from __future__ import annotations

import asyncio
import json
import signal
from urllib.parse import urlsplit

import pytest

from tests.peers import CallPeer, open_join_link, party_http, sign_in, start_video_session, until
from tests.test_restart import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]

PASSWORD = "correct horse battery"
NOTE = "Klien bercerita tentang utang kepada rentenir di Cakung"


async def test_a_real_run_logs_each_request_and_event_and_no_secret(tmp_path, settings, office):
    server = ServerProcess(tmp_path, settings, BIMBING_LOG_FORMAT="json")
    await server.start()
    try:
        async with party_http(server.base) as pk, party_http(server.base) as phone:
            async with pk.post("/api/login", json={"username": "pk1", "password": "wrong " + PASSWORD}) as resp:
                assert resp.status == 401
            await sign_in(pk, "pk1", PASSWORD)
            session = await start_video_session(pk, office.clients["c1"].id)
            token = urlsplit(session["client_join_url"]).path.rsplit("/", 1)[-1]
            assert len(token) > 20
            assert (await open_join_link(phone, session["client_join_url"])).status == 303
            officer = CallPeer(pk, session["id"], "officer", webrtc=False)
            client = CallPeer(phone, session["id"], "client", webrtc=False)
            try:
                await officer.join()
                await client.join()
                await officer.admit((await officer.next("client-waiting"))["device"])
                await client.next("admitted")
            finally:
                await officer.close()
                await client.close()
            async with pk.patch(f"/api/sessions/{session['id']}", json={"notes": NOTE}) as resp:
                assert resp.status == 200, await resp.text()
            cookies = [c.value for jar in (pk.cookie_jar, phone.cookie_jar) for c in jar if len(c.value) >= 16]
            assert cookies, "the run set session and join-pass cookies"
            # The PATCH's own line is written as it is answered; wait for it rather than sleep.
            await until(lambda: '"/api/sessions/{id}"' in server.log.read_text() and '"PATCH"' in server.log.read_text(), what="the PATCH logged")
    finally:
        await _stop(server)

    text = server.log.read_text()
    for secret in (PASSWORD, token, NOTE, "rentenir", *cookies):
        assert secret not in text, f"the log holds a secret: {secret[:12]}..."
    lines = [json.loads(line) for line in text.splitlines() if line.startswith("{")]
    # Standard output carries the banner; every other line (standard error) is JSON.
    assert len(lines) == len([line for line in text.splitlines() if line.strip() and not line.startswith("Bimbing serving on")]), "every line is JSON"
    access = [line for line in lines if line["logger"] == "bimbing.access"]
    by_route = {(line["method"], line["route"]): line for line in access}
    assert by_route[("POST", "/api/login")]["status"] in (200, 401)
    assert ("GET", "/j/{token}") in by_route and by_route[("GET", "/j/{token}")]["status"] == 303
    patch = by_route[("PATCH", "/api/sessions/{id}")]
    assert patch["status"] == 200 and patch["session_id"] == session["id"] and len(patch["request_id"]) == 16
    assert len({line["request_id"] for line in access}) == len(access), "one id per request"
    events = [line["event"] for line in lines if line.get("event") and line.get("session_id") == session["id"]]
    assert events[:3] == ["created", "link_issued", "link_opened"]
    assert {"officer_joined", "client_waiting", "admitted", "officer_left", "client_left"} <= set(events)


async def _stop(server: ServerProcess) -> None:
    if server.proc and server.proc.returncode is None:
        server.proc.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(server.proc.wait(), 30)
        except asyncio.TimeoutError:
            await server.kill()
