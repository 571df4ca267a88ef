"""The signaling endpoint's WebSocket response (ws.py): aiohttp's, remembering
the close code this side sent, and kept small, since one lives as long as each
call's socket (memory per connection, issue 24)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import WSMsgType, web

if TYPE_CHECKING:
    from server.ops.metrics import Metrics

# aiohttp's response keeps some 30 attributes in its instance __dict__; CPython
# shares one key layout between instances only up to 30 keys, and the server's
# heartbeat sets a few more (``_pong_response_cb``, ``_ping_task``): each socket then
# got a dict of its own at its first heartbeat, 1.35 KiB (tracemalloc at 300 rooms,
# issue 24). The attributes aiohttp declares on the class with a default, set once
# the socket is open, live in slots here instead; each starts at aiohttp's default.
_LATE_ATTRIBUTES = tuple(
    name for name in ("_ws_protocol", "_writer", "_reader", "_parser", "_closed", "_closing", "_conn_lost", "_close_code",
                      "_loop", "_waiting", "_close_wait", "_exception", "_heartbeat_when", "_heartbeat_cb",
                      "_pong_response_cb", "_ping_task", "_need_heartbeat_reset", "_heartbeat_reset_handle")
    if name in vars(web.WebSocketResponse)
)


class SignalingSocket(web.WebSocketResponse):
    """Remembers the close code this side sent: aiohttp's ``close_code`` becomes
    the code the peer echoes back, which says nothing of why we closed. And
    whether the connection broke off (``broke_off``): it ended with no close
    frame from either side, as a phone's does when it lost its network, which
    aiohttp reports with the same close code as a peer's polite close (1000),
    or not at all when it cancels the handler of a lost connection."""

    __slots__ = ("sent_close_code", "peer_close_code", "vanished", "metrics", *_LATE_ATTRIBUTES)

    def __init__(self, **kwargs) -> None:
        for name in _LATE_ATTRIBUTES:
            setattr(self, name, getattr(web.WebSocketResponse, name))
        super().__init__(**kwargs)
        self.sent_close_code: int | None = None
        # The code of the peer's close frame, as it came (aiohttp's ``close_code`` may
        # become the code of its own answer).
        self.peer_close_code: int | None = None
        self.vanished = False
        self.metrics: Metrics | None = None

    async def receive(self, timeout: float | None = None):
        ours = self.sent_close_code
        msg = await super().receive(timeout)
        # A peer's close frame comes as CLOSE; the end of the stream, or an error,
        # without one as CLOSED or ERROR (aiohttp then closes with 1000 itself).
        if msg.type is WSMsgType.CLOSE:
            self.peer_close_code = int(msg.data)
        elif msg.type in (WSMsgType.CLOSED, WSMsgType.ERROR) and ours is None:
            self.vanished = True
        return msg

    @property
    def broke_off(self) -> bool:
        """The connection ended (or its handler was cancelled with it) with no close
        frame from the peer and none sent by this side."""
        return self.vanished or (self.peer_close_code is None and self.sent_close_code is None)

    async def close(self, *, code: int = 1000, message: bytes = b"", drain: bool = True) -> bool:
        # aiohttp answers a peer's close frame by calling close() with 1000 after
        # marking the socket closing (_closing): that close is the peer's, not ours.
        if not self.closed and not self._closing and self.sent_close_code is None:
            self.sent_close_code = code
        return await super().close(code=code, message=message, drain=drain)
