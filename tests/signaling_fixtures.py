"""A running server with a video session, for signaling tests without media."""

from __future__ import annotations

from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import aiohttp

from server.app import create_app
from tests.peers import CallPeer, open_join_link, party_http, sign_in, start_video_session


@dataclass
class Stage:
    base: str
    session: dict
    pk: aiohttp.ClientSession
    phone: aiohttp.ClientSession
    browsers: list[aiohttp.ClientSession] = field(default_factory=list)
    peers: list[CallPeer] = field(default_factory=list)

    @property
    def session_id(self) -> int:
        return self.session["id"]

    async def browser(self, username: str | None = None, join_url: str | None = None) -> aiohttp.ClientSession:
        http = party_http(self.base)
        self.browsers.append(http)
        if username:
            await sign_in(http, username)
        if join_url:
            resp = await open_join_link(http, join_url)
            assert resp.status == 303, resp.status
        return http

    def peer(self, http: aiohttp.ClientSession, role: str, session_id: int | None = None, **kw) -> CallPeer:
        peer = CallPeer(http, session_id or self.session_id, role, webrtc=False, **kw)
        self.peers.append(peer)
        return peer

    async def officer_and_admitted_client(self) -> tuple[CallPeer, CallPeer]:
        officer = self.peer(self.pk, "officer")
        await officer.join()
        client = self.peer(self.phone, "client")
        await client.join()
        waiting = await officer.next("client-waiting")
        await officer.admit(waiting["device"])
        await client.next("admitted")
        await officer.next("peer-joined")
        await client.next("peer-joined")
        return officer, client


async def offer_answer_works(officer: CallPeer, client: CallPeer) -> None:
    """The rightful parties can still negotiate through the room."""
    await officer.send({"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"})
    offer = await client.next("offer")
    assert offer == {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n", "from": "officer"}
    await client.send({"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n"})
    answer = await officer.next("answer")
    assert answer["from"] == "client" and answer["sdp"].startswith("v=0")
    await client.send({"type": "candidate", "candidate": {"candidate": "candidate:1 1 udp 2122260223 10.0.0.2 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}})
    candidate = await officer.next("candidate")
    assert candidate["candidate"]["sdpMid"] == "0" and candidate["from"] == "client"


@asynccontextmanager
async def stage(aiohttp_server, settings, office, *, reissue: bool = False):
    server = await aiohttp_server(create_app(settings))
    base = str(server.make_url("/")).rstrip("/")
    pk = party_http(base)
    phone = party_http(base)
    st = Stage(base, {}, pk, phone, [pk, phone])
    try:
        await sign_in(pk, "pk1")
        st.session = await start_video_session(pk, office.clients["c1"].id)
        if reissue:
            async with pk.post(f"/api/sessions/{st.session_id}/link") as resp:
                assert resp.status == 200
                st.session.update(await resp.json())
        resp = await open_join_link(phone, st.session["client_join_url"])
        assert resp.status == 303
        yield st
    finally:
        for peer in st.peers:
            await peer.close()
        for http in st.browsers:
            await http.close()
