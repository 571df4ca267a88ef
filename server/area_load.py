"""``bimbing area load FILE``: load an office's working area from a JSON file
(server/data/jakarta-timur-utara.json is the demo office's), then link the
clients whose typed kelurahan now matches and list those that still do not."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select

from server.audit.chain import AuditLog
from server.db.engine import make_engine, make_sessionmaker
from server.db.models import Office
from server.domain.office.areas import load_area, read_area_file, unmatched_clients
from server.settings import Settings


async def load_area_file(settings: Settings, path: Path, office_name: str | None = None) -> tuple[int, list[str]]:
    """Returns (nodes added, unmatched clients as "register — kelurahan")."""
    area = read_area_file(path)
    engine = make_engine(settings.database_url)
    try:
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as db:
            query = select(Office).where(Office.name == office_name) if office_name else select(Office).order_by(Office.id).limit(1)
            office = await db.scalar(query)
            if office is None:
                raise ValueError(f"No office {office_name!r} in the database." if office_name else "No office yet: add a user first (bimbing user add).")
            added = await load_area(db, office.id, area)
            unmatched = [f"{c.register_number} — {c.kelurahan}" for c in await unmatched_clients(db, office.id)]
            await db.commit()
            office_id = office.id
        await AuditLog.from_settings(sessionmaker, settings).record("area.load", actor="cli", target_type="office", target_id=office_id, detail={"file": Path(path).name, "added": added, "unmatched": len(unmatched)})
        return added, unmatched
    finally:
        await engine.dispose()
