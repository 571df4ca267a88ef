"""Time to talk on a slow link (issue #11): what the join page loads before the
client taps anything stays under 30 KB, and the call code waits until the
client is in the waiting room. At 32 kbit/s every kilobyte is a quarter of a
second of the client's wait, and mobile data is paid by the megabyte."""

from __future__ import annotations

import pytest

from tests.browser.conftest import PK_PASSWORD, PK_USERNAME

pytestmark = [pytest.mark.browser]

FIRST_LOAD_LIMIT = 30 * 1000

# Everything the page fetched so far, as the browser counted it (bytes on the wire).
LOADED = """
() => {
  const nav = performance.getEntriesByType("navigation");
  const res = performance.getEntriesByType("resource");
  return [...nav, ...res].map((e) => ({name: new URL(e.name).pathname, bytes: e.transferSize, body: e.encodedBodySize}));
}
"""


async def test_join_page_first_load_is_small_and_the_call_code_waits(browser, live_server):
    ctx = await browser.new_context(base_url=live_server.url, locale="id-ID")
    try:
        api = ctx.request
        assert (await api.post("/api/login", data={"username": PK_USERNAME, "password": PK_PASSWORD})).ok
        r = await api.post("/api/clients", data={
            "name": "Klien Ringan", "register_number": "PAS.2026.0999", "program": "PB",
            "supervision_start": "2026-01-05", "supervision_end": "2028-01-05", "reporting_interval_days": 14,
            "kelurahan": "Pulau Pari"})
        assert r.ok, await r.text()
        r = await api.post("/api/sessions", data={"client_id": (await r.json())["id"], "mode": "video"})
        assert r.ok, await r.text()
        link = (await r.json())["client_join_url"]
        await api.post("/api/logout", data={})
        await ctx.clear_cookies()

        phone = await ctx.new_page()
        await phone.goto(link)
        await phone.wait_for_load_state("networkidle")
        loaded = await phone.evaluate(LOADED)
        names = {e["name"] for e in loaded}
        # the /j/ hop is a redirect; the page, its styles and its scripts are what counts
        pages = [e for e in loaded if not e["name"].startswith("/j/")]
        total = sum(e["bytes"] for e in pages)
        print("first load:", sorted((e["name"], e["bytes"]) for e in pages), "total", total)
        assert any(n.endswith("/join.js") for n in names)
        assert all(e["bytes"] > 0 for e in pages), pages  # nothing came from a cache: a true first load
        assert total < FIRST_LOAD_LIMIT, f"the join page's first load is {total} bytes"
        # deferred: the call code is not needed before the waiting room
        assert not any(n.endswith(("/call.js", "/reach.js")) for n in names), names

        # once in the waiting room, it is fetched
        await phone.click("#start-check")
        await phone.wait_for_selector("#enter:enabled")
        await phone.click("#enter")
        await phone.wait_for_function(
            "performance.getEntriesByType('resource').some((e) => e.name.includes('/call.js'))")
    finally:
        await ctx.close()
