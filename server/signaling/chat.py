"""``chat`` on the signaling socket: the text line beside the call (issue 22,
docs/signaling.md "chat").

Each line is validated at the edge (protocol.py: 1 to 1,000 characters), held
to its own rate per connection (a person typing, not a program: over it the
sender gets ``chat-rate-limited`` and the socket stays open), kept with the
session and committed, relayed to the other party as ``chat`` with ``from``,
``at`` and the server's ``id``, and acknowledged to the sender with that id.

It needs no media: a client in the waiting room and the officer write to each
other before the admission, and while ICE is down. The relay goes through the
room registry's ``tell``, which reaches a socket on another process too when
rooms are shared through Redis.
"""

from __future__ import annotations

from collections.abc import Callable
from zoneinfo import ZoneInfo

from server.domain.calls import chat as chat_log
from server.keys import db_key, rooms_key, settings_key
from server.signaling import protocol as p
from server.signaling.registry import Party, Refusal, Room

# Lines per second on average, and at once: a quick "ya", "ok", "sebentar" goes
# through; a script pasting the log back does not.
RATE_PER_SECOND = 1.0
BURST = 5.0


class ChatLine:
    """One connection's side of the text line (its own rate)."""

    __slots__ = ("_take",)

    def __init__(self, take: Callable[[], bool]):
        self._take = take

    async def send(self, request, room: Room, party: Party, message: p.Chat) -> None:
        if party.role == "officer" and room.officer is not party:
            raise Refusal("replaced", "This connection was replaced.")
        if party.role != "officer" and message.device is not None:
            raise Refusal("forbidden", "Only the officer may name a device.")
        if party.role == "guest" and not party.admitted:
            # A guest's line goes to the call; waiting, it has nobody to write to yet.
            raise Refusal("not-admitted", "You are still in the waiting room.")
        if not message.text.strip():
            raise p.ProtocolError("bad-message", "A chat message needs some text.")
        if not self._take():
            raise Refusal("chat-rate-limited", "Too many chat messages; wait a moment and send again.")
        if party.role == "guest":
            target, device = "officer", f"guest:{party.guest_id}"
        elif party.role == "client":
            target, device = "officer", party.device
        else:
            target = f"device:{message.device}" if message.device else "client"
            device = message.device or (room.client.device if room.client is not None else None)
        sid = party.session_id
        async with request.app[db_key]() as db:
            written = await chat_log.write(db, sid, party.role, message.text, staff_id=party.staff_id, device=device)
        at = written.at.astimezone(ZoneInfo(request.app[settings_key].timezone)).isoformat(timespec="seconds")
        guest = {"guest": party.guest_id, "name": party.label} if party.role == "guest" else {}
        relayed = p.RelayedChat.model_validate(
            {"id": written.id, "text": message.text, "from": party.role, "at": at, "device": party.device if party.role == "client" else None, **guest}
        )
        delivered = await request.app[rooms_key].tell(sid, target, relayed)
        # The call's line reaches its admitted guests too (issue 22), and a guest's
        # the client in the call; a line to a device still waiting stays between the two.
        in_call = party.role != "officer" or message.device is None or (room.client is not None and room.client.device == message.device)
        if party.role == "guest" and room.client is not None:
            delivered = await request.app[rooms_key].tell(sid, "client", relayed) or delivered
        if in_call and (party.role != "client" or party.admitted):
            for other in room.admitted_guest_parties():
                if other is not party:
                    await other.send(relayed)
                    delivered = True
        if delivered:
            async with request.app[db_key]() as db:
                await chat_log.mark_delivered(db, written.id)
        await party.send(p.ChatAck(id=written.id, ref=message.ref, at=at, delivered=delivered))
