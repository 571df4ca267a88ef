"""What the server gives the roll call's offline reload (issue 23): the service
worker from the site itself, under /mobile-events/ so that it may control the
roll-call pages, as JavaScript under the site's CSP, to signed-in staff only;
the page's end of keeping (`offline_until`, the event's end); and a sign-out that
tells the browser to forget what it kept. The reload itself runs in Chromium:
tests/browser/test_rollcall.py."""

from __future__ import annotations

import json
import re
from datetime import datetime, timedelta

import aiohttp
import pytest

from server.security.headers import CONTENT_SECURITY_POLICY
from tests.clock import office_today
from tests.fieldwork_support import WIB, event_body
from tests.test_pages import csrf_token

pytestmark = pytest.mark.sqlite_only  # headers and page data: no SQL decides them

WORKER = "/mobile-events/rollcall-sw.js"


async def test_the_worker_is_served_from_the_site_as_javascript_under_its_csp(client, office, sign_in):
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as anonymous:
        resp = await anonymous.get(client.make_url(WORKER), allow_redirects=False)
        assert resp.status in (302, 401), resp.status  # staff only, like every page
    await sign_in(client, "pk1")
    resp = await client.get(WORKER)
    assert resp.status == 200
    assert resp.headers["Content-Type"].startswith("text/javascript")
    assert resp.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert resp.headers["Cache-Control"] == "no-store" and resp.headers["X-Content-Type-Options"] == "nosniff"
    # Served from /mobile-events/, it may take the scope of a roll-call page with no Service-Worker-Allowed.
    assert "Service-Worker-Allowed" not in resp.headers
    assert "self.registration.scope" in await resp.text()


async def test_the_roll_call_page_keeps_itself_until_the_event_ends(client, office, sign_in):
    await sign_in(client, "pk1")
    day = office_today() + timedelta(days=7)
    resp = await client.post("/api/mobile-events", json=event_body(office, date=day.isoformat(), start_time="08:00", end_time="12:30"))
    assert resp.status == 201, await resp.text()
    event = await resp.json()
    html = await (await client.get(f"/mobile-events/{event['id']}/rollcall")).text()
    data = json.loads(re.search(r'<script type="application/json" id="rollcall-data">(.*?)</script>', html, re.S).group(1))
    until = datetime.fromisoformat(data["offline_until"])
    # The event's end, 12:30 office time on its date, as an instant in UTC.
    assert until.utcoffset() == timedelta(0)
    assert until.astimezone(WIB).replace(tzinfo=None) == datetime.fromisoformat(f"{event['date']}T12:30:00")
    assert data["worker"] == WORKER and 'id="offline-status"' in html


async def test_signing_out_tells_the_browser_to_forget_what_it_kept(client, office, sign_in):
    await sign_in(client, "pk1")
    resp = await client.post("/api/logout")
    assert resp.status == 200 and resp.headers["Clear-Site-Data"] == '"storage"'
    await sign_in(client, "pk1")
    token = csrf_token(await (await client.get("/caseload")).text())
    resp = await client.post("/logout", data={"csrf_token": token}, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == "/login"
    assert resp.headers["Clear-Site-Data"] == '"storage"'
