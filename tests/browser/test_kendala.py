"""A client who cannot come says so from the phone page, and the PK moves the
session: real server, real Chromium, the phone and the office desk."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from playwright.async_api import expect

from tests.browser.test_video_call import (
    client_opens_link_on_phone,
    pk_starts_video_session,
)
from tests.clock import office_now

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.clock]


async def test_client_asks_to_reschedule_from_the_phone_and_the_pk_accepts(browser, live_server, artifacts):
    errors: list[str] = []
    call = await pk_starts_video_session(browser, live_server, {
        "name": "Dedi Kurniawan", "register_number": "PAS.2026.0533", "supervision_start": "2026-01-05",
        "supervision_end": "2027-01-05", "reporting_interval_days": "14", "kelurahan": "Pulau Pari",
        "phone": "0813-1111-2222", "employment": "Buruh pelabuhan",
    }, errors)
    pk = call.pk
    phone = await client_opens_link_on_phone(browser, live_server, call)

    # --- the client: "Ada kendala?" below the notice --------------------------------------------
    # Two office days ahead at 09:30: in the future at any hour, within the year the form allows.
    proposed = (office_now() + timedelta(days=2)).replace(hour=9, minute=30)
    await phone.click("#kendala-details summary")
    await phone.select_option("#kendala-kind", "work_shift")
    await phone.fill("#kendala-message", "Minggu ini saya dapat giliran pagi di pelabuhan.")
    await phone.fill("#kendala-when", proposed.strftime("%Y-%m-%dT%H:%M"))
    await phone.click("#kendala-send")
    await expect(phone.locator("#kendala-status")).to_have_text("Terkirim; PK akan menjawab.")
    await expect(phone.locator("#kendala-list li")).to_have_count(1)
    await expect(phone.locator("#kendala-list li")).to_contain_text("Menunggu jawaban PK")
    await phone.screenshot(path=artifacts / "client-kendala-sent.png")

    # --- the PK: a badge on the caseload, the answer on the client's record -------------------------
    await pk.goto("/caseload")
    badge = pk.locator("a.badge.kendala-open")
    await expect(badge).to_have_text("1 kendala")
    await badge.click()
    item = pk.locator("article.kendala-item")
    await expect(item).to_contain_text("giliran pagi")
    await expect(item.locator("input[name=new_scheduled_at]")).to_have_value(proposed.strftime("%Y-%m-%dT%H:%M"))
    await item.locator("textarea[name=reply]").fill("Baik, kita pindah.")
    await item.locator("button[value=accepted]").click()
    await expect(pk).to_have_url(re.compile(r"/clients/\d+#kendala$"))
    await expect(item).to_have_attribute("data-status", "accepted")
    await expect(item.locator(".kendala-new-session")).to_contain_text(proposed.strftime("%d-%m-%Y 09:30"))
    await pk.screenshot(path=artifacts / "record-kendala-accepted.png", full_page=True)

    # --- the client: the old session is closed and the page says when the new one is ----------------------
    await phone.reload()
    await expect(phone.locator("#kendala-closed")).to_contain_text("PK akan mengirim tautan baru")
    await expect(phone.locator("#kendala-closed")).to_contain_text(proposed.strftime("%d-%m-%Y 09:30"))
    assert errors == []
