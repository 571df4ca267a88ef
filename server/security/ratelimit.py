"""Sliding-window counter of failures per key (login attempts per address and per username)."""

from __future__ import annotations

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
