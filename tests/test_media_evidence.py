"""A call's duration that one party alone cannot make up (issue #9, part 2).

Connected time counts only while both parties say ``connected`` and both
parties' heartbeats show their inbound packets rising. Real aiortc peers through
the real server, one of them lying: ``connected`` with no media, hand-typed
``connected`` with no peer connection at all, frozen counters; a socket that
stops answering without closing; two peers on the same network."""

from __future__ import annotations

import asyncio

import pytest

from server.app import create_app
from server.domain.calls.call_log import network_of
from server.domain.calls.media_evidence import CONTRADICTORY, FROZEN, counting, judge
from tests.peers import (
    MEDIA_SETTLE,
    CallPeer,
    connected_call,
    has_event,
    open_join_link,
    party_http,
    session_json,
    sign_in,
    start_video_session,
    until,
)

pytestmark = pytest.mark.slow
SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


# ---- the rule, alone ----------------------------------------------------------------


def test_a_side_counts_only_while_its_inbound_packets_rise():
    first = judge(None, {"audio": {"packets": 50, "bytes": 4000}})
    assert first["flowing"] and first["reason"] is None
    assert judge(first, {"audio": {"packets": 50, "bytes": 4000}})["reason"] == FROZEN
    assert judge(first, {"audio": {"packets": 40, "bytes": 3000}})["reason"] == CONTRADICTORY
    assert judge(first, {"audio": {"packets": 60, "bytes": 4000}})["reason"] == CONTRADICTORY  # packets with no payload
    assert judge(first, {"audio": {"packets": 60}})["flowing"]  # aiortc reports packets only
    assert judge(None, {})["reason"] == FROZEN  # nothing received at all


def test_time_counts_only_when_both_are_connected_and_both_receive():
    flowing = {"packets": 10, "bytes": 100, "flowing": True, "reason": None}
    frozen = {**flowing, "flowing": False, "reason": FROZEN}
    connected = {"officer": "connected", "client": "completed"}
    assert counting(connected, {"officer": flowing, "client": flowing})
    assert not counting(connected, {"officer": flowing, "client": frozen})
    assert not counting(connected, {"officer": flowing})
    assert not counting({"officer": "connected", "client": "checking"}, {"officer": flowing, "client": flowing})


def test_networks_are_cut_to_24_and_48():
    assert network_of("203.0.113.77") == "203.0.113.0/24"
    assert network_of("2001:db8:abcd:12::1") == "2001:db8:abcd::/48"
    assert network_of("::ffff:198.51.100.9") == "198.51.100.0/24"
    assert network_of("unknown") == ""


# ---- real peers ---------------------------------------------------------------------


async def _call(aiohttp_server, settings, office, *, officer_kw=None, client_kw=None, officer_headers=None, client_headers=None):
    server = await aiohttp_server(create_app(settings))
    base = str(server.make_url("/"))
    pk_http, phone = party_http(base), party_http(base)
    await sign_in(pk_http, "pk1")
    session = await start_video_session(pk_http, office.clients["c1"].id)
    await open_join_link(phone, session["client_join_url"])
    officer = CallPeer(pk_http, session["id"], "officer", origin=base.rstrip("/"), headers=officer_headers, **(officer_kw or {}))
    client = CallPeer(phone, session["id"], "client", origin=base.rstrip("/"), headers=client_headers, **(client_kw or {}))
    await officer.join()
    await client.join()
    return session, pk_http, phone, officer, client


@SQLITE_ONLY
async def test_a_client_claiming_connected_without_sending_media_gets_no_time(aiohttp_server, settings, office):
    # The liar sends no media and reports counters that rise; the honest officer receives nothing.
    fake = {"n": 0}

    def rising(_real):
        fake["n"] += 100
        return {"audio": {"packets": fake["n"], "bytes": fake["n"] * 80}, "video": {"packets": fake["n"], "bytes": fake["n"] * 900}}

    session, pk_http, phone, officer, client = await _call(aiohttp_server, settings, office, client_kw={"send_media": False, "report": rising})
    try:
        await connected_call(officer, client)
        # Several honest reports: the officer's counters stay at zero.
        await until(lambda: len(officer.reports) >= 4 and len(client.reports) >= 4, what="reports from both sides")
        assert all(sum(k["packets"] for k in r.values()) == 0 for r in officer.reports)
        assert client.video_frames > 0  # the honest officer's media did reach the liar
        await officer.end()
    finally:
        await officer.close()
        await client.close()
        await pk_http.close()
        await phone.close()
    record = await _record(settings, session["id"])
    assert "media_connected" not in record["kinds"]
    assert record["duration_seconds"] == 0


@SQLITE_ONLY
async def test_hand_typed_connected_messages_with_no_media_make_no_interval(aiohttp_server, settings, office):
    session, pk_http, phone, officer, client = await _call(aiohttp_server, settings, office, officer_kw={"webrtc": False}, client_kw={"webrtc": False})
    try:
        waiting = await officer.next("client-waiting")
        await officer.admit(waiting["device"])
        await client.next("admitted")
        for peer in (officer, client):
            await peer.send({"type": "media-state", "state": "connected"})
            await peer.ping()
        # Pings with counters that never move are no evidence either.
        for _ in range(3):
            for peer in (officer, client):
                await peer.send({"type": "ping", "inbound": {"audio": {"packets": 0, "bytes": 0}}})
                await peer.next("pong")
        await officer.end()
    finally:
        await officer.close()
        await client.close()
        await pk_http.close()
        await phone.close()
    record = await _record(settings, session["id"])
    assert "media_connected" not in record["kinds"] and record["duration_seconds"] == 0


