"""A client's place, held for its return (issue 25; docs/signaling.md §5).

A phone that loses its network loses its signaling socket too: Chromium gives
it up, and its end reaches the server as the network returns, just before the
new socket's ``join`` with ``resume``. Had the server logged the client as
gone at once, that ``join`` would start a new call (``client_left``,
``admitted``, a new offer) where the same call could go on (``client_resumed``,
an ICE restart). So an admitted client whose socket broke off keeps its place
for ``BIMBING_CLIENT_HOLD_SECONDS`` before its leave is logged and the officer
told. Nobody is told anything meanwhile, and the media interval is judged by
the officer's counters as always, so the held seconds count only while media
still arrives. A socket closed with a close frame (a page left, a hang-up)
leaves at once.
"""

from __future__ import annotations

import asyncio
import time

from server.signaling.registry import Party, RoomRegistry
from server.signaling.websocket import SignalingSocket

# How often a held place looks whether its client came back.
HOLD_POLL_SECONDS = 0.25
# The code the phone closes a socket with when it gave it up for a new network
# (webclient/signaling.js, `_closeAbandoned`): it means to come back.
CLOSE_NETWORK_CHANGE = 4000


def means_to_return(ws: SignalingSocket, reason: str) -> bool:
    """The socket ended without the phone meaning to leave: no pong (``timeout``),
    no close frame from either side, or the phone's own ``network change`` close:
    a second change of network while its first reconnect still waited closed the
    socket that held the place (seen at 32 kbit/s: the link's return is
    Chromium's ``online``, a second ``reconnectNow``)."""
    if reason == "timeout":
        return True
    return reason == "dropped" and (ws.broke_off or ws.peer_close_code == CLOSE_NETWORK_CHANGE)


async def hold_place(rooms: RoomRegistry, party: Party, ws: SignalingSocket, reason: str, seconds: float) -> None:
    """Wait while an admitted client's place is held: until it was taken back (the
    party replaced by a ``join`` with ``resume``: ``gone``), the room was closed
    (a shutdown closes the rooms first) or ``seconds`` are up. Returns at once for
    anyone else, and for a socket closed on purpose."""
    if seconds <= 0 or party.role != "client" or not party.admitted or party.gone or party.lost or party.revoked:
        return
    if not means_to_return(ws, reason):
        return
    deadline = time.monotonic() + seconds
    while not party.gone and rooms.get(party.session_id) is not None and time.monotonic() < deadline:
        await asyncio.sleep(min(HOLD_POLL_SECONDS, max(0.0, deadline - time.monotonic())))
