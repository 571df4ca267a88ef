"""schemathesis against a live ``bimbing serve`` (issue #12, finding 3): every
operation of /api/openapi.json, stateless and stateful, signed in as each
role. Pass: no answer is a 5xx and the server log holds no traceback.

The document is the one the server serves, built from the pydantic models that
validate the requests (server/web/openapi.py). ``FUZZ_EXAMPLES`` sets the
examples per operation (CI: 50, each sent as nobody and the three roles: 200
requests per operation, plus the stateful sequences). ``FUZZ_WORKERS`` threads
fuzz different operations at once (CI: 4), each with its own kept-alive HTTP
connection: the server overlaps their database waits, and hypothesis's drawing
in one thread overlaps the server's work for another.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import FlakyStrategyDefinition

from server.db.engine import make_engine, make_sessionmaker
from server.db.models import Office, Role, Staff
from server.security.passwords import hash_password
from tests.services import wait_port_file

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "50"))
WORKERS = int(os.environ.get("FUZZ_WORKERS", "4"))
# Stateful: rounds of EXAMPLES // 3 sequences of up to 8 calls, until this many calls per role.
STATEFUL_CALLS = EXAMPLES * 4
ROUNDS = 5
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
        self._lock = threading.Lock()
        self._local = threading.local()
        # The accounts the fuzzer signs in as; a PATCH of one goes to a spare instead.
        self.own_ids: set[str] = set()
        self.spare_id = "1"

    def start(self) -> None:
        _bimbing(self.env, "db", "upgrade")
        asyncio.run(self._seed())
        self.out = open(self.log, "w")
        port_file = self.root / "serve.port"
        self.proc = subprocess.Popen([sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file)], env=self.env, stdout=self.out, stderr=subprocess.STDOUT)
        self.port = wait_port_file(port_file, self.proc, self.log)
        self.base = f"http://127.0.0.1:{self.port}"
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
                rows = [Staff(office_id=office.id, username=username, name=username.title(), role=role, password_hash=password_hash) for username, role in names]
                db.add_all(rows)
                await db.commit()
                self.spare_id = str(rows[0].id)
                self.own_ids = {str(row.id) for row in rows if row.username in ROLES.values()}
        finally:
            await engine.dispose()

    def cookie(self, role: str | None) -> dict[str, str]:
        """The role's session cookie, signed in once."""
        if role is None:
            return {}
        with self._lock:
            if role not in self.cookies:
                self.sign_in(role)
            return {"bimbing_session": self.cookies[role]}

    def sign_in(self, role: str) -> None:
        resp = requests.post(f"{self.base}/api/login", json={"username": ROLES[role], "password": PASSWORD}, timeout=30)
        self.cookies[role] = resp.cookies.get("bimbing_session", "")

    @property
    def http(self) -> requests.Session:
        """This thread's kept-alive connection (no cookies of its own: each call sends one)."""
        if not hasattr(self._local, "http"):
            self._local.http = requests.Session()
        return self._local.http

    def spare_own_accounts(self, case) -> None:
        """Deactivating, demoting or resetting the fuzzer's own accounts would leave
        the rest of the run answering 401/403; a spare account takes the change."""
        params = case.path_parameters or {}
        if case.path == "/api/staff/{id}" and str(params.get("id")) in self.own_ids:
            params["id"] = self.spare_id

    def call(self, case, role: str | None):
        self.spare_own_accounts(case)
        response = case.call(base_url=self.base, session=self.http, cookies=self.cookie(role), timeout=30)
        if role is not None and response.status_code == 401:
            # The fuzzer ended this role's sign-in (a role change, a password reset): sign in again.
            with self._lock:
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
    """Each operation: EXAMPLES generated requests, each sent as nobody, a PK, a
    supervisor and an admin; WORKERS operations at a time."""
    sent: dict[str, int] = {}

    def fuzz_operation(operation, examples: int = EXAMPLES) -> None:
        # Signing in is the same call whoever asks, and each costs an Argon2 verification.
        login = operation.path == "/api/login"
        name = f"{operation.method.upper()} {operation.path}"
        sent.setdefault(name, 0)

        @settings(max_examples=max(1, examples // 3) if login else examples, deadline=None, suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate], database=None)
        @given(case=operation.as_strategy())
        def fuzz(case):
            for role in (None,) if login else (None, "pk", "supervisor", "admin"):
                _no_server_error(live.call(case, role), case)
                sent[name] += 1

        fuzz()

    operations = list(_operations(api_schema))
    # First one example of each operation here, in one thread. Schemathesis imports
    # some of its modules at first use, and pytest rewrites a plugin's modules with
    # ast.parse, whose state CPython 3.11 shares between threads: two workers
    # importing at once failed a loaded CI run with "SystemError: AST constructor
    # recursion depth mismatch" (python/cpython#106905). Every first use is here.
    for operation in operations:
        fuzz_operation(operation, examples=1)
    with ThreadPoolExecutor(WORKERS) as pool:
        for done in [pool.submit(fuzz_operation, operation) for operation in operations]:
            done.result()
    assert len(sent) >= 25, sent
    print(f"{sum(sent.values())} requests over {len(sent)} operations; fewest: {sorted(sent.items(), key=lambda kv: kv[1])[:3]}")


@pytest.mark.slow
@pytest.mark.parametrize("role", ["pk", "supervisor", "admin"])
def test_stateful_sequences_never_answer_5xx(api_schema, live, role):
    machine = api_schema.as_state_machine()
    calls: list[int] = []
    server_errors: list[str] = []

    class Sequences(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case):
            live.spare_own_accounts(case)
            return {"base_url": live.base, "session": live.http, "cookies": live.cookie(role), "timeout": 30}

        def validate_response(self, response, case, **kwargs):
            calls.append(response.status_code)
            if response.status_code >= 500:
                server_errors.append(f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:500]}")
            _no_server_error(response, case)

        def before_call(self, case):
            if (case.method.upper(), case.path) in SKIP:
                case.path = "/api/me"
                case.method = "GET"
                case.body = schemathesis.NOT_SET if hasattr(schemathesis, "NOT_SET") else None

    Sequences.TestCase.settings = settings(max_examples=max(EXAMPLES // 3, 5), stateful_step_count=8, deadline=None, suppress_health_check=list(HealthCheck))
    # Which rules are enabled depends on what the server answered before (links
    # between operations), and the server keeps what earlier sequences did: a
    # replayed prefix may enable other rules, and hypothesis then stops the run
    # with FlakyStrategyDefinition. That ends a round, not the test; a 5xx is
    # kept in server_errors whatever hypothesis does with it.
    for _round in range(ROUNDS):
        try:
            Sequences.TestCase().runTest()
        except FlakyStrategyDefinition:
            pass
        if len(calls) >= STATEFUL_CALLS:
            break
    assert server_errors == []
    print(f"stateful as {role}: {len(calls)} calls")
