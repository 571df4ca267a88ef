"""Retention: removing session logs and audit entries older than the office keeps them.

Sessions (with their events and note versions) are removed when they ended
more than ``session_retention_days`` ago. Audit entries are removed as a
*prefix* of the chain: every entry up to the newest one older than
``audit_retention_days``. The hash of the last removed entry is signed as a
*checkpoint* and becomes the genesis of what remains, so the rest of the chain
still verifies, and nobody without the key can cut more off the front and
pretend it was retention (docs/audit.md, "Retention checkpoints").

Retention refuses to prune a chain that does not verify: deleting the evidence
of tampering would launder it. The run itself is appended to the trail.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.audit.chain import AuditLog
from server.audit.signing import CHECKPOINT
from server.audit.verify import verify
from server.db.models import (
    AuditEntry,
    AuditHead,
    GuidanceSession,
    Kendala,
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
        return text + "."


async def _old_sessions(db: AsyncSession, cutoff: datetime) -> list[int]:
    open_ = (SessionStatus.scheduled, SessionStatus.active)
    ended = func.coalesce(GuidanceSession.ended_at, GuidanceSession.scheduled_at)
    return list((await db.execute(select(GuidanceSession.id).where(ended < cutoff, GuidanceSession.status.not_in(open_)))).scalars())


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
        # Sessions first (ordinary rows; their removal is recorded in the trail below).
        ids = await _old_sessions(db, session_cutoff)
        for start in range(0, len(ids), BATCH):
            chunk = ids[start : start + BATCH]
            result.events_removed += await db.scalar(select(func.count()).select_from(SessionEvent).where(SessionEvent.session_id.in_(chunk))) or 0
            result.note_versions_removed += await db.scalar(select(func.count()).select_from(NoteVersion).where(NoteVersion.session_id.in_(chunk))) or 0
            names = list((await db.execute(select(Recording.path).where(Recording.session_id.in_(chunk)))).scalars())
            result.recordings_removed += len(names)
            if not dry_run:
                await db.execute(delete(SessionEvent).where(SessionEvent.session_id.in_(chunk)))
                await db.execute(delete(NoteVersion).where(NoteVersion.session_id.in_(chunk)))
                await db.execute(delete(Recording).where(Recording.session_id.in_(chunk)))
                recording_files.extend(names)
                # A kendala belongs to the client; it only loses its link to the session.
                await db.execute(update(Kendala).where(Kendala.session_id.in_(chunk)).values(session_id=None))
                await db.execute(delete(GuidanceSession).where(GuidanceSession.id.in_(chunk)))
        result.sessions_removed = len(ids)

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
