"""Shared fixtures: a migrated database on SQLite and on the real PostgreSQL,
the app on it, and an office with staff who can sign in."""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
import secrets
import shutil
import sqlite3
import time
import uuid
from contextlib import asynccontextmanager, closing
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url

from server.app import create_app
from server.db.engine import make_engine, make_sessionmaker
from server.db.migrate import upgrade
from server.db.models import Client, ClientCategory, Office, Program, Role, Staff
from server.security.passwords import Passwords
from server.settings import Settings
from tests import pg_reuse
from tests.clock import office_today, seconds_to_office_midnight, utc_now
from tests.services import require_postgres

# Groups and the solo lock for parallel runs, and where their time goes (tests/README.md, "How the suite runs").
pytest_plugins = ["tests.parallel", "tests.timeline"]

PASSWORD = "correct horse battery"
# The suite's staff sign in with Argon2id at its least costs (1 pass, 8 KiB): the
# same code verifies them, but a sign-in costs microseconds instead of 0.1-0.2 s
# of CPU, which over the suite's thousands of sign-ins (and the fuzzers' guesses,
# each verified against the dummy hash) was a third of the CPU of the run
# (tests/README.md, "Measured"). The servers the tests start inherit the costs
# (FAST_PASSWORDS_ENV in their environment). What the costs themselves must do is proven at full cost:
# the defaults and production's floor (test_auth.py), the event loop kept free
# while hashes run (test_login_guard.py, test_staff_admin.py), bench/login_burst.py.
FAST_PASSWORDS = {"password_time_cost": 1, "password_memory_kib": 8}
FAST_PASSWORDS_ENV = {"BIMBING_PASSWORD_TIME_COST": "1", "BIMBING_PASSWORD_MEMORY_KIB": "8"}


