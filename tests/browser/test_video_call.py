"""The whole video-guidance story in two real browsers against a real server:
the PK signs in, starts a video session from the caseload and takes the link;
the client opens it on a phone, checks camera and microphone and waits; the PK
admits; both decode each other's video; the PK writes notes that save as they
type and ends; the session record shows the duration and the notes."""

from __future__ import annotations

import asyncio
import re
import time

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import PK_NAME, PK_PASSWORD, PK_USERNAME

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 13; SM-A145F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)

# Test-only hook, added before any page script runs: remember every
# RTCPeerConnection the page makes so the test can read its getStats().
RECORD_PEER_CONNECTIONS = """
(() => {
  const Native = window.RTCPeerConnection;
  const made = [];
  window.__peerConnections = made;
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); made.push(this); }
  };
})();
"""

FRAMES_DECODED = """
async () => {
  let frames = 0;
  for (const pc of window.__peerConnections || []) {
    if (pc.connectionState === "closed") continue;
    const report = await pc.getStats();
    report.forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0; });
  }
  return frames;
}
"""

NOTES = "Klien hadir tepat waktu. Bekerja sebagai ojek daring; tidak ada kendala."


async def poll(fetch, accept, timeout: float = 20.0, interval: float = 0.25, what: str = "condition"):
    """Call ``fetch`` until ``accept(value)`` holds; fail with the last value after ``timeout``."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = await fetch()
        if accept(value):
            return value
        await asyncio.sleep(interval)
    pytest.fail(f"timed out waiting for {what}; last value: {value!r}")


def watch_for_errors(page: Page, name: str, errors: list[str]) -> None:
    """Uncaught exceptions and Content-Security-Policy refusals fail the test;
    every console line is printed (pytest shows it when the test fails)."""
    page.on("pageerror", lambda exc: errors.append(f"{name}: uncaught {exc}"))

    def on_console(msg):
        print(f"[{name}] {msg.type}: {msg.text}")
        if msg.type == "error" and "Content Security Policy" in msg.text:
            errors.append(f"{name}: {msg.text}")

    page.on("console", on_console)


async def frames_keep_coming(page: Page, who: str) -> int:
    first = await poll(lambda: page.evaluate(FRAMES_DECODED), lambda n: n > 0, what=f"{who} to decode a video frame")
    # About a second of video at the fake camera's 20-30 fps: the picture is live, not a single frame.
    return await poll(lambda: page.evaluate(FRAMES_DECODED), lambda n: n >= first + 20, what=f"{who} to keep decoding video")


async def test_pk_and_client_hold_a_logged_video_call_in_two_browsers(browser, live_server, artifacts):
    errors: list[str] = []

    # --- the PK signs in and adds a client to the caseload (the form a PK uses) -------------------------------
    pk_ctx = await browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="id-ID")
    await pk_ctx.grant_permissions(["camera", "microphone", "clipboard-read", "clipboard-write"], origin=live_server.url)
    await pk_ctx.add_init_script(RECORD_PEER_CONNECTIONS)
    pk = await pk_ctx.new_page()
    watch_for_errors(pk, "console", errors)
    pk.on("dialog", lambda dialog: asyncio.ensure_future(dialog.accept()))
    await pk.goto("/login")
    await pk.fill("input[name=username]", PK_USERNAME)
    await pk.fill("input[name=password]", PK_PASSWORD)
    await pk.click("button[type=submit]")
    await expect(pk).to_have_url(re.compile(r"/caseload$"))
    await pk.goto("/clients/new")
    for name, value in {
        "name": "Rizky Saputra", "register_number": "PAS.2026.0417", "supervision_start": "2026-01-05",
        "supervision_end": "2027-01-05", "reporting_interval_days": "14", "kelurahan": "Pulau Tidung",
        "phone": "0812-3456-7890", "employment": "Nelayan",
    }.items():
        await pk.fill(f'form input[name="{name}"]', value)
    await pk.select_option("select[name=program]", "PB")
    await pk.click("form.stack button[type=submit]")
    await expect(pk).to_have_url(re.compile(r"/clients/\d+$"))
    client_id = int(pk.url.rsplit("/", 1)[1])

    # --- from the caseload: start a video session now --------------------------------------
    await pk.goto("/caseload")
    await pk.click(f'tr[data-client-id="{client_id}"] a[href$="mode=video"]')
    await expect(pk.locator("select[name=mode]")).to_have_value("video")
    await pk.click("#session-form button[type=submit]")
    await expect(pk).to_have_url(re.compile(r"/sessions/\d+/call$"))
    session_id = int(re.search(r"/sessions/(\d+)/call", pk.url).group(1))
    link = await pk.input_value("#join-link")
    assert re.fullmatch(re.escape(live_server.url) + r"/j/[\w-]+\.[\w-]+", link), link
    await pk.click("#copy-link")
    await expect(pk.locator("#share-status")).to_have_text("Tautan tersalin.")
    assert await pk.evaluate("navigator.clipboard.readText()") == link
    await expect(pk.locator("#call-status")).to_have_text("Menunggu klien membuka tautan.")

    # --- the client opens the link on a phone -------------------------------------------------
    phone_ctx = await browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True,
        user_agent=ANDROID_CHROME, locale="id-ID",
    )
    await phone_ctx.grant_permissions(["camera", "microphone"], origin=live_server.url)
    await phone_ctx.add_init_script(RECORD_PEER_CONNECTIONS)
    phone = await phone_ctx.new_page()
    watch_for_errors(phone, "phone", errors)
    await phone.goto(link)
    assert phone.url == live_server.url + "/join"  # the token left the address bar
    await expect(phone.locator("h1")).to_have_text(f"Bimbingan dengan {PK_NAME}")
    await expect(phone.locator("#step-intro")).to_contain_text("tidak direkam")
    await phone.screenshot(path=artifacts / "client-0-notice.png")

    # device check: a live preview and a sound meter that hears the fake microphone's beeps
    await phone.click("#start-check")
    await expect(phone.locator("#enter")).to_be_enabled()
    await poll(lambda: phone.evaluate("document.getElementById('preview').videoWidth"), lambda w: w > 0, what="the camera preview")
    await expect(phone.locator("#heard")).to_have_text("Suara Anda terdengar.", timeout=15000)
    await phone.screenshot(path=artifacts / "client-1-device-check.png")

    # waiting room; the PK hears a chime and sees the notice
    await phone.click("#enter")
    await expect(phone.locator("#waiting-title")).to_have_text("Menunggu PK")
    await expect(phone.locator("#waiting-text")).to_contain_text("PK sudah diberi tahu")
    await phone.screenshot(path=artifacts / "client-2-waiting.png")
    await expect(pk.locator("#waiting-notice")).to_be_visible()
    await expect(pk.locator("#waiting-device")).to_contain_text("Android")
    await pk.screenshot(path=artifacts / "console-1-client-waiting.png", full_page=True)

    # --- the PK admits; both sides decode live video ------------------------------------------------
    await pk.click("#admit")
    await expect(pk.locator("#waiting-notice")).to_be_hidden()
    await expect(phone.locator("#step-call")).to_be_visible()
    await frames_keep_coming(phone, "the client")
    await frames_keep_coming(pk, "the PK")
    await expect(phone.locator("#call-status")).to_have_text("Tersambung")
    await expect(pk.locator("#call-status")).to_have_text("Dalam panggilan")
    await expect(phone.locator("#quality")).not_to_have_attribute("data-level", "unknown", timeout=10000)
    await phone.screenshot(path=artifacts / "client-3-in-call.png")

    # --- notes save as the PK types; topics and outcome too -------------------------------------------
    await pk.locator("#notes").press_sequentially(NOTES, delay=5)
    await pk.check('#topics input[value="work_skills"]')
    await pk.select_option("#outcome", "attended")
    await expect(pk.locator("#save-status")).to_have_attribute("data-state", "saved")

    async def saved_session():
        return await (await pk.request.get(f"/api/sessions/{session_id}")).json()

    during = await poll(saved_session, lambda s: s["notes"] == NOTES and s["outcome"] == "attended" and s["topics"] == ["work_skills"],
                        what="the notes, topic and outcome to be saved during the call")
    assert during["status"] == "active"
    await pk.screenshot(path=artifacts / "console-2-in-call.png", full_page=True)

    # --- the PK ends the session (confirming the dialog) --------------------------------------------------
    await pk.click("#end")
    await expect(pk.locator("#ended")).to_be_visible()
    await expect(pk.locator("#ended-duration")).to_contain_text("Lama sesi tercatat")
    await expect(phone.locator("#final-title")).to_have_text("Sesi selesai")
    await phone.screenshot(path=artifacts / "client-4-ended.png")

    ended = await saved_session()
    assert ended["status"] == "ended"
    assert ended["duration_seconds"] > 0
    assert ended["notes"] == NOTES
    kinds = [e["kind"] for e in ended["events"]]
    for kind in ("client_waiting", "admitted", "media_connected", "ended"):
        assert kind in kinds, kinds
    assert kinds.index("client_waiting") < kinds.index("admitted") < kinds.index("media_connected") < kinds.index("ended")

    # the session page, reached from the console, shows the duration and the notes
    await pk.click("#view-session")
    await expect(pk).to_have_url(re.compile(rf"/sessions/{session_id}$"))
    await expect(pk.locator('[data-field="notes"]')).to_have_text(NOTES)
    seconds = int(await pk.locator('[data-field="duration"]').get_attribute("data-seconds"))
    assert seconds == ended["duration_seconds"]
    await pk.screenshot(path=artifacts / "console-3-session-record.png", full_page=True)

    assert errors == []
    await phone_ctx.close()
    await pk_ctx.close()
