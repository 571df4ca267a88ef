"""How a message reaches a party's socket.

The registry never writes to another party's socket directly: it publishes to
``(session_id, address)`` where the address is ``"officer"``, ``"client"`` or
``"device:<id>"``, and whoever holds that socket has subscribed to it. In one
process (the default) :class:`LocalBus` is a dictionary of callbacks. With
``BIMBING_REDIS_URL``, :class:`~server.signaling.shared.bus.RedisBus` implements
the same two methods over Redis pub/sub channels ``<prefix>:room:<id>:<address>``
(publish returns whether anyone received it: PUBLISH's receiver count; its
subscribe is awaited, so that nothing published after it is lost), and the rest
of :mod:`server.signaling.shared` moves the admission state of
:class:`~server.signaling.registry.Room` and CallLog's per-call state to Redis,
while the log stays in the database.
"""

from __future__ import annotations

from typing import Awaitable, Callable, Protocol

Deliver = Callable[[str], Awaitable[None]]


class Bus(Protocol):
    async def publish(self, session_id: int, address: str, frame: str) -> bool:
        """Deliver one serialised message; False when nobody holds that address."""

    def subscribe(self, session_id: int, address: str, deliver: Deliver) -> Callable[[], None]:
        """Receive the address's messages; returns the function that unsubscribes."""


class LocalBus:
    def __init__(self) -> None:
        self._subscribers: dict[tuple[int, str], Deliver] = {}

    async def publish(self, session_id: int, address: str, frame: str) -> bool:
        deliver = self._subscribers.get((session_id, address))
        if deliver is None:
            return False
        await deliver(frame)
        return True

    def subscribe(self, session_id: int, address: str, deliver: Deliver) -> Callable[[], None]:
        key = (session_id, address)
        self._subscribers[key] = deliver

        def unsubscribe() -> None:
            # Only the current holder may unsubscribe: a replaced socket must not
            # remove the subscription of the socket that replaced it.
            if self._subscribers.get(key) is deliver:
                del self._subscribers[key]

        return unsubscribe
