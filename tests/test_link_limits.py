"""Opening the clients' links (/j/ join link, /k/ own page) is limited per link,
and per address only far higher: the clients of a mobile carrier share a few
NAT addresses, and one bucket per address let them lock each other out (issue 23).

The limiter is memory in the process, not SQL: these tests run on SQLite alone.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import aiohttp
import pytest

from server.app import create_app
from server.security.ratelimit import LinkOpenLimiter
from tests.clock import utc_now

pytestmark = pytest.mark.sqlite_only


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_the_limiter_counts_each_link_and_each_address_apart():
    clock = Clock()
    limiter = LinkOpenLimiter(per_link=3, per_address=10, window_seconds=300, clock=clock)
    # One token hammered: three openings, then paused, from any address.
    assert [limiter.admit("a1", "tok-x") for _ in range(4)] == [True, True, True, False]
    assert limiter.admit("a2", "tok-x") is False
    # The same address opens other links meanwhile (7 left of its 10; the refusals were not counted).
    assert [limiter.admit("a1", f"tok-{n}") for n in range(8)] == [True] * 7 + [False]
    # Another address is not held by the first's bound.
    assert limiter.admit("a3", "tok-y") is True
    # The window passes: both bounds let go.
    clock.now += 301
    assert limiter.admit("a1", "tok-x") is True


async def _links(http, office) -> tuple[str, str]:
    """c1's join link (a video session in half an hour) and own-page link, as paths."""
    made = await http.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "video", "scheduled_at": (utc_now() + timedelta(minutes=30)).isoformat()})
    assert made.status == 201, await made.text()
    portal = await http.post(f"/api/clients/{office.clients['c1'].id}/portal-link")
    assert portal.status == 201, await portal.text()
    return urlsplit((await made.json())["client_join_url"]).path, urlsplit((await portal.json())["url"]).path


async def _phone(aiohttp_client, app_client, address: str | None = None):
    """A phone on the same server (its own cookies), from ``address`` as a trusted proxy says."""
    headers = {"X-Forwarded-For": address} if address else None
    return await aiohttp_client(app_client.server, cookie_jar=aiohttp.CookieJar(unsafe=True), headers=headers)


async def test_clients_behind_one_address_do_not_lock_each_other_out(aiohttp_client, settings, office, sign_in):
    """Forty other clients behind the same carrier address open their links first
    (more than a link's own bound of thirty); c1's links still open."""
    http = await aiohttp_client(create_app(settings))
    await sign_in(http, "pk1")
    join_path, portal_path = await _links(http, office)
    phone = await _phone(aiohttp_client, http)
    others = [(await phone.get(f"/j/link-of-another-client-{n}", allow_redirects=False)).status for n in range(20)]
    others += [(await phone.get(f"/k/link-of-another-client-{n}", allow_redirects=False)).status for n in range(20)]
    assert 429 not in others and set(others) == {404}
    assert (await phone.get(join_path, allow_redirects=False)).status == 303
    assert (await phone.get(portal_path, allow_redirects=False)).status == 303


@pytest.mark.parametrize("which", ["join", "portal"])
async def test_one_link_hammered_is_paused_from_any_address(aiohttp_client, settings, office, sign_in, which):
    http = await aiohttp_client(create_app(settings.with_(trust_proxy=True, join_opens_per_window=3)))
    await sign_in(http, "pk1")
    path = dict(zip(["join", "portal"], await _links(http, office), strict=True))[which]
    opened = [(await (await _phone(aiohttp_client, http, f"198.51.100.{n}")).get(path, allow_redirects=False)).status for n in range(1, 5)]
    assert opened == [303, 303, 303, 429]


async def test_one_address_is_still_bounded_over_all_links(aiohttp_client, settings, office, sign_in):
    """A script trying tokens from one address is paused; another address is not."""
    http = await aiohttp_client(create_app(settings.with_(trust_proxy=True, join_opens_per_address=5)))
    await sign_in(http, "pk1")
    join_path, _portal = await _links(http, office)
    script = await _phone(aiohttp_client, http, "203.0.113.9")
    tried = [(await script.get(f"/j/guess-{n}", allow_redirects=False)).status for n in range(6)]
    assert tried == [404] * 5 + [429]
    assert (await script.get(join_path, allow_redirects=False)).status == 429
    client = await _phone(aiohttp_client, http, "203.0.113.10")
    assert (await client.get(join_path, allow_redirects=False)).status == 303
