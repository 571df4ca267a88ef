"""Reaching the real services tests need, and the CI rule: in CI (CI=true) a
missing PostgreSQL, Redis or Chromium fails the test; on a laptop it skips."""

from __future__ import annotations

import os
import shutil
import socket
import uuid
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import redis.asyncio as redis

POSTGRES_URL = os.environ.get("BIMBING_TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres")
REDIS_URL = os.environ.get("BIMBING_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
CHROMIUM = os.environ.get("BIMBING_CHROMIUM", "/usr/bin/chromium")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def unavailable(what: str, why: str):
    message = f"{what} is not available: {why}"
    if IN_CI:
        pytest.fail(message + " (CI=true: this must run in CI)", pytrace=False)
    pytest.skip(message)


def _port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def require_postgres() -> str:
    if not _port_open("127.0.0.1", 5432):
        unavailable("PostgreSQL", "nothing listens on 127.0.0.1:5432")
    return POSTGRES_URL


def require_redis() -> str:
    if not _port_open("127.0.0.1", 6379):
        unavailable("Redis", "nothing listens on 127.0.0.1:6379")
    return REDIS_URL


def redis_test_prefix() -> str:
    """A key prefix of one test's own on the shared Redis (tests run side by side)."""
    return f"bimbing-test-{uuid.uuid4().hex[:12]}"


async def drop_redis_keys(url: str, prefix: str) -> None:
    """Remove every key under ``prefix``: what a test left on the shared Redis."""
    client = redis.from_url(url)
    try:
        keys = [key async for key in client.scan_iter(match=f"{prefix}:*", count=500)]
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()


@asynccontextmanager
async def redis_bus():
    """A started RedisBus (server/signaling/shared/bus.py) on the real Redis, under a
    prefix of its own; closed, and its keys removed, after."""
    from server.signaling.shared.bus import RedisBus

    url = require_redis()
    prefix = redis_test_prefix()
    bus = RedisBus(url, prefix)
    await bus.start()
    try:
        yield bus
    finally:
        await bus.close()
        await drop_redis_keys(url, prefix)


def require_redis_server() -> str:
    """The redis-server binary, for a test that starts (and kills) a Redis of its own."""
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None)
    if found is None:
        unavailable("redis-server", "not found (apt-get install -y redis-server)")
    return found


def require_chromium() -> str:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        unavailable("Chromium", f"{CHROMIUM} not found (apt-get install -y chromium)")
    return CHROMIUM if os.path.exists(CHROMIUM) else shutil.which("chromium")


def free_port() -> int:
    """A port free at this instant, for a server that cannot bind port 0 and say
    which port it got (``redis-server``). Another process may take it before
    the server binds it: start ``bimbing`` with ``--port 0 --port-file`` instead
    (``wait_port_file``), and retry a server started this way (``PrivateRedis``)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# How long a freshly started server may take to answer /healthz. It imports
# aiortc and PyAV and migrates its database first: about 2 s on a quiet machine,
# but over 30 s was seen with the two cores shared ten ways. A dead process still
# fails at once (``proc.poll()``), so the bound costs nothing when things are well.
STARTUP_TIMEOUT = 120.0


def wait_healthy_process(url: str, proc, log, timeout: float = STARTUP_TIMEOUT) -> None:
    """Poll ``url``/healthz until a started server process answers 200; fail early
    if the process dies, and show its log either way."""
    import time
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the server exited with {proc.returncode}:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(url + "/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    pytest.fail(f"the server did not become healthy in {timeout}s:\n{log.read_text()}")


def _exited(proc) -> int | None:
    """The exit status of a ``subprocess.Popen`` or an asyncio process, None while it runs."""
    return proc.poll() if hasattr(proc, "poll") else proc.returncode


def _read_port(port_file: Path) -> int | None:
    try:
        return int(port_file.read_text())
    except (FileNotFoundError, ValueError):
        return None


def wait_port_file(port_file: Path, proc, log: Path, timeout: float = STARTUP_TIMEOUT) -> int:
    """The port a ``bimbing serve``/``demo`` started with ``--port 0 --port-file
    PORT_FILE`` listens on, once it listens; fail early if the process dies."""
    import time

    deadline = time.monotonic() + timeout
    while (port := _read_port(port_file)) is None:
        if _exited(proc) is not None:
            pytest.fail(f"the server exited with {_exited(proc)} before listening:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"the server did not listen within {timeout}s:\n{log.read_text()}")
        time.sleep(0.05)
    return port


async def await_port_file(port_file: Path, proc, log: Path | None = None, timeout: float = STARTUP_TIMEOUT) -> int:
    """``wait_port_file`` for a process started with asyncio (its event loop keeps running)."""
    import asyncio

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while (port := _read_port(port_file)) is None:
        said = log.read_text()[-4000:] if log is not None and log.exists() else ""
        if proc.returncode is not None:
            raise AssertionError(f"the server exited with {proc.returncode} before listening:\n{said}")
        if loop.time() > deadline:
            raise AssertionError(f"the server did not listen within {timeout}s:\n{said}")
        await asyncio.sleep(0.05)
    return port


async def wait_healthz(base: str, timeout: float = STARTUP_TIMEOUT, ssl_context=None) -> dict:
    """Poll ``base``/healthz until the server answers 200; return its status,
    headers and JSON body. ``ssl_context`` is a callable, since a server writes
    its certificate as it starts."""
    import asyncio
    import ssl

    import aiohttp

    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                ctx = ssl_context() if ssl_context else True
                async with http.get(base + "/healthz", ssl=ctx) as resp:
                    if resp.status == 200:
                        return {"status": resp.status, "headers": resp.headers, "body": await resp.json()}
            except (aiohttp.ClientConnectionError, FileNotFoundError, ssl.SSLError):
                pass
            if loop.time() > deadline:
                raise AssertionError(f"{base}/healthz did not answer within {timeout}s")
            await asyncio.sleep(0.1)
