"""The room registry's interface: who may be in a session's room, and in which place.

Two implementations keep these rules, and one test suite
(tests/test_room_registry_contract.py) checks both:

* :class:`~server.signaling.rooms.LocalRoomRegistry`: one process, places in memory;
* :class:`~server.signaling.shared.rooms.SharedRoomRegistry`: several processes,
  places in Redis (``BIMBING_REDIS_URL``).

The handler (ws.py) knows only :class:`RoomRegistry`.

Admission rules (docs/signaling.md §5):

* a room holds one officer connection, one admitted client connection and a
  waiting room of client devices — never more;
* the same party connecting again *replaces* its old connection (a phone that
  dropped); a different staff member finds the officer's place taken
  (``room-full``);
* a device the officer admitted before is re-admitted directly; any other
  device waits until the officer admits or denies it;
* the admitted client's device joining with ``resume`` while its old
  connection still holds the client's place takes that place over in silence:
  no ``admitted`` in the log, no ``peer-left``/``peer-joined``, only
  ``peer-resumed`` to the officer (a change of network: the call goes on);
  the officer likewise, while a client is in the call: ``welcome`` with
  ``resumed`` to it, ``peer-resumed`` to the client;
* offer/answer/candidate go only between the officer and the admitted client.

No SQL here: the handler checks credentials and writes the log through the
``logged`` callback each step takes (called under the room's lock, before
anyone is told, so the log's order is the order of events).
"""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod
from collections import OrderedDict
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import AsyncIterator, Awaitable, Callable, Literal, Protocol

from server.signaling import protocol as p
from server.signaling.bus import Bus

log = logging.getLogger(__name__)

SEND_TIMEOUT = 5.0
# A frame up to this many characters is compressed (permessage-deflate) in the
# loop by aiohttp; a larger one in a thread, which a send waits for.
SEND_AT_ONCE_CHARS = 4 * 1024
CLOSE_TIMEOUT = 2.0
CLOSE_REPLACED = 4000
# A client whose join link was revoked or reissued: policy violation (RFC 6455 1008).
CLOSE_REVOKED = 1008
REVOKED_MESSAGE = "This link was revoked or replaced; ask your PK for the new one."
# ``unavailable``: the shared state (Redis) cannot be reached; try again later (RFC 6455 1013).
CLOSE_UNAVAILABLE = 1013
UNAVAILABLE_MESSAGE = "The call service is temporarily unavailable; reconnecting."


class Socket(Protocol):
    """The part of aiohttp's WebSocketResponse a party needs."""

    closed: bool

    async def send_str(self, data: str) -> None: ...

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool: ...


class Refusal(Exception):
    def __init__(self, code: str, message: str, *, close: bool = False):
        super().__init__(message)
        self.code = code
        self.message = message
        self.close = close


