"""Re-walking the whole audit trail (``bimbing audit verify``, ``GET /api/audit/verify``)."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.chain import Break, walk
from server.db.engine import make_engine, make_sessionmaker
from server.db.models import AuditEntry
from server.settings import Settings


@dataclass
class VerifyReport:
    entries: int
    first_break: Break | None

    @property
    def ok(self) -> bool:
        return self.first_break is None

    def summary(self) -> str:
        if self.ok:
            return f"Audit trail intact: {self.entries} entries."
        b = self.first_break
        return f"Audit trail BROKEN at entry seq={b.seq} (id={b.entry_id}): {b.reason}."

    def as_dict(self) -> dict:
        return {
            "ok": self.ok,
            "entries": self.entries,
            "first_broken": None if self.ok else {"seq": self.first_break.seq, "id": self.first_break.entry_id, "reason": self.first_break.reason},
        }


async def verify(db: AsyncSession) -> VerifyReport:
    count = await db.scalar(select(func.count()).select_from(AuditEntry)) or 0
    stream = await db.stream_scalars(select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=5000))
    entries = [e async for e in stream]
    return VerifyReport(count, walk(entries))


async def verify_database(settings: Settings) -> VerifyReport:
    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            return await verify(db)
    finally:
        await engine.dispose()
