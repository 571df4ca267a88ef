"""Recorder processes started beside the web process by ``bimbing serve``.

Each is ``python -m server recorder --port P --watch-parent`` on 127.0.0.1,
with a port picked here, so that the web process starts at once with their
URLs: a recorder that is still importing when the first ``record-offer`` comes
is waited for (server/media/remote.py). They are stopped (SIGTERM: each seals
what it still holds) after the web process has shut down, and exit by
themselves if the web process dies (--watch-parent).
"""

from __future__ import annotations

import logging
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
        self.urls: list[str] = []

    def start(self, count: int) -> tuple[str, ...]:
        for _ in range(count):
            port = _free_port()
            proc = subprocess.Popen(
                [sys.executable, "-m", "server", "recorder", "--host", "127.0.0.1", "--port", str(port), "--watch-parent"],
                stdout=subprocess.DEVNULL,
            )
            self.procs.append(proc)
            self.urls.append(f"http://127.0.0.1:{port}")
        return tuple(self.urls)

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
