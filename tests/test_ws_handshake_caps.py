"""Handshakes that never send ``join`` are capped per address and in total
(issue #12, finding 4); a socket that joins frees its slot at once."""

from __future__ import annotations

import aiohttp
import pytest

from server.app import create_app
from server.security.pending import PendingHandshakes


@pytest.mark.parametrize(
    "steps, expected",
    [
        # (address, acquire?) -> result; per address 2, total 3
        ([("a", True), ("a", True), ("a", True)], [True, True, False]),
        ([("a", True), ("b", True), ("c", True), ("d", True)], [True, True, True, False]),
        ([("a", True), ("a", True), ("a", False), ("a", True)], [True, True, None, True]),
        ([("a", False), ("a", True), ("a", True), ("a", True)], [None, True, True, False]),  # a stray release counts nothing
    ],
)
def test_the_pending_counter(steps, expected):
    caps = PendingHandshakes(per_address=2, total=3)
    results = []
    for address, acquire in steps:
        if acquire:
            results.append(caps.acquire(address))
        else:
            caps.release(address)
            results.append(None)
    assert results == expected


async def test_sockets_that_never_join_are_refused_over_the_cap_and_a_join_frees_a_slot(aiohttp_client, settings, office):
    http = await aiohttp_client(create_app(settings.with_(ws_pending_per_address=3, ws_pending_total=100)))
    silent = [await http.ws_connect("/ws/sessions/1") for _ in range(3)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect("/ws/sessions/1")
    assert refused.value.status == 429
    # One of them speaks (a join the server refuses: no credential): its slot is free again.
    await silent[0].send_json({"type": "join", "role": "client"})
    answer = await silent[0].receive_json(timeout=10)
    assert answer["type"] == "error"
    fourth = await http.ws_connect("/ws/sessions/1")
    for ws in (*silent, fourth):
        await ws.close()


async def test_the_total_cap_holds_across_addresses(aiohttp_client, settings, office):
    http = await aiohttp_client(create_app(settings.with_(trust_proxy=True, ws_pending_per_address=100, ws_pending_total=2)))
    opened = [await http.ws_connect("/ws/sessions/1", headers={"X-Forwarded-For": f"198.51.100.{i}"}) for i in range(2)]
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await http.ws_connect("/ws/sessions/1", headers={"X-Forwarded-For": "198.51.100.9"})
    assert refused.value.status == 429
    for ws in opened:
        await ws.close()
