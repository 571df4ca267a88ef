"""Requests at once against a real server process: the race tests' one helper.

Check, then write, is a race (/work/shared/PITFALLS.md 11): two requests both
pass the check before either writes. The race tests (tests/test_races.py) start
one ``bimbing serve`` per database and module (``RaceServer``), then send
twenty requests at once (``at_once``) and compare what the database holds with
what one sequence of the same requests would leave.

"At once" means: every request has its own TCP connection, opened and used
once (``GET /healthz``) beforehand, and all of them are written in one turn of
the event loop, so the server has them all in hand before it has answered the
first. No sleeps: the test waits on the answers.
"""

from __future__ import annotations

import asyncio
import secrets
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import PASSWORD, server_env
from tests.services import wait_healthy_process, wait_port_file

PARALLEL = 20
# New staff accounts: each request hashes a password (Argon2id, 64 MiB, a core for
# ~0.1 s) before it reaches the database; four at once, on four hashing workers.
STAFF_PARALLEL = 4


@dataclass
class Answer:
    status: int
    body: Any  # the JSON body, or the text when it is not JSON

    @property
    def code(self) -> str | None:
        """The error code of a JSON refusal (``{"error": code, ...}``)."""
        return self.body.get("error") if isinstance(self.body, dict) else None


@dataclass
class Call:
    method: str
    path: str
    json: Any = None
    cookies: dict[str, str] | None = None


class RaceServer:
    """``python -m server serve`` on a migrated database, on a port it picked."""

    def __init__(self, root: Path, backend: str, database_url: str):
        self.root, self.backend, self.database_url = root, backend, database_url
        self.log = root / "serve.log"
        self.env = server_env()
        self.env.update(
            BIMBING_DATABASE_URL=database_url,
            BIMBING_DATA_DIR=str(root / "data"),
            BIMBING_RECORDINGS_DIR=str(root / "recordings"),
            BIMBING_SECRET_KEY=secrets.token_urlsafe(48),
            # Staff accounts made at once each hash a password first: with one worker the
            # hashes (and so the writes after them) would come one after the other.
            BIMBING_PASSWORD_WORKERS=str(STAFF_PARALLEL),
        )

    def start(self) -> None:
        port_file = self.root / "serve.port"
        self.out = open(self.log, "w")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file)],
            env=self.env, stdout=self.out, stderr=subprocess.STDOUT,
        )
        self.base = f"http://127.0.0.1:{wait_port_file(port_file, self.proc, self.log)}"
        wait_healthy_process(self.base, self.proc, self.log)

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)
        self.out.close()

    def tracebacks(self) -> str:
        """The log from its first traceback on, or "" (a 500 leaves one)."""
        text = self.log.read_text()
        return text[text.index("Traceback") - 500:][:4000] if "Traceback" in text else ""

    async def sign_in(self, username: str) -> dict[str, str]:
        """The cookies of a staff sign-in, to send with calls."""
        async with aiohttp.ClientSession(self.base) as http:
            async with http.post("/api/login", json={"username": username, "password": PASSWORD}) as resp:
                assert resp.status == 200, await resp.text()
                return {name: morsel.value for name, morsel in resp.cookies.items()}

    async def call(self, call: Call) -> Answer:
        """One request, alone."""
        async with aiohttp.ClientSession(self.base) as http:
            return await _send(http, call)

    async def at_once(self, calls: list[Call]) -> list[Answer]:
        """Send ``calls`` together, each on its own connection, opened and used
        once before; the answers in the order of the calls."""
        sessions = [aiohttp.ClientSession(self.base, connector=aiohttp.TCPConnector(limit=1)) for _ in calls]
        try:
            await asyncio.gather(*(_warm(http) for http in sessions))
            return list(await asyncio.gather(*(_send(http, c) for http, c in zip(sessions, calls, strict=True))))
        finally:
            await asyncio.gather(*(http.close() for http in sessions))


async def _warm(http: aiohttp.ClientSession) -> None:
    async with http.get("/healthz") as resp:
        assert resp.status == 200
        await resp.read()


async def _send(http: aiohttp.ClientSession, call: Call) -> Answer:
    # The cookies as a header: a cookie jar keeps none for an IP address (127.0.0.1).
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in call.cookies.items())} if call.cookies else None
    async with http.request(call.method, call.path, json=call.json, headers=headers, allow_redirects=False) as resp:
        try:
            body = await resp.json(content_type=None)
        except ValueError:
            body = await resp.text()
        return Answer(resp.status, body)


def statuses(answers: list[Answer]) -> list[int]:
    return sorted(a.status for a in answers)
