"""Drive a real aiortc peer through the real signaling server, as the officer
or as the client — for tests and for bench/.

    http = party_http(base_url)                       # one browser: its own cookie jar
    await sign_in(http, "pk1")                        # officer
    session = await start_video_session(http, client_id)
    await open_join_link(client_http, session["client_join_url"])   # client: link -> pass
    officer = CallPeer(http, session["id"], "officer"); await officer.join()
    client = CallPeer(client_http, session["id"], "client"); await client.join()
    await officer.next("client-waiting"); await officer.admit()
    await officer.wait_connected(); await client.wait_connected()
    await client.wait_frames(video=10, audio=10)
    await officer.end()

Media is generated (small green video frames and silence, real encoded RTP);
every received track is counted. Following docs/signaling.md: the officer
offers when it hears ``peer-joined``; both report ICE state with
``media-state``; aiortc sends no trickle candidates (PITFALLS 3) but applies
received ones. Signaling work is queued per peer (PITFALLS 5), ICE servers
come from ``welcome`` and are always given explicitly (PITFALLS 4), and
closing a peer connection is shielded and bounded (PITFALLS 2).
"""

from __future__ import annotations

import asyncio
import inspect
import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlsplit

import aiohttp
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import AudioStreamTrack, MediaStreamError, VideoStreamTrack
from aiortc.sdp import candidate_from_sdp
from av import VideoFrame

from server.app import create_app
from server.domain.calls import media_evidence
from server.media.recorder import CLOSE_TIMEOUT, STOP_TIMEOUT

CONNECTED = ("connected", "completed")


class SmallVideo(VideoStreamTrack):
    """A generated 160×120 video at 30 fps: cheap enough for a shared 2-core box."""

    async def recv(self) -> VideoFrame:
        pts, time_base = await self.next_timestamp()
        frame = VideoFrame(width=160, height=120)
        for plane in frame.planes:
            plane.update(bytes([90]) * plane.buffer_size)
        frame.pts, frame.time_base = pts, time_base
        return frame


class Tone(AudioStreamTrack):
    """Generated audio (silence, 20 ms frames at 48 kHz), encoded as Opus."""


