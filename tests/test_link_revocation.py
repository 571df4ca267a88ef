"""Revoking or reissuing a join link shows out every device that came in with
it (issue #12, finding 2): admitted or waiting, they get ``link-revoked`` and
their socket closes, the officer hears ``peer-left`` reason ``link-revoked``,
and the log ends the open interval. On one process and across two on Redis."""

from __future__ import annotations

import pytest

from tests.peers import (
    MEDIA_SETTLE,
    CallPeer,
    admitted_call,
    open_join_link,
    party_http,
    report_media_arriving,
    session_json,
    sign_in,
    stage,
    start_video_session,
    until,
)
from tests.test_scaleout import cluster, redis_env  # noqa: F401  (fixtures)


async def _media_connected(officer: CallPeer, client: CallPeer, http, sid: int) -> None:
    """Both sides report ICE connected and media arriving, as the pages do: the log
    opens an interval (signaling-only doubles of a real call; signaling.md §6)."""
    await officer.send({"type": "media-state", "state": "connected"})
    await client.send({"type": "media-state", "state": "connected"})
    await report_media_arriving(officer, client)

    async def opened():
        return "media_connected" in [e["kind"] for e in (await session_json(http, sid))["events"]]

    await until(opened, timeout=MEDIA_SETTLE, what="media_connected in the log")


@pytest.mark.parametrize("how", ["DELETE", "POST"])  # revoke, or reissue a new link
async def test_revoking_the_link_shows_out_the_admitted_and_the_waiting_device(aiohttp_server, settings, office, how):
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        second = st.peer(await st.browser(join_url=st.session["client_join_url"]), "client")
        await second.join()
        await second.next("waiting")
        waiting_device = (await officer.next("client-waiting"))["device"]
        await _media_connected(officer, client, st.pk, st.session_id)

        resp = await st.pk.request(how, f"/api/sessions/{st.session_id}/link")
        assert resp.status == 200

        for device in (client, second):
            assert (await device.next("error"))["code"] == "link-revoked"
            assert await device.wait_closed() == 1008
        gone = [await officer.next("peer-left"), await officer.next("peer-left")]
        assert sorted((m["reason"], m["device"]) for m in gone) == sorted(
            [("link-revoked", client.welcome["device"]), ("link-revoked", waiting_device)]
        )
        # The officer stays, and the old pass cannot come back in.
        assert (await officer.ping())["type"] == "pong"
        again = st.peer(st.phone, "client")
        await again.connect()
        await again.send({"type": "join", "role": "client"})
        assert (await again.next("error"))["code"] == "link-revoked"

        async def logged():
            kinds = [e["kind"] for e in (await session_json(st.pk, st.session_id))["events"]]
            return kinds.count("client_left") == 2 and kinds

        kinds = await until(logged, what="both devices logged as gone")
        assert kinds.index("disconnected") > kinds.index("media_connected")  # the open interval ended
        left = [e for e in (await session_json(st.pk, st.session_id))["events"] if e["kind"] == "client_left"]
        assert all(e["detail"]["reason"] == "link-revoked" for e in left), left


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_revoking_on_one_process_shows_out_the_client_on_another(cluster, office):  # noqa: F811
    a, b = await cluster(), await cluster()
    async with party_http(a.base) as pk_http, party_http(b.base) as phone:
        await sign_in(pk_http, "pk1")
        session = await start_video_session(pk_http, office.clients["c1"].id)
        sid = session["id"]
        assert (await open_join_link(phone, session["client_join_url"])).status == 303
        officer = CallPeer(pk_http, sid, "officer", webrtc=False)
        client = CallPeer(phone, sid, "client", webrtc=False)
        try:
            await admitted_call(officer, client)
            await officer.next("peer-joined")
            await _media_connected(officer, client, pk_http, sid)

            assert (await pk_http.delete(f"/api/sessions/{sid}/link")).status == 200
            assert (await client.next("error"))["code"] == "link-revoked"
            assert await client.wait_closed() == 1008
            assert (await officer.next("peer-left"))["reason"] == "link-revoked"
        finally:
            await officer.close()
            await client.close()

        async def logged():
            kinds = [e["kind"] for e in (await session_json(pk_http, sid))["events"]]
            return "client_left" in kinds and kinds

        kinds = await until(logged, what="the client logged as gone")
        assert kinds.index("disconnected") > kinds.index("media_connected")


async def test_deactivating_the_officer_closes_their_call_socket(aiohttp_server, settings, office):
    """Credentials are checked at join; a sign-out everywhere must reach the open socket too."""
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        admin = await st.browser("admin")
        resp = await admin.patch(f"/api/staff/{office.staff['pk1'].id}", json={"active": False})
        assert resp.status == 200
        assert (await officer.next("error"))["code"] == "signed-out"
        assert await officer.wait_closed() == 1008
        assert (await client.next("peer-left"))["role"] == "officer"


@pytest.mark.slow
@pytest.mark.redis
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_deactivating_on_one_process_closes_the_officer_socket_on_another(cluster, office):  # noqa: F811
    """The PK's call socket is on process B, the admin deactivates them through
    process A: B closes it with ``signed-out`` too (the notice on Redis)."""
    a, b = await cluster(), await cluster()
    async with party_http(b.base) as pk_http, party_http(a.base) as phone, party_http(a.base) as admin:
        await sign_in(pk_http, "pk1")
        await sign_in(admin, "admin")
        session = await start_video_session(pk_http, office.clients["c1"].id)
        sid = session["id"]
        assert (await open_join_link(phone, session["client_join_url"])).status == 303
        officer = CallPeer(pk_http, sid, "officer", webrtc=False)
        client = CallPeer(phone, sid, "client", webrtc=False)
        try:
            await admitted_call(officer, client)
            await officer.next("peer-joined")

            resp = await admin.patch(f"/api/staff/{office.staff['pk1'].id}", json={"active": False})
            assert resp.status == 200
            assert (await officer.next("error"))["code"] == "signed-out"
            assert await officer.wait_closed() == 1008
            assert (await client.next("peer-left"))["role"] == "officer"
        finally:
            await officer.close()
            await client.close()
