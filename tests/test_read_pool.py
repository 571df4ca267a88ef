"""The read pool (server/db/reads.py): who is signed in and what a join's session
allows are read on connections that are not pinged before use. A connection
PostgreSQL dropped is found dead by the read itself, which then runs again."""

from __future__ import annotations

import asyncpg
import pytest
from sqlalchemy import func, select
from sqlalchemy.engine import make_url

from server.app import create_app
from server.db.engine import make_engine, make_sessionmaker
from server.db.models import Staff
from server.db.reads import detached
from server.keys import db_read_key
from tests.conftest import login


async def drop_every_other_connection(database_url: str) -> int:
    """What a PostgreSQL restart does to a running server's pools: every
    connection to the database is closed from the server's side."""
    url = make_url(database_url)
    admin = await asyncpg.connect(user=url.username, host=url.host, port=url.port, database=url.database)
    try:
        return await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()


async def idle_read_connections(app) -> int:
    return app[db_read_key].engine.sync_engine.pool.checkedin()


@pytest.mark.parametrize("database_url", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True)
async def test_an_officer_stays_signed_in_when_postgresql_drops_the_servers_connections(aiohttp_client, settings, office):
    app = create_app(settings)
    http = await aiohttp_client(app)
    await login(http, "pk1")
    assert (await http.get("/api/me")).status == 200
    assert await idle_read_connections(app) >= 1, "the sign-in check left no connection in the read pool to drop"

    assert await drop_every_other_connection(settings.database_url) >= 1

    # The read pool's idle connection is dead now; its read finds out, and reads again.
    again = await http.get("/api/me")
    assert again.status == 200, await again.text()
    assert (await again.json())["username"] == "pk1"
    # A request that reads through the main pool as well (pinged before use) is answered too.
    assert (await http.get("/api/clients")).status == 200


async def test_the_staff_member_a_request_reads_is_updated_never_inserted_again(database_url, office):
    """The middleware's Staff is built from a Core row (``detached``): given to an
    ORM session later it must be the same row, as a closed session's object was."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            row = (await db.execute(select(*Staff.__table__.columns).where(Staff.username == "pk1"))).mappings().one()
            staff = detached(Staff, dict(row))
            before = await db.scalar(select(func.count()).select_from(Staff))
            db.add(staff)
            staff.name = "Nama Baru"
            await db.commit()
        async with make_sessionmaker(engine)() as db:
            assert await db.scalar(select(func.count()).select_from(Staff)) == before
            assert await db.scalar(select(Staff.name).where(Staff.username == "pk1")) == "Nama Baru"
    finally:
        await engine.dispose()
