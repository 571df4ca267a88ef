"""A phone that lost its network keeps its place in the call for a while
(``BIMBING_CLIENT_HOLD_SECONDS``, issue 25). Chromium gives up the socket of a
phone whose network went, and its end reaches the server when the network is
back, just before the new socket's ``join``: without the hold, the server had
logged the client as gone and the phone was admitted into a new call
(``client_left``, ``admitted``). With it, the phone resumes the same call. One
that does not come back is logged as gone when the hold ends; one that closes
its socket with a close frame (a page left) leaves at once."""

from __future__ import annotations

import time

from server.keys import rooms_key
from tests.peers import offer_answer_works, session_json, stage, until


async def _place_held_after_the_break(st) -> bool:
    """Once the server saw the client's socket end: whether the client's place is still held."""
    def client():
        room = st.app[rooms_key].get(st.session_id)
        return room.client if room is not None else None

    await until(lambda: client() is None or client().transport.is_closing(), what="the server to see the socket end")
    return client() is not None


async def test_a_phone_whose_socket_broke_off_resumes_its_call_while_its_place_is_held(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings.with_(client_hold_seconds=30), office) as st:
        officer, first = await st.officer_and_admitted_client()
        await first.drop()  # no close frame: the network went
        assert await _place_held_after_the_break(st), "the place was given up as the socket ended"

        again = st.peer(st.phone, "client")
        welcome = await again.join(resume=True)
        assert welcome["device"] == first.welcome["device"] and welcome["peer_present"] is True
        assert await again.next("admitted") == {"type": "admitted", "polite": True, "resumed": True}
        assert await officer.next("peer-resumed") == {"type": "peer-resumed", "role": "client"}
        await offer_answer_works(officer, again)  # the ICE restart goes through the new socket
        assert "peer-left" not in officer.types(), officer.types()

        record = await session_json(st.pk, st.session_id)
        kinds = [e["kind"] for e in record["events"]]
        assert kinds.count("admitted") == 1 and kinds[-1] == "client_resumed" and "client_left" not in kinds, kinds


async def test_a_phone_that_does_not_come_back_is_logged_as_gone_when_the_hold_ends(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings.with_(client_hold_seconds=1), office) as st:
        officer, client = await st.officer_and_admitted_client()
        await client.drop()
        assert await _place_held_after_the_break(st), "the place was given up as the socket ended"
        noticed = time.monotonic()
        left = await officer.next("peer-left")
        assert time.monotonic() - noticed >= 0.5  # held first (a scheduling margin under the 1 s)
        assert (left["role"], left["reason"]) == ("client", "dropped")
        record = await session_json(st.pk, st.session_id)
        gone = [e for e in record["events"] if e["kind"] == "client_left"]
        assert [e["detail"]["reason"] for e in gone] == ["dropped"], record["events"]


async def test_a_phone_that_closes_its_socket_leaves_at_once(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings.with_(client_hold_seconds=30), office) as st:
        officer, client = await st.officer_and_admitted_client()
        await client.ws.close()  # a close frame, no hangup: the page was left
        left = await officer.next("peer-left", timeout=10)  # not after the 30 s hold
        assert (left["role"], left["reason"]) == ("client", "dropped")
        assert (await session_json(st.pk, st.session_id))["events"][-1]["kind"] == "client_left"


async def test_a_socket_the_phone_gave_up_for_a_new_network_keeps_its_place(aiohttp_server, settings, office):
    """The phone closes a socket it gave up on a change of network with 4000 (``network
    change``, webclient/signaling.js) when a second change comes before its successor
    was welcomed: the place is held as for one that broke off, and the successor resumes."""
    async with stage(aiohttp_server, settings.with_(client_hold_seconds=30), office) as st:
        officer, first = await st.officer_and_admitted_client()
        await first.ws.close(code=4000, message=b"network change")
        assert await _place_held_after_the_break(st), "the place was given up as the socket ended"
        again = st.peer(st.phone, "client")
        await again.join(resume=True)
        assert await again.next("admitted") == {"type": "admitted", "polite": True, "resumed": True}
        assert await officer.next("peer-resumed") == {"type": "peer-resumed", "role": "client"}
        kinds = [e["kind"] for e in (await session_json(st.pk, st.session_id))["events"]]
        assert kinds[-1] == "client_resumed" and "client_left" not in kinds, kinds
