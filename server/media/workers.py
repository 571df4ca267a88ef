"""Recorder processes started beside the web process by ``bimbing serve``.

Each is ``python -m server recorder --port 0 --watch-parent``: it binds a free
port on 127.0.0.1 and prints its URL as its first line of standard output, which
is read here; the web process is then built with those URLs. They are stopped
(SIGTERM: each seals what it still holds) after the web process has shut down,
and exit by themselves if the web process dies (--watch-parent).
"""

from __future__ import annotations

import logging
import select
import subprocess
import sys
import time

log = logging.getLogger(__name__)

READY_TIMEOUT = 60.0
STOP_TIMEOUT = 90.0
READY_PREFIX = "Recorder listening on "


class RecorderWorkers:
    def __init__(self) -> None:
        self.procs: list[subprocess.Popen] = []
        self.urls: list[str] = []

    def start(self, count: int) -> tuple[str, ...]:
        for _ in range(count):
            proc = subprocess.Popen(
                [sys.executable, "-m", "server", "recorder", "--host", "127.0.0.1", "--port", "0", "--watch-parent"],
                stdout=subprocess.PIPE, text=True,
            )
            self.procs.append(proc)
            self.urls.append(self._ready_url(proc))
        return tuple(self.urls)

    @staticmethod
    def _ready_url(proc: subprocess.Popen) -> str:
        assert proc.stdout is not None
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                break
            line = proc.stdout.readline()
            if not line:  # it exited
                break
            if line.startswith(READY_PREFIX):
                proc.stdout.close()  # it writes nothing else there
                return line[len(READY_PREFIX):].strip().rstrip("/")
        proc.kill()
        raise RuntimeError(f"a recorder process did not start (exit code {proc.poll()})")

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
