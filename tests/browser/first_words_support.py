"""First words on a poor link (issue 25): from the tap on the join link to both
sides hearing each other, phase by phase, for bench/first_words.py and
tests/browser/test_first_words.py.

The call is set up as tests/browser/reach_support.py sets it up (the server on
the host end of a shaped veth, the client's Chromium inside the namespace, the
PK's on this machine), but the client taps each button the moment it works,
and every step is stamped where it happens:

- in the pages, by an init script (before any page script): the WebSocket's
  creation, its opening, each message sent and received by type; the peer
  connection's ICE and connection states; the first audio packet and the 50th
  (inbound-rtp ``packetsReceived``, sampled every 50 ms); the paint entries and
  every navigation and resource entry (bytes on the wire: ``transferSize``);
- on the server: the session's events (``link_opened``, ``client_waiting``,
  ``admitted``, ``media_connected``), read back through the API;
- on the link: both ends' qdisc byte counters, sampled every 100 ms, so each
  phase has the bytes it moved each way beside its time.

Every stamp is wall-clock (``performance.timeOrigin + performance.now()`` in
the pages, the server's event times, ``time.time()`` here): one machine, one
clock. A phase's floor is what its bytes cost at the link's rate (the larger
direction) plus its minimal round trips at the idle link's round trip; the
gap between the two is waiting: timers, retransmissions, a full queue.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from tests.browser.reach_support import ANDROID_CHROME, PK_PASSWORD, PK_USERNAME, ReachServer
from tests.netshape import ShapedLink

# Before any page script: stamps in window.__fw.marks (first time each happens).
STAMPS = """
(() => {
  const fw = (window.__fw = {marks: {}});
  const mark = (k) => { if (!(k in fw.marks)) fw.marks[k] = performance.timeOrigin + performance.now(); };
  fw.mark = mark;
  const NativeWS = window.WebSocket;
  window.WebSocket = class extends NativeWS {
    constructor(...args) {
      super(...args);
      mark("ws_created");
      this.addEventListener("open", () => mark("ws_open"));
      this.addEventListener("message", (e) => { try { mark("got_" + JSON.parse(e.data).type); } catch {} });
    }
    send(data) { try { mark("sent_" + JSON.parse(data).type); } catch {} return super.send(data); }
  };
  const NativePC = window.RTCPeerConnection;
  window.__peerConnections = [];
  window.RTCPeerConnection = class extends NativePC {
    constructor(...args) {
      super(...args);
      window.__peerConnections.push(this);
      mark("pc_created");
      this.addEventListener("iceconnectionstatechange", () => mark("ice_" + this.iceConnectionState));
      this.addEventListener("connectionstatechange", () => mark("pc_" + this.connectionState));
      this.addEventListener("icecandidate", (e) => { if (e.candidate) mark("candidate_gathered"); });
      const poll = setInterval(async () => {
        if (this.connectionState === "closed") return clearInterval(poll);
        let packets = 0;
        try {
          (await this.getStats()).forEach((s) => { if (s.type === "inbound-rtp" && s.kind === "audio") packets += s.packetsReceived || 0; });
        } catch { return; }
        if (packets > 0 && !("audio_1" in fw.marks)) {
          mark("audio_1");
          // The packet length the call started in: a roomy start ends with the first words.
          const asked = /a=ptime:(\\d+)/.exec(this.currentRemoteDescription ? this.currentRemoteDescription.sdp : "");
          fw.startPtime = asked ? Number(asked[1]) : null;
        }
        if (packets >= 50) { mark("audio_50"); clearInterval(poll); }
      }, 50);
    }
  };
})();
"""

# The Opus packet length the page sends in now (the remote description as it set it).
PTIME_NOW = """
() => {
  const pc = (window.__peerConnections || []).at(-1);
  const asked = /a=ptime:(\\d+)/.exec(pc && pc.currentRemoteDescription ? pc.currentRemoteDescription.sdp : "");
  return asked ? Number(asked[1]) : null;
}
"""

# The page's stamps, its paint times, what it loaded (bytes on the wire) and the Opus
# packet length its encoder was asked for (the remote description as the page set it)
# when its first packet arrived: the length the call started in.
READ_PAGE = """
() => {
  const t0 = performance.timeOrigin;
  const pc = (window.__peerConnections || []).at(-1);
  const ptime = /a=ptime:(\\d+)/.exec(pc && pc.currentRemoteDescription ? pc.currentRemoteDescription.sdp : "");
  const paint = {};
  for (const e of performance.getEntriesByType("paint")) paint[e.name] = t0 + e.startTime;
  const loaded = [...performance.getEntriesByType("navigation"), ...performance.getEntriesByType("resource")].map((e) => ({
    name: new URL(e.name).pathname, bytes: e.transferSize || 0, start: t0 + e.startTime, end: t0 + e.responseEnd,
    sw: e.workerStart > 0 && e.transferSize === 0}));
  const started = (window.__fw || {}).startPtime;
  return {marks: (window.__fw || {}).marks || {}, paint, loaded, origin: t0, ptime: started !== undefined ? started : ptime ? Number(ptime[1]) : null};
}
"""


class QdiscSampler:
    """Both ends' qdisc byte counters every ``period`` s, in a thread: (time, down, up)."""

    def __init__(self, link: ShapedLink, period: float = 0.1):
        self.link, self.period = link, period
        self.samples: list[tuple[float, int, int]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def _sent(args: list[str]) -> int:
        words = subprocess.run(args, capture_output=True, text=True, timeout=10).stdout.split()
        return int(words[words.index("Sent") + 1]) if "Sent" in words else 0

    def read(self) -> tuple[float, int, int]:
        down = self._sent(["tc", "-s", "qdisc", "show", "dev", self.link.host_if])
        up = self._sent(["ip", "netns", "exec", self.link.namespace, "tc", "-s", "qdisc", "show", "dev", self.link.ns_if])
        return time.time(), down, up

    def _run(self) -> None:
        while not self._stop.is_set():
            self.samples.append(self.read())
            self._stop.wait(self.period)

    def start(self) -> "QdiscSampler":
        self.samples.append(self.read())
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.samples.append(self.read())

    def at(self, t: float) -> tuple[int, int]:
        """Bytes (down, up) sent by time ``t``: the last sample at or before it."""
        down, up = self.samples[0][1:]
        for when, d, u in self.samples:
            if when > t:
                break
            down, up = d, u
        return down, up


def idle_rtt(link: ShapedLink) -> float:
    """The idle link's round trip (s), from the client's namespace: the least of five pings."""
    done = subprocess.run(["ip", "netns", "exec", link.namespace, "ping", "-c", "5", "-i", "0.2", "-W", "2", link.host_addr],
                          capture_output=True, text=True, timeout=30)
    times = [float(w.split("=")[1]) for w in done.stdout.split() if w.startswith("time=")]
    return min(times) / 1000 if times else 0.0


# The phases, in order: (name, start stamp, end stamp, minimal round trips, what is in it).
# A stamp is "tap" (the harness's), "phone:<mark>", "pk:<mark>", "phone:paint" (first
# contentful paint), "ready" (the first tap on "Periksa" that worked), "enter_enabled",
# or "both:<mark>" (the later of the two pages).
PHASES = [
    ("page: first response usable", "tap", "phone:paint", 3, "the link's redirect, the page and what its first paint waits for"),
    ("page: ready to tap", "phone:paint", "ready", 1, "the scripts the first tap needs"),
    ("device check", "ready", "enter_enabled", 0, "camera and microphone open (fake devices)"),
    ("socket open", "phone:ws_created", "phone:ws_open", 2, "TCP and the WebSocket upgrade"),
    ("join → waiting", "phone:sent_join", "phone:got_waiting", 1, "join, welcome, waiting"),
    ("admission", "phone:got_waiting", "phone:got_admitted", 1, "client-waiting to the PK, admit back"),
    ("offer arrives", "phone:got_admitted", "phone:got_offer", 0, "peer-joined; the PK's offer (its first candidates follow)"),
    ("ICE", "phone:got_offer", "phone:ice_connected", 1, "answer back, candidate checks"),
    ("DTLS", "phone:ice_connected", "both:pc_connected", 2, "the DTLS handshake"),
    ("first audio packet", "both:pc_connected", "both:audio_1", 0, "the first audio packet each way"),
    ("50 packets", "both:audio_1", "both:audio_50", 0, "50 audio packets received each way"),
]


@dataclass
class FirstWords:
    """One call, stamped: the figures of one row of the bench."""

    rate: int
    loss: float
    visit: str
    t_tap: float = 0.0
    stamps: dict = field(default_factory=dict)
    server: dict = field(default_factory=dict)
    page_bytes_ready: int = 0
    page_bytes_total: int = 0
    page_from_worker: int = 0
    resources: list = field(default_factory=list)
    phases: list = field(default_factory=list)  # (name, seconds, down, up, floor, rtts, what)
    total: float | None = None
    total_floor: float | None = None
    note: str = ""
    # the device check found the link weak and started the call in sound only
    sound_only_start: bool | None = None
    # the link's rate as the page measured it from its own downloads (join.js: linkKbps)
    page_kbps: int | None = None
    # the Opus packet length (ms) each side started to send in, as negotiated: (PK, phone)
    ptimes: tuple | None = None

    def stamp(self, name: str) -> float | None:
        return self.stamps.get(name)


@dataclass
class Phone:
    """The client's browser context, kept from one call to the next (a phone that called before)."""

    context: object
    origin: str


async def new_phone(phone_browser, origin: str) -> Phone:
    ctx = await phone_browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True,
                                          user_agent=ANDROID_CHROME, locale="id-ID")
    await ctx.grant_permissions(["camera", "microphone"], origin=origin)
    await ctx.add_init_script(STAMPS)
    return Phone(ctx, origin)


