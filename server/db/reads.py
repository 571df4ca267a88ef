"""The short reads every request and every join makes (who is signed in, what a
join's session allows), on their own pool, as Core statements.

Why not the ORM session the rest of the server uses: on PostgreSQL a sign-in
check cost the event loop 585-620 µs of CPU through an ``AsyncSession``,
451-552 µs with its statement built once, 308-333 µs on a plain connection and
259-266 µs as it runs here, without the pool's pre-ping (bench/read_paths.py;
bench/README.md, "A join's reads on a plain connection").
A join makes up to three of them, a staff request one, and at 20 joins in
flight they were a quarter of the loop's time.

Without the pre-ping a connection PostgreSQL has dropped (a restart, an idle
timeout) is found dead when a read runs on it. The pool then discards it, and
the read, which changes nothing, runs once more on a fresh connection
(SQLAlchemy's "optimistic" disconnect handling). A second failure is an error.
"""

from __future__ import annotations

from typing import Awaitable, Callable, TypeVar

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import make_transient_to_detached

T = TypeVar("T")
M = TypeVar("M")


class Reader:
    """Runs read-only work on a connection of ``engine``; never for writes."""

    def __init__(self, engine: AsyncEngine):
        self.engine = engine

    async def run(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        try:
            return await self._once(work)
        except DBAPIError as exc:
            if not exc.connection_invalidated:
                raise
        return await self._once(work)

    async def _once(self, work: Callable[[AsyncConnection], Awaitable[T]]) -> T:
        async with self.engine.connect() as conn:
            return await work(conn)


def detached(model: type[M], columns: dict) -> M:
    """An instance of ``model`` from a row of all its column attributes, as a closed ORM
    session would leave it (detached): added to a session later it is updated,
    never inserted again."""
    instance = model(**columns)
    make_transient_to_detached(instance)
    return instance
