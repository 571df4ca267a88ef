"""Sliding-window counters: failures per key (login attempts per address and
per username), and openings of the clients' links (``LinkOpenLimiter``)."""

from __future__ import annotations

import hashlib
import time
from collections import deque


class RateLimiter:
    def __init__(self, max_events: int, window_seconds: float, clock=time.monotonic):
        self.max_events = max_events
        self.window = window_seconds
        self._clock = clock
        self._events: dict[str, deque[float]] = {}

    def _prune(self, key: str) -> deque[float]:
        now = self._clock()
        q = self._events.setdefault(key, deque())
        while q and now - q[0] > self.window:
            q.popleft()
        if not q:
            # Drop idle keys so a scan of usernames cannot grow memory without bound.
            self._events.pop(key, None)
            q = deque()
        return q

    def blocked(self, *keys: str) -> float:
        """Seconds until the busiest of ``keys`` may try again; 0 if none is blocked."""
        wait = 0.0
        for key in keys:
            q = self._prune(key)
            if len(q) >= self.max_events:
                wait = max(wait, self.window - (self._clock() - q[0]))
        return wait

    def release(self, *keys: str) -> None:
        """Give back one reserved attempt per key (the attempt turned out fine)."""
        for key in keys:
            q = self._events.get(key)
            if q:
                q.pop()
                if not q:
                    self._events.pop(key, None)

    def count(self, key: str) -> int:
        return len(self._prune(key))

    def hit(self, *keys: str) -> None:
        now = self._clock()
        for key in keys:
            self._events.setdefault(key, deque()).append(now)

    def reset(self, *keys: str) -> None:
        for key in keys:
            self._events.pop(key, None)


class LinkOpenLimiter:
    """Openings of the links clients hold: ``/j/`` (join link) and ``/k/`` (own page).

    Each opening is logged, so a link hammered (leaked, or a script) is paused:
    ``per_link`` openings of one token per window, from any address. One address
    gets ``per_address`` openings of any tokens, far more: the clients of a mobile
    carrier share a few NAT addresses, and one bucket per address let them lock
    each other out (issue 23). The address bound still stops a script guessing
    tokens from one address. Tokens are kept as a hash, never as given."""

    def __init__(self, per_link: int, per_address: int, window_seconds: float, clock=time.monotonic):
        self.by_link = RateLimiter(per_link, window_seconds, clock)
        self.by_address = RateLimiter(per_address, window_seconds, clock)

    @staticmethod
    def _link_key(token: str) -> str:
        return "link:" + hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()[:32]

    def admit(self, address: str, token: str) -> bool:
        """Count one opening of ``token`` from ``address``; False (not counted) when
        either bucket is full."""
        link = self._link_key(token)
        if self.by_link.blocked(link) > 0 or self.by_address.blocked(address) > 0:
            return False
        self.by_link.hit(link)
        self.by_address.hit(address)
        return True