# Slotted: one Party per socket, a Room per call; without a __dict__ each is a
# few hundred bytes smaller (memory per connection, issue 24).
@dataclass(eq=False, slots=True)
class Party:
    session_id: int
    role: Literal["officer", "client", "guest"]
    socket: Socket
    device: str | None = None
    label: str = ""
    staff_id: int | None = None
    admitted: bool = False
    # The step a client said its call starts on (``join``), for the officer's
    # ``peer-joined``, with the Opus packet length it asked for.
    step: str | None = None
    ptime: int | None = None
    gone: bool = False
    # Closed with ``unavailable``: its place could not be kept (Redis down); its
    # handler logs it from the database alone (ws.py).
    lost: bool = False
    # Closed because its join link was revoked: its handler logs it as ``link-revoked``.
    revoked: bool = False
    # This connection's id when rooms are shared between processes (shared/rooms.py).
    conn: str = ""
    # A guest (issue 22): its link's id, capacity and name, and its open stay's row.
    guest_id: int | None = None
    guest_role: str = ""
    stay_id: int | None = None
    # For the join->connected histogram (ws.py): when it took its place (officer
    # joined, client admitted; monotonic), whether its media reports connected,
    # and whether this pair was already counted.
    placed_at: float = 0.0
    media_up: bool = False
    counted: bool = False
    # The socket's transport (ws.py sets it), to tell a send that cannot wait.
    transport: asyncio.WriteTransport | None = None
    # Made at the first send that may wait (most never do): a lock each was 0.2 KiB a socket.
    _lock: asyncio.Lock | None = None
    _unsubscribe: list[Callable[[], None]] = field(default_factory=list)

    @property
    def address(self) -> str:
        if self.role == "guest":
            return f"guest:{self.guest_id}"
        return self.role if self.role == "officer" else f"device:{self.device}"

    async def send(self, message: p.Message) -> None:
        await self.send_frame(p.dump(message))

    async def send_frame(self, frame: str) -> None:
        if self.gone or self.socket.closed:
            return
        try:
            if (self._lock is None or not self._lock.locked()) and self._written_at_once(frame):
                # Nobody else is writing and the frame fits the transport's buffer:
                # aiohttp writes it without waiting, so no timeout is needed; a timer
                # per send was a tenth of the relay's CPU (bench/README.md, issue 24).
                await self.socket.send_str(frame)
                return
            # One writer at a time per socket, and a slow reader cannot hold the room up.
            # asyncio.timeout, not wait_for: on 3.11 wait_for wraps every send in a
            # task of its own, 12.6% of the relay's samples (bench/README.md).
            if self._lock is None:
                self._lock = asyncio.Lock()
            async with self._lock, asyncio.timeout(SEND_TIMEOUT):
                await self.socket.send_str(frame)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError) as exc:
            # Its handler notices the closed socket and leaves the room the usual way.
            log.info("dropping %s of session %s: send failed (%s)", self.role, self.session_id, type(exc).__name__)
            await self.close(1011)

    def _written_at_once(self, frame: str) -> bool:
        """Whether aiohttp's ``send_str`` returns without waiting: the writer waits
        only for a paused transport (its buffer above the high-water mark, until it
        drains below the low one) or to compress a frame over 16 KiB elsewhere."""
        transport = self.transport
        if transport is None or len(frame) > SEND_AT_ONCE_CHARS or transport.is_closing():
            return False
        low, high = transport.get_write_buffer_limits()
        buffered = transport.get_write_buffer_size()
        # 4 bytes a character at most in UTF-8, and a frame header of at most 14.
        return buffered <= low and buffered + 4 * len(frame) + 14 <= high

    async def close(self, code: int = 1000) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if not self.socket.closed:
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT):
                    await self.socket.close(code=code)
            except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                pass


@dataclass(eq=False, slots=True)
class Room:
    """This process's sockets in one session's room (with Redis, the places
    themselves are in Redis; ws.py checks ``room.officer is party`` on this)."""

    session_id: int
    officer: Party | None = None
    client: Party | None = None
    waiting: "OrderedDict[str, Party]" = field(default_factory=OrderedDict)
    admitted_devices: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Guests (issue 22), waiting or admitted (``Party.admitted``), by guest id; and
    # the guests admitted once, let back in directly after a dropped connection.
    guests: dict[int, Party] = field(default_factory=dict)
    admitted_guests: set[int] = field(default_factory=set)

    def remove(self, party: Party) -> None:
        """Free whatever place ``party`` holds (officer, client or waiting)."""
        if self.officer is party:
            self.officer = None
        if self.client is party:
            self.client = None
        if self.waiting.get(party.device or "") is party:
            del self.waiting[party.device or ""]
        if party.guest_id is not None and self.guests.get(party.guest_id) is party:
            del self.guests[party.guest_id]

    def parties(self) -> list[Party]:
        return [x for x in (self.officer, self.client, *self.waiting.values(), *self.guests.values()) if x is not None]

    def admitted_guest_parties(self) -> list[Party]:
        return [x for x in self.guests.values() if x.admitted]


# Writes the log entry for a step, under the room's lock: (what, replaced party, subject party).
Logger = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class ClientEntry:
    placed: Literal["admitted", "waiting", "resumed"]
    replaced: Party | None


