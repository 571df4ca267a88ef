"""Browser tests: a real ``bimbing serve`` process on a free port with its own
SQLite database, driven by Playwright with Debian's Chromium (fake camera and
microphone). Chromium is launched per test: a browser made in one event loop
cannot be used from another (PITFALLS 6), and pytest-asyncio gives each test
its own loop here."""

from __future__ import annotations

import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from server.media.ice_filter import server_networks
from tests.conftest import server_env, sqlite_copy
from tests.services import (
    STARTUP_TIMEOUT,
    require_chromium,
    wait_healthy_process,
    wait_port_file,
)

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "tests" / "artifacts"

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--use-fake-device-for-media-stream",
    "--use-fake-ui-for-media-stream",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]

PK_USERNAME = "pk.sari"
PK_NAME = "Sari Handayani, S.Sos."
PK_PASSWORD = "kata sandi uji yang panjang"


@dataclass(frozen=True)
class LiveServer:
    url: str
    log: Path
    pid: int


def _bimbing(env: dict, *args: str, stdin: str | None = None) -> str:
    done = subprocess.run([sys.executable, "-m", "server", *args], input=stdin, env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=STARTUP_TIMEOUT)
    assert done.returncode == 0, f"bimbing {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def live_server(request, tmp_path_factory, sqlite_template) -> LiveServer:
    """A migrated database (a copy of the suite's template: test_cli.py tests
    ``bimbing db upgrade`` itself), ``bimbing user add`` (password on stdin), then
    ``bimbing serve`` on a port the system picks, as an office would run it; with
    its recorder process where the module records (``RECORDER_PROCESS = True``)."""
    root = tmp_path_factory.mktemp("live")
    env = server_env(BIMBING_RECORDER_PROCESSES="1" if getattr(request.module, "RECORDER_PROCESS", False) else "0")
    env.update(
        BIMBING_DATABASE_URL=sqlite_copy(sqlite_template, root / "bimbing.db"),
        BIMBING_DATA_DIR=str(root / "data"),
        BIMBING_RECORDINGS_DIR=str(root / "recordings"),
        BIMBING_SECRET_KEY=secrets.token_urlsafe(48),
        # Chromium and the server share this machine: its networks stand for the
        # office LAN the recorder must reach (server/media/ice_filter.py).
        BIMBING_RECORDER_ALLOW_NETWORKS=",".join(str(n) for n in server_networks()),
    )
    _bimbing(env, "user", "add", "--username", PK_USERNAME, "--role", "pk", "--name", PK_NAME, stdin=PK_PASSWORD + "\n")
    log, port_file = root / "serve.log", root / "serve.port"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file)],
                                env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    try:
        url = f"http://127.0.0.1:{wait_port_file(port_file, proc, log)}"
        wait_healthy_process(url, proc, log)
        yield LiveServer(url, log, proc.pid)
    finally:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
async def browser():
    executable = require_chromium()  # in CI a missing Chromium fails, never skips
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            await chromium.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
