"""Rows to JSON, with timestamps in the office's time zone (ISO 8601 with offset)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from server.db.chat import ChatMessage
from server.db.guests import GuestAttendance, SessionGuest
from server.db.models import Client, GuidanceSession, NoteVersion, SessionEvent, Staff
from server.domain.record.ledger import Attendance, SessionJudge


def iso(moment: datetime | date | None, tz: str = "Asia/Jakarta") -> str | None:
    if moment is None:
        return None
    if isinstance(moment, datetime):
        return moment.astimezone(ZoneInfo(tz)).isoformat(timespec="seconds")
    return moment.isoformat()


def staff_json(staff: Staff) -> dict[str, Any]:
    return {
        "id": staff.id, "username": staff.username, "name": staff.name, "role": staff.role.value, "active": staff.active,
        "must_change_password": bool(staff.must_change_password), "nip": staff.nip or "",
    }


def client_json(client: Client, tz: str) -> dict[str, Any]:
    return {
        "id": client.id,
        "name": client.name,
        "register_number": client.register_number,
        "category": client.category.value,
        "program": client.program.value,
        "supervision_start": iso(client.supervision_start),
        "supervision_end": iso(client.supervision_end),
        "reporting_interval_days": client.reporting_interval_days,
        "kelurahan": client.kelurahan,
        "phone": client.phone,
        "employment": client.employment,
        "street": client.street,
        "rt_rw": client.rt_rw,
        "area_id": client.area_id,
        "officer_id": client.officer_id,
        "officer_name": client.officer.name if client.officer else None,
        "created_at": iso(client.created_at, tz),
    }


def event_json(event: SessionEvent, tz: str) -> dict[str, Any]:
    return {"id": event.id, "kind": event.kind, "at": iso(event.at, tz), "actor": event.actor, "detail": event.detail or {}}


def session_json(session: GuidanceSession, tz: str, *, judge: SessionJudge, events: bool = True) -> dict[str, Any]:
    """A session as the API answers it, with how the ledger counts it as of the
    judge's day (``meets_reporting``, ``reporting_reason``, ``late_entry``, ``entered_on``)."""
    data = {
        "id": session.id,
        "client_id": session.client_id,
        "client_name": session.client.name if session.client else None,
        "officer_id": session.officer_id,
        "officer_name": session.officer.name if session.officer else None,
        "mode": session.mode.value,
        "evidence": session.evidence.value,
        "status": session.status.value,
        "scheduled_at": iso(session.scheduled_at, tz),
        "started_at": iso(session.started_at, tz),
        "ended_at": iso(session.ended_at, tz),
        "duration_seconds": session.duration_seconds,
        "notes": session.notes,
        "outcome": session.outcome.value if session.outcome else None,
        "topics": list(session.topics or []),
        "record": session.record,
        "location": session.location,
        "met_with": list(session.met_with or []),
        "client_present": session.client_present,
        "findings": session.findings,
        "follow_up": session.follow_up,
        "visit_reason": session.visit_reason or None,
        "notify_client": session.notify_client,
        "follows_session_id": session.follows_session_id,
        "mobile_event_id": session.mobile_event_id,
        "checked_in_by_id": session.checked_in_by_id,
        **judge.judge(session).as_dict(),
    }
    if events:
        data["events"] = [event_json(e, tz) for e in session.events]
    return data


def note_version_json(version: NoteVersion, tz: str, authors: dict[int, str] | None = None) -> dict[str, Any]:
    return {
        "id": version.id,
        "notes": version.notes,
        "outcome": version.outcome,
        "topics": list(version.topics or []),
        "author_id": version.author_id,
        "author": (authors or {}).get(version.author_id) if version.author_id else None,
        "created_at": iso(version.created_at, tz),
    }


def chat_message_json(message: ChatMessage, staff_name: str | None, tz: str) -> dict[str, Any]:
    """A line of the call's text (server/domain/calls/chat.py); ``device`` is the
    client device that wrote it or that it was sent to."""
    return {
        "id": message.id,
        "from": message.sender,
        "staff_name": staff_name,
        "device": message.device,
        "text": message.text,
        "at": iso(message.sent_at, tz),
        "delivered": message.delivered,
    }


def guest_json(guest: SessionGuest, stays: list[GuestAttendance], tz: str) -> dict[str, Any]:
    """A guest of a call (server/domain/calls/guests.py): who, in which role,
    the link's issue and revocation, and each stay from when to when with its
    media evidence (the inbound packets its page reported, first and last rising)."""
    return {
        "id": guest.id,
        "role": guest.role,
        "name": guest.name,
        "issued_at": iso(guest.issued_at, tz),
        "revoked_at": iso(guest.revoked_at, tz),
        "attended": [
            {
                "from": iso(s.joined_at, tz),
                "to": iso(s.left_at, tz),
                "left_reason": s.left_reason,
                "media": {"audio_packets": s.audio_packets, "video_packets": s.video_packets,
                          "from": iso(s.media_from, tz), "to": iso(s.media_to, tz)},
            }
            for s in stays
        ],
    }


def attendance_json(att: Attendance) -> dict[str, Any]:
    return att.as_dict()
