"""Retention: removing session logs, audit entries and every other piece of
personal data older than the office keeps them.

Sessions (with their events and note versions) are removed when they ended
more than ``session_retention_days`` ago; clients, reminders, the gateway's
outbox, kendala, links, invitations, sittings of the sidang TPP and the rest by the rules of
server/audit/personal_data.py, which lists every table with personal data. Audit entries are removed as a
*prefix* of the chain: every entry up to the newest one older than
``audit_retention_days``. The hash of the last removed entry is signed as a
*checkpoint* and becomes the genesis of what remains, so the rest of the chain
still verifies, and nobody without the key can cut more off the front and
pretend it was retention (docs/audit.md, "Retention checkpoints").

Retention refuses to prune a chain that does not verify: deleting the evidence
of tampering would launder it. The run itself is appended to the trail.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.audit import personal_data
from server.audit.chain import AuditLog
from server.audit.signing import CHECKPOINT
from server.audit.verify import verify
from server.db.models import (
    AuditEntry,
    AuditHead,
    GuidanceSession,
    NoteVersion,
    Recording,
    SessionEvent,
    SessionStatus,
    utcnow,
)
from server.settings import Settings

BATCH = 1000


class RetentionRefused(RuntimeError):
    """Retention will not run; the message says why."""


@dataclass
class RetentionResult:
    sessions_removed: int = 0
    events_removed: int = 0
    note_versions_removed: int = 0
    recordings_removed: int = 0
    audit_entries_removed: int = 0
    checkpoint_seq: int | None = None
    # Rows removed from the other tables with personal data, by table (server/audit/personal_data.py).
    personal: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        verb = "Would remove" if self.dry_run else "Removed"
        text = (
            f"{verb} {self.sessions_removed} sessions ({self.events_removed} events, {self.note_versions_removed} note versions) "
            f"and {self.audit_entries_removed} audit entries"
        )
        if self.checkpoint_seq is not None:
            text += f"; the chain now starts after the signed checkpoint at seq={self.checkpoint_seq}"
        text += "."
        others = ", ".join(f"{n} {table}" for table, n in sorted(self.personal.items()) if n)
        return text + (f" Personal data: {others}." if others else "")


async def _old_sessions(db: AsyncSession, cutoff: datetime) -> list[int]:
    open_ = (SessionStatus.scheduled, SessionStatus.active)
    ended = func.coalesce(GuidanceSession.ended_at, GuidanceSession.scheduled_at)
    return list((await db.execute(select(GuidanceSession.id).where(ended < cutoff, GuidanceSession.status.not_in(open_)))).scalars())


async def _sessions_of(db: AsyncSession, clients: list[int]) -> list[int]:
    found: list[int] = []
    for start in range(0, len(clients), BATCH):
        chunk = clients[start : start + BATCH]
        found += (await db.execute(select(GuidanceSession.id).where(GuidanceSession.client_id.in_(chunk)))).scalars()
    return found


async def apply_retention(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, audit: AuditLog, *, now: datetime | None = None, dry_run: bool = False, actor: str = "retention"
) -> RetentionResult:
    now = now or utcnow()
    result = RetentionResult(dry_run=dry_run)
    # Encrypted files of removed sessions: deleted once the rows are gone for good.
    recording_files: list[str] = []
    session_cutoff = now - timedelta(days=settings.session_retention_days)
    audit_cutoff = now - timedelta(days=settings.audit_retention_days)

    async with sessionmaker() as db:
        # Removed for real in a dry run too, then rolled back: the counts are exact.
        removed = result.personal
        await personal_data.remove_outreach(db, settings, now, removed)
        # Sessions next (ordinary rows; their removal is recorded in the trail below), then the clients
        # whose supervision ended before the cutoff, each with every session of theirs.
        await personal_data.remove_sittings(db, settings, now, removed)
        clients = await personal_data.clients_past_retention(db, settings, now)
        ids = sorted(set(await _old_sessions(db, session_cutoff)) | set(await _sessions_of(db, clients)))
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            names = list((await db.execute(select(Recording.path).where(Recording.session_id.in_(chunk)))).scalars())
            result.recordings_removed += len(names)
            recording_files.extend(names)
            result.events_removed += (await db.execute(delete(SessionEvent).where(SessionEvent.session_id.in_(chunk)))).rowcount or 0
            result.note_versions_removed += (await db.execute(delete(NoteVersion).where(NoteVersion.session_id.in_(chunk)))).rowcount or 0
            await db.execute(delete(Recording).where(Recording.session_id.in_(chunk)))
            await personal_data.unlink_sessions(db, chunk, removed)
            await db.execute(delete(GuidanceSession).where(GuidanceSession.id.in_(chunk)))
        result.sessions_removed = len(ids)
        for start in range(0, len(clients), BATCH):
            # Their sealed referral reports lie beside the recordings: deleted with them, after the commit.
            recording_files.extend(await personal_data.remove_clients(db, clients[start : start + BATCH], removed))

        # Audit entries: the prefix up to the newest entry older than the cutoff.
        last_old = await db.scalar(select(func.max(AuditEntry.seq)).where(AuditEntry.at < audit_cutoff))
        if last_old is not None:
            result.audit_entries_removed = await db.scalar(select(func.count()).select_from(AuditEntry).where(AuditEntry.seq <= last_old)) or 0
            result.checkpoint_seq = last_old
            if not dry_run:
                if audit.signer is None:
                    raise RetentionRefused("audit entries are due for removal but no signing key is configured to sign the checkpoint")
                report = await verify(db, settings)
                if not report.ok:
                    raise RetentionRefused(f"the audit trail does not verify, so nothing is removed: {report.summary().splitlines()[0]}")
                last_hash = await db.scalar(select(AuditEntry.hash).where(AuditEntry.seq == last_old))
                db.add(audit.signer.sign(CHECKPOINT, last_old, last_hash, utcnow()))
                await db.execute(delete(AuditEntry).where(AuditEntry.seq <= last_old))
                # Heads and checkpoints at or before the new genesis vouch for nothing that remains.
                await db.execute(delete(AuditHead).where(AuditHead.seq <= last_old, or_(AuditHead.kind != CHECKPOINT, AuditHead.seq < last_old)))
        if dry_run:
            await db.rollback()
            recording_files.clear()
        else:
            await db.commit()
    if recording_files:
        from server.domain.calls.recordings import remove_recording_files

        remove_recording_files(settings, recording_files)

    if not dry_run:
        await audit.record(
            "retention.run",
            actor=actor,
            detail={
                "session_cutoff": session_cutoff.isoformat(),
                "audit_cutoff": audit_cutoff.isoformat(),
                **{k: v for k, v in result.as_dict().items() if k != "dry_run"},
            },
        )
    return result
