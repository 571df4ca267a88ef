"""The signaling handler's side of a guest (issue 22, docs/signaling.md §9):
its credential, its place, its messages and its leaving, with its stay in the
record. ws.py hands a guest's connection here at each step; the rules of its
place are server/signaling/guests.py's."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.orm import lazyload

from server.db.guests import SessionGuest
from server.db.models import GuidanceSession
from server.domain.calls import guests as guests_domain
from server.keys import db_key, rooms_key, settings_key
from server.security import guestpass
from server.signaling import chat, guests
from server.signaling import protocol as p
from server.signaling.ice import ice_servers
from server.signaling.registry import Party, Refusal, RoomRegistry

_REFUSALS = {"link-revoked": "This link was revoked; ask the PK for a new one.", "link-expired": "This link has expired.",
             "session-closed": "This session is not open."}


async def credential(request: web.Request, session_id: int) -> tuple[Party, p.Welcome]:
    """A guest's pass (its own cookie), checked again against its link's row: revoked,
    expired or a closed session is refused as on the guest's page."""
    settings = request.app[settings_key]
    try:
        grant = guestpass.read_pass(request)
    except guestpass.GuestPassError as exc:
        raise Refusal(exc.code, exc.message) from None
    if grant.session_id != session_id:
        raise Refusal("forbidden", "Your link is for another session.")
    async with request.app[db_key]() as db:
        guest = await db.get(SessionGuest, grant.guest_id)
        session = await db.get(GuidanceSession, session_id, options=[lazyload("*")])
    code = guests_domain.refusal(guest, session, settings.join_expires_after_hours)
    if code is not None or guest is None or guest.session_id != session_id:
        raise Refusal(code if code in _REFUSALS else "forbidden", _REFUSALS.get(code or "", "Your link is for another session."))
    party = Party(session_id, "guest", None, label=guest.name, guest_id=guest.id, guest_role=guest.role)  # type: ignore[arg-type]
    welcome = p.Welcome(
        role="guest", session_id=session_id, device=None, ice_servers=ice_servers(settings, f"guest-{session_id}-{guest.id}"),
        heartbeat_seconds=settings.heartbeat_seconds, peer_present=False,
    )
    return party, welcome


def stay_begins(request: web.Request):
    """The ``logged`` step of an admission: the guest is in the call, its stay opens (the record's from)."""

    async def logged(placed, _old, guest: Party) -> None:
        if placed == "admitted":
            async with request.app[db_key]() as db:
                guest.stay_id = await guests_domain.joined(db, guest.guest_id or 0, guest.session_id)

    return logged


async def enter(request: web.Request, party: Party, welcome: p.Welcome) -> Party:
    rooms: RoomRegistry = request.app[rooms_key]
    if not rooms.supports_guests:
        raise Refusal("unavailable", "Guests cannot join on this server setup yet.")
    await guests.enter(rooms, rooms.room(party.session_id), party, welcome, stay_begins(request))
    return party


async def from_call(request: web.Request, room, party: Party, message: p.GuestSignal | p.Admit | p.Deny, frame: str) -> None:
    """The officer's or the client's side: a signal to a guest, or the officer admitting or denying one."""
    rooms: RoomRegistry = request.app[rooms_key]
    if isinstance(message, p.GuestSignal):
        await guests.relay(rooms, room, party, message, frame)
        return
    if room.officer is not party:
        raise Refusal("replaced", "This connection was replaced.")
    if isinstance(message, p.Deny):
        await guests.deny(rooms, room, message.guest or 0)
    else:
        await guests.admit(rooms, room, message.guest or 0, stay_begins(request))


async def dispatch(request: web.Request, room, party: Party, message, line: chat.ChatLine, frame: str) -> str | None:
    """A guest's messages: its heartbeat (its media evidence once admitted), its
    text line, its own peer connections' signals, and leaving. The officer-client
    call's messages are not a guest's to send."""
    if isinstance(message, p.Ping):
        await party.send(p.Pong())
        if party.admitted and party.stay_id is not None and message.inbound is not None:
            async with request.app[db_key]() as db:
                await guests_domain.counters(db, party.stay_id, message.inbound.model_dump(exclude_none=True))
    elif isinstance(message, p.Chat):
        await line.send(request, room, party, message)
    elif isinstance(message, p.GuestSignal):
        await guests.relay(request.app[rooms_key], room, party, message, frame)
    elif isinstance(message, p.Hangup):
        return "hangup"
    elif isinstance(message, p.MediaState):
        pass  # the call's duration is the officer's and the client's; a guest's stay has its own evidence
    else:
        raise Refusal("forbidden", "A guest may not send that; use guest-signal.")
    return None


async def leave(request: web.Request, party: Party, reason: str) -> None:
    """A guest's socket ended: its stay closes (whatever the room knew of it) and the others are told."""
    if not party.gone:
        await guests.leave(request.app[rooms_key], party, reason)
    else:
        await party.close(1000)
    if party.stay_id is not None:
        async with request.app[db_key]() as db:
            await guests_domain.left(db, party.stay_id, reason)
