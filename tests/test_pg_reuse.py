"""The suite's PostgreSQL databases are reused (tests/pg_reuse.py): a database
handed to the next test holds no row of the test before, its ids start where a
new copy's do, and one whose schema a test changed is not handed on at all."""

from __future__ import annotations

import asyncpg
import pytest

from tests.conftest import PostgresDatabases, seed_office
from tests.services import require_postgres

pytestmark = pytest.mark.postgres


async def _fetchval(databases: PostgresDatabases, name: str, sql: str):
    conn = await asyncpg.connect(database=name, **databases.connect)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_a_database_comes_back_empty_with_its_ids_starting_again(postgres_template):
    databases = PostgresDatabases(require_postgres(), postgres_template)
    try:
        url, name = await databases.take()
        first = await seed_office(url)
        # A leftover connection, as a test that forgot to dispose its engine leaves one.
        leftover = await asyncpg.connect(database=name, **databases.connect)
        await databases.give_back(name)
        assert leftover.is_closed() or not await _still_answers(leftover)

        url_again, name_again = await databases.take()
        assert (name_again, databases.reused) == (name, 1)
        assert await _fetchval(databases, name, "SELECT count(*) FROM staff") == 0
        assert await _fetchval(databases, name, "SELECT count(*) FROM client") == 0
        assert await _fetchval(databases, name, "SELECT version_num FROM alembic_version") is not None
        again = await seed_office(url_again)
        assert again.id == first.id and [s.id for s in again.staff.values()] == [s.id for s in first.staff.values()]
        await databases.give_back(name_again)
    finally:
        await databases.drop_all()


async def test_a_database_whose_schema_a_test_changed_is_dropped(postgres_template):
    databases = PostgresDatabases(require_postgres(), postgres_template)
    try:
        for change in ("CREATE TABLE extra (id int)", "ALTER TABLE client ADD COLUMN extra int",
                       "CREATE INDEX extra ON client (name)", "REVOKE ALL ON staff FROM PUBLIC, postgres"):
            _url, name = await databases.take()
            conn = await asyncpg.connect(database=name, **databases.connect)
            try:
                await conn.execute(change)
            finally:
                await conn.close()
            dropped = databases.dropped
            await databases.give_back(name)
            assert databases.dropped == dropped + 1 and name not in databases.free, change
            assert await _fetchval(databases, "postgres", f"SELECT count(*) FROM pg_database WHERE datname = '{name}'") == 0
    finally:
        await databases.drop_all()


async def _still_answers(conn: asyncpg.Connection) -> bool:
    try:
        await conn.fetchval("SELECT 1")
        return True
    except (asyncpg.PostgresError, OSError, asyncpg.InterfaceError):
        return False
    finally:
        await conn.close()
