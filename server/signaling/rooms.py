"""The in-process room registry: one ``bimbing serve`` process, places in memory.

The rules are those of :class:`~server.signaling.registry.RoomRegistry`
(docs/signaling.md §5); here a place is the :class:`Room`'s attribute, and a
message reaches a socket through :class:`~server.signaling.bus.LocalBus`, a
dictionary of callbacks keyed by the party's address. The same rules over Redis,
for several processes, are in :mod:`server.signaling.shared.rooms`.
"""

from __future__ import annotations

import asyncio
from typing import Literal

from server.signaling import guests
from server.signaling import protocol as p
from server.signaling.bus import LocalBus
from server.signaling.registry import ClientEntry, Logger, Party, Refusal, Room, RoomRegistry


class LocalRoomRegistry(RoomRegistry):
    def __init__(self, bus: LocalBus | None = None):
        super().__init__(bus or LocalBus())

    async def _to_frame(self, session_id: int, address: str, frame: str) -> bool:
        return await self.bus.publish(session_id, address, frame)

    def _subscribe(self, party: Party) -> None:
        party._unsubscribe.append(self.bus.subscribe(party.session_id, party.address, party.send_frame))
        if party.role == "client" and party.admitted:
            party._unsubscribe.append(self.bus.subscribe(party.session_id, "client", party.send_frame))

    async def _introduce(self, room: Room) -> None:
        """Officer and admitted client both present: tell each (officer impolite)."""
        if room.officer and room.client:
            await self._to(room.session_id, "client", p.PeerJoined(role="officer", polite=True))
            await self._to(room.session_id, "officer", p.PeerJoined(role="client", polite=False, step=room.client.step, ptime=room.client.ptime))

    # ---- entering -------------------------------------------------------------

    async def enter_officer(self, room: Room, party: Party, welcome: p.Welcome, logged: Logger, resume: bool = False) -> Party | None:
        async with self.entering(room) as room:
            old = room.officer
            if old is not None and not old.gone and old.staff_id != party.staff_id:
                raise Refusal("room-full", "Another staff member is already the officer in this call.", close=True)
            if resume and old is not None and room.client is not None:
                # The same call goes on over a new socket: the client is not told it left.
                await logged("resumed", old)
                await self._replace(old)
                room.officer = party
                self._subscribe(party)
                await party.send(welcome.model_copy(update={"peer_present": True, "resumed": True}))
                for waiting in room.waiting.values():
                    await party.send(p.ClientWaiting(device=waiting.device or "", label=waiting.label))
                await self._to(room.session_id, "client", p.PeerResumed(role="officer"))
                # The guests' pairs with the officer are not resumed: the console drops them when its
                # socket goes, so the guests are told it left and meet it again (and it hears who waits).
                await guests.tell_guests(room, p.PeerLeft(role="officer", reason="replaced"))
                await guests.newcomer(self, room, "officer")
                return old
            # The log is written before anyone is told, so its order is the order of events.
            await logged("officer", old)
            if old is not None:
                await self._replace(old)
                if room.client:
                    await self._to(room.session_id, "client", p.PeerLeft(role="officer", reason="replaced"))
                await guests.tell_guests(room, p.PeerLeft(role="officer", reason="replaced"))
            room.officer = party
            self._subscribe(party)
            await party.send(welcome.model_copy(update={"peer_present": room.client is not None}))
            for waiting in room.waiting.values():
                await party.send(p.ClientWaiting(device=waiting.device or "", label=waiting.label))
            await self._introduce(room)
            await guests.newcomer(self, room, "officer")
            return old

    async def enter_client(self, room: Room, party: Party, welcome: p.Welcome, logged: Logger, resume: bool = False) -> ClientEntry:
        async with self.entering(room) as room:
            device = party.device or ""
            replaced = None
            if room.client is not None and room.client.device == device:
                replaced = room.client
                room.client = None
                if resume:
                    # The same call goes on over a new socket: nobody is told it left.
                    await logged("resumed", replaced)
                    await self._replace(replaced)
                    await party.send(welcome.model_copy(update={"peer_present": room.officer is not None}))
                    party.admitted = True
                    room.client = party
                    self._subscribe(party)
                    await party.send(p.Admitted(polite=True, resumed=True))
                    await self._to(room.session_id, "officer", p.PeerResumed(role="client"))
                    return ClientEntry("resumed", replaced)
            elif device in room.waiting:
                replaced = room.waiting.pop(device)
            direct = device in room.admitted_devices and room.client is None
            await logged("admitted" if direct else "waiting", replaced)
            if replaced is not None:
                await self._replace(replaced)
                if room.officer:
                    await self._to(room.session_id, "officer", p.PeerLeft(role="client", reason="replaced", device=device))
            await party.send(welcome.model_copy(update={"peer_present": room.officer is not None}))
            if direct:
                party.admitted = True
                room.client = party
                self._subscribe(party)
                await party.send(p.Admitted(polite=True))
                await self._introduce(room)
                await guests.newcomer(self, room, "client")
                return ClientEntry("admitted", replaced)
            room.waiting[device] = party
            self._subscribe(party)
            await party.send(p.Waiting())
            await self._to(room.session_id, "officer", p.ClientWaiting(device=device, label=party.label))
            return ClientEntry("waiting", replaced)

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
                await self._to(room.session_id, "officer", p.PeerLeft(role="client", reason="replaced", device=displaced.device))
                await guests.tell_guests(room, p.PeerLeft(role="client", reason="replaced"))
            party.admitted = True
            room.client = party
            room.admitted_devices.add(party.device or "")
            party._unsubscribe.append(self.bus.subscribe(party.session_id, "client", party.send_frame))
            await party.send(p.Admitted(polite=True))
            await self._introduce(room)
            await guests.newcomer(self, room, "client")
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
                    await self._to(room.session_id, tell, p.PeerLeft(role=party.role, reason=reason, device=device))
                if place in ("officer", "client"):
                    # The guests lose their peer connection to it too (issue 22).
                    await guests.tell_guests(room, p.PeerLeft(role=party.role, reason=reason))
                if not room.parties():
                    # Admitted devices are remembered in the session log, not here.
                    self._rooms.pop(party.session_id, None)
        await party.close(1000)
        return held

    async def end_if_empty(self, session_id: int, end) -> bool:
        # The room is held while ending, so a join waits behind its lock. It stays
        # registered, empty, afterwards: a join may hold it already (session_ended
        # or the next leave removes it).
        room = self.room(session_id)
        async with room.lock:
            if room.parties():
                return False
            return await end()

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
        await self._run_on_ended(session_id)