def server_env(**settings: str) -> dict[str, str]:
    """The environment of a Bimbing process a test starts: this one's, without the
    ``BIMBING_`` settings of whoever runs the suite, sign-ins at the suite's least
    costs, and no recorder process (``serve`` starts one beside itself by default,
    a process start of about a second of CPU that a test which records nothing
    pays for nothing), then ``settings``. A test whose subject is the recorder
    process, or that records as production does, passes
    ``BIMBING_RECORDER_PROCESSES="1"``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIMBING_")}
    return env | FAST_PASSWORDS_ENV | {"BIMBING_RECORDER_PROCESSES": "0"} | settings


def fast_hash(password: str) -> str:
    return Passwords(FAST_PASSWORDS["password_time_cost"], FAST_PASSWORDS["password_memory_kib"]).hash(password)


_HASH = fast_hash(PASSWORD)


BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


async def _pg_admin(base_url: str) -> asyncpg.Connection:
    url = make_url(base_url)
    return await asyncpg.connect(user=url.username or "postgres", host=url.host, port=url.port or 5432, database=url.database or "postgres", password=url.password)


async def _create_pg_database(base_url: str, template: str | None = None, prefix: str = "bimbing_test_") -> tuple[str, str]:
    """A new database with a unique name (other people's runs share this PostgreSQL),
    empty, or a copy of ``template``."""
    name = f"{prefix}{uuid.uuid4().hex[:12]}"
    conn = await _pg_admin(base_url)
    try:
        if template is None:
            await conn.execute(f'CREATE DATABASE "{name}"')
        else:
            # Copied block by block through the WAL (PostgreSQL 15's default strategy):
            # for a schema this small, faster than a migration by an order of magnitude,
            # and it needs no checkpoint (FILE_COPY does).
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return make_url(base_url).set(database=name).render_as_string(hide_password=False), name


async def _drop_pg_database(base_url: str, name: str) -> None:
    conn = await _pg_admin(base_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def migrate(database_url: str) -> None:
    """``bimbing db upgrade``'s path: Alembic from where the database is to head."""
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
    finally:
        await engine.dispose()  # no connection left: a template must have none


def _apart(coro):
    """Run ``coro`` to the end in an event loop of its own, in a thread of its own:
    a session fixture is first asked for from inside a test's running loop."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory) -> Path:
    """A SQLite database migrated to head once per pytest process (each xdist
    worker has its own); ``database_url`` copies it for each test (0.3 ms)."""
    path = tmp_path_factory.mktemp("template") / "template.db"
    _apart(migrate(f"sqlite+aiosqlite:///{path}"))
    # Out of WAL mode, so that the file alone holds everything (a copy's engine turns WAL on again).
    with closing(sqlite3.connect(path)) as db:
        db.execute("PRAGMA journal_mode=DELETE")
    return path


@pytest.fixture(scope="session")
def postgres_template() -> str:
    """A PostgreSQL database migrated to head once per pytest process, under a
    unique name; ``database_url`` makes each test's database from it (``CREATE
    DATABASE … TEMPLATE``, which needs the template to have no connection: nothing
    connects to it after the migration). Dropped when the process ends."""
    base = require_postgres()
    url, name = _apart(_create_pg_database(base, prefix="bimbing_tpl_"))
    try:
        _apart(migrate(url))
        yield name
    finally:
        _apart(_drop_pg_database(base, name))


class PostgresDatabases:
    """This worker's copies of the template, each emptied after its test and
    reused (tests/pg_reuse.py says why and when one is dropped instead)."""

    def __init__(self, base_url: str, template: str):
        url = make_url(base_url)
        self.base_url, self.template = base_url, template
        self.connect = {"user": url.username or "postgres", "host": url.host, "port": url.port or 5432, "password": url.password}
        self.free: list[str] = []
        self.shape: pg_reuse.Shape | None = None
        self.reused = self.dropped = 0  # for tests/test_pg_reuse.py

    def url(self, name: str) -> str:
        return make_url(self.base_url).set(database=name).render_as_string(hide_password=False)

    async def take(self) -> tuple[str, str]:
        if self.free:
            name = self.free.pop()
            self.reused += 1
            return self.url(name), name
        url, name = await _create_pg_database(self.base_url, template=self.template)
        if self.shape is None:  # read off a copy: a template must have no connection when copied
            conn = await pg_reuse.connect(self.connect, name)
            try:
                self.shape = await pg_reuse.Shape.of(conn)
            finally:
                await conn.close()
        return url, name

    async def give_back(self, name: str) -> None:
        assert self.shape is not None
        if await pg_reuse.reset(self.connect, name, self.shape):
            self.free.append(name)
        else:
            self.dropped += 1
            await _drop_pg_database(self.base_url, name)

    async def drop_all(self) -> None:
        while self.free:
            await _drop_pg_database(self.base_url, self.free.pop())


@pytest.fixture(scope="session")
def postgres_databases(postgres_template):
    databases = PostgresDatabases(require_postgres(), postgres_template)
    try:
        yield databases
    finally:
        _apart(databases.drop_all())


def sqlite_copy(template: Path, path: Path) -> str:
    """The URL of a copy of the migrated SQLite ``template`` at ``path`` (its mode, 0600, kept)."""
    shutil.copy(template, path)
    return f"sqlite+aiosqlite:///{path}"


@asynccontextmanager
async def empty_database(backend: str, tmp_path: Path):
    """A new, empty database on ``backend`` (dropped after), for the tests of the migrations themselves."""
    if backend == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    base = require_postgres()
    url, name = await _create_pg_database(base)
    try:
        yield url
    finally:
        await _drop_pg_database(base, name)


@pytest.hookimpl(tryfirst=True)
def pytest_generate_tests(metafunc):
    """``@pytest.mark.sqlite_only``: a test of what no SQL decides (headers, CSRF,
    page text, formatting) runs on SQLite alone, not once more on PostgreSQL.
    As a ``parametrize`` mark, which pytest then prefers to the fixture's own params."""
    if metafunc.definition.get_closest_marker("sqlite_only") is None or "database_url" not in metafunc.fixturenames:
        return
    if any("database_url" in str(mark.args[0]) for mark in metafunc.definition.iter_markers("parametrize")):
        return  # already chosen by the test itself
    metafunc.definition.add_marker(pytest.mark.parametrize("database_url", ["sqlite"], indirect=True), append=False)


