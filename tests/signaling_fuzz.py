"""Fuzzing the signaling protocol: hypothesis draws sequences of valid and
malformed messages from both parties of a room, a real server relays or
refuses them. Shared by tests/test_signaling_fuzz.py (CI, 10,000 messages) and
bench/fuzz_signaling.py (a million).

A party whose socket the server closed (ten errors, the rate limit, a
``hangup``, replaced) connects and joins again before its next message, as the
pages do. ``end`` is never sent: it closes the session for good, and the point
is that the room is still usable afterwards.
"""

from __future__ import annotations

import asyncio
import json

import aiohttp
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as seeded
from hypothesis import strategies as st

from server.signaling import protocol as p

TYPES = ["join", "admit", "deny", "offer", "answer", "candidate", "media-state", "ping", "hangup", "record-offer", "record-stop", "chat",
         "document-seen", "guest-signal",
         # Server-to-peer only: a peer that sends them is refused (unknown-type).
         "document", "document-signed"]
ICE = ["new", "checking", "connected", "completed", "disconnected", "failed", "closed"]

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=False), st.text(max_size=40))
# Shallow on purpose: drawing deep trees made generation, not the server, the bottleneck.
json_values = st.one_of(json_scalars, st.lists(json_scalars, max_size=3), st.dictionaries(st.text(max_size=8), json_scalars, max_size=3))
device = st.one_of(st.none(), st.text(alphabet="abcdef0123456789", min_size=1, max_size=16), st.text(max_size=80))

valid = st.one_of(
    st.just({"type": "ping"}),
    st.builds(lambda s: {"type": "offer", "sdp": s}, st.text(max_size=200)),
    st.builds(lambda s: {"type": "answer", "sdp": s}, st.text(max_size=200)),
    st.builds(lambda c, m, i: {"type": "candidate", "candidate": {"candidate": c, "sdpMid": m, "sdpMLineIndex": i}},
              st.text(max_size=120), st.one_of(st.none(), st.text(max_size=4)), st.one_of(st.none(), st.integers(0, 3))),
    st.builds(lambda s: {"type": "media-state", "state": s}, st.sampled_from(ICE)),
    st.builds(lambda d: {"type": "admit", **({"device": d} if d is not None else {})}, device),
    st.builds(lambda d: {"type": "deny", **({"device": d} if d is not None else {})}, device),
    st.builds(lambda r, resume: {"type": "join", "role": r, "resume": resume}, st.sampled_from(["officer", "client", "guest"]), st.booleans()),
    # A third person (issue 22): admitted or denied by guest id (its own, a stranger's, nonsense),
    # and the signals of its own peer connections, to anyone (named right or not).
    st.builds(lambda t, g: {"type": t, "guest": g}, st.sampled_from(["admit", "deny"]), st.one_of(st.integers(-2, 40), st.text(max_size=8))),
    st.builds(lambda to, kind, sdp: {"type": "guest-signal", "to": to, "signal": {"type": kind, "sdp": sdp} if kind != "candidate" else {"type": kind, "candidate": None}},
              st.one_of(st.sampled_from(["officer", "client", "guest:1", "guest:2", "guest:0", "guest:99"]), st.text(max_size=12)),
              st.sampled_from(["offer", "answer", "candidate", "reach", "chat"]), st.text(max_size=80)),
    st.builds(lambda party, sdp: {"type": "record-offer", "party": party, "sdp": sdp}, st.sampled_from(["officer", "client", "x"]), st.text(max_size=50)),
    st.just({"type": "record-stop"}),
    st.just({"type": "hangup"}),
    # The text line: any text (blank, markup, over 1,000 characters), a ref or none, a device (the officer's) or none.
    st.builds(lambda text, ref, d: {"type": "chat", "text": text, **({"ref": ref} if ref is not None else {}), **({"device": d} if d is not None else {})},
              st.one_of(st.text(max_size=200), st.text(min_size=995, max_size=1010)), st.one_of(st.none(), st.text(max_size=70)), device),
    # Signing in the call: the client's "I opened it", for a document of its room, of another room, of none, or no id at all;
    # and the server's own messages sent back at it.
    st.builds(lambda i: {"type": "document-seen", "id": i}, st.one_of(st.integers(1, 8), st.integers(-5, 2**60), st.text(max_size=5), st.none())),
    st.builds(lambda i: {"type": "document", "id": i, "kind": "kontrak_bimbingan", "title": "X", "revision": 1}, st.integers(1, 8)),
    st.builds(lambda i: {"type": "document-signed", "id": i, "signed_at": "2026-01-01T00:00:00+07:00"}, st.integers(1, 8)),
)
# Right type, wrong fields; wrong or unknown types; not an object; not JSON at all.
malformed_object = st.one_of(
    st.builds(lambda t, extra: {"type": t, **extra}, st.sampled_from(TYPES), st.dictionaries(st.text(max_size=12), json_values, max_size=3)),
    st.dictionaries(st.text(max_size=12), json_values, max_size=4),
    st.builds(lambda t: {"type": t}, json_values),
)
frame = st.one_of(
    valid.map(json.dumps),
    malformed_object.map(lambda o: json.dumps(o, default=str)),
    json_values.map(lambda v: json.dumps(v, default=str)),
    st.text(max_size=200),
    st.binary(max_size=64),
    st.just("x" * (p.MAX_MESSAGE_BYTES + 10)),
).filter(lambda f: not (isinstance(f, str) and '"type": "end"' in f))
# One message: who sends it, and the frame.
message = st.tuples(st.sampled_from(["officer", "client", "guest"]), frame)

