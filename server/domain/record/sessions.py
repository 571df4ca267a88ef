"""Guidance sessions: creating and logging them, notes with history, ending them."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import (
    Client,
    GuidanceSession,
    NoteVersion,
    Outcome,
    SessionEvent,
    SessionMode,
    SessionStatus,
    Staff,
    evidence_for,
    utcnow,
)
from server.domain.calls.intervals import open_interval_since
from server.domain.errors import DomainError, ErrorKind
from server.domain.record.appointments import refuse_session_clash

log = logging.getLogger(__name__)

OPEN_STATUSES = (SessionStatus.scheduled, SessionStatus.active)
# Outcomes that say what happened at the meeting; "rescheduled" may be set ahead.
HAPPENED = (Outcome.attended, Outcome.excused, Outcome.no_show)


@event.listens_for(GuidanceSession, "before_insert")
def _outcome_entered_on_insert(_mapper, _connection, session: GuidanceSession) -> None:
    """The moment what happened was first entered, for every writer through the ORM
    (forms, the API, a roll call, the demo): a row born with its outcome was entered
    when it was made, unless the writer says when (the demo's history does)."""
    if session.outcome in HAPPENED and session.outcome_entered_at is None:
        session.outcome_entered_at = session.created_at or utcnow()


@event.listens_for(GuidanceSession, "before_update")
def _outcome_entered_on_update(_mapper, _connection, session: GuidanceSession) -> None:
    if session.outcome in HAPPENED and session.outcome_entered_at is None:
        session.outcome_entered_at = utcnow()


def outcome_refusal(session: GuidanceSession, outcome: Outcome, now: datetime | None = None) -> DomainError | None:
    """Why ``outcome`` may not be recorded on ``session`` now, or None. The rules
    that keep the record true (issue #9): nothing happened yet before the session's
    time, and a video call counts as attended only if the server saw both
    parties connected (``duration_seconds`` is summed from those intervals)."""
    now = now or utcnow()
    if outcome in HAPPENED and session.scheduled_at > now:
        return DomainError(ErrorKind.conflict, "not-yet", "The session's time has not come: no outcome can be recorded before it.")
    if outcome == Outcome.attended and session.mode == SessionMode.video and observed_seconds(session, now) <= 0:
        return DomainError(
            ErrorKind.conflict, "not-observed",
            "The server did not observe both parties connected: record no_show, excused or a phone session instead.",
        )
    return None


def observed_seconds(session: GuidanceSession, now: datetime | None = None) -> float:
    """Connected time the server observed: the closed intervals' sum, plus the one
    still open in the log (a PK may record "Hadir" while the call runs)."""
    opened = open_interval_since(session) if session.mode == SessionMode.video else None
    running = max(0.0, ((now or utcnow()) - opened).total_seconds()) if opened is not None else 0.0
    return (session.duration_seconds or 0) + running


def outcomes_allowed(session: GuidanceSession, now: datetime | None = None) -> list[Outcome]:
    """The outcomes the forms and the console offer for this session now."""
    return [o for o in Outcome if outcome_refusal(session, o, now) is None]


def logged_span(start: datetime | None, seconds: int, entered: datetime) -> tuple[datetime, datetime]:
    """When a session logged after the fact started and ended: never after the
    moment it was entered (issue 18: "logged at 19:00 with 30 minutes" was stored
    as ended at 19:30). Given no start, it ended when it was entered; given a
    start whose end would come after that moment, it is refused rather than
    stored with an end in the future."""
    length = timedelta(seconds=seconds)
    if start is None:
        return entered - length, entered
    if start + length > entered:
        raise DomainError(
            ErrorKind.conflict, "ends-in-future",
            "The session would end after the moment it is entered (start + duration): give an earlier start, "
            "a shorter duration, or no start (it then ended now).",
            fields={"scheduled_at": "start + duration is after now"},
        )
    return start, start + length


def add_event(db: AsyncSession, session: GuidanceSession, kind: str, actor: str = "system", at: datetime | None = None, **detail: Any) -> SessionEvent:
    event = SessionEvent(session_id=session.id, kind=kind, actor=actor, at=at or utcnow(), detail=detail)
    db.add(event)
    # One line per call event: its kind and actor, never its detail (it may hold note text).
    log.info("session %s: %s by %s", session.id, kind, actor, extra={"session_id": session.id, "event": kind, "actor": actor})
    return event


async def create_session(
    db: AsyncSession,
    actor: Staff,
    client: Client,
    *,
    mode: SessionMode,
    scheduled_at: datetime | None,
    record: bool = False,
    notes: str = "",
    outcome: Outcome | None = None,
    topics: list[str] | None = None,
    duration_minutes: int | None = None,
    location: str = "",
    notify_client: bool = False,
    tz: str = "Asia/Jakarta",  # the office's zone (the server passes its setting)
) -> GuidanceSession:
    """A session logged as held (with an outcome), or an appointment (status
    ``scheduled``). An appointment may not overlap a mobile-counseling day the
    client is invited to (409 ``double-booked``, server/domain/record/appointments.py)."""
    now = utcnow()
    given_start = scheduled_at
    scheduled_at = scheduled_at or now
    if mode == SessionMode.video:
        if outcome is not None or duration_minutes is not None:
            raise DomainError(ErrorKind.invalid, "invalid-body", "A video session's outcome and duration come from the call itself.")
        status = SessionStatus.scheduled
        started = ended = None
        duration = 0
    else:
        # Office, home-visit and mobile sessions are logged by the PK after they happened.
        if outcome in HAPPENED and scheduled_at > now:
            raise DomainError(ErrorKind.conflict, "not-yet", "scheduled_at: the session's time has not come, so it can have no outcome yet.")
        if outcome is None:
            status, started, ended, duration = SessionStatus.scheduled, None, None, 0
        else:
            duration = (duration_minutes or 0) * 60
            status = SessionStatus.ended
            started, ended = logged_span(given_start, duration, now)
            scheduled_at = started
    if status == SessionStatus.scheduled:
        await refuse_session_clash(db, client, scheduled_at, tz)
    session = GuidanceSession(
        office_id=client.office_id,
        client_id=client.id,
        officer_id=client.officer_id,
        mode=mode,
        evidence=evidence_for(mode),
        status=status,
        scheduled_at=scheduled_at,
        started_at=started,
        ended_at=ended,
        duration_seconds=duration,
        notes=notes,
        outcome=outcome,
        topics=list(topics or []),
        record=record,
        location=location,
        notify_client=notify_client,
        created_by_id=actor.id,
        created_at=now,
        notes_updated_at=now if notes else None,
    )
    db.add(session)
    await db.flush()
    add_event(db, session, "created", "officer", at=now, mode=mode.value, by=actor.username)
    if mode == SessionMode.video:
        # A video session is born with its first join link (server/web/links.py builds it).
        add_event(db, session, "link_issued", "officer", at=now, version=session.link_version)
    if notes or outcome or topics:
        db.add(NoteVersion(session_id=session.id, notes=notes, outcome=outcome.value if outcome else None, topics=list(topics or []), author_id=actor.id, created_at=now))
    if status == SessionStatus.ended:
        add_event(db, session, "ended", "officer", at=now, logged_after_the_fact=True)
    return session


async def update_notes(
    db: AsyncSession,
    actor: Staff,
    session: GuidanceSession,
    *,
    notes: str | None = None,
    outcome: Outcome | None = None,
    topics: list[str] | None = None,
    clear_outcome: bool = False,
) -> NoteVersion | None:
    """Apply a change and keep the previous state as history. Returns the new version,
    or None when nothing changed (autosave sends the same text again)."""
    new_notes = session.notes if notes is None else notes
    new_outcome = None if clear_outcome else (session.outcome if outcome is None else outcome)
    new_topics = session.topics if topics is None else list(topics)
    if new_outcome is not None and new_outcome != session.outcome:
        refusal = outcome_refusal(session, new_outcome)
        if refusal is not None:
            raise refusal
    if (new_notes, new_outcome, list(new_topics or [])) == (session.notes, session.outcome, list(session.topics or [])):
        return None
    now = utcnow()
    # The first version of a session that predates history is its current state.
    has_history = await db.scalar(select(NoteVersion.id).where(NoteVersion.session_id == session.id).limit(1))
    if not has_history and (session.notes or session.outcome or session.topics):
        db.add(NoteVersion(session_id=session.id, notes=session.notes, outcome=session.outcome.value if session.outcome else None, topics=list(session.topics or []), author_id=session.created_by_id, created_at=session.notes_updated_at or session.created_at))
    session.notes = new_notes
    session.outcome = new_outcome
    session.topics = list(new_topics or [])
    session.notes_updated_at = now
    version = NoteVersion(session_id=session.id, notes=new_notes, outcome=new_outcome.value if new_outcome else None, topics=list(new_topics or []), author_id=actor.id, created_at=now)
    db.add(version)
    return version


async def note_history(db: AsyncSession, session_id: int) -> list[NoteVersion]:
    return list((await db.execute(select(NoteVersion).where(NoteVersion.session_id == session_id).order_by(NoteVersion.id))).scalars().all())


def end_session(
    db: AsyncSession, session: GuidanceSession, actor: str = "officer", status: SessionStatus = SessionStatus.ended, at: datetime | None = None,
    *, logged_at: datetime | None = None, **detail: Any,
) -> None:
    """Close a session at ``at`` (its ``ended_at``). Video duration is already
    summed from connected intervals by the call lifecycle; other modes keep what
    the PK entered. The event is stamped ``logged_at`` when the server learns of
    the end later than it happened (a call everyone left), with ``detail``."""
    if session.status not in OPEN_STATUSES:
        raise DomainError(ErrorKind.conflict, "session-closed", f"The session is already {session.status.value}.")
    at = at or utcnow()
    session.status = status
    if session.started_at is None:
        session.started_at = at if session.mode != SessionMode.video else None
    session.ended_at = at
    add_event(db, session, status.value, actor, at=logged_at or at, **detail)


def revoke_links(db: AsyncSession, session: GuidanceSession, *, reissue: bool) -> int:
    """Invalidate every join link issued so far (tokens carry ``link_version``);
    with ``reissue`` the new version is logged as issued. Returns the new version."""
    if session.mode != SessionMode.video:
        raise DomainError(ErrorKind.conflict, "not-video", "Only video sessions have join links.")
    session.link_version += 1
    add_event(db, session, "link_revoked", "officer", version=session.link_version - 1)
    if reissue:
        add_event(db, session, "link_issued", "officer", version=session.link_version)
    return session.link_version
