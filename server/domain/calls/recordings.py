"""Recorded sessions over the database: when a recording starts and stops, the
``Recording`` rows, the session events and the audit entries.

The media work is :class:`server.media.recorder.SessionRecorder` (aiortc, no
database), run in this process or in recorder processes (server/media/backend.py,
remote.py); sealing is server/media/crypto.py. The signaling handler calls
:meth:`RecordingService.start` / :meth:`stop`; the app stops every recorder on
shutdown (bounded) and :meth:`recover` marks what a crash cut off.
"""

from __future__ import annotations

import asyncio
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.audit.chain import AuditLog
from server.db.models import (
    GuidanceSession,
    Recording,
    Role,
    SessionMode,
    Staff,
    utcnow,
)
from server.domain.record.sessions import OPEN_STATUSES, add_event
from server.media import crypto
from server.media.backend import LocalRecorders, Recorders, RecorderUnavailable
from server.media.formats import AUDIO_CONTENT_TYPE, CONTENT_TYPE
from server.settings import Settings

log = logging.getLogger(__name__)

STOP_ALL_TIMEOUT = 20.0


class RecordingRefused(Exception):
    """A ``record-offer`` the server will not take; ``code`` is a protocol error code."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


def may_play(staff: Staff, session: GuidanceSession) -> bool:
    """The PK who owns the session, or a supervisor of its office. Admins manage
    accounts; they do not watch guidance calls."""
    if staff.office_id != session.office_id:
        return False
    if staff.role == Role.supervisor:
        return True
    return staff.role == Role.pk and session.officer_id == staff.id


def recording_json(rec: Recording) -> dict[str, Any]:
    return {
        "id": rec.id,
        "session_id": rec.session_id,
        "party": rec.party,
        "status": rec.status,
        "content_type": rec.content_type,
        "size": rec.size,
        "duration_seconds": rec.duration_seconds,
        "sha256": rec.sha256,
        "started_at": rec.started_at.isoformat(),
        "ended_at": rec.ended_at.isoformat() if rec.ended_at else None,
        "problem": rec.problem,
        "has_video": rec.has_video,
        "url": f"/recordings/{rec.id}" if rec.status == "ready" else None,
    }


async def session_recordings(db: AsyncSession, session_id: int) -> list[Recording]:
    return list((await db.execute(select(Recording).where(Recording.session_id == session_id).order_by(Recording.id))).scalars())


@dataclass
class _Live:
    handle: str  # the recording as its recorder (this process or a recorder process) names it
    party: str
    row_id: int


class RecordingService:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, audit: AuditLog, recorders: Recorders | None = None):
        self._db = sessionmaker
        # In this process unless given recorder processes (server/recorders/client.py).
        self.recorders: Recorders = recorders or LocalRecorders(settings.recordings_dir, load_key=self.master_key, allow_networks=settings.recorder_allow_networks)
        self._settings = settings
        self._audit = audit
        self._live: dict[int, dict[str, _Live]] = {}  # session -> party -> recording
        self._locks: dict[int, asyncio.Lock] = {}
        self._key: bytes | None = None
        # Told the status ("ready", "failed") of each recording sealed (the app counts them).
        self.on_finished: list[Callable[[str], None]] = []

    @property
    def directory(self) -> Path:
        return Path(self._settings.recordings_dir)

    def master_key(self) -> bytes:
        if self._key is None:
            self._key = crypto.load_master_key(self._settings)
        return self._key

    def active(self, session_id: int) -> bool:
        return session_id in self._live

    def running(self) -> int:
        """Party recordings this process started and has not stopped."""
        return sum(len(parties) for parties in self._live.values())

    def _lock(self, session_id: int) -> asyncio.Lock:
        return self._locks.setdefault(session_id, asyncio.Lock())

    # ---- start / stop ------------------------------------------------------------

    async def start(self, session_id: int, party: str, actor: Any, offer_sdp: str, ice_servers: list[dict[str, Any]]) -> str:
        """The officer's ``record-offer`` for one party: a new recording; the answer SDP."""
        self.master_key()  # no key, no recording: fail before anything is written
        async with self._lock(session_id):
            async with self._db() as db:
                session = await db.get(GuidanceSession, session_id)
                if session is None or session.mode != SessionMode.video or session.status not in OPEN_STATUSES:
                    raise RecordingRefused("session-closed", "This session is not open.")
                if not session.record:
                    raise RecordingRefused("not-recorded", "This session is not set to be recorded.")
            # A new offer for a party replaces its running recording (the call was rebuilt).
            await self._stop_locked(session_id, "renegotiated", parties=(party,))
            try:
                started = await self.recorders.start(session_id, party, offer_sdp, ice_servers)
            except RecorderUnavailable as exc:
                raise RecordingRefused("record-failed", str(exc)) from None
            async with self._db() as db:
                session = await db.get(GuidanceSession, session_id)
                now = utcnow()
                audio_only = started.audio_only
                row = Recording(session_id=session_id, party=party, path=started.name, status="recording", started_at=now,
                                content_type=AUDIO_CONTENT_TYPE if audio_only else CONTENT_TYPE, has_video=not audio_only)
                db.add(row)
                await db.flush()
                row_id = row.id
                add_event(db, session, "recording_started", "officer", at=now, party=party, recording_id=row_id)
                await db.commit()
            self._live.setdefault(session_id, {})[party] = _Live(started.handle, party, row_id)
        await self._audit.record("recording.start", actor=actor, target_type="recording", target_id=row_id, detail={"session_id": session_id, "party": party})
        return started.answer

    async def stop(self, session_id: int, reason: str) -> list[int]:
        """Stop and seal the session's recordings, if any run. Returns the row ids."""
        if not self._live.get(session_id):
            return []
        async with self._lock(session_id):
            return await self._stop_locked(session_id, reason)

    async def _stop_locked(self, session_id: int, reason: str, parties: tuple[str, ...] = ("officer", "client")) -> list[int]:
        running = self._live.get(session_id, {})
        lives = [running.pop(party) for party in parties if party in running]
        if not running:
            self._live.pop(session_id, None)
        if not lives:
            return []
        # Closed and sealed where they were written (this process or a recorder process).
        outcomes = await asyncio.gather(*(self.recorders.stop(live.handle) for live in lives))
        ended = utcnow()
        done: list[tuple[int, dict[str, Any]]] = []
        for live, outcome in zip(lives, outcomes):
            if outcome is None:
                continue
            if outcome["status"] != "ready":
                # A lost recording is lost evidence: the log says why, as the row and the event do.
                log.warning("recording %s (session %s, %s) failed: %s", live.row_id, session_id, live.party, outcome.get("problem", ""))
            done.append((live.row_id, outcome))
            for hook in self.on_finished:
                hook(outcome["status"])
        async with self._db() as db:
            session = await db.get(GuidanceSession, session_id)
            for rec_id, outcome in done:
                row = await db.get(Recording, rec_id)
                if row is None:
                    continue
                row.status = outcome["status"]
                row.size = outcome.get("size", 0)
                row.sha256 = outcome.get("sha256", "")
                row.duration_seconds = outcome.get("duration_seconds", 0.0)
                row.problem = outcome.get("problem", "")
                row.ended_at = ended
                if session is not None:
                    # Logged whatever the session's state: an end stops the recording after ``ended``.
                    add_event(db, session, "recording_stopped", "system", at=ended, party=row.party, recording_id=rec_id, reason=reason, status=row.status, duration_seconds=row.duration_seconds, **({"problem": row.problem} if row.problem else {}))
            await db.commit()
        for rec_id, outcome in done:
            detail = {"session_id": session_id, "reason": reason, "status": outcome["status"]}
            if outcome.get("sha256"):
                detail["sha256"] = outcome["sha256"]
            await self._audit.record("recording.stop", actor="system", target_type="recording", target_id=rec_id, detail=detail)
        return [rec_id for rec_id, _ in done]

    async def stop_all(self, reason: str = "shutdown", timeout: float = STOP_ALL_TIMEOUT) -> None:
        ids = list(self._live)
        if not ids:
            return
        try:
            await asyncio.wait_for(asyncio.gather(*(self.stop(sid, reason) for sid in ids), return_exceptions=True), timeout)
        except asyncio.TimeoutError:
            log.error("recordings of sessions %s did not finish within %ss", ids, timeout)

    async def recover(self) -> int:
        """On start-up: rows a stopped process left ``recording`` are ``failed``;
        plaintext parts it left behind are deleted (never kept unencrypted) when
        this process records itself (a recorder process deletes its own)."""
        if isinstance(self.recorders, LocalRecorders):
            self.recorders.delete_leftovers()
        async with self._db() as db:
            result = await db.execute(
                update(Recording).where(Recording.status == "recording").values(status="failed", problem="the server stopped during the recording", ended_at=utcnow())
            )
            await db.commit()
            return result.rowcount or 0

    # ---- playback ----------------------------------------------------------------------

    def plaintext(self, rec: Recording) -> Iterator[bytes]:
        """The decrypted file, chunk by chunk (blocking reads; small chunks)."""
        return crypto.decrypt_chunks(crypto.safe_path(self.directory, rec.path), self.master_key())


def remove_recording_files(settings: Settings, names: list[str]) -> int:
    """For retention: delete sealed files by their stored names (confined)."""
    removed = 0
    for name in names:
        try:
            os.unlink(crypto.safe_path(Path(settings.recordings_dir), name))
            removed += 1
        except FileNotFoundError:
            pass
        except (crypto.UnsafePath, OSError):
            log.warning("not deleting recording %r", name)
    return removed
