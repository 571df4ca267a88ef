"""A third person by link (issue 22): the PK issues a guest link, the guest
waits and is admitted on its own, the link expires with the session and a
revoked one is refused at once (410) with the live socket closed; a guest's
pass opens nothing but the guest's page and socket. Real server, real
WebSockets, both databases."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

import pytest

from server.app import create_app
from tests.conftest import seed_office
from tests.peers import CallPeer, admitted_call, party_http, session_json, sign_in, stage, start_video_session, until
from tests.test_scaleout import cluster, redis_env  # noqa: F401  (the several-process fixtures)
from tests.test_signing import drawn


async def issue(http, session_id: int, role: str = "penjamin", name: str = "Ibu Sari (penjamin)") -> tuple[int, dict]:
    async with http.post(f"/api/sessions/{session_id}/guests", json={"role": role, "name": name}) as resp:
        return resp.status, await resp.json()


async def open_guest_link(http, join_url: str):
    async with http.get(urlsplit(join_url).path, allow_redirects=False) as resp:
        await resp.read()
        return resp


async def guest_list(http, session_id: int) -> list[dict]:
    async with http.get(f"/api/sessions/{session_id}/guests") as resp:
        assert resp.status == 200, await resp.text()
        return (await resp.json())["guests"]


async def test_pk_issues_a_guest_link_and_the_guest_opens_the_join_page_in_its_role(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        status, body = await issue(st.pk, st.session_id, "orang_tua_wali", "Bapak Joko (ayah)")
        assert status == 201, body
        assert body["role"] == "orang_tua_wali" and body["name"] == "Bapak Joko (ayah)" and body["revoked_at"] is None
        assert body["join_url"].startswith(st.base + "/g/") and body["expires_at"].endswith("+07:00")
        assert [(g["id"], g["role"], g["attended"]) for g in await guest_list(st.pk, st.session_id)] == [(body["id"], "orang_tua_wali", [])]

        guest = await st.browser()
        resp = await open_guest_link(guest, body["join_url"])
        assert resp.status == 303 and resp.headers["Location"] == "/guest"
        async with guest.get("/guest") as page:
            html = await page.text()
            assert page.status == 200
        assert '"role": "guest"' in html or '"role":"guest"' in html
        assert "Bapak Joko (ayah)" in html and 'id="kendala-form"' not in html  # no kendala form: the guest is not the client
        # A made-up token is no link at all.
        assert (await open_guest_link(guest, st.base + "/g/not-a-real-token-aaaaaaaaaaaaaaaa")).status == 404


async def test_revoking_a_guest_link_answers_410_and_closes_the_live_guest(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        _, body = await issue(st.pk, st.session_id)
        guest_http = await st.browser()
        assert (await open_guest_link(guest_http, body["join_url"])).status == 303

        guest = st.peer(guest_http, "guest")
        welcome = await guest.join()
        assert welcome["role"] == "guest" and welcome["device"] is None
        await guest.next("waiting")
        waiting = await officer.next("guest-waiting")
        assert waiting == {"type": "guest-waiting", "guest": body["id"], "role": "penjamin", "name": "Ibu Sari (penjamin)"}
        assert "guest-waiting" not in client.types()  # the waiting room is the PK's to see

        # Admitted on its own: it meets both parties, and they it.
        await officer.send({"type": "admit", "guest": body["id"]})
        await guest.next("admitted")
        met = sorted((m["role"], m["polite"]) for m in (await guest.next("peer-joined"), await guest.next("peer-joined")))
        assert met == [("client", False), ("officer", True)]
        to_officer = await officer.next("peer-joined")
        assert (to_officer["role"], to_officer["guest"], to_officer["polite"], to_officer["guest_role"]) == ("guest", body["id"], False, "penjamin")
        to_client = await client.next("peer-joined")
        assert (to_client["role"], to_client["guest"], to_client["polite"], to_client["name"]) == ("guest", body["id"], True, "Ibu Sari (penjamin)")

        # Its own peer connections' signals go wrapped, to the one named; the call's never reach it.
        await guest.send({"type": "guest-signal", "to": "client", "signal": {"type": "offer", "sdp": "v=0\r\n"}})
        relayed = await client.next("guest-signal")
        assert relayed == {"type": "guest-signal", "to": "client", "from": f"guest:{body['id']}", "signal": {"type": "offer", "sdp": "v=0\r\n"}}
        await officer.send({"type": "guest-signal", "to": f"guest:{body['id']}", "signal": {"type": "offer", "sdp": "v=0\r\n"}})
        assert (await guest.next("guest-signal"))["from"] == "officer"
        await officer.send({"type": "offer", "sdp": "v=0\r\n"})
        await client.next("offer")
        assert "offer" not in guest.types()

        # The text line reaches the guest, and the guest's reaches both.
        await officer.send({"type": "chat", "text": "Selamat datang, Bu Sari."})
        assert (await guest.next("chat"))["text"] == "Selamat datang, Bu Sari."
        assert (await client.next("chat"))["text"] == "Selamat datang, Bu Sari."
        await guest.send({"type": "chat", "text": "Terima kasih, Bu."})
        for party in (officer, client):
            line = await party.next("chat")
            assert (line["from"], line["guest"], line["name"]) == ("guest", body["id"], "Ibu Sari (penjamin)")

        # Revoked: at once, the live socket closes, the others are told, the link answers 410.
        async with st.pk.delete(f"/api/sessions/{st.session_id}/guests/{body['id']}") as resp:
            assert resp.status == 200 and (await resp.json()) == {"revoked": True, "closed": 1}
        assert (await guest.next("error"))["code"] == "link-revoked"
        assert await guest.wait_closed() == 1008
        left = await officer.next("peer-left")
        assert (left["role"], left["guest"], left["reason"]) == ("guest", body["id"], "link-revoked")
        assert (await client.next("peer-left"))["guest"] == body["id"]
        assert (await open_guest_link(await st.browser(), body["join_url"])).status == 410
        async with guest_http.get("/guest") as page:
            assert page.status == 410
        again = st.peer(guest_http, "guest")
        await again.connect()
        await again.send({"type": "join", "role": "guest"})
        assert (await again.next("error"))["code"] == "link-revoked"
        # The call itself goes on.
        assert (await officer.ping())["type"] == "pong" and (await client.ping())["type"] == "pong"

        async def stay_closed():
            [g] = await guest_list(st.pk, st.session_id)
            return g["attended"] and g["attended"][0]["to"] and g

        g = await until(stay_closed, what="the guest's stay closed")
        assert g["revoked_at"] is not None and g["attended"][0]["left_reason"] == "link-revoked"
        assert g["attended"][0]["from"] <= g["attended"][0]["to"]
        # The session's record lists it.
        assert [x["id"] for x in (await session_json(st.pk, st.session_id))["guests"]] == [body["id"]]


async def test_a_guest_link_expires_with_the_session(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        _, body = await issue(st.pk, st.session_id)
        guest_http = await st.browser()
        assert (await open_guest_link(guest_http, body["join_url"])).status == 303
        async with st.pk.post(f"/api/sessions/{st.session_id}/end") as resp:
            assert resp.status == 200, await resp.text()
        assert (await open_guest_link(await st.browser(), body["join_url"])).status == 410
        async with guest_http.get("/guest") as page:
            assert page.status == 410
        status, refused = await issue(st.pk, st.session_id)
        assert (status, refused["error"]) == (409, "session-closed")


async def test_a_guest_link_expires_with_the_join_window(aiohttp_server, settings, office):
    # The client's link is good until scheduled + JOIN_EXPIRES_AFTER_HOURS: at 0, a session
    # starting now has its window closed already, and the guest's with it.
    server = await aiohttp_server(create_app(dataclasses.replace(settings, join_expires_after_hours=0)))
    base = str(server.make_url("/")).rstrip("/")
    async with party_http(base) as pk, party_http(base) as guest:
        await sign_in(pk, "pk1")
        session = await start_video_session(pk, office.clients["c1"].id)
        status, body = await issue(pk, session["id"])
        assert status == 201
        assert (await open_guest_link(guest, body["join_url"])).status == 410
        assert "bimbing_guest" not in {c.key for c in guest.cookie_jar}


@pytest.mark.parametrize("payload, field", [
    ({"role": "tetangga", "name": "X"}, "role"),
    ({"role": "penjamin", "name": ""}, "name"),
    ({"role": "penjamin"}, "name"),
    ({"name": "Ibu Sari"}, "role"),
    ({"role": "penjamin", "name": "x" * 201}, "name"),
    ({"role": "penjamin", "name": "Ibu Sari", "admin": True}, "admin"),
])
async def test_bad_guest_requests_are_refused_with_a_clear_400(aiohttp_server, settings, office, payload, field):
    async with stage(aiohttp_server, settings, office) as st:
        async with st.pk.post(f"/api/sessions/{st.session_id}/guests", json=payload) as resp:
            body = await resp.json()
            assert resp.status == 400, body
        assert body["error"] == "invalid-body" and field in body["message"]


async def test_who_may_issue_list_and_revoke_guest_links(aiohttp_server, settings, office, database_url):
    await seed_office(database_url, "Bapas Lain", prefix="x_")
    async with stage(aiohttp_server, settings, office) as st:
        _, body = await issue(st.pk, st.session_id)
        gid, sid = body["id"], st.session_id
        answers = {}
        for who in ("anonymous", "client", "pk2", "admin", "kasie", "x_kasie"):
            http = await st.browser(None if who in ("anonymous", "client") else who,
                                    join_url=st.session["client_join_url"] if who == "client" else None)
            got = []
            for method, path, payload in (("POST", f"/api/sessions/{sid}/guests", {"role": "penjamin", "name": "Z"}),
                                          ("GET", f"/api/sessions/{sid}/guests", None),
                                          ("DELETE", f"/api/sessions/{sid}/guests/{gid}", None)):
                async with http.request(method, path, json=payload) as resp:
                    got.append(f"{resp.status} {(await resp.json()).get('error', 'ok') if resp.status >= 400 else 'ok'}")
            answers[who] = got
        assert answers == {
            "anonymous": ["401 unauthenticated"] * 3,
            "client": ["401 unauthenticated"] * 3,
            "pk2": ["404 not-found"] * 3,
            "admin": ["403 no-guidance-role"] * 3,
            "kasie": ["201 ok", "200 ok", "200 ok"],
            "x_kasie": ["404 not-found"] * 3,
        }
        # Unknown ids, and another session's guest, are 404.
        other = await start_video_session(st.pk, office.clients["c1"].id)
        for path in (f"/api/sessions/{sid}/guests/999999", f"/api/sessions/{other['id']}/guests/{gid}", f"/api/sessions/{sid}/guests/abc"):
            async with st.pk.delete(path) as resp:
                assert resp.status == 404, path


async def test_guest_links_are_for_video_sessions_only(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        async with st.pk.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "office"}) as resp:
            assert resp.status == 201, await resp.text()
            office_session = await resp.json()
        status, body = await issue(st.pk, office_session["id"])
        assert (status, body["error"]) == (409, "not-video")


async def test_a_guest_pass_opens_nothing_else(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer = st.peer(st.pk, "officer")
        await officer.join()
        _, body = await issue(st.pk, st.session_id)
        guest_http = await st.browser()
        assert (await open_guest_link(guest_http, body["join_url"])).status == 303
        sid, cid = st.session_id, office.clients["c1"].id
        # The record, the notes, the chat, the guests, other sessions, the client's pages: all refused.
        for path in (f"/api/sessions/{sid}", f"/api/sessions/{sid}/guests", f"/api/sessions/{sid}/chat", f"/api/sessions/{sid}/history",
                     f"/api/clients/{cid}/record", f"/api/clients/{cid}", "/api/sessions", "/api/me", "/klien"):
            async with guest_http.get(path, allow_redirects=False) as resp:
                # (/klien without the client's own cookie is a 404 page: no such page for this browser)
                assert resp.status in (401, 403, 404, 302, 303), (path, resp.status)
                if resp.status in (302, 303):
                    assert resp.headers["Location"].startswith("/login"), path
        async with guest_http.patch(f"/api/sessions/{sid}", json={"notes": "x"}) as resp:
            assert resp.status in (401, 403)
        async with guest_http.get("/join") as resp:
            assert resp.status == 403  # the client's page needs the client's pass
        for path in (f"/sessions/{sid}", f"/sessions/{sid}/call"):
            async with guest_http.get(path, allow_redirects=False) as resp:
                assert resp.status in (302, 303) and resp.headers["Location"].startswith("/login"), path
        # The socket: not as the client, not as the officer, not into another session.
        for role, code in (("client", "unauthorized"), ("officer", "unauthorized")):
            peer = st.peer(guest_http, role)
            await peer.connect()
            await peer.send({"type": "join", "role": role})
            assert (await peer.next("error"))["code"] == code
        other = await start_video_session(st.pk, cid)
        peer = st.peer(guest_http, "guest", session_id=other["id"])
        await peer.connect()
        await peer.send({"type": "join", "role": "guest"})
        assert (await peer.next("error"))["code"] == "forbidden"
        # In its own socket, waiting: none of the officer's or the call's messages.
        guest = st.peer(guest_http, "guest")
        await guest.join()
        await guest.next("waiting")
        await officer.next("guest-waiting")
        for message in ({"type": "admit", "guest": body["id"]}, {"type": "end"}, {"type": "record-offer", "party": "client", "sdp": "v=0"},
                        {"type": "offer", "sdp": "v=0"}, {"type": "guest-signal", "to": "officer", "signal": {"type": "offer", "sdp": "v=0"}},
                        {"type": "chat", "text": "halo"}):
            await guest.send(message)
            error = await guest.next("error")
            assert error["code"] in ("forbidden", "not-admitted"), (message, error)
        assert "guest-signal" not in officer.types() and "chat" not in officer.types()
        # A denied guest is shown out.
        await officer.send({"type": "deny", "guest": body["id"]})
        await guest.next("denied")
        assert await guest.wait_closed() == 1000



async def _admitted_guest(st, officer, client):
    """A guest issued, opened and admitted into the officer's and client's call; it meets both."""
    _, body = await issue(st.pk, st.session_id)
    guest_http = await st.browser()
    assert (await open_guest_link(guest_http, body["join_url"])).status == 303
    guest = st.peer(guest_http, "guest")
    await guest.join()
    await guest.next("waiting")
    await officer.next("guest-waiting")
    await officer.send({"type": "admit", "guest": body["id"]})
    await guest.next("admitted")
    await guest.next("peer-joined")
    await guest.next("peer-joined")
    await officer.next("peer-joined")
    return body, guest_http, guest


async def test_a_guest_is_never_pushed_a_document_and_its_pass_cannot_read_or_sign_one(aiohttp_server, settings, office):
    """Signing in the call is the client's alone (issue 22): the guest's socket hears no
    ``document``, may not say ``document-seen``, and its pass is refused on the join routes."""
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        _, guest_http, guest = await _admitted_guest(st, officer, client)
        async with st.pk.post(f"/api/sessions/{st.session_id}/documents", json={"kind": "kontrak_bimbingan"}) as resp:
            assert resp.status == 201, await resp.text()
            document = await resp.json()
        assert (await client.next("document"))["id"] == document["id"]
        # The guest's "I opened it" is refused; a line after it shows the guest's socket got no document before.
        await guest.send({"type": "document-seen", "id": document["id"]})
        assert (await guest.next("error"))["code"] == "forbidden"
        assert "document" not in guest.types() and "document-seen" not in officer.types()
        # The guest's cookie is no join pass: it reads nothing and signs nothing.
        async with guest_http.get(f"/api/join/documents/{document['id']}") as resp:
            assert resp.status == 401, await resp.text()
        async with guest_http.post(f"/api/join/documents/{document['id']}/sign",
                                   json={"name": "Ibu Sari", "signature": drawn(), "revision": 1}) as resp:
            assert resp.status == 401, await resp.text()
        async with st.pk.get(f"/api/sessions/{st.session_id}/documents/{document['id']}") as resp:
            assert (await resp.json())["status"] == "pending"


async def test_an_officer_resuming_its_place_meets_the_admitted_guest_again(aiohttp_server, settings, office):
    """The officer's console changes network under a three-party call: the client's call is
    resumed, and the guest (whose pair the console dropped) is shown out and in again."""
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        body, _, guest = await _admitted_guest(st, officer, client)
        welcome = await officer.move_socket()
        assert welcome["resumed"] is True
        assert await client.next("peer-resumed") == {"type": "peer-resumed", "role": "officer"}
        assert (await guest.next("peer-left"))["role"] == "officer"
        again = await guest.next("peer-joined")
        assert (again["role"], again["polite"]) == ("officer", True)
        met = await officer.next("peer-joined")
        assert (met["role"], met["guest"], met["polite"]) == ("guest", body["id"], False)
        # The pair works on the new socket: a signal each way.
        await guest.send({"type": "guest-signal", "to": "officer", "signal": {"type": "answer", "sdp": "v=0\r\n"}})
        assert (await officer.next("guest-signal"))["from"] == f"guest:{body['id']}"
        await officer.send({"type": "guest-signal", "to": f"guest:{body['id']}", "signal": {"type": "offer", "sdp": "v=0\r\n"}})
        assert (await guest.next("guest-signal"))["from"] == "officer"
        assert "peer-left" not in client.types()


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_with_several_processes_a_guest_is_refused_unavailable_and_the_call_goes_on(cluster, office):  # noqa: F811
    """A guest's place lives in one process's memory (docs/deploy.md): on Redis it is
    refused plainly (unavailable, 1013), and the two-party call is untouched."""
    a = await cluster()
    async with party_http(a.base) as pk, party_http(a.base) as phone, party_http(a.base) as guest_http:
        await sign_in(pk, "pk1")
        session = await start_video_session(pk, office.clients["c1"].id)
        sid = session["id"]
        assert (await open_guest_link(phone, session["client_join_url"])).status == 303
        _, body = await issue(pk, sid)
        assert (await open_guest_link(guest_http, body["join_url"])).status == 303
        officer, client = CallPeer(pk, sid, "officer", webrtc=False), CallPeer(phone, sid, "client", webrtc=False)
        guest = CallPeer(guest_http, sid, "guest", webrtc=False)
        try:
            await admitted_call(officer, client)
            await guest.connect()
            await guest.send({"type": "join", "role": "guest"})
            assert (await guest.next("error"))["code"] == "unavailable"
            assert await guest.wait_closed() == 1013
            assert "guest-waiting" not in officer.types()
            assert (await officer.ping())["type"] == "pong" and (await client.ping())["type"] == "pong"
        finally:
            for peer in (guest, client, officer):
                await peer.close()
