"""``/metrics``: closed unless configured, and after a real call with real aiortc
peers its counters have moved by what happened."""

from __future__ import annotations

import pytest
from prometheus_client.parser import text_string_to_metric_families

from server.app import create_app
from tests.peers import CallPeer, connected_call, open_join_link, party_http, sign_in, start_video_session, until

SQLITE_ONLY = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
TOKEN = "scrape-token-0123456789abcdef"


def samples(text: str) -> dict[tuple[str, tuple], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return found


async def scrape(http, token: str = TOKEN) -> dict[tuple[str, tuple], float]:
    async with http.get("/metrics", headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        assert resp.headers["Content-Type"].startswith("text/plain")
        return samples(await resp.text())


@SQLITE_ONLY
async def test_metrics_are_closed_unless_configured(aiohttp_client, settings, office):
    closed = await aiohttp_client(create_app(settings))
    assert (await closed.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).status == 404

    by_token = await aiohttp_client(create_app(settings.with_(metrics_token=TOKEN)))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        resp = await by_token.get("/metrics", headers=headers)
        assert resp.status == 403 and (await resp.json())["error"] == "metrics-forbidden"
    assert (await by_token.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})).status == 200

    # The test client connects from 127.0.0.1.
    by_address = await aiohttp_client(create_app(settings.with_(metrics_allow=("10.0.0.0/8", "127.0.0.1"))))
    assert (await by_address.get("/metrics")).status == 200
    elsewhere = await aiohttp_client(create_app(settings.with_(metrics_allow=("10.0.0.0/8",))))
    assert (await elsewhere.get("/metrics")).status == 403


@SQLITE_ONLY
async def test_counters_move_with_a_real_call(aiohttp_server, settings, office):
    server = await aiohttp_server(create_app(settings.with_(metrics_token=TOKEN)))
    base = str(server.make_url("/"))
    async with party_http(base) as pk_http, party_http(base) as phone, party_http(base) as scraper:
        before = await scrape(scraper)
        assert before[("bimbing_rooms", ())] == 0
        assert before[("bimbing_join_to_connected_seconds_count", ())] == 0
        # The reminder outbox hook exists for issue 9 to fill.
        async with scraper.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"}) as resp:
            assert "# TYPE bimbing_reminder_outbox gauge" in await resp.text()

        async with pk_http.post("/api/login", json={"username": "pk1", "password": "not the password"}) as resp:
            assert resp.status == 401
        await sign_in(pk_http, "pk1")
        session = await start_video_session(pk_http, office.clients["c1"].id)
        assert (await open_join_link(phone, session["client_join_url"])).status == 303
        officer = CallPeer(pk_http, session["id"], "officer", origin=base.rstrip("/"))
        client = CallPeer(phone, session["id"], "client", origin=base.rstrip("/"))
        stranger = CallPeer(phone, session["id"], "officer", origin=base.rstrip("/"), webrtc=False)
        try:
            await officer.join()
            await client.join()
            await connected_call(officer, client)
            during = await scrape(scraper)
            assert during[("bimbing_rooms", ())] == 1
            assert during[("bimbing_parties_connected", (("role", "officer"),))] == 1
            assert during[("bimbing_parties_connected", (("role", "client"),))] == 1
            await until(lambda: _histogram_count(scraper), what="join->connected observed")
            # A client's browser asking to lead the call is refused, and its socket closed.
            await stranger.connect()
            await stranger.send({"type": "join", "role": "officer"})
            assert (await stranger.next("error"))["code"] == "unauthorized"
            await officer.end()
            await client.next("session-ended")
        finally:
            await officer.close()
            await client.close()
            await stranger.close()
        await until(lambda: _rooms_empty(scraper), what="the room closed")
        # Counted when each handler returns, which may be a moment after the room closed.
        after = await until(lambda: _closes_counted(scraper, 3), what="three sockets counted closed")

    def moved(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0) - before.get(key, 0)

    assert moved("bimbing_signin_failures_total", reason="invalid-credentials") == 1
    assert moved("bimbing_audit_appends_total", action="auth.login_failed") == 1
    assert moved("bimbing_audit_appends_total", action="auth.login") == 1
    assert moved("bimbing_join_to_connected_seconds_count") == 1
    assert 0 < after[("bimbing_join_to_connected_seconds_sum", ())] < 30
    assert moved("bimbing_signaling_messages_total", type="offer") >= 1
    assert moved("bimbing_signaling_messages_total", type="answer") >= 1
    assert moved("bimbing_signaling_messages_total", type="media-state") >= 2
    assert moved("bimbing_signaling_messages_total", type="end") == 1
    assert moved("bimbing_signaling_refusals_total", code="unauthorized") == 1
    # Two ended by the server normally (1000) and one refused (1008).
    assert moved("bimbing_websocket_closes_total", code="1000") == 2
    assert moved("bimbing_websocket_closes_total", code="1008") == 1
    assert after[("bimbing_rooms", ())] == 0
    assert moved("bimbing_http_requests_total", method="POST", status="2xx") >= 2


async def _histogram_count(http) -> bool:
    return (await scrape(http))[("bimbing_join_to_connected_seconds_count", ())] == 1


async def _closes_counted(http, n: int) -> dict | None:
    found = await scrape(http)
    closes = sum(v for (name, _), v in found.items() if name == "bimbing_websocket_closes_total")
    return found if closes >= n else None


async def _rooms_empty(http) -> bool:
    return (await scrape(http))[("bimbing_rooms", ())] == 0


@SQLITE_ONLY
async def test_a_socket_cut_off_is_logged_as_cut_not_as_a_server_error(aiohttp_server, settings, office, caplog):
    """A phone whose connection drops has its socket's handler cancelled (as a
    server stopping cancels the sockets still open past its grace): the request
    log and ``/metrics`` count it as cut (499), never as a 5xx an operator would
    be paged for. A stop at 5,000 rooms had logged 538 sockets as 500s."""
    caplog.set_level("INFO", logger="bimbing.access")
    server = await aiohttp_server(create_app(settings.with_(metrics_token=TOKEN)))
    base = str(server.make_url("/"))
    async with party_http(base) as pk_http, party_http(base) as scraper:
        before = await scrape(scraper)
        await sign_in(pk_http, "pk1")
        session = await start_video_session(pk_http, office.clients["c1"].id)
        officer = CallPeer(pk_http, session["id"], "officer", origin=base.rstrip("/"), webrtc=False)
        try:
            await officer.join()
            await officer.drop()  # no close frame, no FIN waited for: the connection is gone
        finally:
            await officer.close()

        def socket_line():
            return next((r for r in caplog.records if r.name == "bimbing.access" and getattr(r, "route", "") == "/ws/sessions/{id}"), None)

        line = await until(socket_line, what="the socket's request line")
        after = await until(lambda: _closes_counted(scraper, 1), what="the socket counted closed")
    assert line.status == 499, line.getMessage()

    def moved(status: str) -> float:
        key = ("bimbing_http_requests_total", (("method", "GET"), ("status", status)))
        return after.get(key, 0) - before.get(key, 0)

    assert moved("4xx") >= 1 and moved("5xx") == 0
