"""Helpers for the foundation tests: reach into the real database the app uses
to set up a state (a logged session) or to check what was written."""

from __future__ import annotations

from contextlib import asynccontextmanager
from datetime import datetime, timedelta, timezone

from sqlalchemy import func, select

from server.db.engine import make_engine, make_sessionmaker
from server.db.models import Base, GuidanceSession, SessionMode, Staff
from server.domain.record import sessions as sessions_domain

# A valid POST /api/clients body, which tables of tests vary one field at a time.
# A supervision under way whatever the date the tests run: begun long ago, ending
# far ahead (tests/README.md, "Writing a time-safe test"); it ended on 2026-12-31 before.
CLIENT_BODY = {
    "name": "Rudi Hartono",
    "register_number": "PAS.2026.9001",
    "program": "PB",
    "supervision_start": "2020-01-06",
    "supervision_end": "2099-12-31",
    "reporting_interval_days": 14,
    "kelurahan": "Pulo Gebang",
}

@asynccontextmanager
async def database(database_url: str):
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            yield db
    finally:
        await engine.dispose()


async def add_office_session(database_url: str, client_id: int, officer: Staff, *, notes: str = "") -> int:
    """A scheduled office session for the client, as its PK would create it."""
    async with database(database_url) as db:
        from server.db.models import Client

        actor = await db.get(Staff, officer.id)
        client = await db.get(Client, client_id)
        when = datetime.now(timezone.utc) - timedelta(hours=1)
        session = await sessions_domain.create_session(db, actor, client, mode=SessionMode.office, scheduled_at=when, notes=notes)
        await db.commit()
        return session.id


async def row_counts(database_url: str) -> dict[str, int]:
    """Rows in every business table (the audit trail is left out: refusals may be audited)."""
    counts = {}
    async with database(database_url) as db:
        for table in Base.metadata.sorted_tables:
            if table.name.startswith("audit"):
                continue
            counts[table.name] = await db.scalar(select(func.count()).select_from(table))
    return counts


async def session_row(database_url: str, session_id: int) -> GuidanceSession | None:
    async with database(database_url) as db:
        return await db.get(GuidanceSession, session_id)


# GET /api/office/settings of an office that changed nothing (docs/api.md,
# "Office settings"): a test states what it changed as {**OFFICE_SETTINGS, ...}.
OFFICE_SETTINGS = {
    "min_report_minutes": 10, "tpp_quorum": 3, "reminder_full_text": False,
    "stage_intervals": {"awal": 30, "lanjutan": 60, "akhir": 90}, "reassessment_days": 180,
    "needs": ["pekerjaan", "keuangan", "tempat tinggal", "keluarga", "pergaulan", "NAPZA", "sikap dan perilaku", "pendidikan", "kesehatan"],
}
