"""A call over a shaped link, driven by Playwright, for the reach tests and bench/reach.py.

The server listens on the host end of a :class:`tests.netshape.ShapedLink`; the
PK's Chromium runs on this machine (its side of the link is unshaped, like an
office line) and the client's Chromium runs inside the link's namespace, so
everything the client sends or receives crosses the shaped veth. Both pages
load over plain HTTP on a non-loopback address, so each browser is told to
treat that origin as secure (PITFALLS 9), or the camera would be refused.

The figures come from the pages' own ``getStats()`` (inbound-rtp audio
``concealedSamples / totalSamplesReceived``) and from the client end's qdisc
byte counter (what really went on the wire, headers included).
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import server_env
from tests.netshape import ShapedLink

REPO = Path(__file__).resolve().parents[2]
PK_USERNAME = "pk.reach"
PK_PASSWORD = "kata sandi uji yang panjang"

BASE_ARGS = [
    "--no-sandbox", "--disable-gpu", "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run",
    "--disable-quic", "--autoplay-policy=no-user-gesture-required",
]

ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 13; SM-A145F) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)

# Test hook, before any page script: remember each RTCPeerConnection (for getStats()).
RECORD_PEERS = """
(() => {
  const Native = window.RTCPeerConnection;
  window.__peerConnections = [];
  window.RTCPeerConnection = class extends Native {
    constructor(...args) { super(...args); window.__peerConnections.push(this); }
  };
})();
"""

# The baseline: Chromium's defaults, automatic steps off (read by webclient/reach.js).
REACH_OFF = "try { sessionStorage.setItem('bimbing.reach', 'off'); } catch {}"

# Audio counters of the page's latest peer connection (cumulative).
AUDIO_COUNTERS = """
async () => {
  const pc = (window.__peerConnections || []).at(-1);
  const out = {concealed: 0, total: 0, packets: 0, audioBytesSent: 0, frames: 0, framesSent: 0, ice: pc ? pc.iceConnectionState : "none"};
  if (!pc || pc.connectionState === "closed") return out;
  (await pc.getStats()).forEach((s) => {
    if (s.type === "inbound-rtp" && s.kind === "audio") {
      out.concealed += s.concealedSamples || 0;
      out.total += s.totalSamplesReceived || 0;
      out.packets += s.packetsReceived || 0;
    }
    if (s.type === "inbound-rtp" && s.kind === "video") out.frames += s.framesDecoded || 0;
    if (s.type === "outbound-rtp" && s.kind === "audio") out.audioBytesSent += (s.bytesSent || 0) + (s.headerBytesSent || 0);
    if (s.type === "outbound-rtp" && s.kind === "video") out.framesSent += s.framesEncoded || 0;
  });
  return out;
}
"""


@dataclass
class ReachServer:
    """``bimbing serve`` on the host end of the link, with its own SQLite database."""

    link: ShapedLink
    root: Path
    port: int = 0
    proc: subprocess.Popen | None = None
    # More settings (BIMBING_TURN_URLS, ...), as the environment gives them.
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://{self.link.host_addr}:{self.port}"

    def start(self) -> ReachServer:
        from tests.services import wait_healthy_process, wait_port_file

        self.root.mkdir(parents=True, exist_ok=True)
        env = server_env()
        env.update(
            BIMBING_DATABASE_URL=f"sqlite+aiosqlite:///{self.root / 'bimbing.db'}",
            BIMBING_DATA_DIR=str(self.root / "data"),
            BIMBING_RECORDINGS_DIR=str(self.root / "recordings"),
            BIMBING_SECRET_KEY=secrets.token_urlsafe(48),
            BIMBING_JOIN_OPENS_PER_WINDOW="100000",
        )
        env.update(self.env)
        for args, stdin in ((("db", "upgrade"), None),
                            (("user", "add", "--username", PK_USERNAME, "--role", "pk", "--name", "PK Uji"), PK_PASSWORD + "\n")):
            done = subprocess.run([sys.executable, "-m", "server", *args], input=stdin, env=env, cwd=REPO,
                                  capture_output=True, text=True, timeout=60)
            assert done.returncode == 0, done.stderr
        self.log, port_file = self.root / "serve.log", self.root / "serve.port"
        with open(self.log, "w") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "server", "serve", "--host", self.link.host_addr,
                                          "--port", "0", "--port-file", str(port_file)], env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        self.port = wait_port_file(port_file, self.proc, self.log)
        wait_healthy_process(self.url, self.proc, self.log)
        return self

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


def browser_args(origin: str) -> list[str]:
    return [*BASE_ARGS, f"--unsafely-treat-insecure-origin-as-secure={origin}"]


@dataclass
class ShapedCall:
    pk: object
    phone: object
    session_id: int
    contexts: list = field(default_factory=list)
    t_link: float = 0.0
    t_first_audio: float | None = None
    # (seconds after the tap on the link, what happened): explains a slow start
    timeline: list = field(default_factory=list)

    def mark(self, what: str) -> None:
        self.timeline.append((round(time.monotonic() - self.t_link, 2), what))

    async def counters(self) -> tuple[dict, dict]:
        return await asyncio.gather(self.pk.evaluate(AUDIO_COUNTERS), self.phone.evaluate(AUDIO_COUNTERS))

    async def session(self) -> dict:
        return await (await self.pk.request.get(f"/api/sessions/{self.session_id}")).json()

    async def close(self) -> None:
        for ctx in self.contexts:
            try:
                await ctx.close()
            except Exception:  # the browser may already be gone
                pass


async def start_call(pk_browser, phone_browser, server: ReachServer, *, tuned: bool = True, audio_only: bool = False,
                     console_lines: list[str] | None = None, n: int = 0, record: bool = False) -> ShapedCall:
    """The PK (signed in through the API) opens a video session's console; the
    client taps the link on a phone inside the namespace, passes the device check
    and waits; the PK admits at once. Returns once both pages have a peer connection."""
    origin = server.url
    pk_ctx = await pk_browser.new_context(base_url=origin, locale="id-ID")
    await pk_ctx.grant_permissions(["camera", "microphone"], origin=origin)
    await pk_ctx.add_init_script(RECORD_PEERS)
    phone_ctx = await phone_browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True,
                                                user_agent=ANDROID_CHROME, locale="id-ID")
    await phone_ctx.grant_permissions(["camera", "microphone"], origin=origin)
    await phone_ctx.add_init_script(RECORD_PEERS)
    if not tuned:
        await pk_ctx.add_init_script(REACH_OFF)
        await phone_ctx.add_init_script(REACH_OFF)
    call = ShapedCall(None, None, 0, [pk_ctx, phone_ctx])
    try:
        api = pk_ctx.request
        r = await api.post("/api/login", data={"username": PK_USERNAME, "password": PK_PASSWORD})
        assert r.ok, await r.text()
        r = await api.post("/api/clients", data={
            "name": f"Klien Pulau {n}", "register_number": f"PAS.2026.{secrets.randbelow(10**6):06d}", "program": "PB",
            "supervision_start": "2026-01-05", "supervision_end": "2028-01-05", "reporting_interval_days": 14,
            "kelurahan": "Pulau Tidung"})
        assert r.ok, await r.text()
        client = await r.json()
        r = await api.post("/api/sessions", data={"client_id": client["id"], "mode": "video", "record": record})
        assert r.ok, await r.text()
        session = await r.json()
        call.session_id = session["id"]
        pk = await pk_ctx.new_page()
        phone = await phone_ctx.new_page()
        call.pk, call.phone = pk, phone
        if console_lines is not None:
            pk.on("console", lambda m: console_lines.append(f"[pk] {m.type}: {m.text}"))
            pk.on("pageerror", lambda e: console_lines.append(f"[pk] uncaught: {e}"))
            phone.on("pageerror", lambda e: console_lines.append(f"[phone] uncaught: {e}"))
            phone.on("console", lambda m: console_lines.append(f"[phone] {m.type}: {m.text}"))
        await pk.goto(session["officer_url"])
        await pk.wait_for_selector("#admit", state="attached")
        # the client taps the link
        call.t_link = time.monotonic()
        await phone.goto(session["client_join_url"], timeout=60000)
        call.mark("join page loaded")
        await phone.click("#start-check")
        if audio_only:
            await phone.check("#audio-only")
        await phone.wait_for_selector("#enter:enabled", timeout=60000)
        call.mark("device check passed")
        await phone.click("#enter")
        await pk.wait_for_selector("#waiting-notice:visible", timeout=60000)
        call.mark("PK sees the client waiting")
        await pk.click("#admit")
        return call
    except BaseException:
        await call.close()
        raise


async def wait_first_audio(call: ShapedCall, timeout: float = 60.0) -> float:
    """Seconds from the tap on the link until the client's page has received the
    PK's audio (the first decoded samples); both ways must be flowing."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pk, phone = await call.counters()
        if phone["ice"] == "connected" and not any(w == "phone ICE connected" for _, w in call.timeline):
            call.mark("phone ICE connected")
        if phone["total"] > 0 and call.t_first_audio is None:
            call.t_first_audio = time.monotonic() - call.t_link
            call.mark("client hears the PK")
        if phone["total"] > 0 and pk["total"] > 0:
            return call.t_first_audio
        await asyncio.sleep(0.2)
    raise TimeoutError(f"no audio both ways within {timeout} s: {await call.counters()}")