@pytest.fixture(params=BACKENDS)
async def database_url(request, tmp_path: Path):
    """A database migrated to head, on each backend: a copy of this process's
    migrated template (on PostgreSQL one emptied after an earlier test and
    reused: tests/pg_reuse.py; tests/README.md, "How the suite runs").
    tests/test_migrations.py migrates empty databases itself."""
    if request.param == "sqlite":
        yield sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path / "test.db")
        return
    databases = request.getfixturevalue("postgres_databases")
    url, name = await databases.take()
    try:
        yield url
    finally:
        await databases.give_back(name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=secrets.token_urlsafe(48),
        data_dir=tmp_path / "data",
        recordings_dir=tmp_path / "recordings",
        audit_signing_key_path=tmp_path / "data" / "audit-signing.key",
        **FAST_PASSWORDS,
    )


@dataclass
class Office_:
    id: int
    staff: dict[str, Staff] = field(default_factory=dict)
    clients: dict[str, Client] = field(default_factory=dict)


async def seed_office(database_url: str, name: str = "Bapas Uji", prefix: str = "") -> Office_:
    """An office with a supervisor, an admin, two PKs and one client each."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            office = Office(name=name)
            db.add(office)
            await db.flush()
            result = Office_(office.id)
            for username, role in (("kasie", Role.supervisor), ("admin", Role.admin), ("pk1", Role.pk), ("pk2", Role.pk)):
                s = Staff(office_id=office.id, username=prefix + username, name=f"{username.title()} {name}", role=role, password_hash=_HASH)
                db.add(s)
                result.staff[username] = s
            await db.flush()
            today = office_today()  # the server's today, not the machine's (UTC) date
            for key, pk in (("c1", "pk1"), ("c2", "pk2")):
                c = Client(
                    office_id=office.id,
                    officer_id=result.staff[pk].id,
                    register_number=f"{prefix}REG-{key}",
                    name=f"Klien {key}",
                    category=ClientCategory.adult,
                    program=Program.pb,
                    supervision_start=today - timedelta(days=60),
                    supervision_end=today + timedelta(days=300),
                    reporting_interval_days=14,
                    kelurahan="Cakung Barat",
                    phone="+62 812 0000 0000",
                )
                db.add(c)
                result.clients[key] = c
            await db.commit()
            return result
    finally:
        await engine.dispose()


# A `clock` test takes less than this (on a loaded machine too).
MIDNIGHT_MARGIN_SECONDS = 30


@pytest.fixture(autouse=True)
def _clear_of_office_midnight(request):
    """A `clock` test compares its "today" with the server's, so it must not
    straddle the office's midnight (a run may start at 23:59 WIB): one that would
    start in the last half minute of the office's day starts just after midnight."""
    if request.node.get_closest_marker("clock") is not None:
        left = seconds_to_office_midnight()
        if left < MIDNIGHT_MARGIN_SECONDS:
            time.sleep(left + 0.5)


@pytest.fixture
def now() -> datetime:
    """This test's "now" (UTC, to the second), taken when the test starts: crafted
    histories are placed relative to it, never to a fixed date or hour."""
    return utc_now()


@pytest.fixture
async def office(database_url: str) -> Office_:
    return await seed_office(database_url)


@pytest.fixture
async def other_office(database_url: str, office) -> Office_:
    return await seed_office(database_url, name="Bapas Lain", prefix="x_")


@pytest.fixture
async def client(aiohttp_client, settings, office):
    """An HTTP client on the real app (no one signed in)."""
    return await aiohttp_client(create_app(settings))


async def login(http, username: str, password: str = PASSWORD):
    resp = await http.post("/api/login", json={"username": username, "password": password})
    assert resp.status == 200, await resp.text()
    return await resp.json()


@pytest.fixture
def sign_in():
    return login
