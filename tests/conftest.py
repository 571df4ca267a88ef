"""Shared fixtures: a migrated database on SQLite and on the real PostgreSQL,
the app on it, and an office with staff who can sign in."""

from __future__ import annotations

import secrets
import time
import uuid
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
from server.security.passwords import hash_password
from server.settings import Settings
from tests.clock import office_today, seconds_to_office_midnight, utc_now
from tests.services import require_postgres

PASSWORD = "correct horse battery"
# Hashing with full Argon2 parameters for every test user would dominate the run.
_HASH = hash_password(PASSWORD)


async def _create_pg_database(base_url: str) -> tuple[str, str]:
    url = make_url(base_url)
    name = f"bimbing_test_{uuid.uuid4().hex[:12]}"
    conn = await asyncpg.connect(user=url.username or "postgres", host=url.host, port=url.port or 5432, database=url.database or "postgres", password=url.password)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return url.set(database=name).render_as_string(hide_password=False), name


async def _drop_pg_database(base_url: str, name: str) -> None:
    url = make_url(base_url)
    conn = await asyncpg.connect(user=url.username or "postgres", host=url.host, port=url.port or 5432, database=url.database or "postgres", password=url.password)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def database_url(request, tmp_path: Path):
    """An empty database, migrated to head, on each backend."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        name = None
    else:
        base = require_postgres()
        url, name = await _create_pg_database(base)
    engine = make_engine(url)
    await upgrade(engine)
    await engine.dispose()
    yield url
    if name:
        await _drop_pg_database(require_postgres(), name)


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key=secrets.token_urlsafe(48),
        data_dir=tmp_path / "data",
        recordings_dir=tmp_path / "recordings",
        audit_signing_key_path=tmp_path / "data" / "audit-signing.key",
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