@dataclass
class Window:
    officer_hears_concealed: float
    client_hears_concealed: float
    client_upload_kbps: float
    seconds: float


async def measure_window(call: ShapedCall, link: ShapedLink, seconds: float) -> Window:
    """Concealment each way and the client's upload over ``seconds``."""
    (pk0, ph0), up0, t0 = await call.counters(), link.client_upload_bytes(), time.monotonic()
    await asyncio.sleep(seconds)
    (pk1, ph1), up1, t1 = await call.counters(), link.client_upload_bytes(), time.monotonic()

    def ratio(a, b):
        total = b["total"] - a["total"]
        return (b["concealed"] - a["concealed"]) / total if total > 0 else 1.0

    return Window(ratio(pk0, pk1), ratio(ph0, ph1), (up1 - up0) * 8 / 1000 / (t1 - t0), t1 - t0)


async def audio_back_after(call: ShapedCall, t_return: float, timeout: float = 30.0) -> float:
    """Seconds after the link's return until both pages receive audio packets again:
    both pages' packet counters (of their current peer connection) rise within one
    half-second sample. A new peer connection starts its counters from zero, which
    is why each sample is compared with the one before it only."""
    before = await call.counters()
    deadline = t_return + timeout
    while time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        now = await call.counters()
        if all(b["packets"] - a["packets"] >= 3 for a, b in zip(before, now)):
            return time.monotonic() - t_return
        before = now
    raise TimeoutError(f"audio not back within {timeout} s of the link's return: {await call.counters()}")


def disconnections(session: dict) -> int:
    return sum(1 for e in session["events"] if e["kind"] == "disconnected")


# Video frames decoded by the page's latest peer connection.
FRAMES = """
async () => {
  const pc = (window.__peerConnections || []).at(-1);
  if (!pc || pc.connectionState === "closed") return 0;
  let frames = 0;
  (await pc.getStats()).forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0; });
  return frames;
}
"""
