"""Anomalies a supervisor should review, each pointing at the session (and so
its events and note history) or, for an overdue client, at the record.

Kinds (thresholds from Settings):
- ``short_video``: a video session that ended or was interrupted with less than
  ``min_video_minutes`` of connected time;
- ``interrupted``: a session closed as ``interrupted``;
- ``abandoned``: a video session the server ended because no party had been
  connected for ``abandoned_minutes`` (its ``ended`` event, reason
  ``abandoned``: the parties dropped and nobody pressed End);
- ``missing_notes``: a session that ended more than ``notes_grace_hours`` ago and
  still has no notes;
- ``late_edit``: the notes changed more than ``late_edit_days`` after the
  session ended (a change: not the first version, which is the entry itself;
  one anomaly per session, the latest such change, with how many there were);
- ``overdue_client``: a client past their wajib lapor date (today's state);
- ``tiga-kali-berturut``: a client who let three reporting periods in a row end
  missed (the ledger's runs; an excused period breaks a run), not yet answered
  by the PK (server/domain/violations/alerts.py); today's state, like
  ``overdue_client``, with the violation proposed;
- ``late-entry``: a session whose outcome was first recorded more than
  ``late_entry_days`` after its date (allowed, but the supervisor sees who
  entered it and when): the same rule as the ``late_entry`` mark every view
  shows (server/domain/record/ledger.py, ``is_late_entry``);
- ``same-network``: a video session whose client joined from the same network
  address (/24 or /48) as the officer's console (see server/domain/calls/call_log.py).

Sessions are looked at when scheduled within [date_from, date_to] (office dates);
with neither given, the last ``DEFAULT_WINDOW_DAYS`` days, so the review stays
quick on an office with years of history. A session appears at most once per
kind.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import (
    Client,
    GuidanceSession,
    NoteVersion,
    SessionEvent,
    SessionMode,
    SessionStatus,
    Staff,
)
from server.domain.calls.call_log import same_network
from server.domain.documents.reports import (
    HELD,
    SessionFilter,
    _filtered,
    client_attendance,
)
from server.domain.record.ledger import is_late_entry, local_date
from server.domain.record.sessions import HAPPENED
from server.domain.violations.alerts import ALERT_KIND, open_alerts
from server.settings import Settings

DEFAULT_WINDOW_DAYS = 90
KINDS = ("overdue_client", "tiga-kali-berturut", "short_video", "interrupted", "abandoned", "missing_notes", "late_edit", "late-entry", "same-network")


@dataclass(frozen=True)
class Anomaly:
    kind: str
    client_id: int
    officer_id: int
    session_id: int | None = None
    at: datetime | None = None  # when it happened (session end, or the late version's save)
    detail: dict[str, Any] = field(default_factory=dict)

    def sort_key(self):
        return (KINDS.index(self.kind), self.at or datetime.min.replace(tzinfo=timezone.utc), self.session_id or 0, self.client_id, self.detail.get("version_id", 0))

    def links(self) -> dict[str, str]:
        links = {"client": f"/clients/{self.client_id}"}
        if self.session_id is not None:
            links.update(
                session=f"/sessions/{self.session_id}",
                events=f"/api/sessions/{self.session_id}",
                history=f"/api/sessions/{self.session_id}/history",
            )
        return links


_COLUMNS = (
    GuidanceSession.id,
    GuidanceSession.client_id,
    GuidanceSession.officer_id,
    GuidanceSession.mode,
    GuidanceSession.status,
    GuidanceSession.ended_at,
    GuidanceSession.duration_seconds,
    GuidanceSession.notes,
)


async def find_anomalies(
    db: AsyncSession, staff: Staff, settings: Settings, *, now: datetime, today: date, date_from: date | None = None, date_to: date | None = None, officer_id: int | None = None, client_id: int | None = None
) -> list[Anomaly]:
    tz = settings.timezone
    if date_from is None and date_to is None:
        date_from = today - timedelta(days=DEFAULT_WINDOW_DAYS)
    f = SessionFilter(officer_id=officer_id, client_id=client_id, date_from=date_from, date_to=date_to)
    found: list[Anomaly] = []
    min_seconds = settings.min_video_minutes * 60
    notes_due = now - timedelta(hours=settings.notes_grace_hours)

    held = _filtered(select(*_COLUMNS), staff, f, tz).where(GuidanceSession.status.in_(HELD))
    ended_at: dict[int, datetime | None] = {}
    for row in await db.execute(held):
        ended_at[row.id] = row.ended_at
        base = {"client_id": row.client_id, "officer_id": row.officer_id, "session_id": row.id, "at": row.ended_at}
        if row.mode == SessionMode.video and (row.duration_seconds or 0) < min_seconds:
            found.append(Anomaly("short_video", detail={"duration_seconds": row.duration_seconds, "minimum_seconds": min_seconds}, **base))
        if row.status == SessionStatus.interrupted:
            found.append(Anomaly("interrupted", **base))
        if not (row.notes or "").strip() and row.ended_at is not None and row.ended_at < notes_due:
            hours = int((now - row.ended_at).total_seconds() // 3600)
            found.append(Anomaly("missing_notes", detail={"hours_since_end": hours}, **base))

    late = timedelta(days=settings.late_edit_days)
    versions = await db.execute(
        _filtered(
            select(NoteVersion.id, NoteVersion.session_id, NoteVersion.created_at, NoteVersion.author_id, GuidanceSession.client_id, GuidanceSession.officer_id, GuidanceSession.ended_at)
            .join(GuidanceSession, GuidanceSession.id == NoteVersion.session_id),
            staff,
            f,
            tz,
        ).where(GuidanceSession.status.in_(HELD), GuidanceSession.ended_at.is_not(None)).order_by(NoteVersion.session_id, NoteVersion.id)
    )
    by_session: dict[int, list[Any]] = {}
    for v in versions:
        by_session.setdefault(v.session_id, []).append(v)
    for session_versions in by_session.values():
        # The first version is the entry itself (a late one is ``late-entry``'s); the rest are changes.
        changes = [v for v in session_versions[1:] if v.created_at > v.ended_at + late]
        if changes:
            v = changes[-1]
            found.append(
                Anomaly(
                    "late_edit",
                    client_id=v.client_id,
                    officer_id=v.officer_id,
                    session_id=v.session_id,
                    at=v.created_at,
                    detail={"version_id": v.id, "author_id": v.author_id, "days_after_session": (v.created_at - v.ended_at).days, "late_changes": len(changes)},
                )
            )

    found.extend(await _abandoned(db, staff, f, tz))
    found.extend(await _late_entries(db, staff, f, settings))
    found.extend(await _same_network(db, staff, f, tz))

    for client, att, *_ in await client_attendance(db, staff, today, tz, officer_id=officer_id, client_id=client_id):
        if att.state == "overdue":
            found.append(
                Anomaly(
                    "overdue_client",
                    client_id=client.id,
                    officer_id=client.officer_id,
                    detail={
                        "overdue_days": att.overdue_days,
                        "next_due": att.next_due.isoformat() if att.next_due else None,
                        "last_attended": att.last_attended.isoformat() if att.last_attended else None,
                    },
                )
            )
    for run in await open_alerts(db, staff, today, tz, officer_id=officer_id, client_id=client_id):
        found.append(Anomaly(ALERT_KIND, client_id=run.client_id, officer_id=run.officer_id,
                             detail={"alert": run.key, "first_day": run.first_day.isoformat(), "last_day": run.last_day.isoformat(),
                                     "raised_on": run.raised_on.isoformat(), "periods": run.periods, "proposed_violation": run.proposed()}))
    return sorted(found, key=Anomaly.sort_key)


async def _late_entries(db: AsyncSession, staff: Staff, f: SessionFilter, settings: Settings) -> list[Anomaly]:
    """Sessions whose outcome of what happened was first entered more than
    ``late_entry_days`` after the session's office date (``outcome_entered_at``,
    set by the record on every write), with who created the row."""
    tz = settings.timezone
    rows = await db.execute(
        _filtered(
            select(GuidanceSession.id, GuidanceSession.client_id, GuidanceSession.officer_id, GuidanceSession.scheduled_at, GuidanceSession.started_at,
                   GuidanceSession.outcome_entered_at, GuidanceSession.created_by_id),
            staff,
            f,
            tz,
        ).where(GuidanceSession.outcome.in_(HAPPENED), GuidanceSession.status != SessionStatus.cancelled, GuidanceSession.outcome_entered_at.is_not(None))
    )
    late = [r for r in rows if is_late_entry(local_date(r.started_at or r.scheduled_at, tz), local_date(r.outcome_entered_at, tz), settings.late_entry_days)]
    authors_ids = {r.created_by_id for r in late if r.created_by_id}
    authors = dict((await db.execute(select(Staff.id, Staff.name).where(Staff.id.in_(authors_ids)))).all()) if authors_ids else {}
    return [
        Anomaly(
            "late-entry",
            client_id=r.client_id,
            officer_id=r.officer_id,
            session_id=r.id,
            at=r.outcome_entered_at,
            detail={"entered_by_id": r.created_by_id, "entered_by": authors.get(r.created_by_id), "entered_at": r.outcome_entered_at.isoformat(),
                    "days_after_session": (local_date(r.outcome_entered_at, tz) - local_date(r.started_at or r.scheduled_at, tz)).days},
        )
        for r in late
    ]


async def _abandoned(db: AsyncSession, staff: Staff, f: SessionFilter, tz: str) -> list[Anomaly]:
    """Video sessions the server ended as ``abandoned`` (server/domain/calls/call_log.py
    ``end_abandoned``), once each: read from the ``ended`` event the system wrote."""
    rows = await db.execute(
        _filtered(
            select(SessionEvent.session_id, SessionEvent.detail, GuidanceSession.client_id, GuidanceSession.officer_id, GuidanceSession.ended_at, GuidanceSession.duration_seconds)
            .join(GuidanceSession, GuidanceSession.id == SessionEvent.session_id),
            staff,
            f,
            tz,
        ).where(SessionEvent.kind == "ended", SessionEvent.actor == "system", GuidanceSession.mode == SessionMode.video).order_by(SessionEvent.id)
    )
    found: dict[int, Anomaly] = {}
    for row in rows:
        detail = row.detail or {}
        if detail.get("reason") == "abandoned" and row.session_id not in found:
            found[row.session_id] = Anomaly(
                "abandoned", client_id=row.client_id, officer_id=row.officer_id, session_id=row.session_id, at=row.ended_at,
                detail={"idle_since": detail.get("idle_since"), "abandoned_minutes": detail.get("abandoned_minutes"), "duration_seconds": row.duration_seconds},
            )
    return list(found.values())


async def _same_network(db: AsyncSession, staff: Staff, f: SessionFilter, tz: str) -> list[Anomaly]:
    """Video sessions whose client joined from the network (/24 or /48) the
    officer's console used: a PK opening the client link on a second device
    looks exactly like this."""
    rows = await db.execute(
        _filtered(
            select(SessionEvent.session_id, SessionEvent.kind, SessionEvent.at, SessionEvent.detail, GuidanceSession.client_id, GuidanceSession.officer_id)
            .join(GuidanceSession, GuidanceSession.id == SessionEvent.session_id),
            staff,
            f,
            tz,
        ).where(SessionEvent.kind.in_(("officer_joined", "client_waiting")), GuidanceSession.mode == SessionMode.video).order_by(SessionEvent.id)
    )
    by_session: dict[int, list[Any]] = {}
    for row in rows:
        by_session.setdefault(row.session_id, []).append(row)
    found = []
    for session_id, events in by_session.items():
        network = same_network(events)
        if network is not None:
            first = next(e for e in events if e.kind == "client_waiting" and (e.detail or {}).get("network") == network)
            found.append(Anomaly("same-network", client_id=first.client_id, officer_id=first.officer_id, session_id=session_id, at=first.at,
                                 detail={"network": network, "client_device": (first.detail or {}).get("ua_family")}))
    return found


async def names(db: AsyncSession, anomalies: list[Anomaly]) -> tuple[dict[int, str], dict[int, str]]:
    """Client and officer names for display."""
    client_ids = {a.client_id for a in anomalies}
    officer_ids = {a.officer_id for a in anomalies}
    clients = dict((await db.execute(select(Client.id, Client.name).where(Client.id.in_(client_ids)))).all()) if client_ids else {}
    officers = dict((await db.execute(select(Staff.id, Staff.name).where(Staff.id.in_(officer_ids)))).all()) if officer_ids else {}
    return clients, officers
