"""The client's phone drops mid-call and comes back: one session, two
connected intervals in the log, and the duration is their sum."""

from __future__ import annotations

import time

import pytest

from tests.peers import MEDIA_SETTLE, has_event, media_call, session_json, until

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_dropped_phone_rejoins_and_the_duration_is_the_sum_of_both_intervals(aiohttp_server, settings, office):
    wall_start = time.monotonic()
    # The drop without the place held for the phone's return (test_client_hold.py holds it).
    settings = settings.with_(client_hold_seconds=0)
    async with media_call(aiohttp_server, settings, office) as call:
        officer, client, pk_http, sid = call.officer, call.client, call.pk, call.session_id
        rejoined = call.peer(call.phone, "client")
        first_from = time.monotonic()
        await client.wait_frames(video=10, audio=10)
        first_observed = time.monotonic() - first_from

        # The phone loses its network: socket and media stop at once.
        await client.drop()
        assert (await officer.next("peer-left"))["reason"] == "dropped"
        await until(lambda: has_event(pk_http, sid, "client_left"), what="the drop logged")

        # It comes back with the same pass: let in directly, no waiting room.
        welcome = await rejoined.join()
        assert welcome["device"] == client.welcome["device"]
        await rejoined.next("admitted")
        await officer.next("peer-joined")
        await officer.wait_connected()
        await rejoined.wait_connected()
        await until(lambda: has_event(pk_http, sid, "reconnected"), timeout=MEDIA_SETTLE, what="second interval open")
        second_from = time.monotonic()
        frames_before = officer.video_frames
        await rejoined.wait_frames(video=10, audio=10)
        await until(lambda: officer.video_frames >= frames_before + 10, what="officer sees the client again")
        second_observed = time.monotonic() - second_from
        await officer.end()
        await call.close_peers()
        wall = time.monotonic() - wall_start
        record = await session_json(pk_http, sid)

    kinds = [e["kind"] for e in record["events"]]
    assert kinds == [
        "created", "link_issued", "link_opened", "officer_joined", "client_waiting", "admitted", "media_connected",
        "disconnected", "client_left",
        "admitted", "reconnected",
        "disconnected", "ended",
    ]
    events = record["events"]
    assert events[7]["detail"]["reason"] == "dropped" and events[7]["detail"]["role"] == "client"
    assert events[9]["detail"] == {"device": welcome["device"], "automatic": True}
    intervals = [e["detail"]["seconds"] for e in events if e["kind"] == "disconnected"]
    assert len(intervals) == 2
    assert intervals[0] >= first_observed and intervals[1] >= second_observed
    assert sum(intervals) <= wall
    assert record["duration_seconds"] == round(sum(intervals))
    assert record["status"] == "ended"