class RoomRegistry(ABC):
    """What the handler may ask of a registry. The abstract methods are the
    admission rules, each implementation keeping its places where it keeps
    them; the concrete ones are the bookkeeping of this process's own sockets,
    which is the same for both."""

    def __init__(self, bus: Bus):
        self.bus: Bus = bus
        self._rooms: dict[int, Room] = {}
        # Called with the session id when a room is closed because its session ended.
        self.on_ended: list[Callable[[int], Awaitable[None] | None]] = []

    # ---- the rules (one implementation each) ------------------------------------

    @abstractmethod
    async def enter_officer(self, room: Room, party: Party, welcome: p.Welcome, logged: Logger, resume: bool = False) -> Party | None:
        """Take the officer's place: ``welcome``, then a ``client-waiting`` per
        waiting device, then ``peer-joined`` to both if the client is in. The
        same staff member replaces their old connection (returned; it gets
        ``replaced``, 4000); another staff member is refused ``room-full``.
        With ``resume``, the same staff member whose old connection still holds
        the place while a client is in the call takes it over: ``welcome`` with
        ``resumed``, the ``client-waiting`` as ever, ``peer-resumed`` to the
        client and no ``peer-left``/``peer-joined``; ``logged("resumed", old)``."""

    @abstractmethod
    async def enter_client(self, room: Room, party: Party, welcome: p.Welcome, logged: Logger, resume: bool = False) -> ClientEntry:
        """A device joins: ``welcome``, then ``admitted`` directly if the officer
        admitted it before and the client's place is free, else ``waiting`` (and
        ``client-waiting`` to the officer). The same device replaces its old connection.
        With ``resume``, a device whose old connection still holds the client's
        place takes it over: ``welcome``, ``admitted`` with ``resumed``, and
        ``peer-resumed`` to the officer; ``logged("resumed", old)``."""

    @abstractmethod
    async def admit(self, room: Room, device: str | None, logged: Logger) -> tuple[Party, Party | None]:
        """The officer admits a waiting device (the longest waiting without one);
        a client already in the call is replaced. ``no-peer`` if nobody waits.
        Returns the admitted party and the displaced one (as this process knows them)."""

    @abstractmethod
    async def deny(self, room: Room, device: str | None, logged: Logger) -> Party:
        """The officer denies a waiting device: it gets ``denied`` and is closed."""

    @abstractmethod
    async def leave(self, party: Party, reason: Literal["hangup", "dropped", "timeout"], logged: Logger | None = None) -> bool:
        """Remove a party that left; log it, then tell the other one. False if it no
        longer held a place (it was replaced, denied or the room closed)."""

    @abstractmethod
    async def session_ended(self, session_id: int) -> None:
        """The session is over (officer's ``end``, the API, or interrupted): tell
        everyone in the room ``session-ended``, close their sockets, forget the room."""

    @abstractmethod
    async def end_if_empty(self, session_id: int, end: Callable[[], Awaitable[bool]]) -> bool:
        """If nobody holds a place in the room (officer, client or waiting), on any
        process, run ``end`` while no one can take one, and return what it
        returns; False without running it otherwise. The caller then calls
        ``session_ended``, which also shows out whoever came in just after."""

    @abstractmethod
    async def _to_frame(self, session_id: int, address: str, frame: str) -> bool:
        """Deliver one serialised message to whoever holds ``address`` ("officer",
        "client", "device:<id>") now, wherever its socket is; False when nobody does."""

    async def _to(self, session_id: int, address: str, message: p.Message) -> bool:
        return await self._to_frame(session_id, address, p.dump(message))

    # ---- this process's sockets (the same for both) -------------------------------

    def room(self, session_id: int, known_devices: set[str] | None = None) -> Room:
        room = self._rooms.get(session_id)
        if room is None:
            room = self._rooms[session_id] = Room(session_id)
        if known_devices:
            room.admitted_devices |= known_devices
        return room

    @asynccontextmanager
    async def entering(self, room: Room) -> AsyncIterator[Room]:
        """Hold the lock of the session's room as it is registered now, and yield
        that room. A party leaving the last place forgets the room (``leave``)
        while a party that took it to enter waits for its lock: entering the
        forgotten one split the call, the officer in it and the client admitted
        next in a new one, with no ``peer-joined`` and the officer's offers
        refused or lost (found by tests/test_signaling_fuzz.py)."""
        while True:
            await room.lock.acquire()
            current = self._rooms.setdefault(room.session_id, room)
            if current is room:
                break
            room.lock.release()
            current.admitted_devices |= room.admitted_devices
            room = current
        try:
            yield room
        finally:
            room.lock.release()

    def get(self, session_id: int) -> Room | None:
        return self._rooms.get(session_id)

    def __len__(self) -> int:
        return len(self._rooms)

    def count_parties(self, role: str) -> int:
        """This process's sockets holding the role's place (a waiting device is a client)."""
        if role == "officer":
            return sum(1 for room in self._rooms.values() if room.officer is not None)
        return sum((room.client is not None) + len(room.waiting) for room in self._rooms.values())

    def available(self) -> bool:
        """Whether the rooms can be used now (always, in one process)."""
        return True

    def unavailable_since(self) -> datetime | None:
        """Since when the rooms cannot be used (never, in one process)."""
        return None

    async def tell(self, session_id: int, address: str, message: p.Message) -> bool:
        """A server message to whoever holds ``address`` ("officer", "client") now."""
        return await self._to(session_id, address, message)

    async def relay(self, room: Room, sender: Party, frame: str) -> None:
        """offer/answer/candidate/reach between the officer and the admitted client
        only: ``frame`` is the sender's, as :func:`~server.signaling.protocol.parse`
        accepted it."""
        if sender.role == "client" and (not sender.admitted or room.client is not sender):
            raise Refusal("not-admitted", "You are still in the waiting room.")
        if sender.role == "officer" and room.officer is not sender:
            raise Refusal("replaced", "This connection was replaced.")
        target = "client" if sender.role == "officer" else "officer"
        if not await self._to_frame(room.session_id, target, p.relayed(frame, sender.role)):
            raise Refusal("no-peer", "The other party is not connected.")

    async def lose(self, party: Party) -> None:
        """Close a connection whose place cannot be kept (``unavailable``, 1013):
        forget it here without telling anyone, its handler logs it."""
        if party.lost:
            return
        party.lost = True
        self.forget_local(party)
        await party.send(p.error("unavailable", UNAVAILABLE_MESSAGE))
        await party.close(CLOSE_UNAVAILABLE)

    def forget_local(self, party: Party) -> None:
        room = self._rooms.get(party.session_id)
        if room is None:
            return
        room.remove(party)
        if not room.parties():
            self._rooms.pop(party.session_id, None)

    # ---- the join link is revoked, the staff member signed out ----------------------

    async def revoke_clients(self, session_id: int) -> int:
        """The session's join links were revoked or reissued: every client
        connection, admitted or waiting, came in with a pass that is no longer
        valid. Close each with ``link-revoked``; its handler then leaves the room
        the usual way (the officer hears ``peer-left`` reason ``link-revoked``, the
        log ends the open interval). Returns how many were closed. (The shared
        registry overrides this to reach the other processes' sockets too.)"""
        room = self._rooms.get(session_id)
        clients = [x for x in room.parties() if x.role == "client"] if room else []
        await asyncio.gather(*(self._revoke(x) for x in clients))
        return len(clients)

    # Guests (issue 22) are held by this process's room (server/signaling/guests.py);
    # the shared registry cannot place them yet and says so.
    supports_guests = True

    async def _revoke(self, party: Party) -> None:
        party.revoked = True
        await party.send(p.error("link-revoked", REVOKED_MESSAGE))
        await party.close(CLOSE_REVOKED)

    async def close_staff(self, staff_id: int) -> int:
        """The staff member was signed out everywhere (deactivated, password or
        role changed): credentials are checked at ``join`` only, so close their
        sockets with ``signed-out`` (1008); their handlers leave the rooms as usual.
        Returns how many this process closed. (The shared registry overrides this
        to reach the other processes' sockets too.)"""
        parties = [x for room in self._rooms.values() for x in room.parties() if x.role == "officer" and x.staff_id == staff_id]
        for party in parties:
            await party.send(p.error("signed-out", "Your sign-in was ended; sign in again."))
            await party.close(CLOSE_REVOKED)
        return len(parties)

    async def _replace(self, old: Party) -> None:
        await old.send(p.error("replaced", "You connected again from another window or device; this one is closed."))
        old.gone = True
        await old.close(CLOSE_REPLACED)

    async def _run_on_ended(self, session_id: int) -> None:
        for callback in self.on_ended:
            result = callback(session_id)
            if asyncio.iscoroutine(result):
                await result

    async def close_all(self, timeout: float = 5.0) -> None:
        """Shutdown: close every socket with 1001 (going away), bounded."""
        parties = [party for room in self._rooms.values() for party in room.parties()]
        self._rooms.clear()
        for party in parties:
            party.gone = True
        if parties:
            await asyncio.wait_for(asyncio.gather(*(party.close(1001) for party in parties), return_exceptions=True), timeout)
