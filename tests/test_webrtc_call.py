"""A guidance call with real aiortc peers through the real server: the PK
starts a video session, the client opens the link, waits, is admitted, both
see and hear each other, the PK ends — and the log tells exactly that."""

from __future__ import annotations

import time
from datetime import datetime

import pytest

from server.app import create_app
from tests.peers import MEDIA_SETTLE, CallPeer, connected_call, has_event, open_join_link, party_http, session_json, sign_in, start_video_session, until

pytestmark = pytest.mark.slow


# The lifecycle is the same on PostgreSQL (the API tests run on both); each call
# costs seconds of CPU, so the calls run on SQLite.
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@SQLITE_ONLY
@pytest.mark.parametrize("ends_by", ["socket", "api"])
async def test_client_and_officer_see_and_hear_each_other_and_the_log_is_exact(aiohttp_server, settings, office, ends_by):
    wall_start = time.monotonic()
    server = await aiohttp_server(create_app(settings))
    base = str(server.make_url("/"))
    async with party_http(base) as pk_http, party_http(base) as phone:
        await sign_in(pk_http, "pk1")
        session = await start_video_session(pk_http, office.clients["c1"].id)

        opened = await open_join_link(phone, session["client_join_url"])
        assert opened.status == 303 and opened.headers["Location"] == "/join"

        officer = CallPeer(pk_http, session["id"], "officer", origin=base.rstrip("/"))
        client = CallPeer(phone, session["id"], "client", origin=base.rstrip("/"))
        try:
            welcome = await officer.join()
            assert welcome["ice_servers"] == [] and welcome["peer_present"] is False
            await client.join()
            assert (await client.next("waiting"))["type"] == "waiting"

            await connected_call(officer, client)
            # The server has stamped both sides connected: from here on the call counts.
            await until(lambda: has_event(pk_http, session["id"], "media_connected"), timeout=MEDIA_SETTLE, what="media_connected in the log")
            observed_from = time.monotonic()
            await officer.wait_frames(video=20, audio=20)
            await client.wait_frames(video=20, audio=20)
            observed = time.monotonic() - observed_from
            if ends_by == "socket":
                await officer.end()
            else:  # the console's "end session" button
                async with pk_http.post(f"/api/sessions/{session['id']}/end") as resp:
                    assert resp.status == 200
                await officer.next("session-ended")
            await client.next("session-ended")
            assert await client.wait_closed() == 1000
        finally:
            await officer.close()
            await client.close()
        wall = time.monotonic() - wall_start

        record = await session_json(pk_http, session["id"])
    assert officer.video_frames >= 20 and officer.audio_frames >= 20
    assert client.video_frames >= 20 and client.audio_frames >= 20
    assert record["status"] == "ended"
    kinds = [e["kind"] for e in record["events"]]
    assert kinds == [
        "created", "link_issued", "link_opened", "officer_joined", "client_waiting",
        "admitted", "media_connected", "disconnected", "ended",
    ]
    closing = record["events"][-2]
    assert closing["detail"]["reason"] == "ended"
    connected_seconds = closing["detail"]["seconds"]
    assert observed <= connected_seconds <= wall
    assert record["duration_seconds"] == round(connected_seconds)
    # started_at is the admit; timestamps never go backwards.
    stamps = [datetime.fromisoformat(e["at"]) for e in record["events"]]
    assert stamps == sorted(stamps)
    assert record["started_at"] == next(e["at"] for e in record["events"] if e["kind"] == "admitted")
    # The officer offered, the client was polite.
    assert client.types()[:4] == ["welcome", "waiting", "admitted", "peer-joined"]
    assert "answer" in officer.types() and "offer" in client.types()
