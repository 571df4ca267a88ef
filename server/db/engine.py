"""The database engine and session factory, opened and closed with the app."""

from __future__ import annotations

import os
from pathlib import Path

from sqlalchemy import event
from sqlalchemy.engine import Dialect, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.util import LRUCache


# Connections each pool keeps open (BIMBING_DB_POOL_SIZE); the write pool may open
# a quarter more under a burst (closed again on their return), the read pool none.
# Kept, not opened per use: with SQLAlchemy's default of 5 kept, at 20 joins in
# flight a seventh of the loop's samples were asyncpg connecting again (py-spy,
# bench/README.md "Joining at national scale"). Two pools per process: at most
# 2.25 x this connections (18 by default; one pool of 5 + 10 was 15), within
# PostgreSQL's default 100 for a few processes (docs/deploy.md, "Sizing a
# national deployment").
POOL_SIZE = 8


def make_engine(database_url: str, *, pool_size: int = POOL_SIZE, pre_ping: bool = True, overflow: int | None = None, **kwargs) -> AsyncEngine:
    """``overflow``: connections opened beyond ``pool_size`` under a burst (and
    closed again on their return); a quarter of ``pool_size`` unless given."""
    max_overflow = _overflow(pool_size) if overflow is None else overflow
    engine = _make_engine(database_url, pool_size=pool_size, max_overflow=max_overflow, pre_ping=pre_ping, **kwargs)
    _share_compiled_statements(engine, database_url, kwargs)
    return engine


def _make_engine(database_url: str, *, pool_size: int, max_overflow: int, pre_ping: bool, **kwargs) -> AsyncEngine:
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            _create_private(Path(path))
        if path and path != ":memory:":
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow)
        engine = create_async_engine(database_url, connect_args={"timeout": 30}, **kwargs)

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_conn, _record):
            # Foreign keys are off by default in SQLite; WAL lets readers run beside the writer.
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA foreign_keys=ON")
            if path and path != ":memory:":
                cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA busy_timeout=30000")
            cur.close()

        return engine
    return create_async_engine(database_url, pool_pre_ping=pre_ping, pool_size=pool_size, max_overflow=max_overflow, **kwargs)


# Compiled statements, shared by the engines of one kind in a process. SQLAlchemy
# keeps them per engine, keyed by the engine's dialect object: a process that makes
# many engines of one kind (the test suite builds an app, and its two engines, for
# every test) compiled each statement again for each: ten of the suite's files that
# read and write spent 29% less CPU with them shared (124 CPU-s, 89 shared; issue
# 19's closing note). An engine made after one of its kind has connected takes
# that one's dialect (set up by its first connection, and alike for engines of one
# kind: same driver, server and options) and its cache, so what one compiled the
# next finds. A deployment makes each kind of engine once: nothing changes there.
_DIALECTS: dict[tuple, Dialect] = {}
_STATEMENTS: dict[tuple, LRUCache] = {}
# Statements kept per kind: SQLAlchemy's own default per engine (query_cache_size).
STATEMENTS_KEPT = 500


def _share_compiled_statements(engine: AsyncEngine, database_url: str, options: dict) -> None:
    url = make_url(database_url)
    kind = (url.drivername, url.host, url.port, tuple(sorted((k, repr(v)) for k, v in options.items())))
    sync = engine.sync_engine
    sync.update_execution_options(compiled_cache=_STATEMENTS.setdefault(kind, LRUCache(STATEMENTS_KEPT)))
    dialect = _DIALECTS.get(kind)
    if dialect is not None:
        sync.dialect = dialect
        return

    @event.listens_for(sync.pool, "connect", once=True)
    def _first_connected(_dbapi_conn, _record):
        # After create_engine's own first-connect listener, which sets the dialect up.
        _DIALECTS.setdefault(kind, sync.dialect)


def _overflow(pool_size: int) -> int:
    return max(1, pool_size // 4)


def make_read_engine(database_url: str, *, pool_size: int = POOL_SIZE) -> AsyncEngine | None:
    """A second pool for the short reads of every request and join (who is signed
    in, the session a join names), in autocommit: on PostgreSQL such a read was
    six round trips through the main pool (its pre-ping BEGIN, ``;``, ROLLBACK,
    then BEGIN, the SELECT, ROLLBACK) and is one here (the SELECT): no pre-ping,
    a read on a dropped connection runs again (server/db/reads.py). No overflow:
    under a burst a read (~0.2 ms) waits for one of the pool's connections; with
    overflow at 20 joins in flight, 5.5% of the loop's samples were asyncpg
    opening connections that were closed again on their return.
    Nothing is written through it. None for an in-memory SQLite database, which
    a second engine would not see: the main engine reads then."""
    if database_url.startswith("sqlite") and database_url.split(":///", 1)[-1] in ("", ":memory:"):
        return None
    return make_engine(database_url, pool_size=pool_size, pre_ping=False, overflow=0, isolation_level="AUTOCOMMIT")


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def _create_private(path: Path) -> None:
    """Create the SQLite file readable by this user only, like the secrets beside it
    (it holds clients' personal data; SQLite would create it 0644 under the usual
    umask, issue #12). Its -wal and -shm files take the same mode from it."""
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        pass