@SQLITE_ONLY
async def test_frozen_counters_close_the_interval_with_a_reason(aiohttp_server, settings, office):
    freeze = {"at": None}

    def maybe_frozen(real):
        if freeze["at"] is None:
            return real
        return freeze["at"]

    session, pk_http, phone, officer, client = await _call(aiohttp_server, settings, office, client_kw={"report": maybe_frozen})
    try:
        await connected_call(officer, client)
        await until(lambda: has_event(pk_http, session["id"], "media_connected"), timeout=MEDIA_SETTLE, what="media_connected")
        await client.wait_frames(video=10, audio=10)
        # From now on the client keeps saying the same numbers: its media "stopped".
        freeze["at"] = client.reports[-1]
        events = await until(lambda: _events_of(pk_http, session["id"], "disconnected"), what="the interval to close")
        assert events[0]["detail"]["reason"] == "frozen" and events[0]["detail"]["role"] == "client"
        assert client.ice_connected  # ICE says connected the whole time: only the counters stopped
        await officer.end()
    finally:
        await officer.close()
        await client.close()
        await pk_http.close()
        await phone.close()
    record = await _record(settings, session["id"])
    assert record["kinds"].count("media_connected") == 1
    assert record["kinds"][-1] == "ended"


@SQLITE_ONLY
async def test_a_socket_that_stops_answering_is_closed_as_timeout(aiohttp_server, settings, office):
    # The client's place is then held a second for its return (test_client_hold.py).
    settings = settings.with_(heartbeat_timeout_seconds=2, client_hold_seconds=1)
    session, pk_http, phone, officer, client = await _call(aiohttp_server, settings, office)
    try:
        await connected_call(officer, client)
        await until(lambda: has_event(pk_http, session["id"], "media_connected"), timeout=MEDIA_SETTLE, what="media_connected")
        # Half-open: the phone neither reads nor closes (no FIN, no close frame), its media goes on.
        client._reporter.cancel()
        client.ws._conn.transport.pause_reading()
        loop = asyncio.get_running_loop()
        started = loop.time()
        left = await until(lambda: _events_of(pk_http, session["id"], "client_left"), timeout=15, what="the server to drop the silent socket")
        waited = loop.time() - started
        assert left[0]["detail"]["reason"] == "timeout"
        closing = (await _events_of(pk_http, session["id"], "disconnected"))[0]
        assert closing["detail"]["reason"] == "timeout" and closing["detail"]["role"] == "client"
        assert waited <= 2 * 1.5 + 1 + 2  # within the timeout and the hold (plus scheduling slack on a loaded box)
        peer_left = await officer.next("peer-left")
        assert peer_left["reason"] == "timeout"
        await officer.end()
    finally:
        await officer.close()
        await client.close()
        await pk_http.close()
        await phone.close()


@SQLITE_ONLY
async def test_a_client_joining_from_the_officers_network_is_flagged(aiohttp_server, settings, office):
    settings = settings.with_(trust_proxy=True)
    same = await _call(aiohttp_server, settings, office, officer_kw={"webrtc": False}, client_kw={"webrtc": False},
                       officer_headers={"X-Forwarded-For": "203.0.113.10"}, client_headers={"X-Forwarded-For": "203.0.113.99", "User-Agent": "Mozilla/5.0 (Linux; Android 14) Chrome/130.0 Mobile"})
    elsewhere = await _call(aiohttp_server, settings, office, officer_kw={"webrtc": False}, client_kw={"webrtc": False},
                            officer_headers={"X-Forwarded-For": "203.0.113.10"}, client_headers={"X-Forwarded-For": "198.51.100.7"})
    for session, pk_http, phone, officer, client in (same, elsewhere):
        await officer.next("client-waiting")
        await officer.close()
        await client.close()
        await phone.close()
    pk_http = same[1]
    facts = [e["detail"] for e in (await session_json(pk_http, same[0]["id"]))["events"] if e["kind"] in ("officer_joined", "client_waiting")]
    assert [f["network"] for f in facts] == ["203.0.113.0/24", "203.0.113.0/24"]
    assert facts[1]["ua_family"] == "Android Chrome"
    await sign_in(pk_http, "kasie")
    async with pk_http.get("/api/audit/anomalies") as resp:
        anomalies = (await resp.json())["anomalies"]
    flagged = [a for a in anomalies if a["kind"] == "same-network"]
    assert [a["session_id"] for a in flagged] == [same[0]["id"]]
    assert flagged[0]["detail"]["network"] == "203.0.113.0/24"
    async with pk_http.get("/audit/anomalies") as resp:
        assert "Jaringan sama dengan PK" in await resp.text()
    await same[1].close()
    await elsewhere[1].close()


# ---- helpers ---------------------------------------------------------------------------


async def _events_of(http, session_id, kind):
    return [e for e in (await session_json(http, session_id))["events"] if e["kind"] == kind]


async def _record(settings, session_id) -> dict:
    from tests.foundation import session_row

    row = await session_row(settings.database_url, session_id)
    return {"kinds": [e.kind for e in row.events], "duration_seconds": row.duration_seconds}
