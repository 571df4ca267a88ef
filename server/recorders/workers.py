"""Recorder processes started beside the web process by ``bimbing serve``.

Each is ``python -m server recorder --port P --watch-parent PID`` on 127.0.0.1,
with a port picked here, so that the web process starts at once with their
URLs: a recorder that is still importing when the first ``record-offer`` comes
is waited for (server/recorders/client.py). They are stopped (SIGTERM: each seals
what it still holds) after the web process has shut down, and exit by
themselves if the web process dies (--watch-parent).
"""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys

log = logging.getLogger(__name__)

STOP_TIMEOUT = 90.0
READY_PREFIX = "Recorder listening on "


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RecorderWorkers:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.ports: list[int] = []
        self.urls: list[str] = []

    def plan(self, count: int) -> tuple[str, ...]:
        """Pick the recorders' ports now: the web app is built with their URLs."""
        self.ports = [_free_port() for _ in range(count)]
        self.urls = [f"http://127.0.0.1:{port}" for port in self.ports]
        return tuple(self.urls)

    def spawn(self) -> None:
        """Start them: after the web process has started, so that on a busy
        machine the two imports do not race and /healthz answers sooner."""
        for port in self.ports:
            self.procs.append(subprocess.Popen(
                # Our pid, not the child's getppid(): if we die while it is still
                # importing, it would only ever see init as its parent.
                [sys.executable, "-m", "server", "recorder", "--host", "127.0.0.1", "--port", str(port), "--watch-parent", str(os.getpid())],
                stdout=subprocess.DEVNULL,
            ))

    def stop(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.error("recorder process %s did not stop in %ss; killed", proc.pid, STOP_TIMEOUT)
                proc.kill()
