"""A third person in a video call (issue 22): guest links and the guests' attendance.

A PK issues a link per guest (a *penjamin*, a parent or guardian, an
interpreter, a companion) naming who they are and in which capacity. The link
holds a random secret whose SHA-256 alone is kept; it is good while the
session is open and within the client's join window (it expires with the
session), and a revoked link is refused at once (the page answers 410 and the
signaling handler closes the guest's socket).

A guest's stay is an attendance row from the admission to the socket's end,
with the media evidence the client's interval has: the inbound packet counters
of the guest's heartbeats, and when they were first and last seen rising.
No HTTP and no WebSocket here.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.guests import GUEST_ROLES, GuestAttendance, SessionGuest
from server.db.models import GuidanceSession, SessionMode, Staff, utcnow
from server.domain.errors import DomainError, ErrorKind, not_found
from server.domain.record.sessions import OPEN_STATUSES

# More than a session could need (a penjamin, both parents, an interpreter...),
# few enough that a script cannot fill the table through one session.
MAX_GUESTS_PER_SESSION = 8


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def expires_at(session: GuidanceSession, expires_after_hours: int) -> datetime:
    """The guest link expires with the client's join link (server/web/links.py)."""
    return session.scheduled_at + timedelta(hours=expires_after_hours)


def refusal(guest: SessionGuest | None, session: GuidanceSession | None, expires_after_hours: int, now: datetime | None = None) -> str | None:
    """Why this guest may not come in now (a stable code), or None."""
    now = now or utcnow()
    if guest is None or session is None or session.mode != SessionMode.video:
        return "invalid-token"
    if guest.revoked_at is not None:
        return "link-revoked"
    if session.status not in OPEN_STATUSES:
        return "session-closed"
    if now >= expires_at(session, expires_after_hours):
        return "link-expired"
    return None


async def issue(db: AsyncSession, session: GuidanceSession, staff: Staff, role: str, name: str) -> tuple[SessionGuest, str]:
    """A new guest link for an open video session; returns the row and its secret (committed)."""
    if role not in GUEST_ROLES:
        raise DomainError(ErrorKind.invalid, "invalid-body", f"role: one of {', '.join(GUEST_ROLES)}", fields={"role": "unknown"})
    if session.mode != SessionMode.video:
        raise DomainError(ErrorKind.conflict, "not-video", "Guests join video sessions only.")
    if session.status not in OPEN_STATUSES:
        raise DomainError(ErrorKind.conflict, "session-closed", f"The session is already {session.status.value}.")
    count = len((await db.scalars(select(SessionGuest.id).where(SessionGuest.session_id == session.id))).all())
    if count >= MAX_GUESTS_PER_SESSION:
        raise DomainError(ErrorKind.conflict, "too-many-guests", f"A session may have at most {MAX_GUESTS_PER_SESSION} guest links.")
    token = secrets.token_urlsafe(24)
    guest = SessionGuest(session_id=session.id, role=role, name=name, token_hash=token_hash(token), issued_by=staff.id, issued_at=utcnow())
    db.add(guest)
    await db.commit()
    return guest, token


async def by_token(db: AsyncSession, token: str) -> SessionGuest | None:
    if not token or len(token) > 128:
        return None
    return await db.scalar(select(SessionGuest).where(SessionGuest.token_hash == token_hash(token)))


async def of_session(db: AsyncSession, session_id: int, guest_id: int) -> SessionGuest:
    guest = await db.get(SessionGuest, guest_id)
    if guest is None or guest.session_id != session_id:
        raise not_found("guest")
    return guest


async def revoke(db: AsyncSession, guest: SessionGuest, staff: Staff) -> bool:
    """Stamp the revocation (committed); False when it was revoked already."""
    if guest.revoked_at is not None:
        return False
    guest.revoked_at = utcnow()
    guest.revoked_by = staff.id
    await db.commit()
    return True


@dataclass(frozen=True)
class GuestLine:
    guest: SessionGuest
    stays: list[GuestAttendance]


async def guests(db: AsyncSession, session_id: int) -> list[GuestLine]:
    """The session's guests in the order issued, each with its stays in order."""
    rows = (await db.scalars(select(SessionGuest).where(SessionGuest.session_id == session_id).order_by(SessionGuest.id))).all()
    stays = (await db.scalars(select(GuestAttendance).where(GuestAttendance.session_id == session_id).order_by(GuestAttendance.id))).all()
    return [GuestLine(g, [s for s in stays if s.guest_id == g.id]) for g in rows]


async def attended(db: AsyncSession, session_ids: list[int]) -> dict[int, list[SessionGuest]]:
    """For a client's record: the guests who were in each of these sessions' calls (a stay at least)."""
    if not session_ids:
        return {}
    rows = (await db.scalars(
        select(SessionGuest).where(SessionGuest.session_id.in_(session_ids), SessionGuest.id.in_(select(GuestAttendance.guest_id)))
        .order_by(SessionGuest.id)
    )).all()
    found: dict[int, list[SessionGuest]] = {}
    for guest in rows:
        found.setdefault(guest.session_id, []).append(guest)
    return found


# ---- attendance (the signaling handler's side) -------------------------------------


async def joined(db: AsyncSession, guest_id: int, session_id: int) -> int:
    """The officer admitted the guest: a stay begins now (committed)."""
    stay = GuestAttendance(guest_id=guest_id, session_id=session_id, joined_at=utcnow(), audio_packets=0, video_packets=0)
    db.add(stay)
    await db.commit()
    return stay.id


async def left(db: AsyncSession, stay_id: int, reason: str) -> None:
    stay = await db.get(GuestAttendance, stay_id)
    if stay is not None and stay.left_at is None:
        stay.left_at = utcnow()
        stay.left_reason = reason
        await db.commit()


async def counters(db: AsyncSession, stay_id: int, inbound: dict) -> None:
    """A heartbeat's inbound counters: the media evidence rises only when they do."""
    stay = await db.get(GuestAttendance, stay_id)
    if stay is None or stay.left_at is not None:
        return
    audio = int((inbound.get("audio") or {}).get("packets") or 0)
    video = int((inbound.get("video") or {}).get("packets") or 0)
    if audio > stay.audio_packets or video > stay.video_packets:
        now = utcnow()
        stay.audio_packets = max(audio, stay.audio_packets)
        stay.video_packets = max(video, stay.video_packets)
        stay.media_from = stay.media_from or now
        stay.media_to = now
        await db.commit()
