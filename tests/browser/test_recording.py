"""A recorded session in two Chromium contexts: the PK's console uploads the
call to the server's recorder, both pages say so, and after the end the
session holds two encrypted recordings that decrypt to MP4s with video and
audio (PITFALLS 1). A client in audio-only mode is recorded as audio only."""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import time
from pathlib import Path

import av
import psutil
import pytest
from playwright.async_api import Page, expect

from server.media import crypto
from tests.browser.conftest import PK_PASSWORD, PK_USERNAME
from tests.browser.test_video_call import (
    RECORD_PEER_CONNECTIONS,
    Call,
    client_opens_link_on_phone,
    poll,
    watch_for_errors,
)
from tests.peers import until_counted
from tests.test_recording import recorder_received, until_taken

pytestmark = [pytest.mark.browser, pytest.mark.slow]
# Recorded as production records: in the recorder process `serve` starts beside itself.
RECORDER_PROCESS = True


def server_cpu_seconds(pid: int) -> float | None:
    """CPU time of the ``bimbing serve`` process ``pid`` (Linux /proc), for the log."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


def page_count(page: Page, script: str, name: str):
    """A count the page gives (``script``), read as :func:`until_counted` reads
    counts: a stretch of call is waited for as long as its media flows."""

    async def read() -> dict[str, int]:
        return {name: await page.evaluate(script)}

    return read


def recorder_url(server_pid: int) -> str:
    """The recorder process ``bimbing serve`` started beside itself
    (server/recorders/workers.py: ``server recorder --port P``)."""
    for child in psutil.Process(server_pid).children():
        command = child.cmdline()
        if "recorder" in command and "--port" in command:
            return f"http://127.0.0.1:{command[command.index('--port') + 1]}"
    raise AssertionError(f"no recorder process beside the server (pid {server_pid})")


# Video frames decoded by the call's own peer connection (the first one made:
# the uploads to the recorder come after it and receive nothing).
CALL_FRAMES = """
async () => {
  const pc = (window.__peerConnections || [])[0];
  if (!pc) return 0;
  let n = 0;
  (await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "video") n += r.framesDecoded || 0; });
  return n;
}
"""


async def pk_starts_recorded_session(browser, live_server, errors: list[str], client: dict) -> Call:
    """The PK signs in, adds the client and starts a recorded video session; the console opens."""
    pk_ctx = await browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="id-ID")
    await pk_ctx.grant_permissions(["camera", "microphone"], origin=live_server.url)
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
    await pk.check("input[name=record]")
    await pk.click("#session-form button[type=submit]")
    await expect(pk).to_have_url(re.compile(r"/sessions/\d+/call$"))
    session_id = int(re.search(r"/sessions/(\d+)/call", pk.url).group(1))
    return Call(pk, None, session_id, await pk.input_value("#join-link"), errors)

# Audio packets received by the call's own peer connection.
CALL_AUDIO_PACKETS = """
async () => {
  const pc = (window.__peerConnections || [])[0];
  if (!pc) return 0;
  let n = 0;
  (await pc.getStats()).forEach((r) => { if (r.type === "inbound-rtp" && r.kind === "audio") n += r.packetsReceived || 0; });
  return n;
}
"""


async def test_a_recorded_call_in_two_browsers_yields_recordings_with_video(browser, live_server, tmp_path):
    errors: list[str] = []
    call = await pk_starts_recorded_session(browser, live_server, errors, {
        "name": "Dewi Lestari", "register_number": "PAS.2026.0999", "supervision_start": "2026-01-05",
        "supervision_end": "2027-01-05", "reporting_interval_days": "14", "kelurahan": "Cakung Barat"})
    pk, session_id = call.pk, call.session_id

    phone = await client_opens_link_on_phone(browser, live_server, call)
    await expect(phone.locator("#step-intro")).to_contain_text("merekam")
    await phone.click("#start-check")
    await expect(phone.locator("#enter")).to_be_enabled()
    await phone.click("#enter")
    await expect(pk.locator("#waiting-notice")).to_be_visible()
    await pk.click("#admit")
    await expect(pk.locator("#recording-badge")).to_be_visible(timeout=20000)
    await expect(phone.locator("#recorded")).to_have_text("Sesi ini direkam")
    await expect(phone.locator("#recorded")).to_be_visible()
    # Some seconds of recorded call, measured in frames the PK's page decodes.
    first = await poll(lambda: pk.evaluate(CALL_FRAMES), lambda n: n > 0, what="the PK to decode video")
    cpu0, wall0 = server_cpu_seconds(live_server.pid), time.monotonic()
    await until_counted(page_count(pk, CALL_FRAMES, "video frames"), {"video frames": first + 60}, "about three seconds of recorded call")
    cpu1, wall1 = server_cpu_seconds(live_server.pid), time.monotonic()
    if cpu0 is not None and cpu1 is not None:
        # A measurement for the log, not an assertion: the server only relays signaling
        # here, so its CPU is the recorder's (two parties, Chromium's fake 640x480 camera).
        print(f"[recording cost] server {(cpu1 - cpu0) / (wall1 - wall0):.2f} CPU-s per second of recorded call")
    # ...and as much taken by the recorder, which the files are checked for below.
    url = recorder_url(live_server.pid)
    await until_taken(lambda http: recorder_received(http, url), 60, ("officer", "client"), "video")
    await pk.click("#end")
    await expect(phone.locator("#recorded")).to_be_hidden()

    async def listing():
        return (await (await pk.request.get(f"/api/sessions/{session_id}/recordings")).json())["recordings"]

    recs = await poll(listing, lambda rs: len(rs) == 2 and all(r["status"] != "recording" for r in rs), timeout=30, what="both recordings sealed")
    assert {r["party"]: r["status"] for r in recs} == {"officer": "ready", "client": "ready"}, recs
    root = live_server.log.parent
    key = crypto.load_master_key(type("S", (), {"recording_key": "", "production": False, "data_dir": root / "data"})())
    for rec in recs:
        stored = next(Path(root / "recordings").glob(f"s{session_id}-{rec['party']}-*.enc"))
        plain = tmp_path / f"{rec['party']}.mp4"
        plain.write_bytes(crypto.decrypt_file(stored, key))
        with av.open(str(plain)) as container:
            video = next(s for s in container.streams if s.type == "video")
            assert any(s.type == "audio" for s in container.streams)
            frames = sum(1 for _ in container.decode(video))
            seconds = float(video.duration * video.time_base)  # a stream is read while its file is open (PyAV 18)
        assert frames >= 30 and seconds >= 1.5, (rec, frames, seconds)
        served = await pk.request.get(rec["url"])
        assert served.status == 200 and await served.body() == plain.read_bytes()
    await pk.goto(f"/sessions/{session_id}")
    await expect(pk.locator("#recordings video")).to_have_count(2)
    assert errors == []


async def test_a_client_in_audio_only_mode_is_recorded_as_audio_and_the_console_says_so(browser, live_server, tmp_path, artifacts):
    """The client chooses "hemat kuota" at the device check: the console shows the
    notice, not a black or frozen picture, and records the client's sound as a
    valid audio-only recording next to the PK's video."""
    errors: list[str] = []
    call = await pk_starts_recorded_session(browser, live_server, errors, {
        "name": "Siti Aminah", "register_number": "PAS.2026.1001", "supervision_start": "2026-02-02",
        "supervision_end": "2027-02-02", "reporting_interval_days": "14", "kelurahan": "Pulau Pramuka"})
    pk, session_id = call.pk, call.session_id
    phone = await client_opens_link_on_phone(browser, live_server, call)
    await phone.click("#start-check")
    await expect(phone.locator("#enter")).to_be_enabled()
    await phone.check("#audio-only")
    await expect(phone.locator("#preview-audio-only")).to_be_visible()
    await expect(phone.locator("#enter")).to_be_enabled()
    await phone.click("#enter")
    await expect(pk.locator("#waiting-notice")).to_be_visible()
    await pk.click("#admit")
    await expect(pk.locator("#recording-badge")).to_be_visible(timeout=20000)
    await expect(pk.locator("#remote-audio-only")).to_be_visible()
    await expect(pk.locator("#remote-audio-only")).to_have_text("Klien memakai mode hemat kuota (hanya suara)")
    await expect(pk.locator("#remote")).to_be_hidden()
    await pk.screenshot(path=artifacts / "console-6-recorded-audio-only-client.png")
    # No video either way in audio-only mode: some seconds of recorded call,
    # measured in the client's audio packets (20 ms each) the PK's page receives.
    first = await poll(lambda: pk.evaluate(CALL_AUDIO_PACKETS), lambda n: n > 0, what="the PK to receive the client's audio")
    await until_counted(page_count(pk, CALL_AUDIO_PACKETS, "audio packets"), {"audio packets": first + 150}, "about three seconds of recorded call")
    assert await pk.evaluate("!document.getElementById('remote').paused"), "the hidden video element must keep playing the client's voice"
    # ...and as much taken by the recorder: 100 of the client's 20 ms frames, two seconds.
    url = recorder_url(live_server.pid)
    await until_taken(lambda http: recorder_received(http, url), 100, ("client",), "audio")

    async def listing():
        return (await (await pk.request.get(f"/api/sessions/{session_id}/recordings")).json())["recordings"]

    await pk.click("#end")
    await expect(phone.locator("#recorded")).to_be_hidden()

    recs = await poll(listing, lambda rs: len(rs) == 2 and all(r["status"] != "recording" for r in rs), timeout=30, what="both recordings sealed")
    summary = sorted((r["party"], r["status"], r["has_video"]) for r in recs)
    assert summary == [("client", "ready", False), ("officer", "ready", True)], [
        (r["party"], r["status"], r["has_video"], r["problem"]) for r in recs]
    audio_rec = next(r for r in recs if not r["has_video"])
    root = live_server.log.parent
    key = crypto.load_master_key(type("S", (), {"recording_key": "", "production": False, "data_dir": root / "data"})())
    stored = next(p for p in Path(root / "recordings").glob(f"s{session_id}-client-*.enc") if hashlib.sha256(p.read_bytes()).hexdigest() == audio_rec["sha256"])
    plain = tmp_path / "client.mp4"
    plain.write_bytes(crypto.decrypt_file(stored, key))
    with av.open(str(plain)) as container:
        assert not any(s.type == "video" for s in container.streams)
        audio = next(s for s in container.streams if s.type == "audio")
        seconds = sum(frame.samples for frame in container.decode(audio)) / audio.codec_context.sample_rate
    assert seconds >= 1.5, seconds
    await pk.goto(f"/sessions/{session_id}")
    await expect(pk.locator("#recordings video")).to_have_count(1)
    await expect(pk.locator("#recordings audio")).to_have_count(1)
    await expect(pk.locator('#recordings [data-field="audio-only"]')).to_have_text("Hanya suara (tanpa video)")
    await pk.screenshot(path=artifacts / "console-7-session-audio-recording.png", full_page=True)
    assert errors == []
