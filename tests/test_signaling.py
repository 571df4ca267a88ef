"""The signaling room, as the PK and the client live it (no media here; the
calls with real media are in test_webrtc_call.py and test_reconnect.py)."""

from __future__ import annotations

import pytest

from tests.peers import session_json, until
from tests.peers import offer_answer_works, stage


async def test_client_waits_until_officer_admits(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer = st.peer(st.pk, "officer")
        await officer.join()
        client = st.peer(st.phone, "client")
        welcome = await client.join()
        assert welcome["role"] == "client" and welcome["peer_present"] is True and welcome["device"]
        await client.next("waiting")
        waiting = await officer.next("client-waiting")
        assert waiting["device"] == welcome["device"] and waiting["label"]

        # A waiting client cannot reach the officer yet.
        await client.send({"type": "offer", "sdp": "v=0"})
        assert (await client.next("error"))["code"] == "not-admitted"

        await officer.admit(waiting["device"])
        assert await client.next("admitted") == {"type": "admitted", "polite": True}
        assert await client.next("peer-joined") == {"type": "peer-joined", "role": "officer", "polite": True}
        assert await officer.next("peer-joined") == {"type": "peer-joined", "role": "client", "polite": False}
        await offer_answer_works(officer, client)
        assert (await client.ping()) == {"type": "pong"}

        record = await session_json(st.pk, st.session_id)
        assert [e["kind"] for e in record["events"]] == ["created", "link_issued", "link_opened", "officer_joined", "client_waiting", "admitted"]
        assert record["status"] == "active" and record["started_at"] == record["events"][-1]["at"]


async def test_officer_who_joins_later_hears_of_the_waiting_client(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        client = st.peer(st.phone, "client")
        assert (await client.join())["peer_present"] is False
        await client.next("waiting")
        officer = st.peer(st.pk, "officer")
        assert (await officer.join())["peer_present"] is False  # a waiting client is not in the call
        assert (await officer.next("client-waiting"))["device"] == client.welcome["device"]


async def test_officer_denies_and_the_client_is_shown_out(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer = st.peer(st.pk, "officer")
        await officer.join()
        client = st.peer(st.phone, "client")
        await client.join()
        device = (await officer.next("client-waiting"))["device"]
        await officer.deny(device)
        await client.next("denied")
        assert await client.wait_closed() == 1000
        record = await session_json(st.pk, st.session_id)
        assert [e["kind"] for e in record["events"]][-2:] == ["client_waiting", "denied"]
        assert record["events"][-1]["detail"]["device"] == device
        # Admitting with nobody waiting is refused, the officer stays.
        await officer.admit()
        assert (await officer.next("error"))["code"] == "no-peer"
        assert not officer.closed


async def test_a_phone_that_reconnects_replaces_its_old_connection_and_is_let_back_in(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer, first = await st.officer_and_admitted_client()
        again = st.peer(st.phone, "client")  # same browser, same pass: same device
        welcome = await again.join()
        assert welcome["device"] == first.welcome["device"]
        assert (await first.next("error"))["code"] == "replaced"
        assert await first.wait_closed() == 4000
        assert await again.next("admitted") == {"type": "admitted", "polite": True}
        left = await officer.next("peer-left")
        assert left["reason"] == "replaced" and left["role"] == "client"
        await officer.next("peer-joined")
        await offer_answer_works(officer, again)
        record = await session_json(st.pk, st.session_id)
        admitted = [e for e in record["events"] if e["kind"] == "admitted"]
        assert [a["detail"].get("automatic", False) for a in admitted] == [False, True]
        assert not any(e["kind"] == "client_left" for e in record["events"])


async def test_a_phone_whose_network_changed_resumes_its_place_without_a_new_admission(aiohttp_server, settings, office):
    """The old socket is still open on the server (its address went away without
    a FIN); the phone joins again with ``resume`` and the call goes on."""
    async with stage(aiohttp_server, settings, office) as st:
        officer, first = await st.officer_and_admitted_client()
        again = st.peer(st.phone, "client")
        welcome = await again.join(resume=True)
        assert welcome["device"] == first.welcome["device"]
        assert await again.next("admitted") == {"type": "admitted", "polite": True, "resumed": True}
        assert await officer.next("peer-resumed") == {"type": "peer-resumed", "role": "client"}
        assert (await first.next("error"))["code"] == "replaced"
        assert await first.wait_closed() == 4000
        # the ICE restart's offer and answer go through the new socket
        await offer_answer_works(officer, again)
        record = await session_json(st.pk, st.session_id)
        kinds = [e["kind"] for e in record["events"]]
        assert kinds.count("admitted") == 1 and kinds.count("client_waiting") == 1, kinds
        assert kinds[-1] == "client_resumed" and "client_left" not in kinds, kinds
        assert record["events"][-1]["detail"]["device"] == welcome["device"]
        assert "peer-left" not in [m["type"] for m in officer.received]


async def test_an_officer_whose_network_changed_resumes_its_place_and_the_client_stays_in_the_call(aiohttp_server, settings, office):
    """The console's old socket is still open on the server (its address went away
    without a FIN); it joins again with ``resume``: the client is told
    ``peer-resumed``, not sent anywhere, and the log shows one call."""
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        again = st.peer(st.pk, "officer")
        welcome = await again.join(resume=True)
        assert welcome["resumed"] is True and welcome["peer_present"] is True
        assert (await officer.next("error"))["code"] == "replaced"
        assert await officer.wait_closed() == 4000
        assert await client.next("peer-resumed") == {"type": "peer-resumed", "role": "officer"}
        # the ICE restart's offer and answer go through the new socket
        await offer_answer_works(again, client)
        assert not client.closed
        assert not {"peer-left", "peer-joined", "waiting"} & set(client.types()[client.types().index("peer-resumed"):])
        record = await session_json(st.pk, st.session_id)
        kinds = [e["kind"] for e in record["events"]]
        assert kinds.count("admitted") == 1 and kinds.count("officer_joined") == 1, kinds
        assert kinds[-1] == "officer_resumed" and "officer_left" not in kinds, kinds
        assert record["events"][-1]["detail"]["staff"] == "pk1"
        assert record["status"] == "active"


async def test_the_link_opened_on_a_second_device_waits_for_the_officer(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer, first = await st.officer_and_admitted_client()
        tablet = await st.browser(join_url=st.session["client_join_url"])
        second = st.peer(tablet, "client")
        welcome = await second.join()
        assert welcome["device"] != first.welcome["device"]
        await second.next("waiting")
        waiting = await officer.next("client-waiting")
        assert waiting["device"] == welcome["device"]
        # The PK decides: admitting the second device replaces the first.
        await officer.admit(waiting["device"])
        await second.next("admitted")
        assert (await first.next("error"))["code"] == "replaced"
        await offer_answer_works(officer, second)


async def test_officer_hangup_leaves_the_call_without_ending_it(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        await officer.hangup()
        left = await client.next("peer-left")
        assert left == {"type": "peer-left", "role": "officer", "reason": "hangup", "device": None}
        record = await session_json(st.pk, st.session_id)
        assert record["status"] == "active"
        assert record["events"][-1]["kind"] == "officer_left" and record["events"][-1]["detail"]["reason"] == "hangup"
        back = st.peer(st.pk, "officer")
        assert (await back.join())["peer_present"] is True
        await back.next("peer-joined")
        await offer_answer_works(back, client)


async def test_ending_the_session_from_the_api_tells_both_and_closes_the_room(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        async with st.pk.post(f"/api/sessions/{st.session_id}/end") as resp:
            assert resp.status == 200
        await officer.next("session-ended")
        await client.next("session-ended")
        assert await client.wait_closed() == 1000
        late = st.peer(st.phone, "client")
        await late.connect()
        await late.send({"type": "join", "role": "client"})
        assert (await late.next("error"))["code"] == "session-closed"
        record = await session_json(st.pk, st.session_id)
        assert record["status"] == "ended" and record["events"][-1]["kind"] == "ended"


async def test_officer_ends_over_the_socket(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        await officer.end()
        await client.next("session-ended")
        await until(lambda: officer.closed and client.closed, what="both sockets closed")
        record = await session_json(st.pk, st.session_id)
        assert record["status"] == "ended"
        # No media ever connected: nothing counted, no interval logged.
        assert record["duration_seconds"] == 0
        assert [e["kind"] for e in record["events"]][-2:] == ["admitted", "ended"]


@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1"])
async def test_a_socket_from_another_site_is_refused_before_the_upgrade(aiohttp_server, settings, office, origin):
    async with stage(aiohttp_server, settings, office) as st:
        async with st.pk.get(f"/ws/sessions/{st.session_id}", headers={"Origin": origin, "Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13", "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}) as resp:
            assert resp.status == 403
            assert (await resp.json())["error"] == "cross-site"
        # Our own origin is fine.
        officer = st.peer(st.pk, "officer", origin=st.base)
        assert (await officer.join())["role"] == "officer"


async def test_relayed_messages_reach_the_other_party_as_the_sender_wrote_them_plus_from(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = st.peer(st.pk, "officer"), st.peer(st.phone, "client")
        await officer.join()
        await client.join()
        await officer.admit((await officer.next("client-waiting"))["device"])
        await client.next("peer-joined")
        await officer.next("peer-joined")
        # Spacing and a null the sender wrote come through; nothing is added but "from".
        await officer.send_raw('{ "type" : "candidate",\n "candidate": {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": null} }\n')
        assert await client.next("candidate") == {
            "type": "candidate", "candidate": {"candidate": "candidate:1 1 udp 1 10.0.0.1 9 typ host", "sdpMid": None}, "from": "officer",
        }
        # An offer of 20,000 characters (not ASCII): the send that keeps the lock and the timeout.
        sdp = "v=0\r\n" + "a=x-ü\r\n" * 2857
        await client.send({"type": "offer", "sdp": sdp})
        assert await officer.next("offer") == {"type": "offer", "sdp": sdp, "from": "client"}
        await client.send({"type": "reach", "step": "audio"})
        assert await officer.next("reach") == {"type": "reach", "step": "audio", "from": "client"}
        # A refused frame is answered as before and relays nothing.
        await officer.send_raw('{"type": "candidate", "candidate": null, "from": "client"}')
        assert (await officer.next("error"))["code"] == "bad-message"
        await officer.send({"type": "candidate", "candidate": None})
        assert await client.next("candidate") == {"type": "candidate", "candidate": None, "from": "officer"}
