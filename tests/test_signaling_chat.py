"""The text line beside the call (issue 22), as the PK and the client live it:
a line before the admission and its answer from the waiting room, lines in the
call while media is down, the limits, and the record that keeps them. Real
server, real WebSockets, both databases; two processes on the real Redis at
the end."""

from __future__ import annotations

import pytest

from tests.peers import (
    CallPeer,
    open_join_link,
    party_http,
    sign_in,
    stage,
    start_video_session,
)
from tests.test_scaleout import cluster, redis_env  # noqa: F401  (the two-process fixtures)


async def chat_record(http, session_id: int) -> list[dict]:
    async with http.get(f"/api/sessions/{session_id}/chat") as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
    assert body["session_id"] == session_id
    return body["messages"]


async def test_pk_tells_a_waiting_client_to_wait_and_the_client_answers_before_admission(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer = st.peer(st.pk, "officer")
        await officer.join()
        client = st.peer(st.phone, "client")
        device = (await client.join())["device"]
        await client.next("waiting")
        assert (await officer.next("client-waiting"))["device"] == device

        # The PK writes to the device in the waiting room, before admitting it.
        await officer.send({"type": "chat", "text": "Mohon tunggu, 5 menit lagi.", "ref": "o1", "device": device})
        line = await client.next("chat")
        ack = await officer.next("chat-ack")
        assert ack == {"type": "chat-ack", "id": line["id"], "ref": "o1", "at": line["at"], "delivered": True}
        assert line == {"type": "chat", "id": line["id"], "text": "Mohon tunggu, 5 menit lagi.", "from": "officer", "at": line["at"], "device": None}
        assert line["at"].endswith("+07:00")  # office time, with its offset

        # The client answers from the waiting room.
        await client.send({"type": "chat", "text": "Baik, Bu. Saya tunggu.", "ref": "c1"})
        answer = await officer.next("chat")
        assert (answer["from"], answer["text"], answer["device"]) == ("client", "Baik, Bu. Saya tunggu.", device)
        assert (await client.next("chat-ack"))["id"] == answer["id"] > line["id"]
        assert "admitted" not in client.types()  # all of that while still waiting

        # Admitted; the media goes down, and the line still works both ways.
        await officer.admit(device)
        await client.next("admitted")
        await client.send({"type": "media-state", "state": "failed"})
        await officer.send({"type": "media-state", "state": "disconnected"})
        await client.send({"type": "chat", "text": "Suara Ibu putus-putus.", "ref": "c2"})
        assert (await officer.next("chat"))["text"] == "Suara Ibu putus-putus."
        await officer.send({"type": "chat", "text": "Saya telepon sebentar lagi.", "ref": "o2"})  # no device: the admitted client
        assert (await client.next("chat"))["text"] == "Saya telepon sebentar lagi."
        # Acknowledged: each line is kept, its delivery written, before its sender hears of it.
        assert (await client.next("chat-ack"))["ref"] == "c2"
        assert (await officer.next("chat-ack"))["ref"] == "o2"

        # The record keeps every line, in the server's order, with who wrote it.
        record = await chat_record(st.pk, st.session_id)
        assert [(m["from"], m["text"]) for m in record] == [
            ("officer", "Mohon tunggu, 5 menit lagi."), ("client", "Baik, Bu. Saya tunggu."),
            ("client", "Suara Ibu putus-putus."), ("officer", "Saya telepon sebentar lagi."),
        ]
        assert [m["id"] for m in record] == sorted(m["id"] for m in record)
        assert {m["device"] for m in record} == {device} and all(m["delivered"] for m in record)
        assert record[0]["staff_name"] == office.staff["pk1"].name and record[1]["staff_name"] is None
        assert record[0]["at"] == line["at"]

        # The office's supervisor reads it too.
        kasie = await st.browser("kasie")
        assert await chat_record(kasie, st.session_id) == record
        # Each reading is in the audit trail, as a record view is.
        trail = await (await kasie.get("/api/audit/trail")).json()
        views = [e for e in trail["entries"] if e["action"] == "chat.view"]
        assert sorted((v["actor"], v["detail"]["lines"], v["target_id"]) for v in views) == [("kasie", 4, str(st.session_id)), ("pk1", 4, str(st.session_id))]


async def test_a_line_too_long_is_refused_and_the_socket_stays(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        await client.send({"type": "chat", "text": "x" * 1001, "ref": "long"})
        error = await client.next("error")
        assert error["code"] == "too-large" and "1,000" in error["message"]
        await client.send({"type": "chat", "text": "   ", "ref": "blank"})
        assert (await client.next("error"))["code"] == "bad-message"
        # A client may not address a device; the officer's place is not the client's to choose.
        await client.send({"type": "chat", "text": "halo", "device": "0123456789abcdef"})
        assert (await client.next("error"))["code"] == "forbidden"

        # Still connected: exactly 1,000 characters go through, emoji and markup as they came.
        text = "<b>Pak</b> 🙏 " + "y" * (1000 - len("<b>Pak</b> 🙏 "))
        await client.send({"type": "chat", "text": text, "ref": "max"})
        assert (await officer.next("chat"))["text"] == text
        assert (await client.next("chat-ack"))["ref"] == "max"
        assert [m["text"] for m in await chat_record(st.pk, st.session_id)] == [text]
        # The session's page shows the line as text, never as markup.
        async with st.pk.get(f"/sessions/{st.session_id}") as resp:
            page = await resp.text()
        assert "&lt;b&gt;Pak&lt;/b&gt; 🙏" in page and "<b>Pak</b>" not in page


async def test_a_fast_typist_is_slowed_but_not_shown_out(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        for n in range(12):
            await client.send({"type": "chat", "text": f"pesan {n}", "ref": f"r{n}"})
        answers = [await client.next_of(("chat-ack", "error")) for _ in range(12)]
        acked = [a["ref"] for a in answers if a["type"] == "chat-ack"]
        refused = [a for a in answers if a["type"] == "error"]
        # A burst of five, then about one a second: most of twelve at once are refused.
        assert 5 <= len(acked) < 12 and refused
        assert {e["code"] for e in refused} == {"chat-rate-limited"}
        assert acked[:5] == ["r0", "r1", "r2", "r3", "r4"]
        # More than ten refusals, and the socket is still open.
        assert (await client.ping()) == {"type": "pong"}
        assert not client.closed
        # Only what was acknowledged is in the record, and the officer got exactly that.
        record = await chat_record(st.pk, st.session_id)
        assert [m["text"] for m in record] == [f"pesan {ref[1:]}" for ref in acked]
        for text in (m["text"] for m in record):
            assert (await officer.next("chat"))["text"] == text


async def test_a_line_to_an_officer_not_there_yet_is_kept_and_shown_later(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        client = st.peer(st.phone, "client")
        await client.join()
        await client.next("waiting")
        await client.send({"type": "chat", "text": "Saya sudah menunggu, Pak.", "ref": "c1"})
        ack = await client.next("chat-ack")
        assert ack["delivered"] is False and ack["ref"] == "c1"
        officer = st.peer(st.pk, "officer")
        await officer.join()
        await officer.next("client-waiting")
        assert "chat" not in officer.types()  # not replayed on the socket: the console reads the record
        [line] = await chat_record(st.pk, st.session_id)
        assert (line["id"], line["text"], line["delivered"]) == (ack["id"], "Saya sudah menunggu, Pak.", False)


async def test_the_chat_of_a_session_is_not_anyone_elses(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        _officer, client = await st.officer_and_admitted_client()
        await client.send({"type": "chat", "text": "rahasia", "ref": "c1"})
        await client.next("chat-ack")
        for username, status in (("pk2", 404), ("admin", 403)):
            http = await st.browser(username)
            async with http.get(f"/api/sessions/{st.session_id}/chat") as resp:
                assert resp.status == status
                assert "rahasia" not in await resp.text()
        # The admin may read the session's page, without its text line.
        async with http.get(f"/sessions/{st.session_id}") as resp:
            assert resp.status == 200 and "rahasia" not in await resp.text()


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_lines_cross_between_two_processes_on_redis(cluster, office):  # noqa: F811 (the fixture imported above)
    a, b = await cluster(), await cluster()
    async with party_http(a.base) as pk_http, party_http(b.base) as phone:
        await sign_in(pk_http, "pk1")
        session = await start_video_session(pk_http, office.clients["c1"].id)
        sid = session["id"]
        assert (await open_join_link(phone, session["client_join_url"])).status == 303
        officer, client = CallPeer(pk_http, sid, "officer", webrtc=False), CallPeer(phone, sid, "client", webrtc=False)
        try:
            await officer.join()
            device = (await client.join())["device"]
            await client.next("waiting")
            await officer.send({"type": "chat", "text": "Dari proses A", "ref": "o1", "device": device})
            assert (await client.next("chat"))["text"] == "Dari proses A"
            assert (await officer.next("chat-ack"))["delivered"] is True
            await client.send({"type": "chat", "text": "Dari proses B", "ref": "c1"})
            assert (await officer.next("chat"))["device"] == device
            assert (await client.next("chat-ack"))["delivered"] is True
            assert [m["text"] for m in await chat_record(pk_http, sid)] == ["Dari proses A", "Dari proses B"]
        finally:
            await officer.close()
            await client.close()
