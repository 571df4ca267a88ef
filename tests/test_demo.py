"""``bimbing demo`` as a newcomer runs it: a real process on a port the system picks that
prints its address and logins, and a PK can sign in and see the caseload."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from tests.services import STARTUP_TIMEOUT, await_port_file, wait_healthz

BIMBING = Path(sys.executable).with_name("bimbing")
LOGIN_LINE = re.compile(r"^\s+(\S+) / (\S+) / (pk|supervisor|admin)$")


async def read_banner(proc: asyncio.subprocess.Process, timeout: float = 90) -> tuple[str, dict[str, tuple[str, str]]]:
    """Read stdout until the URL and every demo login are printed."""
    url, logins, output = None, {}, []

    async def read():
        nonlocal url
        while True:
            line = (await proc.stdout.readline()).decode()
            output.append(line)
            if not line:
                raise AssertionError("bimbing demo exited before printing its logins:\n" + "".join(output[-30:]))
            if line.startswith("Bimbing demo: "):
                url = line.split(": ", 1)[1].strip()
            elif m := LOGIN_LINE.match(line.rstrip("\n")):
                logins[m.group(1)] = (m.group(2), m.group(3))
                if len(logins) == 4:
                    return

    await asyncio.wait_for(read(), timeout)
    return url, logins


async def wait_healthy(base: str, timeout: float = STARTUP_TIMEOUT) -> dict:
    return (await wait_healthz(base, timeout))["body"]


@pytest.fixture
async def demo(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIMBING_")}
    env["BIMBING_DATA_DIR"] = str(tmp_path / "data")
    command = [str(BIMBING)] if BIMBING.exists() else [sys.executable, "-m", "server"]
    proc = await asyncio.create_subprocess_exec(
        *command, "demo", "--port", "0", "--port-file", str(tmp_path / "demo.port"),
        cwd=tmp_path, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    try:
        url, logins = await read_banner(proc)
        # The port the system picked, as the demo wrote it once listening (the banner must show the same).
        port = await await_port_file(tmp_path / "demo.port", proc)
        yield proc, port, url, logins
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(proc.wait(), 20)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()


async def test_a_newcomer_starts_the_demo_and_signs_in_as_a_pk(demo, tmp_path):
    proc, port, url, logins = demo
    assert url == f"http://localhost:{port}/"
    assert {role for _password, role in logins.values()} == {"pk", "supervisor", "admin"}
    base = f"http://127.0.0.1:{port}"
    health = await wait_healthy(base)
    assert health["database"] is True
    # The default database is a SQLite file in the data folder, with the generated secret beside it.
    assert (tmp_path / "data" / "bimbing.db").exists()
    assert (tmp_path / "data" / "secret_key").stat().st_mode & 0o077 == 0

    pk = next(name for name, (_pw, role) in logins.items() if role == "pk")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.post(base + "/api/login", json={"username": pk, "password": logins[pk][0]}) as resp:
            assert resp.status == 200
            assert (await resp.json())["role"] == "pk"
        async with http.get(base + "/api/clients") as resp:
            clients = (await resp.json())["clients"]
        # Twenty demo clients shared by two PKs, each with months of history.
        assert 5 <= len(clients) <= 15
        assert all(c["attendance"]["due"] > 0 for c in clients)
        assert any(c["attendance"]["attended"] >= 3 for c in clients)
        async with http.get(base + "/caseload") as resp:
            page = await resp.text()
            assert resp.status == 200
        assert page.count('data-client-id="') == len(clients)
        assert clients[0]["name"] in page

        # Guidance has a direction: clients in different stages, assessed, with a case plan whose goals are rated at sessions.
        assert len({c["stage"] for c in clients} - {None}) >= 2, [c["stage"] for c in clients]
        assert any(c["risk_category"] for c in clients)
        records = []
        for c in clients:
            async with http.get(base + f"/api/clients/{c['id']}/record") as resp:
                records.append(await resp.json())
        assert all(len(r["stages"]) == 3 for r in records)
        planned = [r for r in records if r["plan"]]
        assert {r["plan"]["status"] for r in planned} >= {"approved"}
        assert any(g["ratings"] for r in planned for g in r["goals"])


async def test_the_demo_stops_cleanly_on_sigterm(demo):
    proc, port, _url, _logins = demo
    await wait_healthy(f"http://127.0.0.1:{port}")
    proc.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(proc.wait(), 20) == 0
