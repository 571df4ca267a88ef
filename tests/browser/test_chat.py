"""The text line in two real browsers (issue 22): the client, waiting on a
phone, writes to the PK before being admitted; the console shows it, as text;
the PK answers; the client, admitted, writes again from the call; the record
keeps every line in order and the session's page shows them."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.test_video_call import (
    client_opens_link_on_phone,
    pk_starts_video_session,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

FIRST = "<b>Selamat pagi</b> Bu, saya sudah di ruang tunggu."


async def test_a_waiting_client_and_the_pk_write_to_each_other_then_talk(browser, live_server, artifacts):
    errors: list[str] = []
    call = await pk_starts_video_session(browser, live_server, {
        "name": "Dewi Anggraini", "register_number": "PAS.2026.0533", "supervision_start": "2026-01-05",
        "supervision_end": "2027-01-05", "reporting_interval_days": "14", "kelurahan": "Pulau Pramuka",
        "phone": "0812-1111-2222", "employment": "Pedagang",
    }, errors)
    pk = call.pk
    phone = await client_opens_link_on_phone(browser, live_server, call)
    # The join page says the messages are part of the record, before anything is written.
    await expect(phone.locator("#step-intro")).to_contain_text("disimpan sebagai bagian dari catatan sesi")
    await phone.click("#start-check")
    await expect(phone.locator("#enter")).to_be_enabled()
    await phone.click("#enter")
    await expect(phone.locator("#waiting-title")).to_have_text("Menunggu PK")
    await expect(pk.locator("#waiting-notice")).to_be_visible()

    # --- from the waiting room: the client writes, the console shows it as text ------------
    await expect(phone.locator("#chat")).to_be_visible()
    await phone.fill("#chat-input", FIRST)
    await phone.click("#chat-send")
    line = pk.locator("#chat-log li.theirs .chat-text").first
    await expect(line).to_have_text(FIRST)
    assert await pk.locator("#chat-log b").count() == 0  # markup stays text
    await expect(phone.locator("#chat-log li.mine").first).to_have_attribute("data-state", "delivered")

    # --- the PK answers before admitting ------------------------------------------------------
    await pk.fill("#chat-input", "Baik, 5 menit lagi saya terima.")
    await pk.press("#chat-input", "Enter")
    await expect(phone.locator("#chat-log li.theirs .chat-text")).to_have_text(["Baik, 5 menit lagi saya terima."])
    await expect(phone.locator("#step-waiting")).to_be_visible()  # still waiting
    await phone.screenshot(path=artifacts / "chat-1-waiting-room.png")
    await pk.screenshot(path=artifacts / "chat-2-console.png", full_page=True)

    # --- admitted: the line goes on in the call --------------------------------------------------
    await pk.click("#admit")
    await expect(phone.locator("#step-call")).to_be_visible()
    await expect(phone.locator("#chat")).to_be_visible()
    await phone.fill("#chat-input", "Suara Ibu terdengar.")
    await phone.click("#chat-send")
    await expect(pk.locator("#chat-log li.theirs .chat-text")).to_have_text([FIRST, "Suara Ibu terdengar."])
    await phone.screenshot(path=artifacts / "chat-3-in-call.png")

    # --- the record: every line in the server's order, the page shows them as text ----------------
    record = await (await pk.request.get(f"/api/sessions/{call.session_id}/chat")).json()
    assert [(m["from"], m["text"]) for m in record["messages"]] == [
        ("client", FIRST), ("officer", "Baik, 5 menit lagi saya terima."), ("client", "Suara Ibu terdengar."),
    ]
    await pk.goto(f"/sessions/{call.session_id}")
    await expect(pk.locator("#chat-lines .chat-text")).to_have_text([m["text"] for m in record["messages"]])
    assert errors == []
