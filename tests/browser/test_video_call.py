"""The whole video-guidance story in two real browsers against a real server:
the PK signs in, starts a video session from the caseload and takes the link;
the client opens it on a phone, checks camera and microphone and waits; the PK
admits; both decode each other's video; the PK writes notes that save as they
type and ends; the session record shows the duration and the notes. And the
phone's bad days: audio only to save data, and a dropped connection that comes
back by itself."""

from __future__ import annotations

import asyncio
import re
import time
from urllib.parse import quote
from dataclasses import dataclass

import pytest
from playwright.async_api import Page, expect

from tests.browser.conftest import CHROMIUM_ARGS, PK_NAME, PK_PASSWORD, PK_USERNAME
from tests.services import require_chromium

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
  // ...and the signaling message types each way, to explain a failure.
  const signals = [];
  window.__signals = signals;
  const NativeWS = window.WebSocket;
  window.__sockets = [];
  window.WebSocket = class extends NativeWS {
    constructor(...args) {
      super(...args);
      window.__sockets.push(this);
      this.addEventListener("message", (e) => { try { signals.push("<" + JSON.parse(e.data).type); } catch {} });
      this.addEventListener("close", (e) => signals.push("closed " + e.code));
    }
    send(data) { try { signals.push(">" + JSON.parse(data).type); } catch {} return super.send(data); }
  };
})();
"""

# The page loses its socket the way a dead network ends one for the server: every
# socket it has open is closed with 4001 (a code that does not ask for the place
# to be held, docs/signaling.md §5). Not only the last one made: one run's last
# socket was another (a reconnect begun as the network went), the call's own
# socket stayed open and the console never heard the client drop.
LOSE_SOCKETS = "window.__sockets.filter((s) => s.readyState === WebSocket.OPEN).forEach((s) => s.close(4001, 'test: connection lost'))"

CALL_STATE = """
() => ({
  signals: (window.__signals || []).filter((t) => t !== ">ping" && t !== "<pong").join(" "),
  peers: (window.__peerConnections || []).map((pc) => [pc.signalingState, pc.iceConnectionState, pc.connectionState,
    pc.getTransceivers().map((t) => `${t.mid}:${t.receiver.track.kind}:${t.currentDirection}`).join(",")]),
})
"""

# Video frames decoded by the page's current (latest) peer connection.
FRAMES_DECODED = """
async () => {
  const pc = (window.__peerConnections || []).at(-1);
  if (!pc || pc.connectionState === "closed") return 0;
  let frames = 0;
  (await pc.getStats()).forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0; });
  return frames;
}
"""

# The direction both sides agreed for video on the current peer connection.
VIDEO_DIRECTION = """
() => {
  const pc = (window.__peerConnections || []).at(-1);
  const t = pc && pc.getTransceivers().find((t) => t.receiver.track.kind === "video");
  return t ? t.currentDirection : null;
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
    try:
        first = await poll(lambda: page.evaluate(FRAMES_DECODED), lambda n: n > 0, what=f"{who} to decode a video frame")
    except BaseException:
        for p in page.context.browser.contexts:
            for other in p.pages:
                print("call state", other.url, await other.evaluate(CALL_STATE))
        raise
    # About a second of video at the fake camera's 20-30 fps: the picture is live, not a single frame.
    return await poll(lambda: page.evaluate(FRAMES_DECODED), lambda n: n >= first + 20, what=f"{who} to keep decoding video")


@dataclass
class Call:
    """The two sides of one session, as the test drives them."""

    pk: Page
    phone: Page | None
    session_id: int
    link: str
    errors: list[str]

    async def session(self) -> dict:
        return await (await self.pk.request.get(f"/api/sessions/{self.session_id}")).json()


async def pk_starts_video_session(browser, live_server, client: dict, errors: list[str]) -> Call:
    """The PK signs in, adds the client with the form a PK uses, and starts a
    video session from the caseload; the console opens with the link."""
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
    for name, value in client.items():
        await pk.fill(f'form input[name="{name}"]', value)
    await pk.select_option("select[name=program]", "PB")
    await pk.click("form.stack button[type=submit]")
    await expect(pk).to_have_url(re.compile(r"/clients/\d+$"))
    client_id = int(pk.url.rsplit("/", 1)[1])

    await pk.goto("/caseload")
    await pk.click(f'tr[data-client-id="{client_id}"] a[href$="mode=video"]')
    await expect(pk.locator("select[name=mode]")).to_have_value("video")
    await pk.click("#session-form button[type=submit]")
    await expect(pk).to_have_url(re.compile(r"/sessions/\d+/call$"))
    session_id = int(re.search(r"/sessions/(\d+)/call", pk.url).group(1))
    link = await pk.input_value("#join-link")
    assert re.fullmatch(re.escape(live_server.url) + r"/j/[\w-]+\.[\w-]+", link), link
    # the console's script is running and its socket is in the room
    await expect(pk.locator("#call-status")).to_have_text("Menunggu klien membuka tautan.")
    return Call(pk, None, session_id, link, errors)


async def client_opens_link_on_phone(browser, live_server, call: Call) -> Page:
    phone_ctx = await browser.new_context(
        viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True, has_touch=True,
        user_agent=ANDROID_CHROME, locale="id-ID",
    )
    await phone_ctx.grant_permissions(["camera", "microphone"], origin=live_server.url)
    await phone_ctx.add_init_script(RECORD_PEER_CONNECTIONS)
    phone = await phone_ctx.new_page()
    watch_for_errors(phone, "phone", call.errors)
    await phone.goto(call.link)
    assert phone.url == live_server.url + "/join"  # the token left the address bar
    call.phone = phone
    return phone


async def admit_and_see_video(call: Call) -> None:
    pk, phone = call.pk, call.phone
    await expect(pk.locator("#waiting-notice")).to_be_visible()
    await pk.click("#admit")
    await expect(pk.locator("#waiting-notice")).to_be_hidden()
    await expect(phone.locator("#step-call")).to_be_visible()
    await frames_keep_coming(phone, "the client")
    await frames_keep_coming(pk, "the PK")
    await expect(phone.locator("#call-status")).to_have_text("Tersambung")
    await expect(pk.locator("#call-status")).to_have_text("Dalam panggilan")


async def test_pk_and_client_hold_a_logged_video_call_in_two_browsers(browser, live_server, artifacts):
    errors: list[str] = []
    call = await pk_starts_video_session(browser, live_server, {
        "name": "Rizky Saputra", "register_number": "PAS.2026.0417", "supervision_start": "2026-01-05",
        "supervision_end": "2027-01-05", "reporting_interval_days": "14", "kelurahan": "Pulau Tidung",
        "phone": "0812-3456-7890", "employment": "Nelayan",
    }, errors)
    pk = call.pk
    await pk.click("#copy-link")
    await expect(pk.locator("#share-status")).to_have_text("Tautan tersalin.")
    assert await pk.evaluate("navigator.clipboard.readText()") == call.link
    assert "wa.me/6281234567890?text=" in await pk.get_attribute("#wa-direct", "href")

    # --- the client opens the link on a phone -------------------------------------------------
    phone = await client_opens_link_on_phone(browser, live_server, call)
    await expect(phone.locator("h1")).to_have_text(f"Bimbingan dengan {PK_NAME}")
    await expect(phone.locator("#step-intro")).to_contain_text("tidak direkam")
    await phone.screenshot(path=artifacts / "client-0-notice.png")

    # device check: a live preview and a sound meter that hears the fake microphone's beeps
    await phone.click("#start-check")
    await expect(phone.locator("#enter")).to_be_enabled()
    await poll(lambda: phone.evaluate("document.getElementById('preview').videoWidth"), lambda w: w > 0, what="the camera preview")
    await expect(phone.locator("#heard")).to_have_text("Suara Anda terdengar.", timeout=15000)
    await phone.screenshot(path=artifacts / "client-1-device-check.png")

    # waiting room; the PK sees the notice (and hears a chime)
    await phone.click("#enter")
    await expect(phone.locator("#waiting-title")).to_have_text("Menunggu PK")
    await expect(phone.locator("#waiting-text")).to_contain_text("PK sudah diberi tahu")
    await phone.screenshot(path=artifacts / "client-2-waiting.png")
    await expect(pk.locator("#waiting-notice")).to_be_visible()
    await expect(pk.locator("#waiting-device")).to_contain_text("Android")
    await pk.screenshot(path=artifacts / "console-1-client-waiting.png", full_page=True)

    # --- the PK admits; both sides decode live video ------------------------------------------------
    await admit_and_see_video(call)
    await expect(phone.locator("#quality")).not_to_have_attribute("data-level", "unknown", timeout=10000)
    await phone.screenshot(path=artifacts / "client-3-in-call.png")

    # --- notes save as the PK types; topics and outcome too -------------------------------------------
    await pk.locator("#notes").press_sequentially(NOTES, delay=5)
    await pk.check('#topics input[value="work_skills"]')
    await pk.select_option("#outcome", "attended")
    await expect(pk.locator("#save-status")).to_have_attribute("data-state", "saved")
    during = await poll(call.session, lambda s: s["notes"] == NOTES and s["outcome"] == "attended" and s["topics"] == ["work_skills"],
                        what="the notes, topic and outcome to be saved during the call")
    assert during["status"] == "active"
    await pk.screenshot(path=artifacts / "console-2-in-call.png", full_page=True)

    # --- the PK ends the session (confirming the dialog) --------------------------------------------------
    await pk.click("#end")
    await expect(pk.locator("#ended")).to_be_visible()
    await expect(pk.locator("#ended-duration")).to_contain_text("Lama sesi tercatat")
    await expect(phone.locator("#final-title")).to_have_text("Sesi selesai")
    await expect(phone.locator("#final-title")).to_be_visible()
    await phone.screenshot(path=artifacts / "client-4-ended.png")

    ended = await call.session()
    assert ended["status"] == "ended"
    assert ended["duration_seconds"] > 0
    assert ended["notes"] == NOTES
    kinds = [e["kind"] for e in ended["events"]]
    for kind in ("client_waiting", "admitted", "media_connected", "ended"):
        assert kind in kinds, kinds
    assert kinds.index("client_waiting") < kinds.index("admitted") < kinds.index("media_connected") < kinds.index("ended")

    # the session page, reached from the console, shows the duration and the notes
    await pk.click("#view-session")
    await expect(pk).to_have_url(re.compile(rf"/sessions/{call.session_id}$"))
    await expect(pk.locator('[data-field="notes"]')).to_have_text(NOTES)
    seconds = int(await pk.locator('[data-field="duration"]').get_attribute("data-seconds"))
    assert seconds == ended["duration_seconds"]
    await pk.screenshot(path=artifacts / "console-3-session-record.png", full_page=True)
    assert errors == []


async def test_client_saves_data_with_audio_only_and_comes_back_after_a_drop_and_a_hang_up(browser, live_server, artifacts):
    errors: list[str] = []
    call = await pk_starts_video_session(browser, live_server, {
        "name": "Dewi Lestari", "register_number": "PAS.2026.0533", "supervision_start": "2026-03-02",
        "supervision_end": "2027-03-02", "reporting_interval_days": "30", "kelurahan": "Kalibaru",
    }, errors)
    pk = call.pk
    phone = await client_opens_link_on_phone(browser, live_server, call)
    await phone.click("#start-check")
    await phone.click("#enter")
    await admit_and_see_video(call)

    # "hemat kuota": video stops both ways after renegotiation, the call goes on with sound
    await phone.click("#saver")
    await expect(phone.locator("#saver")).to_have_attribute("aria-pressed", "true")
    await poll(lambda: phone.evaluate(VIDEO_DIRECTION), lambda d: d == "inactive", what="the phone to stop video")
    await poll(lambda: pk.evaluate(VIDEO_DIRECTION), lambda d: d == "inactive", what="the PK to stop video")
    await expect(phone.locator("#remote-audio-only")).to_be_visible()
    await phone.screenshot(path=artifacts / "client-5-audio-only.png")
    # the PK sees a clear notice instead of the client's last frame, frozen
    await expect(pk.locator("#remote-audio-only")).to_be_visible()
    await expect(pk.locator("#remote-audio-only")).to_have_text("Klien memakai mode hemat kuota (hanya suara)")
    await expect(pk.locator("#remote")).to_be_hidden()
    await pk.screenshot(path=artifacts / "console-4-client-audio-only.png")
    await phone.click("#saver")
    await poll(lambda: phone.evaluate(VIDEO_DIRECTION), lambda d: d == "sendrecv", what="the phone to send video again")
    await frames_keep_coming(pk, "the PK after audio-only")
    await expect(pk.locator("#remote-audio-only")).to_be_hidden()
    await expect(pk.locator("#remote")).to_be_visible()
    await pk.screenshot(path=artifacts / "console-5-client-video-back.png")

    # the phone loses its network and its socket: it says so, and the PK sees the client drop
    await phone.context.set_offline(True)
    await expect(phone.locator("#banner")).to_have_text("Tidak ada internet. Menunggu sinyal…")
    await phone.evaluate(LOSE_SOCKETS)
    # The close travels page → server → console: beyond expect's 5 s on a loaded machine
    # (a run beside four other test runs at load 16-21 took longer).
    try:
        await expect(pk.locator("#call-status")).to_have_text("Sambungan klien terputus; menunggu klien kembali…", timeout=15000)
    except AssertionError:
        print("phone sockets:", await phone.evaluate("window.__sockets.map((s) => s.readyState)"), "signals:", await phone.evaluate("window.__signals.slice(-30)"))
        raise
    await phone.screenshot(path=artifacts / "client-6-reconnecting.png")

    # the network comes back: the page rejoins on its own, without a tap, into a fresh call
    await phone.context.set_offline(False)
    await expect(phone.locator("#banner")).to_be_hidden(timeout=15000)
    await frames_keep_coming(phone, "the client after rejoining")
    await frames_keep_coming(pk, "the PK after the client rejoined")
    await expect(phone.locator("#call-status")).to_have_text("Tersambung")

    # the client hangs up by mistake and taps "Gabung lagi": a device the PK admitted comes straight back
    await phone.click("#hangup")
    await expect(phone.locator("#step-left")).to_be_visible()
    await expect(pk.locator("#call-status")).to_have_text("Klien keluar dari panggilan.")
    await phone.click("#rejoin")
    await frames_keep_coming(pk, "the PK after the client came back")
    await expect(pk.locator("#waiting-notice")).to_be_hidden()

    await pk.click("#end")
    await expect(phone.locator("#final-title")).to_have_text("Sesi selesai")
    ended = await call.session()
    kinds = [e["kind"] for e in ended["events"]]
    assert kinds.count("media_connected") == 1, kinds
    first_drop = kinds.index("disconnected")
    assert kinds.index("media_connected") < first_drop < kinds.index("reconnected") < kinds.index("ended"), kinds
    assert ended["status"] == "ended" and ended["duration_seconds"] > 0
    assert errors == []


async def test_client_uses_the_reissued_link_and_is_helped_when_the_camera_is_blocked_and_the_console_learns_the_end(browser, live_server, artifacts):
    errors: list[str] = []
    call = await pk_starts_video_session(browser, live_server, {
        "name": "Fajar Nugroho", "register_number": "PAS.2026.0610", "supervision_start": "2026-05-04",
        "supervision_end": "2027-05-04", "reporting_interval_days": "14", "kelurahan": "Marunda",
    }, errors)
    # the PK thinks the link went to the wrong number and reissues it (confirming the dialog)
    old_link = call.link
    await call.pk.click("#reissue")
    await expect(call.pk.locator("#share-status")).to_have_text("Tautan baru dibuat; tautan lama tidak berlaku lagi.")
    call.link = await call.pk.input_value("#join-link")
    assert call.link != old_link
    assert quote(call.link, safe="") in await call.pk.get_attribute("#wa-share", "href")
    # A phone browser that asks before giving the camera (no fake permission
    # UI): with nothing granted the request is refused, as when the client taps "Block".
    asking = await browser.browser_type.launch(
        executable_path=require_chromium(), headless=True,
        args=[a for a in CHROMIUM_ARGS if a != "--use-fake-ui-for-media-stream"],
    )
    phone_ctx = await asking.new_context(viewport={"width": 360, "height": 740}, device_scale_factor=2, is_mobile=True,
                                         has_touch=True, user_agent=ANDROID_CHROME, locale="id-ID")
    phone = await phone_ctx.new_page()
    watch_for_errors(phone, "phone", errors)
    assert (await phone.goto(old_link)).status == 410  # the old link is dead
    await phone.goto(call.link)
    await phone.click("#start-check")
    await expect(phone.locator("#check-help")).to_be_visible()
    await expect(phone.locator("#check-help-title")).to_have_text("Izin kamera atau mikrofon ditolak")
    await expect(phone.locator("#check-help-text")).to_contain_text("ikon gembok")
    await expect(phone.locator("#enter")).to_be_disabled()
    await phone.screenshot(path=artifacts / "client-7-permission-denied.png")

    # the client allows camera and microphone in the browser and taps "Coba lagi"
    await phone_ctx.grant_permissions(["camera", "microphone"], origin=live_server.url)
    await phone.click("#retry-check")
    await expect(phone.locator("#check-help")).to_be_hidden()
    await expect(phone.locator("#enter")).to_be_enabled()
    await poll(lambda: phone.evaluate("document.getElementById('preview').videoWidth"), lambda w: w > 0, what="the camera preview")

    # The client waits; the PK's console says so, then loses its network and its socket.
    await phone.click("#enter")
    pk = call.pk
    await expect(pk.locator("#waiting-notice")).to_be_visible()
    await expect(pk.locator("#remote-placeholder")).to_have_text("Klien menunggu di ruang tunggu")
    await pk.context.set_offline(True)
    await pk.evaluate(LOSE_SOCKETS)
    await expect(pk.locator("#banner")).to_have_text("Koneksi terputus. Menyambung ulang…")
    # The session ends meanwhile (here by the API; the server's end of a call everyone
    # left reaches the console the same way): the waiting phone is told at once.
    ended = await pk.request.post(f"/api/sessions/{call.session_id}/end", headers={"Origin": live_server.url})
    assert ended.ok, await ended.text()
    await expect(phone.locator("#final-title")).to_have_text("Sesi selesai")
    # Back online, the console rejoins a closed session: it says the session ended,
    # and nothing on it still says the client waits.
    await pk.context.set_offline(False)
    await expect(pk.locator("#ended")).to_be_visible(timeout=15000)
    await expect(pk.locator("#waiting-notice")).to_be_hidden()
    await expect(pk.locator("#remote-placeholder")).to_have_text("Sesi telah berakhir")
    await expect(pk.locator("#call-status")).to_have_text("Sesi telah berakhir")
    await expect(pk.locator("#banner")).to_be_hidden()
    await expect(pk.locator("#session-status")).to_have_text("Selesai")
    await pk.screenshot(path=artifacts / "console-6-ended-while-away.png")
    assert errors == []
    await asking.close()
