"""The Kasie signs in to the demo office in Chromium, lands on the audit log,
filters it to one PK, opens a session to read its events and note history,
and downloads the same filtered log as CSV."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from playwright.async_api import async_playwright, expect

from server.web.i18n import CATALOGUE_DIR
from tests.browser.audit_support import launch_chromium, start_demo, stop_demo
from tests.services import require_chromium

pytestmark = pytest.mark.browser

CATALOGUE_ID = json.loads((CATALOGUE_DIR / "id.json").read_text(encoding="utf-8"))


@pytest.fixture
def demo_office(tmp_path):
    require_chromium()
    server = start_demo(tmp_path / "demo-data")
    yield server
    stop_demo(server)


async def test_supervisor_filters_by_a_pk_reads_a_history_and_downloads_the_csv(demo_office, tmp_path):
    kasie = demo_office.logins["kasie"]
    sari = demo_office.logins["pk.sari"]
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            context = await browser.new_context(accept_downloads=True, locale="id-ID")
            page = await context.new_page()

            # sign in: a supervisor lands on the audit log
            await page.goto(demo_office.url + "/login")
            await page.fill('input[name="username"]', "kasie")
            await page.fill('input[name="password"]', kasie["password"])
            await page.click('button[type="submit"]')
            await expect(page).to_have_url(re.compile(r"/audit$"))
            everyone = int(await page.get_attribute("#audit-total", "data-total"))

            # filter by one PK
            await page.select_option('select[name="officer_id"]', label=sari["name"])
            await page.click('#audit-filters button[type="submit"]')
            await expect(page).to_have_url(re.compile(r"officer_id=\d+"))
            sari_id = re.search(r"officer_id=(\d+)", page.url).group(1)
            only_sari = int(await page.get_attribute("#audit-total", "data-total"))
            assert 0 < only_sari < everyone
            rows = page.locator("#audit-sessions tbody tr")
            officers = await rows.evaluate_all("rows => rows.map(r => r.dataset.officerId)")
            assert officers and set(officers) == {sari_id}

            # open a session with notes: its events and its note history
            first = page.locator('#audit-sessions tbody tr[data-has-notes="1"]').first
            session_id = await first.get_attribute("data-session-id")
            await first.locator("a").first.click()
            await expect(page).to_have_url(re.compile(rf"/sessions/{session_id}$"))
            await expect(page.locator("#events li").first).to_be_visible()
            history = page.locator("#history li")
            await expect(history.first).to_be_visible()
            await expect(history.first).to_contain_text(sari["name"])
            await page.go_back()

            # download the CSV of the same filter
            async with page.expect_download() as info:
                await page.click("#csv-download")
            download = await info.value
            saved = tmp_path / download.suggested_filename
            await download.save_as(saved)
            raw = saved.read_bytes()
            assert download.suggested_filename.startswith("bimbing-sesi-") and saved.suffix == ".csv"
            assert raw.startswith(b"\xef\xbb\xbf")
            exported = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
            assert len(exported) == only_sari
            # The page's download is for people: its column titles are the page's language.
            column = {name: CATALOGUE_ID.get("csv." + name, name) for name in ("officer_id", "id")}
            assert {r[column["officer_id"]] for r in exported} == {sari_id}
            assert session_id in {r[column["id"]] for r in exported}
        finally:
            await browser.close()