# Messages per hypothesis example. Hypothesis spends most of its time per
# example, not per value: one ``.example()`` per message cost ~10 ms on a loaded
# CI machine, a sequence of 250 ~1 ms a message (measured 2026-12-02, load 8:
# 20 → 1.5 ms, 200 → 1.1 ms, 500 → 0.9 ms, 1,000 overran hypothesis's buffer and
# was rejected over and over).
SEQUENCE = 250


def draw_messages(count: int, seed: int | None = None) -> list[tuple[str, str | bytes]]:
    """``count`` messages, every one drawn by hypothesis: the examples of one
    ``@given`` are sequences of SEQUENCE messages, played one after another.
    The same ``seed`` draws the same messages."""
    drawn: list[tuple[str, str | bytes]] = []
    while len(drawn) < count:
        examples = -(-(count - len(drawn)) // SEQUENCE)

        @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate], suppress_health_check=list(HealthCheck))
        @given(st.lists(message, min_size=SEQUENCE, max_size=SEQUENCE))
        def collect(sequence: list[tuple[str, str | bytes]]) -> None:
            drawn.extend(sequence)

        if seed is not None:
            collect = seeded(seed + len(drawn))(collect)
        collect()
    return drawn[:count]


# How long close() waits for the server's closing frame. The server answers it
# only after every frame sent before it; aiohttp's default, 10 s, gave up and
# left the server playing the rest of the backlog, an old ``join`` or ``admit``
# included, into the check that the room still works (seen once at load 8).
CLOSE_WAIT = 120.0
# Frames a party sends before it waits for the server to have read them (a
# ping's pong, or the socket closed). Unpaced, a party wrote all its frames in a
# few milliseconds while the server was still on the first few: when the server
# closed the socket (ten errors, the rate limit) the rest were never read, and a
# run of 10,000 frames had the server read about 350 of them (issue 19). At most
# this many frames of a socket the server closes go unread.
WINDOW = 8
# How long the server may take to answer a window (a loaded machine included).
ANSWER_WAIT = 60.0
PING = json.dumps({"type": "ping"})


def _is_ping(data: str | bytes) -> bool:
    """Whether the server answers ``data`` with a pong (a valid ping)."""
    try:
        return isinstance(p.parse(data), p.Ping)
    except p.ProtocolError:
        return False


