"""Helpers for the audit tests: write a crafted history straight into the real
database (sessions with chosen times, durations and note versions), and read
the audit trail back."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select

from server.db.models import AuditEntry, GuidanceSession, NoteVersion, Outcome, SessionEvent, SessionMode, SessionStatus
from tests.clock import utc_now
from tests.foundation import database


async def add_session(
    database_url: str,
    client,
    *,
    mode: SessionMode = SessionMode.office,
    status: SessionStatus = SessionStatus.ended,
    scheduled_at: datetime | None = None,
    duration_seconds: int = 1800,
    notes: str = "Klien hadir dan kooperatif.",
    outcome: Outcome | None = Outcome.attended,
    ended_at: datetime | None = None,
    versions: list[tuple[datetime, str]] = (),
) -> int:
    """A session of ``client`` (its own PK), with an ``ended`` event and the given
    note versions (time, text) written as the PK would have saved them. Without
    ``scheduled_at``, three days before now (taken at the call, not at import)."""
    scheduled_at = scheduled_at or utc_now() - timedelta(days=3)
    closed = status in (SessionStatus.ended, SessionStatus.interrupted)
    if closed and ended_at is None:
        ended_at = scheduled_at + timedelta(seconds=duration_seconds)
    async with database(database_url) as db:
        s = GuidanceSession(
            office_id=client.office_id,
            client_id=client.id,
            officer_id=client.officer_id,
            mode=mode,
            status=status,
            scheduled_at=scheduled_at,
            started_at=scheduled_at if closed else None,
            ended_at=ended_at if closed else None,
            duration_seconds=duration_seconds if closed else 0,
            notes=notes,
            outcome=outcome,
            topics=[],
            created_at=scheduled_at,
            created_by_id=client.officer_id,
            notes_updated_at=versions[-1][0] if versions else None,
        )
        db.add(s)
        await db.flush()
        db.add(SessionEvent(session_id=s.id, kind="created", actor="officer", at=scheduled_at))
        if closed:
            db.add(SessionEvent(session_id=s.id, kind=status.value, actor="officer", at=ended_at))
        for at, text in versions:
            db.add(NoteVersion(session_id=s.id, notes=text, outcome=outcome.value if outcome else None, topics=[], author_id=client.officer_id, created_at=at))
        await db.commit()
        return s.id


async def audit_entries(database_url: str, action: str | None = None) -> list[AuditEntry]:
    async with database(database_url) as db:
        query = select(AuditEntry).order_by(AuditEntry.seq)
        if action:
            query = query.where(AuditEntry.action == action)
        return list((await db.execute(query)).scalars())