def party_http(base_url: str) -> aiohttp.ClientSession:
    """One 'browser': its own cookies. The cookie jar accepts 127.0.0.1."""
    return aiohttp.ClientSession(base_url=base_url, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def sign_in(http: aiohttp.ClientSession, username: str, password: str = "correct horse battery") -> dict:
    async with http.post("/api/login", json={"username": username, "password": password}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def start_video_session(http: aiohttp.ClientSession, client_id: int, **fields: Any) -> dict:
    async with http.post("/api/sessions", json={"client_id": client_id, "mode": "video", **fields}) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def open_join_link(http: aiohttp.ClientSession, join_url: str) -> aiohttp.ClientResponse:
    """Open the client's link as a phone would (first hop only): 303 to /join with the pass."""
    path = urlsplit(join_url).path
    async with http.get(path, allow_redirects=False) as resp:
        await resp.read()
        return resp


async def session_json(http: aiohttp.ClientSession, session_id: int) -> dict:
    async with http.get(f"/api/sessions/{session_id}") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def report_media_arriving(*peers, packets: int = 50) -> None:
    """Signaling-only doubles of a real call: each reports media arriving in its
    heartbeat, as a page does, since the log counts a call's time only then
    (docs/signaling.md §6)."""
    for peer in peers:
        await peer.send({"type": "ping", "inbound": {"audio": {"packets": packets, "bytes": packets * 80}}})


# How long a test peer's real inbound counters must stay flat before it reports
# them so (CallPeer._report_media): media that stopped, not a starved moment.
FROZEN_AFTER = 2.0


# From both peers ICE connected to the server opening the media interval: DTLS,
# the first frames, then two rising counter reports from each side. About 3 s
# on a quiet machine; over 10 s was seen at load 9 (a full CI run beside
# stress-ng and other suites), where aiortc encodes and decodes in the test's
# own process. A bound for waiting, not a measure.
MEDIA_SETTLE = 40.0


async def until(predicate, timeout: float = 10.0, interval: float = 0.05, what: str = "condition"):
    """Poll ``predicate`` (sync or async) until truthy; return its value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if asyncio.iscoroutine(value):
            value = await value
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(interval)


# A count that has not moved for this long has stopped, not slowed...
STALLED_AFTER = 30.0
# ...and however it crawls, a wait gives up after this long.
COUNTED_WITHIN = 240.0


async def until_counted(read, goal: dict[str, int], what: str, explain: Callable[[], Any] | None = None) -> None:
    """Until each count ``read()`` (sync or async, counts by name) gives for a
    name of ``goal`` has reached its value there. A starved machine slows a
    call's media and its recording, it does not stop them: this waits as long
    as each count short of its goal goes on rising, and fails when one stands
    still for STALLED_AFTER (a stopped stream fails then, not after a bound
    chosen for a quiet machine) or after COUNTED_WITHIN. The message gives what
    ``read()`` said as the counts rose, and ``explain()`` (sync or async)."""
    loop = asyncio.get_running_loop()
    began = loop.time()
    seen: dict[str, int] = {}  # per name: its count when it last moved, and when
    moved: dict[str, float] = {}
    rises: list[tuple[float, Any]] = []
    while True:
        counts = read()
        if asyncio.iscoroutine(counts):
            counts = await counts
        short = [name for name in goal if counts[name] < goal[name]]
        if not short:
            return
        now = loop.time()
        changed = [name for name in goal if seen.get(name) != counts[name]]
        if changed:
            rises.append((round(now - began, 1), counts))
            for name in changed:
                seen[name], moved[name] = counts[name], now
        stalled = [name for name in short if now - moved[name] > STALLED_AFTER]
        if stalled or now - began > COUNTED_WITHIN:
            stood = f"{', '.join(stalled)} stood still" if stalled else "still rising"
            shown = rises if len(rises) <= 8 else [*rises[:3], "...", *rises[-5:]]
            said = explain() if explain else None
            if inspect.isawaitable(said):  # an explanation that asks peer connections (getStats)
                said = await said
            raise AssertionError(f"waiting for {what} ({goal}): {stood} after {now - began:.0f} s; "
                                 f"counts, seconds in: {shown}{'; ' + said if said else ''}")
        await asyncio.sleep(0.1)


async def close_pc(pc: RTCPeerConnection, timeout: float = 5.0) -> None:
    try:
        await asyncio.wait_for(asyncio.shield(pc.close()), timeout)
    except (asyncio.TimeoutError, Exception):
        pass


async def count_frames(track, into) -> None:
    """Count a received track's frames onto ``into.video_frames`` or
    ``into.audio_frames`` until the track ends or the task is cancelled."""
    try:
        while True:
            await track.recv()
            if track.kind == "video":
                into.video_frames += 1
            else:
                into.audio_frames += 1
    except (MediaStreamError, asyncio.CancelledError):
        pass


@dataclass(eq=False)
class GuestLink:
    """One peer connection between a guest and another party, and the frames it brought."""

    address: str
    pc: RTCPeerConnection
    video_frames: int = 0
    audio_frames: int = 0

    async def count(self, track) -> None:
        await count_frames(track, self)

    async def wait_frames(self, video: int = 10, audio: int = 10, timeout: float = 15.0) -> None:
        await until(lambda: self.video_frames >= video and self.audio_frames >= audio, timeout,
                    what=f"{video} video and {audio} audio frames on the link to {self.address}")


class CallPeer:
    """One party: a signaling WebSocket plus (once in a call) a peer connection."""

    def __init__(
        self, http: aiohttp.ClientSession, session_id: int, role: str, *, origin: str | None = None, send_media: bool = True, webrtc: bool = True,
        report_every: float | None = 0.5, report=None, headers: dict[str, str] | None = None,
    ):
        self.http = http
        self.session_id = session_id
        self.role = role
        self.origin = origin
        self.send_media = send_media
        # webrtc=False: signaling only; the test reads relayed offers itself.
        self.webrtc = webrtc
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.pc: RTCPeerConnection | None = None
        self.welcome: dict | None = None
        self.received: list[dict] = []  # every message from the server, in order
        self.ice_states: list[str] = []
        self.video_frames = 0
        self.audio_frames = 0
        self.close_code: int | None = None
        self._cursor: dict[str, int] = {}
        self._arrived = asyncio.Event()
        self._signals: asyncio.Queue = asyncio.Queue()
        self._tasks: list[asyncio.Task] = []
        self._media_tasks: list[asyncio.Task] = []
        self._outbox: asyncio.Queue = asyncio.Queue()
        # Heartbeats with this side's inbound counters while connected, as the
        # webclient sends them (None: never). ``report`` may rewrite the real
        # counters before they go out: a lying party in a test.
        self.report_every = report_every
        self.report = report
        self.headers = dict(headers or {})
        self.reports: list[dict] = []  # every inbound report sent, in order
        self._reporter: asyncio.Task | None = None
        # Sockets left silent by move_socket(), closed with the peer.
        self._silent: list[aiohttp.ClientWebSocketResponse | None] = []
        # A guest's own peer connections and theirs to a guest, by the other's address (issue 22).
        self.links: dict[str, GuestLink] = {}

    # ---- signaling -----------------------------------------------------

    async def connect(self) -> None:
        headers = {**self.headers, **({"Origin": self.origin} if self.origin else {})}
        self.ws = await self.http.ws_connect(f"/ws/sessions/{self.session_id}", headers=headers, autoping=True)
        self._tasks = [
            asyncio.create_task(self._read(), name=f"{self.role}-read"),
            asyncio.create_task(self._work(), name=f"{self.role}-signals"),
            asyncio.create_task(self._write(), name=f"{self.role}-write"),
        ]

    async def join(self, timeout: float = 10.0, *, resume: bool = False) -> dict:
        """Connect, send ``join`` (with ``resume`` when asked) and return ``welcome`` (or fail on ``error``)."""
        if self.ws is None:
            await self.connect()
        await self.send({"type": "join", "role": self.role, **({"resume": True} if resume else {})})
        first = await self.next_of(("welcome", "error"), timeout)
        if first["type"] == "error":
            raise AssertionError(f"join refused: {first}")
        self.welcome = first
        return first

    async def send(self, message: dict | str) -> None:
        await self._outbox.put(message if isinstance(message, str) else json.dumps(message))

    async def send_raw(self, frame: str | bytes) -> None:
        await self._outbox.put(frame)

    async def _write(self) -> None:
        while True:
            frame = await self._outbox.get()
            try:
                if isinstance(frame, bytes):
                    await self.ws.send_bytes(frame)
                else:
                    await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                pass

    async def _read(self) -> None:
        assert self.ws is not None
        async for frame in self.ws:
            if frame.type != aiohttp.WSMsgType.TEXT:
                break
            message = json.loads(frame.data)
            self.received.append(message)
            self._arrived.set()
            if self.webrtc and message["type"] in ("offer", "answer", "candidate", "peer-joined", "peer-left", "guest-signal"):
                await self._signals.put(message)
        self.close_code = self.ws.close_code
        self._arrived.set()

    def types(self) -> list[str]:
        return [m["type"] for m in self.received]

    async def next(self, kind: str, timeout: float = 10.0) -> dict:
        return await self.next_of((kind,), timeout)

    async def next_of(self, kinds: tuple[str, ...], timeout: float = 10.0) -> dict:
        """The next message of one of ``kinds`` not returned before."""
        key = ",".join(kinds)
        deadline = time.monotonic() + timeout
        while True:
            start = self._cursor.get(key, 0)
            for index in range(start, len(self.received)):
                if self.received[index]["type"] in kinds:
                    self._cursor[key] = index + 1
                    return self.received[index]
            self._cursor[key] = len(self.received)
            if self.closed:
                raise AssertionError(f"{self.role}: socket closed ({self.close_code}) before {kinds}; got {self.types()}")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{self.role}: no {kinds} within {timeout}s; got {self.types()}")
            self._arrived.clear()
            try:
                await asyncio.wait_for(self._arrived.wait(), remaining)
            except asyncio.TimeoutError:
                pass

    @property
    def closed(self) -> bool:
        return self.ws is None or self.ws.closed

    async def wait_closed(self, timeout: float = 10.0) -> int | None:
        await until(lambda: self.ws is not None and self.ws.closed and self._tasks[0].done(), timeout, what=f"{self.role} socket to close")
        return self.close_code

    # ---- the peer connection, one signaling message at a time (PITFALLS 5) ----

    async def _work(self) -> None:
        while True:
            message = await self._signals.get()
            try:
                await self._handle(message)
            except Exception as exc:  # a test reads the failure from the history
                self.received.append({"type": "peer-error", "error": repr(exc)})

    async def _handle(self, message: dict) -> None:
        kind = message["type"]
        if kind == "guest-signal" or (kind in ("peer-joined", "peer-left") and (self.role == "guest" or message.get("role") == "guest")):
            await self._handle_link(message)
            return
        if kind == "peer-joined":
            await self._new_pc()
            if self.role == "officer":
                # handle peer-joined: the impolite officer makes the offer
                await self.pc.setLocalDescription(await self.pc.createOffer())
                await self.send({"type": "offer", "sdp": self.pc.localDescription.sdp})
        elif kind == "peer-left":
            if self.pc is not None:
                await close_pc(self.pc)
        elif kind == "offer":
            if self.pc is None:
                await self._new_pc()
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="offer"))
            await self.pc.setLocalDescription(await self.pc.createAnswer())
            await self.send({"type": "answer", "sdp": self.pc.localDescription.sdp})
        elif kind == "answer" and self.pc is not None:
            await self.pc.setRemoteDescription(RTCSessionDescription(sdp=message["sdp"], type="answer"))
        elif kind == "candidate" and self.pc is not None and message.get("candidate"):
            init = message["candidate"]
            candidate = candidate_from_sdp(init["candidate"].removeprefix("candidate:"))
            candidate.sdpMid, candidate.sdpMLineIndex = init.get("sdpMid"), init.get("sdpMLineIndex")
            await self.pc.addIceCandidate(candidate)

    # ---- a guest's peer connections (issue 22), one per other party ----------------

    async def _new_link(self, address: str) -> GuestLink:
        old = self.links.pop(address, None)
        if old is not None:
            await close_pc(old.pc)
        link = self.links[address] = GuestLink(address, RTCPeerConnection(self._configuration()))
        if self.send_media:
            link.pc.addTrack(Tone())
            link.pc.addTrack(SmallVideo())

        @link.pc.on("track")
        def _track(track):
            self._media_tasks.append(asyncio.create_task(link.count(track)))

        if self.role == "guest" and self.report_every and (self._reporter is None or self._reporter.done()):
            self._reporter = asyncio.create_task(self._report_links(), name="guest-media-report")
            self._tasks.append(self._reporter)
        return link

    async def _handle_link(self, message: dict) -> None:
        kind = message["type"]
        if kind in ("peer-joined", "peer-left"):
            address = f"guest:{message['guest']}" if message["role"] == "guest" else message["role"]
            if kind == "peer-left":
                link = self.links.pop(address, None)
                if link is not None:
                    await close_pc(link.pc)
                return
            link = await self._new_link(address)
            if not message["polite"]:
                # handle peer-joined: the impolite side of this pair makes the offer
                await link.pc.setLocalDescription(await link.pc.createOffer())
                await self.send({"type": "guest-signal", "to": address, "signal": {"type": "offer", "sdp": link.pc.localDescription.sdp}})
            return
        address, signal = message["from"], message["signal"]
        link = self.links.get(address)
        if signal["type"] == "offer":
            link = link or await self._new_link(address)
            await link.pc.setRemoteDescription(RTCSessionDescription(sdp=signal["sdp"], type="offer"))
            await link.pc.setLocalDescription(await link.pc.createAnswer())
            await self.send({"type": "guest-signal", "to": address, "signal": {"type": "answer", "sdp": link.pc.localDescription.sdp}})
        elif signal["type"] == "answer" and link is not None:
            await link.pc.setRemoteDescription(RTCSessionDescription(sdp=signal["sdp"], type="answer"))

    async def _report_links(self) -> None:
        """A guest's heartbeat with what its links received, as its page sends it (its stay's evidence)."""
        while not self.closed:
            counters: dict[str, dict[str, int]] = {}
            for link in list(self.links.values()):
                for receiver in link.pc.getReceivers():
                    for stat in (await receiver.getStats()).values():
                        if getattr(stat, "type", None) == "inbound-rtp":
                            counters.setdefault(stat.kind, {"packets": 0})["packets"] += stat.packetsReceived
            if counters:
                self.reports.append(counters)
                await self.send({"type": "ping", "inbound": counters})
            await asyncio.sleep(self.report_every or 0.5)

    def _configuration(self) -> RTCConfiguration:
        servers = [
            RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential"))
            for s in (self.welcome or {}).get("ice_servers", [])
        ]
        # Explicit, even when empty: aiortc would otherwise use a public STUN server (PITFALLS 4).
        return RTCConfiguration(iceServers=servers)

    async def _new_pc(self) -> None:
        if self.pc is not None:
            await close_pc(self.pc)
        pc = self.pc = RTCPeerConnection(self._configuration())
        if self.send_media:
            pc.addTrack(Tone())
            pc.addTrack(SmallVideo())

        @pc.on("iceconnectionstatechange")
        async def _ice_changed():
            if pc is not self.pc:
                return
            self.ice_states.append(pc.iceConnectionState)
            await self.send({"type": "media-state", "state": pc.iceConnectionState})
            if pc.iceConnectionState in CONNECTED and self.report_every and (self._reporter is None or self._reporter.done()):
                self._reporter = asyncio.create_task(self._report_media(), name=f"{self.role}-media-report")
                self._tasks.append(self._reporter)

        @pc.on("track")
        def _track(track):
            self._media_tasks.append(asyncio.create_task(self._count(track)))

    async def inbound(self) -> dict:
        """What this side has received, per kind, from its receivers' stats
        (aiortc gives packets, not bytes, per inbound stream)."""
        counters: dict[str, dict[str, int]] = {}
        if self.pc is None:
            return counters
        for receiver in self.pc.getReceivers():
            for stat in (await receiver.getStats()).values():
                if getattr(stat, "type", None) == "inbound-rtp":
                    kind = counters.setdefault(stat.kind, {"packets": 0})
                    kind["packets"] += stat.packetsReceived
        return counters

    async def _report_media(self) -> None:
        last = -1
        while not self.closed and self.pc is not None and self.pc.iceConnectionState in CONNECTED:
            counters = await self.inbound()
            # The server reads one report whose packets did not rise as frozen media
            # (server/domain/calls/media_evidence.py). A page reports once a heartbeat
            # (15 s in production); this peer reports every half second, and on a
            # starved CI machine this process's media stood still for longer than
            # that (a crash test's call judged frozen before the crash). So flat
            # counters go out only once they stayed flat for FROZEN_AFTER.
            flat_since = time.monotonic()
            while media_evidence.totals(counters)[0] <= last and time.monotonic() - flat_since < FROZEN_AFTER and self.ice_connected and not self.closed:
                await asyncio.sleep(0.1)
                counters = await self.inbound()
            last = media_evidence.totals(counters)[0]
            if self.report is not None:
                counters = self.report(counters)
            if counters is not None:
                self.reports.append(counters)
                await self.send({"type": "ping", "inbound": counters})
            await asyncio.sleep(self.report_every)

    async def _count(self, track) -> None:
        await count_frames(track, self)

    # ---- what a test does ---------------------------------------------------------

    @property
    def ice_connected(self) -> bool:
        return self.pc is not None and self.pc.iceConnectionState in CONNECTED

    async def wait_connected(self, timeout: float = 15.0) -> None:
        await until(lambda: self.ice_connected, timeout, what=f"{self.role} ICE connected")

    async def wait_frames(self, video: int = 10, audio: int = 10, timeout: float = 15.0) -> None:
        await until(lambda: self.video_frames >= video and self.audio_frames >= audio, timeout, what=f"{self.role} to receive {video} video and {audio} audio frames")

    async def admit(self, device: str | None = None) -> None:
        await self.send({"type": "admit", **({"device": device} if device else {})})

    async def deny(self, device: str | None = None) -> None:
        await self.send({"type": "deny", **({"device": device} if device else {})})

    async def ping(self) -> dict:
        await self.send({"type": "ping"})
        return await self.next("pong")

    def start_heartbeat(self, every: float) -> None:
        async def beat():
            while not self.closed:
                await self.send({"type": "ping"})
                await asyncio.sleep(every)

        self._tasks.append(asyncio.create_task(beat(), name=f"{self.role}-heartbeat"))

    async def end(self) -> None:
        await self.send({"type": "end"})
        # The server closes a recorded call's files before it says the session ended
        # (server/signaling/ws.py), and allows itself STOP_TIMEOUT for that: on a
        # loaded machine two recordings took longer than the 10 s other messages get.
        await self.next("session-ended", STOP_TIMEOUT + CLOSE_TIMEOUT)

    async def hangup(self) -> None:
        await self.send({"type": "hangup"})
        await self.close()

    async def move_socket(self, timeout: float = 10.0) -> dict:
        """A change of network under the call: the old socket goes silent, never
        closed (its address went away: no FIN reaches the server), and a new one
        joins with ``resume``. The peer connection stays; its media reports go on
        over the new socket. Returns the new ``welcome``."""
        old, tasks = self.ws, self._tasks
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        self._silent.append(old)
        self.ws, self._tasks, self._outbox = None, [], asyncio.Queue()
        welcome = await self.join(timeout, resume=True)
        if self.ice_connected and self.report_every:
            self._reporter = asyncio.create_task(self._report_media(), name=f"{self.role}-media-report")
            self._tasks.append(self._reporter)
        return welcome

    async def drop(self) -> None:
        """A phone losing its network: the socket and the media just stop."""
        if self.ws is not None and not self.ws.closed:
            # Abort, not a polite close: no close frame, like a dropped connection.
            conn = self.ws._conn
            transport = conn.transport if conn is not None else None
            if transport is not None:
                transport.abort()
        await self.close()

    async def close(self) -> None:
        if self.pc is not None:
            await close_pc(self.pc)
        for link in list(self.links.values()):
            await close_pc(link.pc)
        if self.ws is not None and not self.ws.closed:
            try:
                await asyncio.wait_for(self.ws.close(), 3)
            except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                pass
        for ws in self._silent:
            transport = ws._conn.transport if ws is not None and ws._conn is not None else None
            if transport is not None:
                transport.abort()
        self._silent = []
        for task in self._tasks + self._media_tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, *self._media_tasks, return_exceptions=True)
        self._tasks, self._media_tasks = [], []


async def admitted_call(officer: CallPeer, client: CallPeer) -> None:
    """Both join; the officer admits the waiting client; the client is told so
    (no media needed: signaling-only peers too)."""
    await officer.join()
    await client.join()
    await officer.admit((await officer.next("client-waiting"))["device"])
    await client.next("admitted")


async def connected_call(officer: CallPeer, client: CallPeer, timeout: float = 15.0) -> None:
    """Officer and client already joined; officer admits; both ICE connected."""
    waiting = await officer.next("client-waiting", timeout)
    await officer.admit(waiting["device"])
    await client.next("admitted", timeout)
    await officer.wait_connected(timeout)
    await client.wait_connected(timeout)



async def event_kinds(http: aiohttp.ClientSession, session_id: int) -> list[str]:
    """The kinds of the session's call log, in order (``GET /api/sessions/{id}``)."""
    return [e["kind"] for e in (await session_json(http, session_id))["events"]]


async def has_event(http: aiohttp.ClientSession, session_id: int, kind: str) -> bool:
    return kind in await event_kinds(http, session_id)


# ---- a live call with media ---------------------------------------------------------


@dataclass
class MediaCall:
    pk: aiohttp.ClientSession
    phone: aiohttp.ClientSession
    session_id: int
    peers: list[CallPeer] = field(default_factory=list)

    @property
    def officer(self) -> CallPeer:
        return self.peers[0]

    @property
    def client(self) -> CallPeer:
        return self.peers[1]

    def peer(self, http: aiohttp.ClientSession, role: str) -> CallPeer:
        """Another real peer of this session (a phone coming back), closed with the call."""
        peer = CallPeer(http, self.session_id, role)
        self.peers.append(peer)
        return peer

    async def close_peers(self) -> None:
        """Close every peer (again on the way out: closing is idempotent)."""
        for peer in self.peers:
            await peer.close()


@asynccontextmanager
async def media_call(aiohttp_server, settings, office, client: str = "c1"):
    """A live call through a real server: pk1 signed in, a video session for
    ``client``, the phone through its join link, both real aiortc peers joined,
    the client admitted, both ICE connected and the call's interval open in the
    log (``media_connected``). Peers and both browsers are closed on the way out."""
    server = await aiohttp_server(create_app(settings))
    base = str(server.make_url("/"))
    async with party_http(base) as pk, party_http(base) as phone:
        await sign_in(pk, "pk1")
        session = await start_video_session(pk, office.clients[client].id)
        await open_join_link(phone, session["client_join_url"])
        call = MediaCall(pk, phone, session["id"])
        officer, client_peer = call.peer(pk, "officer"), call.peer(phone, "client")
        try:
            await officer.join()
            await client_peer.join()
            await connected_call(officer, client_peer)
            await until(lambda: has_event(pk, call.session_id, "media_connected"), timeout=MEDIA_SETTLE, what="the call's interval open")
            yield call
        finally:
            await call.close_peers()


# ---- a stage for signaling tests without media ------------------------------------


@dataclass
class Stage:
    base: str
    session: dict
    pk: aiohttp.ClientSession
    phone: aiohttp.ClientSession
    browsers: list[aiohttp.ClientSession] = field(default_factory=list)
    peers: list[CallPeer] = field(default_factory=list)
    # The server's app (in this process): for a test that waits on what the server noticed.
    app: Any = None

    @property
    def session_id(self) -> int:
        return self.session["id"]

    async def browser(self, username: str | None = None, join_url: str | None = None) -> aiohttp.ClientSession:
        http = party_http(self.base)
        self.browsers.append(http)
        if username:
            await sign_in(http, username)
        if join_url:
            resp = await open_join_link(http, join_url)
            assert resp.status == 303, resp.status
        return http

    def peer(self, http: aiohttp.ClientSession, role: str, session_id: int | None = None, **kw) -> CallPeer:
        peer = CallPeer(http, session_id or self.session_id, role, webrtc=False, **kw)
        self.peers.append(peer)
        return peer

    async def officer_and_admitted_client(self) -> tuple["CallPeer", "CallPeer"]:
        officer = self.peer(self.pk, "officer")
        await officer.join()
        client = self.peer(self.phone, "client")
        await client.join()
        waiting = await officer.next("client-waiting")
        await officer.admit(waiting["device"])
        await client.next("admitted")
        await officer.next("peer-joined")
        await client.next("peer-joined")
        return officer, client


async def offer_answer_works(officer: CallPeer, client: CallPeer) -> None:
    """The rightful parties can still negotiate through the room."""
    await officer.send({"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n"})
    offer = await client.next("offer")
    assert offer == {"type": "offer", "sdp": "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\n", "from": "officer"}
    await client.send({"type": "answer", "sdp": "v=0\r\no=- 3 4 IN IP4 127.0.0.1\r\n"})
    answer = await officer.next("answer")
    assert answer["from"] == "client" and answer["sdp"].startswith("v=0")
    await client.send({"type": "candidate", "candidate": {"candidate": "candidate:1 1 udp 2122260223 10.0.0.2 5000 typ host", "sdpMid": "0", "sdpMLineIndex": 0}})
    candidate = await officer.next("candidate")
    assert candidate["candidate"]["sdpMid"] == "0" and candidate["from"] == "client"


@asynccontextmanager
async def stage(aiohttp_server, settings, office, *, reissue: bool = False):
    server = await aiohttp_server(create_app(settings))
    base = str(server.make_url("/")).rstrip("/")
    pk = party_http(base)
    phone = party_http(base)
    st = Stage(base, {}, pk, phone, [pk, phone], app=server.app)
    try:
        await sign_in(pk, "pk1")
        st.session = await start_video_session(pk, office.clients["c1"].id)
        if reissue:
            async with pk.post(f"/api/sessions/{st.session_id}/link") as resp:
                assert resp.status == 200
                st.session.update(await resp.json())
        resp = await open_join_link(phone, st.session["client_join_url"])
        assert resp.status == 303
        yield st
    finally:
        for peer in st.peers:
            await peer.close()
        for http in st.browsers:
            await http.close()
