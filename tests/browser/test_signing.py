"""Signing in the call in real Chromium (issue 22): during a video call the PK
pushes a kontrak bimbingan; on a 390-px phone the client reads it, types their
name and signs with a finger (touch) and a mouse on the canvas; the PK
countersigns from the console; the verification page confirms the document
and its hash. The signing code is loaded only once a document arrives."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser.test_video_call import (
    ANDROID_CHROME,
    RECORD_PEER_CONNECTIONS,
    pk_starts_video_session,
    watch_for_errors,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CONNECTED = "(window.__peerConnections || []).some((pc) => pc.connectionState === 'connected')"
LOADED = "performance.getEntriesByType('resource').map((e) => new URL(e.name).pathname)"


async def touch_stroke(cdp, points: list[tuple[float, float]]) -> None:
    """A finger on the screen: touchStart, moves, touchEnd (Chromium makes pointer events of type touch)."""
    first, *rest = points
    await cdp.send("Input.dispatchTouchEvent", {"type": "touchStart", "touchPoints": [{"x": first[0], "y": first[1]}]})
    for x, y in rest:
        await cdp.send("Input.dispatchTouchEvent", {"type": "touchMove", "touchPoints": [{"x": x, "y": y}]})
    await cdp.send("Input.dispatchTouchEvent", {"type": "touchEnd", "touchPoints": []})


async def test_the_client_signs_on_a_390px_phone_during_the_call_and_the_page_confirms_it(browser, live_server, artifacts):
    errors: list[str] = []
    call = await pk_starts_video_session(browser, live_server, {
        "name": "Siti Rahmawati", "register_number": "PAS.2026.0612", "supervision_start": "2026-01-05",
        "supervision_end": "2027-07-05", "reporting_interval_days": "30", "kelurahan": "Pulau Harapan",
        "phone": "0812-5555-6666", "employment": "Penjahit",
    }, errors)
    pk = call.pk

    phone_ctx = await browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=3, is_mobile=True,
                                          has_touch=True, user_agent=ANDROID_CHROME, locale="id-ID")
    await phone_ctx.grant_permissions(["camera", "microphone"], origin=live_server.url)
    await phone_ctx.add_init_script(RECORD_PEER_CONNECTIONS)
    phone = await phone_ctx.new_page()
    watch_for_errors(phone, "phone", errors)
    await phone.goto(call.link)
    await phone.click("#start-check")
    await expect(phone.locator("#enter")).to_be_enabled()
    await phone.click("#enter")
    await expect(pk.locator("#waiting-notice")).to_be_visible()
    await pk.click("#admit")
    await expect(phone.locator("#step-call")).to_be_visible()
    await expect(pk.locator("#call-status")).to_have_text("Dalam panggilan")
    await phone.wait_for_function(CONNECTED)
    # In a call, nothing of the signing panel has been fetched.
    assert not [p for p in await phone.evaluate(LOADED) if "signing" in p]

    # --- the PK pushes the kontrak; it opens over the call on the phone ------------------------------
    await pk.click('[data-document-kind="kontrak_bimbingan"]')
    panel = phone.locator("#signing")
    await expect(panel).to_be_visible()
    await expect(phone.locator("#signing-title")).to_have_text("KONTRAK BIMBINGAN")
    await expect(phone.locator("#signing-body")).to_contain_text("Siti Rahmawati")
    await expect(phone.locator("#signing-body")).to_contain_text("PAS.2026.0612")
    await expect(pk.locator("#documents-status")).to_contain_text("Klien sedang membaca")
    loaded = await phone.evaluate(LOADED)
    assert any(p.endswith("/signing.js") for p in loaded) and any(p.endswith("/signing.css") for p in loaded), loaded
    # It fits the 390-px page: no sideways scrolling, the pad as wide as the page allows.
    assert await phone.evaluate("document.documentElement.scrollWidth") <= 390
    await phone.locator("#signing-pad").scroll_into_view_if_needed()
    box = await phone.locator("#signing-pad").bounding_box()
    assert 300 <= box["width"] <= 390 and box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    # The call goes on underneath.
    assert await phone.evaluate(CONNECTED)

    # --- the client signs without a name: told; then types the name and draws ---------------------
    await phone.click("#signing-submit")
    await expect(phone.locator("#signing-status")).to_have_text("Ketik nama lengkap Anda terlebih dahulu.")
    await phone.fill("#signing-name", "Siti Rahmawati")
    x0, y0 = box["x"], box["y"]
    cdp = await phone_ctx.new_cdp_session(phone)
    await touch_stroke(cdp, [(x0 + 20 + i * 8, y0 + 60 + (i % 5) * 12) for i in range(25)])
    await phone.mouse.move(x0 + 40, y0 + 140)
    await phone.mouse.down()
    for i in range(20):
        await phone.mouse.move(x0 + 40 + i * 10, y0 + 140 - (i % 4) * 15)
    await phone.mouse.up()
    await phone.screenshot(path=artifacts / "signing-1-phone-390.png", full_page=False)
    await phone.click("#signing-submit")
    await expect(phone.locator("#signing-done")).to_have_text("Terima kasih. Dokumen sudah Anda tanda tangani dan disimpan.")
    await phone.screenshot(path=artifacts / "signing-2-signed.png")

    # --- the PK countersigns from the console ------------------------------------------------------------
    await expect(pk.locator("#documents-status")).to_have_text("Klien sudah menandatangani. Periksa, lalu tanda tangani sebagai PK.")
    await pk.click("[data-countersign]")
    await expect(pk.locator("#documents-list li").first).to_have_attribute("data-status", "countersigned")
    listed = (await (await pk.request.get(f"/api/sessions/{call.session_id}/documents")).json())["documents"]
    [document] = listed
    assert (document["status"], document["signed_name"]) == ("countersigned", "Siti Rahmawati")
    assert document["signed_user_agent"] == ANDROID_CHROME and document["signed_address"] == "127.0.0.1"
    # Both strokes arrived, in the canvas' own pixels.
    record = await (await pk.request.get(f"/api/sessions/{call.session_id}/documents/{document['id']}")).json()
    assert record["integrity"] == "countersigned"

    # --- printed with the letterhead and a QR code; the verification page confirms it ---------------------
    await pk.goto(document["print_url"])
    await expect(pk.locator(".kop")).to_be_visible()
    assert await pk.locator("#document-client-signature svg path").count() == 2
    await expect(pk.locator('[data-field="content_hash"]')).to_have_text(document["content_hash"])
    assert await pk.locator(".qr svg").count() == 1
    await pk.screenshot(path=artifacts / "signing-3-printed.png", full_page=True)

    await phone.goto(document["verify_url"])
    await expect(phone.locator("#verify-status")).to_have_attribute("data-document", "countersigned")
    await expect(phone.locator('[data-field="content_hash"]')).to_have_text(document["content_hash"])
    await expect(phone.locator('[data-field="initials"]')).to_have_text("S. R.")
    await phone.screenshot(path=artifacts / "signing-4-verified.png")
    assert errors == []
