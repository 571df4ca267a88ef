"""The room registry: who may be in a session's room, and in which place.

Admission rules (docs/signaling.md §5):

* a room holds one officer connection, one admitted client connection and a
  waiting room of client devices — never more;
* the same party connecting again *replaces* its old connection (a phone that
  dropped); a different staff member finds the officer's place taken
  (``room-full``);
* a device the officer admitted before is re-admitted directly; any other
  device waits until the officer admits or denies it;
* offer/answer/candidate go only between the officer and the admitted client.

No SQL here: the handler (ws.py) checks credentials and writes the log; the
registry keeps the places and routes messages through the bus.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Awaitable, Callable, Literal, Protocol

from server.signaling import protocol as p
from server.signaling.bus import Bus, LocalBus

log = logging.getLogger(__name__)

SEND_TIMEOUT = 5.0
CLOSE_TIMEOUT = 2.0
CLOSE_REPLACED = 4000
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


@dataclass(eq=False)
class Party:
    session_id: int
    role: Literal["officer", "client"]
    socket: Socket
    device: str | None = None
    label: str = ""
    staff_id: int | None = None
    admitted: bool = False
    gone: bool = False
    # Closed with ``unavailable``: its place could not be kept (Redis down); its
    # handler logs it from the database alone (ws.py).
    lost: bool = False
    # This connection's id when rooms are shared between processes (shared_state.py).
    conn: str = ""
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _unsubscribe: list[Callable[[], None]] = field(default_factory=list)

    @property
    def address(self) -> str:
        return self.role if self.role == "officer" else f"device:{self.device}"

    async def send(self, message: p.Message) -> None:
        await self.send_frame(p.dump(message))

    async def send_frame(self, frame: str) -> None:
        if self.gone or self.socket.closed:
            return
        try:
            # One writer at a time per socket, and a slow reader cannot hold the room up.
            async with self._lock:
                await asyncio.wait_for(self.socket.send_str(frame), SEND_TIMEOUT)
        except (asyncio.TimeoutError, ConnectionError, RuntimeError) as exc:
            # Its handler notices the closed socket and leaves the room the usual way.
            log.info("dropping %s of session %s: send failed (%s)", self.role, self.session_id, type(exc).__name__)
            await self.close(1011)

    async def close(self, code: int = 1000) -> None:
        for unsubscribe in self._unsubscribe:
            unsubscribe()
        self._unsubscribe.clear()
        if not self.socket.closed:
            try:
                await asyncio.wait_for(self.socket.close(code=code), CLOSE_TIMEOUT)
            except (asyncio.TimeoutError, ConnectionError, RuntimeError):
                pass


@dataclass(eq=False)
class Room:
    session_id: int
    officer: Party | None = None
    client: Party | None = None
    waiting: "OrderedDict[str, Party]" = field(default_factory=OrderedDict)
    admitted_devices: set[str] = field(default_factory=set)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def remove(self, party: Party) -> None:
        """Free whatever place ``party`` holds (officer, client or waiting)."""
        if self.officer is party:
            self.officer = None
        if self.client is party:
            self.client = None
        if self.waiting.get(party.device or "") is party:
            del self.waiting[party.device or ""]

    def parties(self) -> list[Party]:
        return [x for x in (self.officer, self.client, *self.waiting.values()) if x is not None]


# Writes the log entry for a step, under the room's lock: (what, replaced party, subject party).
Logger = Callable[..., Awaitable[None]]


@dataclass(frozen=True)
class ClientEntry:
    placed: Literal["admitted", "waiting"]
    replaced: Party | None


class RoomRegistry:
    def __init__(self, bus: Bus | None = None):
        self.bus: Bus = bus or LocalBus()
        self._rooms: dict[int, Room] = {}
        # Called with the session id when a room is closed because its session ended.
        self.on_ended: list[Callable[[int], Awaitable[None] | None]] = []

    def room(self, session_id: int, known_devices: set[str] | None = None) -> Room:
        room = self._rooms.get(session_id)
        if room is None:
            room = self._rooms[session_id] = Room(session_id)
        if known_devices:
            room.admitted_devices |= known_devices
        return room

    def get(self, session_id: int) -> Room | None:
        return self._rooms.get(session_id)

    def __len__(self) -> int:
        return len(self._rooms)

    def available(self) -> bool:
        """Whether the rooms can be used now (always, in one process; see shared_state.py)."""
        return True

    def unavailable_since(self) -> datetime | None:
        """Since when the rooms cannot be used (never, in one process)."""
        return None

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

    async def _to(self, room: Room, address: str, message: p.Message) -> bool:
        return await self.bus.publish(room.session_id, address, p.dump(message))

    async def tell(self, session_id: int, address: str, message: p.Message) -> bool:
        """A server message to whoever holds ``address`` ("officer", "client") now."""
        return await self.bus.publish(session_id, address, p.dump(message))

    def _subscribe(self, party: Party) -> None:
        party._unsubscribe.append(self.bus.subscribe(party.session_id, party.address, party.send_frame))
        if party.role == "client" and party.admitted:
            party._unsubscribe.append(self.bus.subscribe(party.session_id, "client", party.send_frame))

    async def _introduce(self, room: Room) -> None:
        """Officer and admitted client both present: tell each (officer impolite)."""
        if room.officer and room.client:
            await self._to(room, "client", p.PeerJoined(role="officer", polite=True))
            await self._to(room, "officer", p.PeerJoined(role="client", polite=False))

    # ---- entering -------------------------------------------------------------

    async def enter_officer(self, room: Room, party: Party, welcome: p.Welcome, logged: Logger) -> Party | None:
        async with room.lock:
            old = room.officer
            if old is not None and not old.gone and old.staff_id != party.staff_id:
                raise Refusal("room-full", "Another staff member is already the officer in this call.", close=True)
            # The log is written before anyone is told, so its order is the order of events.
            await logged("officer", old)
            if old is not None:
                await self._replace(old)
                if room.client:
                    await self._to(room, "client", p.PeerLeft(role="officer", reason="replaced"))
            room.officer = party
            self._subscribe(party)
            await party.send(welcome.model_copy(update={"peer_present": room.client is not None}))
            for waiting in room.waiting.values():
                await party.send(p.ClientWaiting(device=waiting.device or "", label=waiting.label))
            await self._introduce(room)
            return old

    async def enter_client(self, room: Room, party: Party, welcome: p.Welcome, logged: Logger) -> ClientEntry:
        async with room.lock:
            device = party.device or ""
            replaced = None
            if room.client is not None and room.client.device == device:
                replaced = room.client
                room.client = None
            elif device in room.waiting:
                replaced = room.waiting.pop(device)
            direct = device in room.admitted_devices and room.client is None
            await logged("admitted" if direct else "waiting", replaced)
            if replaced is not None:
                await self._replace(replaced)
                if room.officer:
                    await self._to(room, "officer", p.PeerLeft(role="client", reason="replaced", device=device))
            await party.send(welcome.model_copy(update={"peer_present": room.officer is not None}))
            if direct:
                party.admitted = True
                room.client = party
                self._subscribe(party)
                await party.send(p.Admitted(polite=True))
                await self._introduce(room)
                return ClientEntry("admitted", replaced)
            room.waiting[device] = party
            self._subscribe(party)
            await party.send(p.Waiting())
            await self._to(room, "officer", p.ClientWaiting(device=device, label=party.label))
            return ClientEntry("waiting", replaced)

    async def _replace(self, old: Party) -> None:
        await old.send(p.error("replaced", "You connected again from another window or device; this one is closed."))
        old.gone = True
        await old.close(CLOSE_REPLACED)

    # ---- the officer decides -------------------------------------------------------

    def _pick_waiting(self, room: Room, device: str | None) -> Party:
        if not room.waiting:
            raise Refusal("no-peer", "Nobody is in the waiting room.")
        if device is None:
            return next(iter(room.waiting.values()))
        if device not in room.waiting:
            raise Refusal("no-peer", "That device is not in the waiting room.")
        return room.waiting[device]

    async def admit(self, room: Room, device: str | None, logged: Logger) -> tuple[Party, Party | None]:
        async with room.lock:
            party = self._pick_waiting(room, device)
            displaced = room.client
            await logged("admitted", displaced, party)
            del room.waiting[party.device or ""]
            if displaced is not None:
                room.client = None
                await self._replace(displaced)
                await self._to(room, "officer", p.PeerLeft(role="client", reason="replaced", device=displaced.device))
            party.admitted = True
            room.client = party
            room.admitted_devices.add(party.device or "")
            party._unsubscribe.append(self.bus.subscribe(party.session_id, "client", party.send_frame))
            await party.send(p.Admitted(polite=True))
            await self._introduce(room)
            return party, displaced

    async def deny(self, room: Room, device: str | None, logged: Logger) -> Party:
        async with room.lock:
            party = self._pick_waiting(room, device)
            await logged("denied", None, party)
            del room.waiting[party.device or ""]
            await party.send(p.Denied())
            party.gone = True
            await party.close(1000)
            return party

    # ---- relay -------------------------------------------------------------------

    async def relay(self, room: Room, sender: Party, message: p.Offer | p.Answer | p.Candidate) -> None:
        if sender.role == "client" and (not sender.admitted or room.client is not sender):
            raise Refusal("not-admitted", "You are still in the waiting room.")
        if sender.role == "officer" and room.officer is not sender:
            raise Refusal("replaced", "This connection was replaced.")
        target = "client" if sender.role == "officer" else "officer"
        if not await self._to(room, target, p.relayed(message, sender.role)):
            raise Refusal("no-peer", "The other party is not connected.")

    # ---- leaving -------------------------------------------------------------------

    async def leave(self, party: Party, reason: Literal["hangup", "dropped", "timeout"], logged: Logger | None = None) -> bool:
        """Remove a party that left; log it, then tell the other one. False if it no
        longer held a place (it was replaced, denied or the room closed)."""
        room = self._rooms.get(party.session_id)
        held = False
        if room is not None:
            async with room.lock:
                if room.officer is party:
                    room.officer = None
                    place, tell = "officer", ("client" if room.client else None)
                elif room.client is party:
                    room.client = None
                    place, tell = "client", "officer"
                elif room.waiting.get(party.device or "") is party:
                    del room.waiting[party.device or ""]
                    place, tell = "waiting", "officer"
                else:
                    place, tell = None, None
                held = place is not None
                if held and logged is not None:
                    await logged(place, None, party)
                if tell is not None:
                    device = None if party.role == "officer" else party.device
                    await self._to(room, tell, p.PeerLeft(role=party.role, reason=reason, device=device))
                if not room.parties():
                    # Admitted devices are remembered in the session log, not here.
                    self._rooms.pop(party.session_id, None)
        await party.close(1000)
        return held

    async def session_ended(self, session_id: int) -> None:
        """The session is over (officer's ``end``, the API, or interrupted): tell
        everyone in the room, close their sockets, forget the room."""
        room = self._rooms.pop(session_id, None)
        if room is not None:
            async with room.lock:
                parties = room.parties()
                room.officer = room.client = None
                room.waiting.clear()
            for party in parties:
                await party.send(p.SessionEnded())
                party.gone = True
            await asyncio.gather(*(party.close(1000) for party in parties), return_exceptions=True)
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