async def _pk_session(pk_ctx, n: int) -> dict:
    api = pk_ctx.request
    r = await api.post("/api/login", data={"username": PK_USERNAME, "password": PK_PASSWORD})
    assert r.ok, await r.text()
    r = await api.post("/api/clients", data={
        "name": f"Klien Pulau {n}", "register_number": f"PAS.2026.{secrets.randbelow(10**6):06d}", "program": "PB",
        "supervision_start": "2026-01-05", "supervision_end": "2028-01-05", "reporting_interval_days": 14,
        "kelurahan": "Pulau Kelapa"})
    assert r.ok, await r.text()
    r = await api.post("/api/sessions", data={"client_id": (await r.json())["id"], "mode": "video", "record": False})
    assert r.ok, await r.text()
    return await r.json()


async def _until(check, timeout: float, what: str, period: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = await check()
        if value:
            return value
        await asyncio.sleep(period)
    raise TimeoutError(f"{what} not within {timeout:g} s")


async def first_words(pk_browser, phone: Phone, server: ReachServer, link: ShapedLink, *, visit: str, n: int,
                      rtt: float = 0.0, timeout: float = 90.0, console_lines: list[str] | None = None,
                      keep_for_next: bool = False, then=None) -> FirstWords:
    """One call from the tap on the link until both pages have received 50 audio
    packets; the PK admits the moment the client waits. The phone's context is kept
    (its cache and service worker) for a next call; its page is closed, after the
    service worker has stored the code when ``keep_for_next``. ``then(pk, phone_page)``,
    if given, runs on the call once both have heard each other, before it ends."""
    fw = FirstWords(link.rate_kbit, link.loss_pct, visit)
    pk_ctx = await pk_browser.new_context(base_url=server.url, locale="id-ID")
    await pk_ctx.grant_permissions(["camera", "microphone"], origin=server.url)
    await pk_ctx.add_init_script(STAMPS)
    sampler = QdiscSampler(link)
    phone_page = None
    admitter = None
    try:
        session = await _pk_session(pk_ctx, n)
        pk = await pk_ctx.new_page()
        await pk.goto(session["officer_url"])
        await pk.wait_for_selector("#admit", state="attached")
        phone_page = await phone.context.new_page()
        if console_lines is not None:
            for name, page in (("pk", pk), ("phone", phone_page)):
                page.on("console", lambda m, name=name: console_lines.append(f"[{name}] {m.type}: {m.text}"))
                page.on("pageerror", lambda e, name=name: console_lines.append(f"[{name}] uncaught: {e}"))

        async def admit_at_once():
            await pk.wait_for_selector("#waiting-notice:visible", timeout=timeout * 1000)
            await pk.click("#admit")

        sampler.start()
        admitter = asyncio.create_task(admit_at_once())
        fw.t_tap = time.time()
        await phone_page.goto(session["client_join_url"], wait_until="commit", timeout=timeout * 1000)

        # Tap "Periksa kamera" until a tap works (the button is there before its script).
        async def tapped():
            try:
                if await phone_page.locator("#start-check").is_visible():
                    await phone_page.click("#start-check", timeout=1000, no_wait_after=True)
                    if await phone_page.locator("#step-check").is_visible():
                        return time.time()
            except Exception:  # not there yet, or the page is still loading
                return None
            return None

        fw.stamps["ready"] = await _until(tapped, timeout, "a working tap on #start-check", period=0.1)
        await phone_page.wait_for_selector("#enter:enabled", timeout=timeout * 1000)
        fw.stamps["enter_enabled"] = time.time()
        fw.sound_only_start = await phone_page.locator("#audio-only").is_checked()
        measured = await phone_page.locator("#weak-link").get_attribute("data-kbps")
        fw.page_kbps = int(measured) if measured and measured.isdigit() else None
        await phone_page.click("#enter")

        async def both_heard():
            marks = await asyncio.gather(pk.evaluate("(window.__fw || {marks: {}}).marks"),
                                         phone_page.evaluate("(window.__fw || {marks: {}}).marks"))
            return all("audio_50" in m for m in marks)

        try:
            await _until(both_heard, timeout - (time.time() - fw.t_tap), "50 audio packets both ways", period=0.2)
        except TimeoutError as exc:
            fw.note = str(exc)
        await admitter
        sampler.stop()
        pk_data, phone_data = await asyncio.gather(pk.evaluate(READ_PAGE), phone_page.evaluate(READ_PAGE))
        fw.ptimes = (pk_data["ptime"], phone_data["ptime"])
        if then is not None and not fw.note:
            await then(pk, phone_page)
        events = (await (await pk_ctx.request.get(f"/api/sessions/{session['id']}")).json())["events"]
        _collect(fw, pk_data, phone_data, events, sampler, rtt)
        await pk_ctx.request.post(f"/api/sessions/{session['id']}/end", data={})
        # a phone that called before keeps what the page left it (the service worker's code,
        # registered once the call is over on a link too weak for video: webclient/join.js)
        if keep_for_next:
            await _settle_worker(phone_page)
        return fw
    finally:
        if admitter is not None and not admitter.done():
            admitter.cancel()
        if sampler._thread.is_alive():
            sampler.stop()
        if phone_page is not None:
            await phone_page.close()
        await pk_ctx.close()


async def _settle_worker(page, timeout: float = 30.0) -> None:
    """Wait until the page's service worker (webclient/keepcode.js, registered a few
    seconds after the call connects at full video, else when it ends) is active and has stored the call code, so that
    the next call finds it; a page that registers none waits out the timeout."""
    try:
        await page.wait_for_function(
            """() => !("serviceWorker" in navigator) || ["ready", "failed"].includes(document.documentElement.dataset.codeWorker)""",
            timeout=timeout * 1000, polling=200)
    except Exception:  # no worker on this page: nothing kept but the HTTP cache
        pass


def _collect(fw: FirstWords, pk: dict, phone: dict, events: list[dict], sampler: QdiscSampler, rtt: float) -> None:
    s = fw.stamps
    s["tap"] = fw.t_tap
    for who, data in (("pk", pk), ("phone", phone)):
        for k, v in data["marks"].items():
            s[f"{who}:{k}"] = v / 1000
    paint = phone["paint"].get("first-contentful-paint")
    if paint is not None:
        s["phone:paint"] = paint / 1000
    for k in ("pc_connected", "audio_1", "audio_50"):
        a, b = s.get(f"pk:{k}"), s.get(f"phone:{k}")
        if a is not None and b is not None:
            s[f"both:{k}"] = max(a, b)
    ready = s.get("ready") or 0
    fw.resources = [(r["name"], r["bytes"], round(r["end"] / 1000 - fw.t_tap, 2)) for r in phone["loaded"]]
    fw.page_bytes_ready = sum(r["bytes"] for r in phone["loaded"] if r["end"] / 1000 <= ready)
    fw.page_bytes_total = sum(r["bytes"] for r in phone["loaded"])
    fw.page_from_worker = sum(1 for r in phone["loaded"] if r["sw"])
    for e in events:
        if e["kind"] in ("link_opened", "client_waiting", "admitted", "media_connected") and e["kind"] not in fw.server:
            fw.server[e["kind"]] = datetime.fromisoformat(e["at"]).timestamp()
    rate_bytes = fw.rate * 1000 / 8
    for name, start, end, rtts, what in PHASES:
        a, b = s.get(start), s.get(end)
        if a is None or b is None:
            fw.phases.append((name, None, None, None, None, rtts, what))
            continue
        d0, u0 = sampler.at(a)
        d1, u1 = sampler.at(b)
        down, up = d1 - d0, u1 - u0
        floor = max(down, up) / rate_bytes + rtts * rtt
        fw.phases.append((name, b - a, down, up, floor, rtts, what))
    if s.get("both:audio_50") is not None:
        fw.total = s["both:audio_50"] - fw.t_tap
        down, up = sampler.at(s["both:audio_50"])
        d0, u0 = sampler.samples[0][1:]
        fw.total_floor = max(down - d0, up - u0) / rate_bytes + sum(p[3] for p in PHASES) * rtt
