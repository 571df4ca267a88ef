"""schemathesis against a live ``bimbing serve`` (issue #12, finding 3): every
operation of /api/openapi.json, stateless and stateful, signed in as each
role, on SQLite and on PostgreSQL. Pass: no answer is a 5xx, the server log
holds no traceback, every operation got its requests (a floor per operation:
one that hypothesis starved, or that vanished from the run, fails) and the
stateful sequences made their calls.

The document is the one the server serves, built from the pydantic models that
validate the requests (server/web/openapi.py). ``FUZZ_EXAMPLES`` sets the
examples per operation on SQLite (CI: 15, each sent as nobody and the three
roles: 60 requests per operation, plus the stateful sequences),
``FUZZ_EXAMPLES_POSTGRES`` on PostgreSQL (6). The client's own operations
(``/api/join/...``) are sent as nobody and as a client holding a join pass:
without one the server refuses before it reads the body. ``FUZZ_WORKERS``
threads fuzz different operations at once (CI: 4), each with its own kept-alive
HTTP connection: the server overlaps their database waits, and hypothesis's
drawing in one thread overlaps the server's work for another.

The depth is where the fuzz found bugs, each put back on purpose (issue 19):
the 500 of a mobile day's invitation of a client who does not exist (2694239)
was found on SQLite at 10, 25 and 50 examples (not at 3), and again on
2026-12-07 at 10, 12 and 15 in every run (5 of 5, 2 of 2, 2 of 2) and at 3, 5,
7 and 8 in none (2 runs each): 15 keeps it found with half as many again as the
least that did; the 500 of an id beyond PostgreSQL's 32-bit column (2694239) on
PostgreSQL at 3 and 10, and again on 2026-12-07 at 3 and 5 (3 runs of 3), not
on SQLite, where the column holds 64 bits. The 500s of "²" in an id (67e465a)
are out of its reach: the document says an id is an integer, and hypothesis
draws integers (tests/test_bad_input.py holds them).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import FlakyStrategyDefinition
from sqlalchemy.engine import make_url

from server.db.engine import make_engine, make_sessionmaker
from server.db.models import Office, Role, Staff
from server.web.openapi import OPERATIONS
from tests.clock import office_today
from tests.conftest import fast_hash, server_env
from tests.services import require_postgres, wait_healthy_process, wait_port_file

EXAMPLES = {
    # The invitation of a missing client (2694239, put back on purpose) was found at 10
    # examples and above in every run, at 8 and below in none (the docstring): 15 keeps
    # it found with room to spare, at three fifths of the time of 25 (the longest test).
    "sqlite": int(os.environ.get("FUZZ_EXAMPLES", "15")),
    # PostgreSQL's own 500s (a parameter its column type refuses) come from boundary
    # values, which hypothesis tries first: the 32-bit id of 2694239, put back on
    # purpose, was found at 3, 5 and 10 examples in every run (not on SQLite: its
    # columns hold 64 bits); 6 is twice the least that found it.
    "postgres": int(os.environ.get("FUZZ_EXAMPLES_POSTGRES", "6")),
}
WORKERS = int(os.environ.get("FUZZ_WORKERS", "4"))
# Stateful: rounds of examples // 3 sequences of up to 8 calls, until examples * 4 calls per role.
STATEFUL_CALLS_PER_EXAMPLE = 4
# A round may end early (FlakyStrategyDefinition, below); the cap only bounds the time.
ROUNDS = 20
PASSWORD = "kata sandi fuzz panjang"
ROLES = {"pk": "fuzz.pk", "supervisor": "fuzz.kasie", "admin": "fuzz.admin"}
# Signing out or changing one's own password would end the fuzzer's own sign-in.
SKIP = {("POST", "/api/logout"), ("POST", "/api/me/password")}
STAFF = (None, "pk", "supervisor", "admin")
JOIN_PASS = "bimbing_join"


def roles_for(path: str) -> tuple[str | None, ...]:
    """Who sends each example: signing in is the same call whoever asks (and each
    costs an Argon2 verification); the client's own calls need a join pass."""
    if path == "/api/login":
        return (None,)
    if path.startswith("/api/join/"):
        return (None, "client")
    return STAFF


