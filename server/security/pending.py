"""A cap on WebSocket connections that have not said who they are yet.

A signaling socket costs a task, buffers and a file descriptor from the
handshake on, but proves nothing until its ``join`` (ws.py gives it 10 s).
Opening thousands and never joining held all of that (issue #12). So the
handshakes still waiting for ``join`` are counted per client address and in
total; over either cap the upgrade is refused with 429 before it happens.
Joined sockets are not counted here: their room admission rules and message
rate limit govern them.
"""

from __future__ import annotations


class PendingHandshakes:
    def __init__(self, per_address: int, total: int):
        self.per_address = per_address
        self.total = total
        self._by_address: dict[str, int] = {}
        self._count = 0

    def acquire(self, address: str) -> bool:
        """Count one more waiting socket from ``address``; False (and nothing counted) over a cap."""
        if self._count >= self.total or self._by_address.get(address, 0) >= self.per_address:
            return False
        self._count += 1
        self._by_address[address] = self._by_address.get(address, 0) + 1
        return True

    def release(self, address: str) -> None:
        left = self._by_address.get(address, 0) - 1
        if left > 0:
            self._by_address[address] = left
        else:
            self._by_address.pop(address, None)
        self._count = max(self._count - 1, 0)

    def __len__(self) -> int:
        return self._count
