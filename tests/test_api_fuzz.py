"""schemathesis against a live ``bimbing serve`` (issue #12, finding 3): every
operation of /api/openapi.json, stateless and stateful, signed in as each
role. Pass: no answer is a 5xx and the server log holds no traceback.

The document is the one the server serves, built from the pydantic models that
validate the requests (server/web/openapi.py). ``FUZZ_EXAMPLES`` sets the
examples per operation (CI: 8, each sent as four roles, because a loaded 2-core CI machine answers ~10 requests a second here; FUZZ_EXAMPLES=100 by hand: 30 took 430 s).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings

from server.db.engine import make_engine, make_sessionmaker
from server.db.models import Office, Role, Staff
from server.security.passwords import hash_password
from tests.services import free_port

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "8"))
PASSWORD = "kata sandi fuzz panjang"
ROLES = {"pk": "fuzz.pk", "supervisor": "fuzz.kasie", "admin": "fuzz.admin"}
# Signing out or changing one's own password would end the fuzzer's own sign-in.
SKIP = {("POST", "/api/logout"), ("POST", "/api/me/password")}


def _bimbing(env, *args, stdin=None):
    done = subprocess.run([sys.executable, "-m", "server", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


class Live:
    def __init__(self, root: Path):
        self.root = root
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = root / "serve.log"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BIMBING_")}
        self.env.update(
            BIMBING_DATABASE_URL=f"sqlite+aiosqlite:///{root / 'bimbing.db'}",
            BIMBING_DATA_DIR=str(root / "data"),
            BIMBING_RECORDINGS_DIR=str(root / "recordings"),
            BIMBING_SECRET_KEY=secrets.token_urlsafe(48),
            # The fuzzer signs in a few times from one address.
            BIMBING_LOGIN_MAX_FAILURES="1000",
        )
        self.cookies: dict[str, str] = {}

    def start(self) -> None:
        _bimbing(self.env, "db", "upgrade")
        asyncio.run(self._seed())
        self.out = open(self.log, "w")
        self.proc = subprocess.Popen([sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", str(self.port)], env=self.env, stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 30
        while True:
            try:
                if requests.get(f"{self.base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert self.proc.poll() is None and time.monotonic() < deadline, self.log.read_text()[-2000:]
            time.sleep(0.1)

    async def _seed(self) -> None:
        """Staff the fuzzer may deactivate or demote by guessing small ids first, then
        the three it signs in as (one hash for all: Argon2 per user is slow here)."""
        engine = make_engine(self.env["BIMBING_DATABASE_URL"])
        try:
            async with make_sessionmaker(engine)() as db:
                office = Office(name="Bapas Fuzz")
                db.add(office)
                await db.flush()
                password_hash = hash_password(PASSWORD)
                names = [(f"spare{n}", Role.pk) for n in range(6)] + [(u, Role(r)) for r, u in ROLES.items()]
                for username, role in names:
                    db.add(Staff(office_id=office.id, username=username, name=username.title(), role=role, password_hash=password_hash))
                await db.commit()
        finally:
            await engine.dispose()

    def cookie(self, role: str | None) -> dict[str, str]:
        """The role's session cookie, signed in once."""
        if role is None:
            return {}
        if role not in self.cookies:
            self.sign_in(role)
        return {"bimbing_session": self.cookies[role]}

    def sign_in(self, role: str) -> None:
        resp = requests.post(f"{self.base}/api/login", json={"username": ROLES[role], "password": PASSWORD}, timeout=30)
        self.cookies[role] = resp.cookies.get("bimbing_session", "")

    def call(self, case, role: str | None):
        response = case.call(base_url=self.base, cookies=self.cookie(role), timeout=30)
        if role is not None and response.status_code == 401:
            # The fuzzer ended this role's sign-in (a role change, a password reset): sign in again.
            self.sign_in(role)
        return response

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self.out.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    server = Live(tmp_path_factory.mktemp("fuzz"))
    server.start()
    yield server
    server.stop()
    log = server.log.read_text()
    assert "Traceback" not in log, log[log.index("Traceback") - 500:][:4000]


@pytest.fixture(scope="module")
def api_schema(live):
    return schemathesis.openapi.from_url(f"{live.base}/api/openapi.json")


def _no_server_error(response, case) -> None:
    assert response.status_code < 500, f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}"


def _operations(api_schema):
    for result in api_schema.get_all_operations():
        operation = result.ok()
        if (operation.method.upper(), operation.path) not in SKIP:
            yield operation


@pytest.mark.slow
def test_no_operation_answers_5xx_to_any_role(api_schema, live):
    """Each operation: EXAMPLES generated requests, each sent as nobody, a PK, a supervisor and an admin."""
    seen = []
    for operation in _operations(api_schema):

        # Signing in is the same call whoever asks, and each costs an Argon2 verification.
        login = operation.path == "/api/login"

        @settings(max_examples=EXAMPLES // 3 if login else EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck), phases=[Phase.explicit, Phase.generate], database=None)
        @given(case=operation.as_strategy())
        def fuzz(case):
            for role in (None,) if login else (None, "pk", "supervisor", "admin"):
                _no_server_error(live.call(case, role), case)

        fuzz()
        seen.append(f"{operation.method.upper()} {operation.path}")
    assert len(seen) >= 25, seen


@pytest.mark.slow
@pytest.mark.parametrize("role", ["pk", "supervisor", "admin"])
def test_stateful_sequences_never_answer_5xx(api_schema, live, role):
    machine = api_schema.as_state_machine()

    class Sequences(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case):
            return {"base_url": live.base, "cookies": live.cookie(role), "timeout": 30}

        def validate_response(self, response, case, **kwargs):
            _no_server_error(response, case)

        def before_call(self, case):
            if (case.method.upper(), case.path) in SKIP:
                case.path = "/api/me"
                case.method = "GET"
                case.body = schemathesis.NOT_SET if hasattr(schemathesis, "NOT_SET") else None

    Sequences.TestCase.settings = settings(max_examples=max(EXAMPLES // 3, 5), stateful_step_count=8, deadline=None, suppress_health_check=list(HealthCheck))
    Sequences.TestCase().runTest()