def _bimbing(env, *args, stdin=None):
    done = subprocess.run([sys.executable, "-m", "server", *args], env=env, input=stdin, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]


async def _postgres_database(base_url: str, name: str, *, drop: bool = False) -> str:
    """Make (or drop) the database ``name`` beside ``base_url``'s; its URL."""
    url = make_url(base_url)
    conn = await asyncpg.connect(user=url.username or "postgres", host=url.host, port=url.port or 5432, database=url.database or "postgres", password=url.password)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)' if drop else f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False)


class Live:
    def __init__(self, root: Path, backend: str, database_url: str):
        self.root, self.backend, self.examples = root, backend, EXAMPLES[backend]
        self.log = root / "serve.log"
        self.env = server_env()
        self.env.update(
            BIMBING_DATABASE_URL=database_url,
            BIMBING_DATA_DIR=str(root / "data"),
            BIMBING_RECORDINGS_DIR=str(root / "recordings"),
            BIMBING_SECRET_KEY=secrets.token_urlsafe(48),
            # The fuzzer signs in a few times from one address.
            BIMBING_LOGIN_MAX_FAILURES="1000",
        )
        self.cookies: dict[str, str] = {}
        self._lock = threading.Lock()
        self._local = threading.local()
        self.staff_ids: dict[str, int] = {}
        # What the fuzzer must not take from itself (``spare_own_things``): its own
        # accounts, the client's join link, the mobile-counseling day; each has a spare.
        self.own_ids: set[str] = set()
        self.spare_id = "1"
        self.join_pass = ""
        self.join_session_id = self.spare_session_id = ""
        self.event_id = self.spare_event_id = ""
        self.answers: dict[tuple[str, int], int] = {}  # (operation, status) → count

    def start(self) -> None:
        _bimbing(self.env, "db", "upgrade")
        asyncio.run(self._seed())
        self.out = open(self.log, "w")
        port_file = self.root / "serve.port"
        self.proc = subprocess.Popen([sys.executable, "-m", "server", "serve", "--host", "127.0.0.1", "--port", "0", "--port-file", str(port_file)], env=self.env, stdout=self.out, stderr=subprocess.STDOUT)
        self.port = wait_port_file(port_file, self.proc, self.log)
        self.base = f"http://127.0.0.1:{self.port}"
        wait_healthy_process(self.base, self.proc, self.log)
        self._furnish()

    async def _seed(self) -> None:
        """Staff the fuzzer may deactivate or demote by guessing small ids first, then
        the three it signs in as (the suite's one hash for all, at its least costs: tests/conftest.py)."""
        engine = make_engine(self.env["BIMBING_DATABASE_URL"])
        try:
            async with make_sessionmaker(engine)() as db:
                office = Office(name="Bapas Fuzz")
                db.add(office)
                await db.flush()
                password_hash = fast_hash(PASSWORD)
                names = [(f"spare{n}", Role.pk) for n in range(6)] + [(u, Role(r)) for r, u in ROLES.items()]
                rows = [Staff(office_id=office.id, username=username, name=username.title(), role=role, password_hash=password_hash) for username, role in names]
                db.add_all(rows)
                await db.commit()
                self.spare_id = str(rows[0].id)
                self.staff_ids = {row.username: row.id for row in rows}
                self.own_ids = {str(row.id) for row in rows if row.username in ROLES.values()}
        finally:
            await engine.dispose()

    def _furnish(self) -> None:
        """What the operations work on, at the small ids hypothesis tries first: a
        client of the PK with two video sessions, whose first link the client opens
        (its join pass), and two mobile-counseling days ahead with the PK on duty.
        Random bodies hardly ever make a valid day, so without these every call on
        a day was a 404 (the 500 of 2694239 went unseen)."""
        pk, kasie = requests.Session(), requests.Session()
        for http, role in ((pk, "pk"), (kasie, "supervisor")):
            assert http.post(f"{self.base}/api/login", json={"username": ROLES[role], "password": PASSWORD}, timeout=30).status_code == 200
        client = {"name": "Klien Fuzz", "register_number": "FUZZ-1", "program": "PB", "supervision_start": "2020-01-06",
                  "supervision_end": "2099-12-31", "reporting_interval_days": 14, "kelurahan": "Pulo Gebang"}
        made = pk.post(f"{self.base}/api/clients", json=client, timeout=30)
        assert made.status_code == 201, made.text
        sessions, events = [], []
        for _ in range(2):
            started = pk.post(f"{self.base}/api/sessions", json={"client_id": made.json()["id"], "mode": "video"}, timeout=30)
            assert started.status_code == 201, started.text
            sessions.append(started.json())
            day = {"date": (office_today() + timedelta(days=7)).isoformat(), "start_time": "08:00", "end_time": "12:00", "kelurahan": "Pulo Gebang",
                   "venue": "Kantor Kelurahan", "officer_ids": [self.staff_ids[ROLES["pk"]]], "topic": ""}
            planned = kasie.post(f"{self.base}/api/mobile-events", json=day, timeout=30)
            assert planned.status_code == 201, planned.text
            events.append(planned.json())
        opened = requests.get(self.base + urlsplit(sessions[0]["client_join_url"]).path, allow_redirects=False, timeout=30)
        assert opened.status_code == 303 and opened.cookies.get(JOIN_PASS), (opened.status_code, opened.text[:500])
        self.join_pass = opened.cookies[JOIN_PASS]
        self.join_session_id, self.spare_session_id = (str(s["id"]) for s in sessions)
        self.event_id, self.spare_event_id = (str(e["id"]) for e in events)

    def cookie(self, role: str | None) -> dict[str, str]:
        """The role's session cookie, signed in once (the client's: its join pass)."""
        if role is None:
            return {}
        if role == "client":
            return {JOIN_PASS: self.join_pass}
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

    def spare_own_things(self, case) -> None:
        """Deactivating, demoting or resetting the fuzzer's own accounts would leave
        the rest of the run answering 401/403, reissuing or revoking the client's
        link would end its join pass, cancelling the day would close it to
        check-ins: a spare account, session or day takes the change."""
        params = case.path_parameters or {}
        if case.path == "/api/staff/{id}" and str(params.get("id")) in self.own_ids:
            params["id"] = self.spare_id
        if case.path.startswith("/api/sessions/{id}") and str(params.get("id")) == self.join_session_id:
            params["id"] = self.spare_session_id
        if case.path == "/api/mobile-events/{id}/cancel" and str(params.get("id")) == self.event_id:
            params["id"] = self.spare_event_id

    def call(self, case, role: str | None):
        self.spare_own_things(case)
        response = case.call(base_url=self.base, session=self.http, cookies=self.cookie(role), timeout=30)
        with self._lock:
            key = (f"{case.method.upper()} {case.path}", response.status_code)
            self.answers[key] = self.answers.get(key, 0) + 1
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


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def live(request, tmp_path_factory):
    """The live server, on each database: PostgreSQL refuses what SQLite takes (an
    id beyond a 32-bit column answered 500 there only, 2694239)."""
    root = tmp_path_factory.mktemp("fuzz")
    name = None
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{root / 'bimbing.db'}"
    else:
        name = f"bimbing_fuzz_{secrets.token_hex(6)}"
        url = asyncio.run(_postgres_database(require_postgres(), name))
    server = Live(root, request.param, url)
    try:
        server.start()
        yield server
    finally:
        if hasattr(server, "proc"):
            server.stop()
        if name:
            asyncio.run(_postgres_database(require_postgres(), name, drop=True))
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


