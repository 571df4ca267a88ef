"""The Alembic migrations build exactly the schema the models describe, on
SQLite and on PostgreSQL, and can be taken down and up again."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from server.db.engine import make_engine
from server.db.migrate import downgrade, upgrade
from server.db.models import Base
from tests.conftest import BACKENDS, empty_database, migrate


@pytest.fixture(params=BACKENDS)
async def database_url(request, tmp_path):
    """The migrations are what is under test here: each test migrates an empty
    database to head itself, where the rest of the suite copies a migrated template."""
    async with empty_database(request.param, tmp_path) as url:
        await migrate(url)
        yield url


def _differences(connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": False})
    return compare_metadata(context, Base.metadata)


def _tables(connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_from_empty_gives_the_schema_of_the_models(database_url):
    # The database_url fixture starts from an empty database and runs upgrade to head.
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
            assert await conn.run_sync(_tables) == set(Base.metadata.tables) | {"alembic_version"}
    finally:
        await engine.dispose()


async def test_downgrade_to_base_then_upgrade_again(database_url):
    engine = make_engine(database_url)
    try:
        await downgrade(engine, "base")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) <= {"alembic_version"}
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
            assert await conn.run_sync(_tables) == set(Base.metadata.tables) | {"alembic_version"}
    finally:
        await engine.dispose()


async def test_upgrading_twice_changes_nothing(database_url):
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


def _session_indexes(connection) -> set[str]:
    return {i["name"] for i in inspect(connection).get_indexes("guidance_session")}


async def test_0007_adds_the_evaluation_indexes_and_takes_them_away(database_url):
    evaluation_indexes = {"ix_session_client_evaluation", "ix_session_without_notes"}
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert evaluation_indexes <= await conn.run_sync(_session_indexes)
        await downgrade(engine, "0006")
        async with engine.connect() as conn:
            left = await conn.run_sync(_session_indexes)
            assert not evaluation_indexes & left and "ix_session_client_scheduled" in left
        await upgrade(engine)
        async with engine.connect() as conn:
            assert evaluation_indexes <= await conn.run_sync(_session_indexes)
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def _session_triggers(conn) -> set[str]:
    if conn.dialect.name == "postgresql":
        sql = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'guidance_session'::regclass AND NOT tgisinternal"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'guidance_session'"
    return {row[0] for row in await conn.exec_driver_sql(sql)}


def _client_columns(connection) -> set[str]:
    return {c["name"] for c in inspect(connection).get_columns("client")}


async def test_0008_adds_the_sessions_revision_and_its_triggers_and_takes_them_away(database_url):
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await _session_triggers(conn)
            assert "sessions_revision" in await conn.run_sync(_client_columns)
        await downgrade(engine, "0007")
        async with engine.connect() as conn:
            assert not await _session_triggers(conn)
            assert "sessions_revision" not in await conn.run_sync(_client_columns)
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await _session_triggers(conn)
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()
