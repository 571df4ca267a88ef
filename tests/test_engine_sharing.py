"""The engines of one kind in a process share their compiled statements
(server/db/engine.py, issue 19): what one engine compiled, an engine made
after it finds compiled, while each still reads and writes its own database;
the read pool's engines (autocommit) are another kind and keep their own."""

from __future__ import annotations

from sqlalchemy import select

from server.db.engine import make_engine, make_read_engine, make_sessionmaker
from server.db.models import Office
from tests.conftest import sqlite_copy

NAMES = select(Office.name).where(Office.name.in_(["Kantor Satu", "Kantor Dua"])).order_by(Office.name)


async def test_a_later_engine_finds_the_statement_compiled_and_reads_its_own_database(request, database_url, tmp_path):
    other_url, give_back = await _another_database(request, database_url, tmp_path)
    first = make_engine(database_url)
    second = read = None
    try:
        await _add_office(first, "Kantor Satu")
        async with first.connect() as conn:
            assert (await conn.execute(NAMES)).scalars().all() == ["Kantor Satu"]

        # Made after the first one connected: it takes that one's dialect and cache.
        second = make_engine(other_url)
        await _add_office(second, "Kantor Dua")
        async with second.connect() as conn:
            result = await conn.execute(NAMES)
            assert result.scalars().all() == ["Kantor Dua"]  # its own database, not the first's
            assert result.context.cache_hit == second.dialect.CACHE_HIT, "the second engine compiled the statement again"
        assert second.dialect is first.dialect

        read = make_read_engine(other_url)
        async with read.connect() as conn:
            assert (await conn.execute(NAMES)).scalars().all() == ["Kantor Dua"]
        assert read.dialect is not first.dialect  # autocommit: another kind
    finally:
        for engine in (first, second, read):
            if engine is not None:
                await engine.dispose()
        await give_back()


async def _add_office(engine, name: str) -> None:
    async with make_sessionmaker(engine)() as db:
        db.add(Office(name=name))
        await db.commit()


async def _another_database(request, database_url: str, tmp_path):
    """A second migrated database on the backend of ``database_url``, and how to give it back."""
    if database_url.startswith("sqlite"):
        async def nothing() -> None:
            return None
        return sqlite_copy(request.getfixturevalue("sqlite_template"), tmp_path / "other.db"), nothing
    databases = request.getfixturevalue("postgres_databases")
    url, name = await databases.take()
    return url, lambda: databases.give_back(name)
