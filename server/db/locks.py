"""Row locks that make a check and the write after it one step.

Check, then write, is a race (/work/shared/PITFALLS.md 11): two requests both
pass the check before either writes, on SQLite too. Where a unique constraint
can state the rule (one check-in per client per day, one letter number per
office and year), the constraint is the guard; where the rule is a count (five
kendala an hour) or a state (a kendala answered once), the writer first takes a
lock on the row the rule is about and then reads again:

- PostgreSQL: ``SELECT … FOR NO KEY UPDATE`` on the rows, in id order (two
  holders never wait on each other crosswise). Rows that merely refer to them
  are still inserted meanwhile (their foreign-key check takes KEY SHARE).
  Under READ COMMITTED every later statement of the transaction sees what the
  previous holder committed.
- SQLite: a transaction begins at its first write, and the database has one
  write lock. A write that changes nothing (``UPDATE … WHERE 0``) takes that
  lock now, so the reads after it see every write committed before.

The lock lasts until the caller's transaction ends (commit or rollback).
"""

from __future__ import annotations

from typing import TypeVar

from sqlalchemy import false, select, update
from sqlalchemy.ext.asyncio import AsyncSession

Row = TypeVar("Row")


async def hold(db: AsyncSession, model: type[Row], ids: list[int]) -> list[Row]:
    """Lock the rows of ``model`` with these ids until the transaction ends and
    return them read again (``populate_existing``: objects already loaded in this
    session are refreshed, so a check after ``hold`` reads the current row)."""
    ids = sorted(set(ids))
    if not ids:
        return []
    query = select(model).where(model.id.in_(ids)).order_by(model.id).execution_options(populate_existing=True)
    if db.get_bind().dialect.name == "postgresql":
        # OF the table alone: a joined eager load's outer join cannot be locked.
        query = query.with_for_update(key_share=True, of=model)
    else:
        await db.execute(update(model).where(false()).values(id=model.id).execution_options(synchronize_session=False))
    return list((await db.execute(query)).scalars())