class Party:
    """One side of the room; reconnects and joins again when the server closed it.

    Its frames go in windows of WINDOW, each closed by a ping: the pong comes
    after the server's answers to every frame before it, so a window that ends
    in its pong was read whole (``answered``); one that ends in the socket
    closing may have lost its tail (``unanswered``)."""

    def __init__(self, http: aiohttp.ClientSession, base: str, session_id: int, role: str):
        self.http, self.url, self.role = http, f"{base}/ws/sessions/{session_id}", role
        self.ws: aiohttp.ClientWebSocketResponse | None = None
        self.reader: asyncio.Task | None = None
        self.received: list[dict] = []
        self.connects = 0
        self.handshake_statuses: list[int] = []
        self.answered = 0  # frames in windows the server answered to the end
        self.unanswered = 0  # frames in windows ended by the server closing the socket
        self._window = 0
        self._pings = self._pongs = 0  # on the current socket
        self._heard = asyncio.Event()

    async def ensure(self) -> None:
        if self.ws is not None and not self.ws.closed:
            return
        if self.reader is not None:
            await self.reader
        try:
            self.ws = await self.http.ws_connect(self.url, heartbeat=None, max_msg_size=0, timeout=aiohttp.ClientWSTimeout(ws_close=CLOSE_WAIT))
        except aiohttp.WSServerHandshakeError as exc:
            self.handshake_statuses.append(exc.status)
            raise
        self.connects += 1
        self._pings = self._pongs = 0
        self.reader = asyncio.create_task(self._read(self.ws))
        # Every other rejoin asks to resume, as a page does under a call (the officer's
        # and the client's place taken back, or an ordinary join when there is none).
        resume = {"resume": True} if self.connects % 2 == 0 else {}
        await self.ws.send_str(json.dumps({"type": "join", "role": self.role, **resume}))

    async def _read(self, ws) -> None:
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    message = json.loads(msg.data)
                    self.received.append(message)
                    if message.get("type") == "pong" and ws is self.ws:
                        self._pongs += 1
                    self._heard.set()
        finally:
            self._heard.set()

    async def send(self, data: str | bytes) -> None:
        """Send one frame on an open socket (on a new one if the server closed the
        last meanwhile); wait for the window's answer when it is full."""
        while True:
            await self.ensure()
            try:
                if isinstance(data, bytes):
                    await self.ws.send_bytes(data)
                else:
                    await self.ws.send_str(data)
                break
            except (ConnectionError, RuntimeError):
                await self.reader  # the server closed it meanwhile: send again on the next
        self._window += 1
        self._pings += _is_ping(data)
        if self._window >= WINDOW:
            await self.settle()

    async def settle(self) -> None:
        """End the window: a ping, then wait for every pong owed on this socket
        (the server read the window whole) or for the socket to close."""
        if self._window == 0 or self.ws is None:
            return
        ws, reader = self.ws, self.reader
        try:
            await ws.send_str(PING)
            self._pings += 1
        except (ConnectionError, RuntimeError):
            pass

        async def answered_or_closed() -> bool:
            while self._pongs < self._pings and not reader.done():
                self._heard.clear()
                await self._heard.wait()
            return self._pongs >= self._pings

        try:
            whole = await asyncio.wait_for(answered_or_closed(), ANSWER_WAIT)
        except asyncio.TimeoutError:
            raise AssertionError(f"the server neither answered {self.role}'s frames nor closed the socket in {ANSWER_WAIT:.0f} s") from None
        if whole:
            self.answered += self._window
        else:
            self.unanswered += self._window
        self._window = 0

    async def close(self) -> None:
        if self.ws is not None:
            await self.ws.close()
        if self.reader is not None:
            await self.reader


async def play(officer: Party, client: Party, batch: list[tuple[str, str | bytes]], guest: Party | None = None) -> None:
    """Each frame from its party; a guest's from the client's side when the room has no guest."""
    parties = {"officer": officer, "client": client, "guest": guest or client}
    for who, data in batch:
        await parties[who].send(data)
    for party in {id(x): x for x in parties.values()}.values():
        await party.settle()
