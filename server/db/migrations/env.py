"""Alembic environment: runs on the connection the caller hands over
(``server.db.migrate``) or opens its own async engine (``alembic`` CLI)."""

import asyncio

from alembic import context

from server.db.engine import make_engine
from server.db.models import Base
import server.db.casework  # noqa: F401,E402 (its tables join Base.metadata)
import server.db.chat  # noqa: F401,E402 (its table joins Base.metadata)
import server.db.signing  # noqa: F401,E402 (its table joins Base.metadata)
import server.db.guests  # noqa: F401,E402 (its tables join Base.metadata)

config = context.config
target_metadata = Base.metadata


def _run(connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_async() -> None:
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    async with engine.begin() as conn:
        await conn.run_sync(_run)
    await engine.dispose()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    asyncio.run(_run_async())
