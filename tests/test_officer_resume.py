"""The officer's console changes network under a live call (issue 22, "The
officer moves too"): its socket dies without a word and a new one joins with
``resume``. Real aiortc peers through the real server: the media goes on, the
client never leaves its call, and the log keeps one call, one admission."""

from __future__ import annotations

import asyncio
import json

import aiohttp
import pytest

from tests.peers import MEDIA_SETTLE, media_call, session_json, until

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_officer_resumes_after_its_socket_died_and_the_media_goes_on(aiohttp_server, settings, office):
    async with media_call(aiohttp_server, settings, office) as call:
        officer, client, pk_http, sid = call.officer, call.client, call.pk, call.session_id
        await client.wait_frames(video=10, audio=10)
        old_pc, old_ws = officer.pc, officer.ws

        # The console's address changed: its old socket is silent, a new one resumes.
        welcome = await officer.move_socket()
        assert welcome["resumed"] is True and welcome["peer_present"] is True
        assert await client.next("peer-resumed") == {"type": "peer-resumed", "role": "officer"}
        # What the silent socket is sent, read now: "replaced", then the close (4000).
        told = await asyncio.wait_for(old_ws.receive(), 10)
        assert json.loads(told.data)["code"] == "replaced"
        closing = await asyncio.wait_for(old_ws.receive(), 10)
        assert (closing.type, closing.data) == (aiohttp.WSMsgType.CLOSE, 4000)

        # The same peer connections carry the media both ways, and the new socket
        # carries the officer's heartbeats: the server still counts the call.
        assert officer.pc is old_pc and officer.ice_connected and client.ice_connected
        frames = (officer.video_frames, client.video_frames)
        reports = len(officer.reports)
        await until(lambda: officer.video_frames >= frames[0] + 15 and client.video_frames >= frames[1] + 15,
                    timeout=MEDIA_SETTLE, what="frames both ways after the resume")
        await until(lambda: len(officer.reports) >= reports + 3, timeout=MEDIA_SETTLE, what="the officer's reports over the new socket")
        assert {"peer-left", "peer-joined", "waiting", "admitted"}.isdisjoint(client.types()[client.types().index("peer-resumed"):])

        await officer.end()
        await client.next("session-ended")
        record = await session_json(pk_http, sid)
        kinds = [e["kind"] for e in record["events"]]
        # One call: one admission, one interval opened and never closed by the move,
        # no officer_left; the duration is the whole call's.
        assert kinds.count("admitted") == 1 and kinds.count("officer_joined") == 1, kinds
        assert kinds.count("officer_resumed") == 1 and "officer_left" not in kinds and "client_left" not in kinds, kinds
        assert kinds.count("media_connected") == 1 and "reconnected" not in kinds, kinds
        closed = [e for e in record["events"] if e["kind"] == "disconnected"]
        assert [e["detail"]["reason"] for e in closed] == ["ended"], closed
        # the one interval spans the move
        assert kinds.index("media_connected") < kinds.index("officer_resumed") < kinds.index("disconnected"), kinds
        assert record["duration_seconds"] == round(closed[0]["detail"]["seconds"]) >= 1
