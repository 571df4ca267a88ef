"""A third person in the call (issue 22, docs/signaling.md "Guests"): the guest's
places in a room and the messages about them.

The rules, beside the registry's own (registry.py):

* a guest waits until the officer admits it (``admit`` with ``guest``), apart
  from the client's devices; a guest admitted once is let back in directly after
  a dropped connection; the same guest connecting again replaces its old socket;
* an admitted guest meets the officer and the admitted client with
  ``peer-joined`` (role ``guest`` to them, theirs to it), and each pair has its
  own peer connection: the officer offers to the guest (as to the client), the
  guest offers to the client. Their offers, answers and candidates travel
  wrapped in ``guest-signal``, so the officer-client call never sees them;
* a guest leaving, or revoked, is ``peer-left`` with ``guest`` to the others.

Guests are held by this process's room (``Room.guests``); with rooms shared
through Redis they are refused (``unavailable``) for now, see docs/deploy.md.
No SQL here: the handler logs through the ``logged`` callbacks.
"""

from __future__ import annotations

from server.signaling import protocol as p
from server.signaling.registry import REVOKED_MESSAGE, CLOSE_REVOKED, Logger, Party, Refusal, Room, RoomRegistry

MAX_GUESTS_IN_ROOM = 4


def _joined(guest: Party, polite: bool) -> p.PeerJoined:
    return p.PeerJoined(role="guest", polite=polite, guest=guest.guest_id, name=guest.label, guest_role=guest.guest_role)


async def introduce(rooms: RoomRegistry, room: Room, guest: Party) -> None:
    """An admitted guest and whoever is in the call meet (officer impolite to it; it impolite to the client)."""
    if room.officer is not None:
        await guest.send(p.PeerJoined(role="officer", polite=True))
        await room.officer.send(_joined(guest, polite=False))
    if room.client is not None:
        await guest.send(p.PeerJoined(role="client", polite=False))
        await room.client.send(_joined(guest, polite=True))


async def newcomer(rooms: RoomRegistry, room: Room, role: str) -> None:
    """The officer (or the admitted client) took its place: it meets the admitted guests;
    the officer also hears of the waiting ones."""
    party = room.officer if role == "officer" else room.client
    if party is None:
        return
    for guest in list(room.guests.values()):
        if guest.admitted:
            await guest.send(p.PeerJoined(role=role, polite=role == "officer"))  # type: ignore[arg-type]
            await party.send(_joined(guest, polite=role == "client"))
        elif role == "officer":
            await party.send(p.GuestWaiting(guest=guest.guest_id or 0, role=guest.guest_role, name=guest.label))


async def tell_guests(room: Room, message: p.Message) -> bool:
    """To every admitted guest; whether anyone got it."""
    told = False
    for guest in room.admitted_guest_parties():
        await guest.send(message)
        told = True
    return told


async def enter(rooms: RoomRegistry, room: Room, party: Party, welcome: p.Welcome, logged: Logger) -> str:
    """A guest joins: ``welcome``, then ``admitted`` directly if admitted before,
    else ``waiting`` (and ``guest-waiting`` to the officer). Returns the place."""
    async with rooms.entering(room) as room:
        gid = party.guest_id or 0
        old = room.guests.pop(gid, None)
        if old is None and len(room.guests) >= MAX_GUESTS_IN_ROOM:
            raise Refusal("room-full", "This call has as many guests as it can take.", close=True)
        direct = gid in room.admitted_guests
        await logged("admitted" if direct else "waiting", old, party)
        if old is not None:
            await rooms._replace(old)
            if old.admitted:
                await _left(room, old, "replaced")
        await party.send(welcome.model_copy(update={"peer_present": room.officer is not None}))
        room.guests[gid] = party
        if direct:
            party.admitted = True
            await party.send(p.Admitted(polite=True))
            await introduce(rooms, room, party)
            return "admitted"
        await party.send(p.Waiting())
        if room.officer is not None:
            await room.officer.send(p.GuestWaiting(guest=gid, role=party.guest_role, name=party.label))
        return "waiting"


def _waiting(room: Room, guest_id: int) -> Party:
    party = room.guests.get(guest_id)
    if party is None or party.admitted:
        raise Refusal("no-peer", "That guest is not in the waiting room.")
    return party


async def admit(rooms: RoomRegistry, room: Room, guest_id: int, logged: Logger) -> Party:
    async with room.lock:
        party = _waiting(room, guest_id)
        await logged("admitted", None, party)
        party.admitted = True
        room.admitted_guests.add(guest_id)
        await party.send(p.Admitted(polite=True))
        await introduce(rooms, room, party)
        return party


async def deny(rooms: RoomRegistry, room: Room, guest_id: int) -> Party:
    async with room.lock:
        party = _waiting(room, guest_id)
        del room.guests[guest_id]
        await party.send(p.Denied())
        party.gone = True
        await party.close(1000)
        return party


async def _left(room: Room, guest: Party, reason: str) -> None:
    message = p.PeerLeft(role="guest", reason=reason, guest=guest.guest_id)  # type: ignore[arg-type]
    for other in (room.officer, room.client):
        if other is not None and (guest.admitted or other is room.officer):
            await other.send(message)
    if guest.admitted:
        for other in room.admitted_guest_parties():
            if other is not guest:
                await other.send(message)


async def leave(rooms: RoomRegistry, party: Party, reason: str, logged: Logger | None = None) -> bool:
    """Remove a guest that left; log it, then tell the others. False if it no longer held a place."""
    room = rooms.get(party.session_id)
    held = False
    if room is not None:
        async with room.lock:
            held = room.guests.get(party.guest_id or 0) is party
            if held:
                del room.guests[party.guest_id or 0]
                if logged is not None:
                    await logged("guest", None, party)
                await _left(room, party, reason)
            if not room.parties():
                rooms._rooms.pop(party.session_id, None)
    await party.close(1000)
    return held


async def revoke(rooms: RoomRegistry, session_id: int, guest_id: int) -> int:
    """The guest's link was revoked: close its socket (``link-revoked``, 1008); its handler leaves the usual way."""
    room = rooms.get(session_id)
    party = room.guests.get(guest_id) if room is not None else None
    if party is None:
        return 0
    party.revoked = True
    await party.send(p.error("link-revoked", REVOKED_MESSAGE))
    await party.close(CLOSE_REVOKED)
    return 1


async def relay(rooms: RoomRegistry, room: Room, sender: Party, message: p.GuestSignal, frame: str) -> None:
    """A guest's signal to the officer or the client, or theirs to an admitted guest:
    ``frame``, the sender's text as :func:`~server.signaling.protocol.parse` accepted
    it, plus ``from`` (as offers are relayed: not parsed and written again)."""
    if sender.role == "guest":
        if not sender.admitted or room.guests.get(sender.guest_id or 0) is not sender:
            raise Refusal("not-admitted", "You are still in the waiting room.")
        target = room.officer if message.to == "officer" else room.client if message.to == "client" else None
    else:
        if sender.role == "client" and (not sender.admitted or room.client is not sender):
            raise Refusal("not-admitted", "You are still in the waiting room.")
        if sender.role == "officer" and room.officer is not sender:
            raise Refusal("replaced", "This connection was replaced.")
        target = None
        if message.to.startswith("guest:"):
            guest = room.guests.get(int(message.to.removeprefix("guest:")))
            target = guest if guest is not None and guest.admitted else None
    if target is None:
        raise Refusal("no-peer", "The other party is not connected.")
    await target.send_frame(p.relayed(frame, sender.address if sender.role == "guest" else sender.role))
