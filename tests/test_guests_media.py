"""Three real peers through the real server (issue 22): the officer, the client
and a guest, each pair on its own peer connection (the officer offers to the
guest as to the client, the guest offers to the client), media arriving each
way on every pair, and the session's record listing the guest with its stay
and its media evidence. aiortc peers, real WebSockets, both databases."""

from __future__ import annotations

from urllib.parse import urlsplit

from tests.peers import CallPeer, MEDIA_SETTLE, connected_call, party_http, session_json, sign_in, start_video_session, open_join_link, until


async def test_a_three_party_call_carries_media_every_way_and_the_record_lists_the_guest(aiohttp_server, settings, office):
    from server.app import create_app

    server = await aiohttp_server(create_app(settings))
    base = str(server.make_url("/")).rstrip("/")
    async with party_http(base) as pk, party_http(base) as phone, party_http(base) as guest_http:
        await sign_in(pk, "pk1")
        session = await start_video_session(pk, office.clients["c1"].id)
        sid = session["id"]
        assert (await open_join_link(phone, session["client_join_url"])).status == 303
        async with pk.post(f"/api/sessions/{sid}/guests", json={"role": "penerjemah", "name": "Pak Made (penerjemah)"}) as resp:
            assert resp.status == 201
            issued = await resp.json()
        async with guest_http.get(urlsplit(issued["join_url"]).path, allow_redirects=False) as resp:
            assert resp.status == 303

        officer, client, guest = CallPeer(pk, sid, "officer"), CallPeer(phone, sid, "client"), CallPeer(guest_http, sid, "guest")
        try:
            await officer.join()
            await client.join()
            await connected_call(officer, client)

            await guest.join()
            await guest.next("waiting")
            assert (await officer.next("guest-waiting"))["guest"] == issued["id"]
            await officer.send({"type": "admit", "guest": issued["id"]})
            await guest.next("admitted")

            me = f"guest:{issued['id']}"
            await until(lambda: {"officer", "client"} <= guest.links.keys() and me in officer.links and me in client.links, what="every pair's link")
            # Media each way on every pair: officer<->client (the call), officer<->guest, guest<->client.
            await officer.links[me].wait_frames(timeout=MEDIA_SETTLE)
            await guest.links["officer"].wait_frames(timeout=MEDIA_SETTLE)
            await guest.links["client"].wait_frames(timeout=MEDIA_SETTLE)
            await client.links[me].wait_frames(timeout=MEDIA_SETTLE)
            frames = (officer.video_frames, client.video_frames)
            await until(lambda: officer.video_frames > frames[0] and client.video_frames > frames[1], what="the call's own media still flowing")
            assert officer.pc is not None and client.pc is not None and len(officer.links) == 1 and len(client.links) == 1

            async def evidence():
                [g] = (await session_json(pk, sid))["guests"]
                stay = g["attended"][0] if g["attended"] else None
                return stay and stay["media"]["video_packets"] > 0 and stay["media"]["audio_packets"] > 0 and g

            g = await until(evidence, timeout=MEDIA_SETTLE, what="the guest's media evidence in the record")
            assert (g["role"], g["name"]) == ("penerjemah", "Pak Made (penerjemah)")
            assert g["attended"][0]["media"]["from"] is not None and g["attended"][0]["to"] is None

            # The guest leaves; the call goes on and the record says until when.
            await guest.hangup()
            left = await officer.next("peer-left")
            assert (left["role"], left["guest"], left["reason"]) == ("guest", issued["id"], "hangup")

            async def closed():
                [g] = (await session_json(pk, sid))["guests"]
                return g["attended"][0]["to"] and g

            g = await until(closed, what="the guest's stay closed")
            stay = g["attended"][0]
            assert stay["from"] <= stay["media"]["from"] <= stay["media"]["to"] <= stay["to"] and stay["left_reason"] == "hangup"
            assert (await officer.ping())["type"] == "pong" and officer.ice_connected and client.ice_connected
            await officer.end()
            kinds = [e["kind"] for e in (await session_json(pk, sid))["events"]]
            assert "guest" not in " ".join(kinds)  # the call's log is the officer's and the client's, as before
            # The client's record page names who else was in the call.
            async with pk.get(f"/clients/{office.clients['c1'].id}") as resp:
                assert resp.status == 200
                page = await resp.text()
            assert f'data-guest="{issued["id"]}">Penerjemah: Pak Made (penerjemah)</small>' in page
        finally:
            for peer in (guest, client, officer):
                await peer.close()