def _examples(operation, examples: int) -> int:
    """What the test asks hypothesis for, per operation: ``examples`` (a third for
    signing in, an Argon2 verification each), one for an operation that takes
    nothing at all (no parameter, body or cookie: one request is all there is)."""
    if operation.path == "/api/login":
        return max(1, examples // 3)
    definition = operation.definition.raw
    takes_nothing = not definition.get("parameters") and "requestBody" not in definition and definition.get("security") == []
    return 1 if takes_nothing else examples


@pytest.mark.slow
def test_no_operation_answers_5xx_to_any_role(api_schema, live):
    """Each operation: the backend's examples, each sent as nobody and every role
    that may call it; WORKERS operations at a time. Each operation must get its
    examples' worth of requests: one whose requests hypothesis mostly rejects (a
    schema it can hardly satisfy), or that no longer runs, fails here."""
    sent: dict[str, int] = {}

    def fuzz_operation(operation, examples: int) -> None:
        name = f"{operation.method.upper()} {operation.path}"
        roles = roles_for(operation.path)
        sent.setdefault(name, 0)

        @settings(max_examples=examples, deadline=None, suppress_health_check=list(HealthCheck),
                  phases=[Phase.explicit, Phase.generate], database=None)
        @given(case=operation.as_strategy())
        def fuzz(case):
            for role in roles:
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
        for done in [pool.submit(fuzz_operation, operation, _examples(operation, live.examples)) for operation in operations]:
            done.result()
    floors = {f"{op.method.upper()} {op.path}": _examples(op, live.examples) * len(roles_for(op.path)) for op in operations}
    # Every operation of the server's table (server/web/openapi.py) was in the document and
    # fuzzed, but the document itself: schemathesis leaves out the path it was read from.
    table = {f"{method} {path}" for method, path in OPERATIONS if (method, path) not in SKIP | {("GET", "/api/openapi.json")}}
    assert set(sent) == table, f"not fuzzed: {sorted(table - set(sent))}; not in the table: {sorted(set(sent) - table)}"
    starved = {name: (sent[name], floor) for name, floor in floors.items() if sent[name] < floor}
    assert starved == {}, f"operations with fewer requests than their floor (sent, floor): {starved}"
    # Where the fuzz reaches no further than the checks (for a reader of the log; nothing asserted).
    never = sorted(name for name in sent if not any(200 <= status < 300 for op, status in live.answers if op == name))
    print(f"operations that never answered 2xx: {never}")
    print(f"{sum(sent.values())} requests over {len(sent)} operations; fewest: {sorted(sent.items(), key=lambda kv: kv[1])[:4]}")


@pytest.mark.slow
@pytest.mark.parametrize("role", ["pk", "supervisor", "admin"])
def test_stateful_sequences_never_answer_5xx(api_schema, live, role):
    machine = api_schema.as_state_machine()
    calls: list[int] = []
    server_errors: list[str] = []

    class Sequences(machine):  # type: ignore[misc, valid-type]
        def get_call_kwargs(self, case):
            live.spare_own_things(case)
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

    floor = live.examples * STATEFUL_CALLS_PER_EXAMPLE
    Sequences.TestCase.settings = settings(max_examples=max(live.examples // 3, 5), stateful_step_count=8, deadline=None, suppress_health_check=list(HealthCheck))
    # Which rules are enabled depends on what the server answered before (links
    # between operations), and the server keeps what earlier sequences did: a
    # replayed prefix may enable other rules, and hypothesis then stops the run
    # with FlakyStrategyDefinition. That ends a round, not the test; a 5xx is
    # kept in server_errors whatever hypothesis does with it.
    rounds = flaky = 0
    while rounds < ROUNDS and len(calls) < floor:
        rounds += 1
        try:
            Sequences.TestCase().runTest()
        except FlakyStrategyDefinition:
            flaky += 1
    assert server_errors == []
    # Whatever ended the rounds, the sequences made their calls.
    assert len(calls) >= floor, f"{len(calls)} calls in {rounds} rounds ({flaky} ended by FlakyStrategyDefinition)"
    print(f"stateful as {role}: {len(calls)} calls in {rounds} rounds ({flaky} ended early)")
