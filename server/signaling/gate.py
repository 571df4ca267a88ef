"""The signaling socket's gate (docs/signaling.md §2): whose page may open it
(the Origin check) and how fast a connection may send (a token bucket)."""

from __future__ import annotations

import time

from aiohttp import web

from server.keys import settings_key
from server.security.csrf import request_origin

RATE_PER_SECOND = 50.0
RATE_BURST = 100.0


class TokenBucket:
    """``rate`` messages per second on average, up to ``burst`` at once."""

    # Two per socket (messages, chat lines): no __dict__ each (memory per connection, issue 24).
    __slots__ = ("rate", "burst", "tokens", "stamp")

    def __init__(self, rate: float = RATE_PER_SECOND, burst: float = RATE_BURST):
        self.rate, self.burst = rate, burst
        self.tokens, self.stamp = burst, time.monotonic()

    def take(self) -> bool:
        now = time.monotonic()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


def origin_allowed(request: web.Request) -> bool:
    # Browsers send cookies with a cross-site WebSocket handshake and WebSockets
    # have no CORS, so without this any page could open a socket as the PK
    # (cross-site WebSocket hijacking, OWASP WebSocket Security Cheat Sheet).
    # Non-browser clients send no Origin, and carry no victim's cookies either.
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    allowed = {request_origin(request)}
    public_url = request.app[settings_key].public_url
    if public_url:
        allowed.add(public_url.rstrip("/"))
    return origin.rstrip("/") in allowed
