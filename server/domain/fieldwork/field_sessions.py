"""Finishing sessions held away from the video call: a scheduled office,
home-visit, mobile or phone session is completed (held with its duration,
excused or no-show) and leaves "Terjadwal"; a failed video call is carried
on by phone or WhatsApp as a ``phone`` session that points back at it.

Durations here are what the PK reports (``evidence`` ``reported``), never
what the server observed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from server.db.models import (
    MET_WITH,
    GuidanceSession,
    NoteVersion,
    Outcome,
    SessionMode,
    SessionStatus,
    Staff,
    utcnow,
)
from server.domain.access import require_guidance
from server.domain.errors import DomainError, ErrorKind, invalid
from server.domain.record.sessions import OPEN_STATUSES, add_event, end_session, logged_span

# The outcomes that close a session; "rescheduled" is the kendala flow's business.
FINISHING_OUTCOMES = (Outcome.attended, Outcome.excused, Outcome.no_show)
# A session may be finished a little before its time (clocks, a visit that started early).
EARLY_GRACE = timedelta(minutes=15)


def check_met_with(values: list[str]) -> list[str]:
    unknown = [v for v in values if v not in MET_WITH]
    if unknown:
        raise invalid("met_with", f"unknown value {unknown[0]!r}; one of {', '.join(MET_WITH)}")
    # Keep the order of MET_WITH and each value once.
    return [v for v in MET_WITH if v in values]


def complete_session(
    session: GuidanceSession,
    actor: Staff,
    db,
    *,
    outcome: Outcome,
    duration_minutes: int | None = None,
    notes: str | None = None,
    topics: list[str] | None = None,
    location: str | None = None,
    met_with: list[str] | None = None,
    client_present: bool | None = None,
    findings: str | None = None,
    follow_up: str | None = None,
    now: datetime | None = None,
) -> None:
    """Close a scheduled non-video session with what happened. Validates
    everything before touching the row."""
    require_guidance(actor)
    now = now or utcnow()
    if session.mode == SessionMode.video:
        raise DomainError(ErrorKind.conflict, "video-completes-itself", "A video session's outcome and duration come from the call itself.", key="error.video_completes_itself")
    if session.status not in OPEN_STATUSES:
        raise DomainError(ErrorKind.conflict, "session-closed", f"The session is already {session.status.value}.", key="error.session_closed")
    if outcome not in FINISHING_OUTCOMES:
        raise invalid("outcome", "one of attended, excused, no_show")
    if session.scheduled_at > now + EARLY_GRACE:
        raise DomainError(ErrorKind.invalid, "not-yet", "The session's time has not come yet; it cannot have an outcome.", key="error.not_yet", fields={"outcome": "before the session's time"})
    if outcome == Outcome.attended and not duration_minutes:
        raise invalid("duration_minutes", "required (at least 1) when the client attended")
    if outcome != Outcome.attended and duration_minutes:
        raise invalid("duration_minutes", "only a held session has a duration")
    met = check_met_with(met_with) if met_with is not None else None
    if session.mode == SessionMode.home_visit and outcome == Outcome.attended and client_present is None:
        raise invalid("client_present", "say whether the client was there")
    # --- mutate ---
    duration = (duration_minutes or 0) * 60
    # The PK reports how long, not when it began: the planned time is the start
    # unless that would end the session after now (a phone call carried on just
    # now, a visit reported before its planned length has passed); then it ended
    # when it was entered (issue 18).
    planned = session.scheduled_at
    started, ended = logged_span(planned if planned + timedelta(seconds=duration) <= now else None, duration, now)
    session.outcome = outcome
    session.duration_seconds = duration
    session.started_at = started
    if location is not None:
        session.location = location
    if met is not None:
        session.met_with = met
    if client_present is not None:
        session.client_present = client_present
    if findings is not None:
        session.findings = findings
    if follow_up is not None:
        session.follow_up = follow_up
    if notes is not None:
        session.notes = notes
    if topics is not None:
        session.topics = list(topics)
    session.notes_updated_at = now
    db.add(NoteVersion(session_id=session.id, notes=session.notes, outcome=outcome.value, topics=list(session.topics or []), author_id=actor.id, created_at=now))
    add_event(db, session, "completed", "officer", at=now, outcome=outcome.value, duration_seconds=duration, by=actor.username)
    end_session(db, session, "officer", at=ended)


def phone_fallback_session(video: GuidanceSession, actor: Staff, now: datetime | None = None) -> GuidanceSession:
    """A phone session that carries on a video call that failed, prefilled from it:
    same client and PK, its notes and topics, held now. The PK completes it
    with the duration they report."""
    require_guidance(actor)
    if video.mode != SessionMode.video:
        raise DomainError(ErrorKind.conflict, "not-video", "Only a video session falls back to the phone.", key="error.not_video")
    if video.status == SessionStatus.cancelled:
        raise DomainError(ErrorKind.conflict, "session-cancelled", "A cancelled session cannot be carried on.", key="error.session_cancelled")
    now = now or utcnow()
    return GuidanceSession(
        office_id=video.office_id,
        client_id=video.client_id,
        officer_id=video.officer_id,
        mode=SessionMode.phone,
        status=SessionStatus.scheduled,
        scheduled_at=now,
        duration_seconds=0,
        notes=video.notes,
        topics=list(video.topics or []),
        location="Telepon/WhatsApp",
        follows_session_id=video.id,
        created_by_id=actor.id,
        created_at=now,
        notes_updated_at=now if video.notes else None,
    )
