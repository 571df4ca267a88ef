"""The Kepala Bapas opens the evaluation of the demo office in Chromium: the
server-drawn charts render with bars, the page reads on a phone without
sideways scrolling, and it prints on A4. Then a PK issues a letter, and its QR
link opens the public verification page. Screenshots go to tests/artifacts/."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import async_playwright

from tests.browser.audit_support import launch_chromium, start_demo, stop_demo
from tests.browser.conftest import ARTIFACTS
from tests.services import require_chromium

pytestmark = pytest.mark.browser


@pytest.fixture
def demo_office(tmp_path):
    require_chromium()
    server = start_demo(tmp_path / "demo-data")
    yield server
    stop_demo(server)


async def sign_in(page, url: str, username: str, password: str) -> None:
    await page.goto(url + "/login")
    await page.fill('input[name="username"]', username)
    await page.fill('input[name="password"]', password)
    await page.click('button[type="submit"]')
    await page.wait_for_url(re.compile(r".*/(caseload|audit).*"))


async def prints_on_cetak(page) -> int:
    """Click the page's "Cetak" button with ``window.print`` counted instead of
    opening the dialog: the times the button called it (none when the
    Content-Security-Policy blocked an inline handler)."""
    await page.evaluate("() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }")
    await page.get_by_role("button", name="Cetak").click()
    return await page.evaluate("() => window.__printed")


async def test_the_evaluation_charts_render_read_on_a_phone_and_print(demo_office):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    kasie = demo_office.logins["kasie"]
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            context = await browser.new_context(locale="id-ID", viewport={"width": 1280, "height": 900})
            page = await context.new_page()
            await sign_in(page, demo_office.url, "kasie", kasie["password"])
            await page.goto(demo_office.url + "/evaluation")
            await page.wait_for_selector("#eval-sessions svg.chart")
            charts = page.locator("svg.chart")
            assert await charts.count() >= 5
            # The sessions chart has drawn bars with a real size, each a link.
            box = await page.locator("#eval-sessions svg.chart").bounding_box()
            assert box and box["width"] > 300 and box["height"] > 100
            bars = page.locator("#eval-sessions svg.chart a rect")
            assert await bars.count() >= 4
            heights = [float(h) for h in await bars.evaluate_all("els => els.map(e => e.getBoundingClientRect().height)")]
            assert max(heights) > 20, "the demo's sessions show as bars"
            assert await page.locator("#table-months tbody tr").count() == 6
            await page.screenshot(path=str(ARTIFACTS / "evaluation.png"), full_page=True)
            assert await prints_on_cetak(page) == 1

            # Clicking a bar opens the sessions behind it.
            first = page.locator("#eval-sessions svg.chart a").first
            href = await first.get_attribute("href")
            assert href and href.startswith("/audit?")

            # A phone: nothing wider than the screen but the tables' own scroll boxes.
            phone = await browser.new_context(locale="id-ID", viewport={"width": 375, "height": 740}, is_mobile=True)
            p2 = await phone.new_page()
            await sign_in(p2, demo_office.url, "kasie", kasie["password"])
            await p2.goto(demo_office.url + "/evaluation")
            overflow = await p2.evaluate("document.documentElement.scrollWidth - window.innerWidth")
            assert overflow <= 1, f"the page is {overflow}px wider than a phone"
            await p2.screenshot(path=str(ARTIFACTS / "evaluation-phone.png"), full_page=True)

            # Print: filters and buttons hidden, charts kept.
            await page.emulate_media(media="print")
            assert not await page.locator("#eval-filters").is_visible()
            assert await page.locator("#eval-sessions svg.chart").is_visible()
            pdf = await page.pdf(format="A4")
            assert pdf.startswith(b"%PDF") and len(pdf) > 10_000
            (ARTIFACTS / "evaluation.pdf").write_bytes(pdf)
        finally:
            await browser.close()


async def test_a_letter_prints_with_its_qr_code_and_the_link_verifies(demo_office):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    sari = demo_office.logins["pk.sari"]
    async with async_playwright() as pw:
        browser = await launch_chromium(pw)
        try:
            context = await browser.new_context(locale="id-ID")
            page = await context.new_page()
            await sign_in(page, demo_office.url, "pk.sari", sari["password"])
            await page.goto(demo_office.url + "/caseload")
            await page.locator("tr[data-client-id] a[href^='/clients/']").first.click()
            await page.wait_for_selector("#letters")
            await page.select_option("#letters select[name=kind]", "keterangan")
            await page.click("#letters button[type=submit]")
            await page.wait_for_url(re.compile(r".*/letters/\d+$"))
            assert "Surat Keterangan" in (await page.locator("#letter h1").inner_text()).title()
            number = await page.locator("#letter-number").inner_text()
            assert re.search(r"-\d{4}/SK/[IVX]+/\d{4}$", number)
            qr = page.locator("#letter .qr svg")
            qr_box = await qr.bounding_box()
            assert qr_box and qr_box["width"] > 60
            await page.screenshot(path=str(ARTIFACTS / "letter.png"), full_page=True)
            assert await prints_on_cetak(page) == 1

            # Whoever holds the letter: a fresh browser with no account opens the QR code's link.
            stranger = await browser.new_context(locale="id-ID")
            public = await stranger.new_page()
            client_id = await page.locator("p.no-print a").first.get_attribute("href")
            letters = await (await page.request.get(demo_office.url + f"/api{client_id}/letters")).json()
            verify_path = "/v/" + letters["letters"][-1]["verify_url"].rsplit("/v/", 1)[1]
            await public.goto(demo_office.url + verify_path)
            assert await public.locator("#verify-status").get_attribute("data-status") == "valid"
            assert await public.locator('[data-field="number"]').inner_text() == number
            await public.screenshot(path=str(ARTIFACTS / "letter-verify.png"), full_page=True)
        finally:
            await browser.close()
