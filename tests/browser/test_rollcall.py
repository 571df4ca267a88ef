"""The roll call at a mobile-counseling venue on a phone (360×740) with no
signal: three check-ins made offline wait on the device and reach the server
once the network is back, exactly once each; a walk-in is counted apart from
the invited, and the one invited client who has not come is awaited, not absent,
while the day runs. And the page opens again with no signal (issue 23): its
service worker answers a reload from this event's cache, the check-ins queued
offline survive two reloads and land once each, and signing out deletes what
the phone kept. Real server, real Chromium."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PK_PASSWORD, PK_USERNAME
from tests.browser.test_video_call import poll, watch_for_errors
from tests.clock import office_today, seconds_to_office_midnight

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CLIENTS = [("Rahmat Hidayat", "PAS.2026.7001"), ("Siti Lestari", "PAS.2026.7002"), ("Bayu Nugroho", "PAS.2026.7003"), ("Dewi Saputra", "PAS.2026.7004")]


async def test_offline_roll_call_sends_three_checkins_once_back_online(browser, live_server, artifacts):
    errors: list[str] = []
    ctx = await browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740}, device_scale_factor=2,
                                    is_mobile=True, has_touch=True, locale="id-ID")
    phone = await ctx.new_page()
    watch_for_errors(phone, "rollcall", errors)
    await phone.goto("/login")
    await phone.fill("input[name=username]", PK_USERNAME)
    await phone.fill("input[name=password]", PK_PASSWORD)
    await phone.click("button[type=submit]")
    await expect(phone).to_have_url(re.compile(r"/caseload$"))
    ids = []
    for name, number in CLIENTS:
        resp = await phone.request.post("/api/clients", data={
            "name": name, "register_number": number, "program": "PB", "supervision_start": "2026-01-05", "supervision_end": "2027-12-31",
            "reporting_interval_days": 14, "kelurahan": "Pulau Pari", "phone": "0812-1111-2222"})
        assert resp.status == 201, await resp.text()
        ids.append((await resp.json())["id"])
    resp = await phone.request.post("/api/clients", data={
        "name": "Joko Susilo", "register_number": "PAS.2026.7005", "program": "PB", "supervision_start": "2026-01-05",
        "supervision_end": "2027-12-31", "reporting_interval_days": 14, "kelurahan": "Pulo Gebang", "phone": "0812-1111-3333"})
    assert resp.status == 201, await resp.text()
    walker = (await resp.json())["id"]

    # --- the day is created on the phone, inviting the kelurahan's clients -------------------------
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()
    await phone.goto("/mobile-events/new")
    await phone.fill("input[name=date]", today.isoformat())
    await phone.fill("input[name=start_time]", "00:00")
    await phone.fill("input[name=end_time]", "23:59")
    await phone.fill("input[name=kelurahan]", "pulau pari")
    await phone.fill("input[name=venue]", "Balai Warga Pulau Pari")
    await phone.fill("input[name=topic]", "Kesadaran hukum")
    await phone.click("#event-form button[type=submit]")
    await expect(phone).to_have_url(re.compile(r"/mobile-events/\d+$"))
    event_id = int(phone.url.rsplit("/", 1)[1])
    await expect(phone.locator('#summary [data-field="invited"]')).to_have_text("4")
    await expect(phone.locator("a.wa-invite")).to_have_count(4)
    assert (await phone.locator("a.wa-invite").first.get_attribute("href")).startswith("https://wa.me/6281211112222?text=")

    # --- the roll call: the network goes, three clients are checked in -----------------------------
    await phone.click("#open-rollcall")
    await expect(phone).to_have_url(re.compile(rf"/mobile-events/{event_id}/rollcall$"))
    await expect(phone.locator("#roster li")).to_have_count(4)
    await ctx.set_offline(True)
    await expect(phone.locator("#net-status")).to_have_attribute("data-state", "offline")
    await phone.fill("#search", "pas.2026.700")
    for client_id in ids[:3]:
        await phone.locator(f'#roster li[data-client-id="{client_id}"] button.checkin').tap()
        await expect(phone.locator(f'#roster li[data-client-id="{client_id}"]')).to_have_attribute("data-state", "pending")
    await expect(phone.locator("#queue-status")).to_have_attribute("data-waiting", "3")
    queued = await phone.evaluate(f"JSON.parse(localStorage.getItem('bimbing.rollcall.{event_id}.queue'))")
    assert sorted(item["client_id"] for item in queued) == sorted(ids[:3]) and len({item["key"] for item in queued}) == 3
    await phone.screenshot(path=artifacts / "rollcall-offline-360.png", full_page=True)

    # --- back online: the queue drains, each check-in once ------------------------------------------
    await ctx.set_offline(False)
    await expect(phone.locator("#queue-status")).to_have_attribute("data-waiting", "0", timeout=30000)
    for client_id in ids[:3]:
        await expect(phone.locator(f'#roster li[data-client-id="{client_id}"]')).to_have_attribute("data-state", "present")
    # The day runs until 23:59: the fourth invited client is awaited, not absent.
    await expect(phone.locator(f'#roster li[data-client-id="{ids[3]}"]')).to_have_attribute("data-state", "awaited")
    await expect(phone.locator("#counts")).to_have_text("3 dari 4 diundang hadir")

    # --- a client of another kelurahan walks in: counted apart from the invited ---------------------
    await phone.fill("#search", "Joko")
    await phone.locator(f'#roster li[data-client-id="{walker}"] button.checkin').tap()
    await expect(phone.locator(f'#roster li[data-client-id="{walker}"]')).to_have_attribute("data-state", "present", timeout=30000)
    await expect(phone.locator("#counts")).to_have_text("3 dari 4 diundang hadir · 1 datang tanpa undangan")
    await phone.screenshot(path=artifacts / "rollcall-online-360.png", full_page=True)

    event = await poll(lambda: phone.request.get(f"/api/mobile-events/{event_id}"), lambda r: r.status == 200, what="event")
    data = await event.json()
    assert sorted(data["checked_in"]) == sorted(ids[:3] + [walker]) and data["walk_ins"] == [walker]
    assert data["summary"] == {"invited": 4, "invited_present": 3, "walk_ins": 1, "present": 4, "awaited": 1}
    sessions = []
    for client_id in ids:
        record = await (await phone.request.get(f"/api/clients/{client_id}/record")).json()
        sessions += [s for s in record["sessions"] if s["mobile_event_id"] == event_id]
    assert sorted(s["client_id"] for s in sessions) == sorted(ids[:3])
    assert {(s["mode"], s["evidence"], s["outcome"], s["status"]) for s in sessions} == {("mobile", "roll_call", "attended", "ended")}

    # --- the summary and the printable daftar hadir, while the day runs -------------------------------
    await phone.goto(f"/mobile-events/{event_id}")
    await expect(phone.locator('#summary [data-field="attended"]')).to_have_text("3")
    await expect(phone.locator('#summary [data-field="walk-ins"]')).to_have_text("1")
    await expect(phone.locator('#summary [data-field="awaited"]')).to_have_text("1")
    await expect(phone.locator('#summary [data-field="absent"]')).to_have_count(0)
    await expect(phone.locator("#tally")).to_have_text("3 dari 4 diundang hadir · 1 datang tanpa undangan")
    await phone.goto(f"/mobile-events/{event_id}/daftar-hadir")
    await expect(phone.locator("#daftar-hadir-table tbody tr")).to_have_count(5)
    await expect(phone.locator('#daftar-hadir-table [data-present="1"]')).to_have_count(4)
    await expect(phone.locator('#daftar-hadir-table [data-state="awaited"]')).to_have_count(1)
    await expect(phone.locator('#daftar-hadir-table td.signature-cell')).to_have_count(5)
    await phone.set_viewport_size({"width": 1024, "height": 900})
    await phone.emulate_media(media="print")
    await phone.screenshot(path=artifacts / "daftar-hadir.png", full_page=True)
    assert errors == []
    await ctx.close()


# The day below runs from 00:00 to 23:59 office time: the story must not cross its end.
END_MARGIN_SECONDS = 120
# The request log names a route by its template (server/web/request_log.py).
ROLLCALL_LOGGED = "GET /mobile-events/{id}/rollcall "
REGISTRATIONS = "navigator.serviceWorker.getRegistrations().then((r) => r.length)"


async def test_the_roll_call_reopens_without_signal_and_sends_each_queued_checkin_once(browser, live_server, artifacts):
    if seconds_to_office_midnight() < END_MARGIN_SECONDS:
        await asyncio.sleep(seconds_to_office_midnight() + 1)
    errors: list[str] = []
    ctx = await browser.new_context(base_url=live_server.url, viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True, locale="id-ID")
    phone = await ctx.new_page()
    watch_for_errors(phone, "rollcall", errors)
    await phone.goto("/login")
    await phone.fill("input[name=username]", PK_USERNAME)
    await phone.fill("input[name=password]", PK_PASSWORD)
    await phone.click("button[type=submit]")
    await expect(phone).to_have_url(re.compile(r"/caseload$"))
    me = (await (await phone.request.get("/api/me")).json())["id"]
    today = office_today()
    ids = []
    for name, number in (("Wahyu Pratama", "PAS.2026.7101"), ("Ani Kusuma", "PAS.2026.7102")):
        resp = await phone.request.post("/api/clients", data={
            "name": name, "register_number": number, "program": "PB", "supervision_start": (today - timedelta(days=60)).isoformat(),
            "supervision_end": (today + timedelta(days=365)).isoformat(), "reporting_interval_days": 14, "kelurahan": "Pulau Tidung",
            "phone": "0812-1111-4444"})
        assert resp.status == 201, await resp.text()
        ids.append((await resp.json())["id"])
    resp = await phone.request.post("/api/mobile-events", data={
        "date": today.isoformat(), "start_time": "00:00", "end_time": "23:59", "kelurahan": "Pulau Tidung", "venue": "Balai Warga Pulau Tidung",
        "officer_ids": [me]})
    assert resp.status == 201, await resp.text()
    event_id = (await resp.json())["id"]
    page = f"/mobile-events/{event_id}/rollcall"

    # --- with a signal: the page keeps itself on the phone for the day ----------------------------
    await phone.goto(page)
    await expect(phone.locator("#roster li")).to_have_count(2)
    await expect(phone.locator("body")).to_have_attribute("data-offline", "ready", timeout=20000)
    await expect(phone.locator("#offline-status")).to_have_attribute("data-state", "ready")
    served = live_server.log.read_text().count(ROLLCALL_LOGGED)
    assert served >= 1

    # --- no signal: a reload opens the page from the phone, with the invited ------------------------
    await ctx.set_offline(True)
    await phone.reload()  # today's page: the browser's error page (net::ERR_INTERNET_DISCONNECTED)
    await expect(phone.locator("body")).to_have_attribute("data-roster", "phone")
    await expect(phone.locator("#roster li")).to_have_count(2)
    await expect(phone.locator("#net-status")).to_have_attribute("data-state", "offline")
    await expect(phone.locator("#offline-status")).to_have_attribute("data-state", "kept")
    for client_id in ids:
        await phone.locator(f'#roster li[data-client-id="{client_id}"] button.checkin').tap()
        await expect(phone.locator(f'#roster li[data-client-id="{client_id}"]')).to_have_attribute("data-state", "pending")
    queued = await phone.evaluate(f"JSON.parse(localStorage.getItem('bimbing.rollcall.{event_id}.queue'))")
    assert sorted(item["client_id"] for item in queued) == sorted(ids) and len({item["key"] for item in queued}) == 2

    # --- reloaded again, still offline: the queue is still there, nothing was sent -------------------
    await phone.reload()
    for client_id in ids:
        await expect(phone.locator(f'#roster li[data-client-id="{client_id}"]')).to_have_attribute("data-state", "pending")
    await expect(phone.locator("#queue-status")).to_have_attribute("data-waiting", "2")
    await phone.screenshot(path=artifacts / "rollcall-offline-reload-360.png", full_page=True)
    # Both reloads came from the phone: the server never saw them.
    assert live_server.log.read_text().count(ROLLCALL_LOGGED) == served

    # --- the signal returns: exactly two check-ins land, once each ------------------------------------
    await ctx.set_offline(False)
    await expect(phone.locator("#queue-status")).to_have_attribute("data-waiting", "0", timeout=30000)
    for client_id in ids:
        await expect(phone.locator(f'#roster li[data-client-id="{client_id}"]')).to_have_attribute("data-state", "present")
    data = await (await phone.request.get(f"/api/mobile-events/{event_id}")).json()
    assert sorted(data["checked_in"]) == sorted(ids) and data["summary"]["present"] == 2
    sessions = []
    for client_id in ids:
        record = await (await phone.request.get(f"/api/clients/{client_id}/record")).json()
        sessions += [s["client_id"] for s in record["sessions"] if s["mobile_event_id"] == event_id]
    assert sorted(sessions) == sorted(ids)

    # --- the event's end: the mobile-counseling pages delete the copy and its worker -----------------
    # (the end written on the phone is moved into the past: the day itself runs until 23:59)
    await phone.evaluate("""async (id) => {
        const cache = await caches.open(`bimbing-rollcall-${id}`);
        const until = new Date(Date.now() - 1000).toISOString();
        await cache.put(`/mobile-events/${id}/rollcall?offline-meta`, new Response(JSON.stringify({ event_id: id, until })));
    }""", event_id)
    await phone.goto(f"/mobile-events/{event_id}")
    await poll(lambda: phone.evaluate("caches.keys()"), lambda keys: keys == [], what="the ended event's copy to go")
    await poll(lambda: phone.evaluate(REGISTRATIONS), lambda n: n == 0, what="the ended event's worker to go")

    # --- signing out deletes what the phone kept: the page, the names, the worker, the queue ---------
    await phone.goto(page)
    await expect(phone.locator("body")).to_have_attribute("data-offline", "ready", timeout=20000)
    assert await phone.evaluate("caches.keys()") == [f"bimbing-rollcall-{event_id}"]
    assert await phone.evaluate(REGISTRATIONS) == 1
    await phone.click("form[action='/logout'] button[type=submit]")
    await expect(phone).to_have_url(re.compile(r"/login$"))
    assert await phone.evaluate("caches.keys()") == []
    assert await phone.evaluate(REGISTRATIONS) == 0
    assert await phone.evaluate("localStorage.length") == 0
    assert errors == []
    await ctx.close()
