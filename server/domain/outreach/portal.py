"""The client's own link (tautan klien) and what the page behind it shows.

A link is personal (one client), revocable (``revoked_at``; reissuing revokes
the previous one) and valid until the end of the client's supervision. The
page shows the client their next appointments, their wajib lapor in plain
words, their PK and the office's contacts, and their kendala with the PK's
answers; never notes, past outcomes or anything about another client.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import (
    Client,
    GuidanceSession,
    Kendala,
    KendalaKind,
    MobileEvent,
    Office,
    PortalLink,
    SessionMode,
    Staff,
    utcnow,
)
from server.domain.access import require_guidance
from server.domain.errors import DomainError, ErrorKind, not_found
from server.domain.office.profile import OfficeProfile, office_profile
from server.domain.outreach import kendala as kendala_domain
from server.domain.record.appointments import appointments, hold_clients
from server.domain.record.ledger import Attendance, attendance
from server.domain.record.rules import rules_of
from server.domain.record.sessions import OPEN_STATUSES
from server.security import portalpass
from server.settings import Settings


def _end_of_supervision(client: Client, tz: str) -> datetime:
    # Valid through the last day of supervision, office time.
    return datetime.combine(client.supervision_end + timedelta(days=1), time.min, ZoneInfo(tz))


async def active_link(db: AsyncSession, client_id: int, now: datetime | None = None) -> PortalLink | None:
    now = now or utcnow()
    rows = await db.execute(
        select(PortalLink).where(PortalLink.client_id == client_id, PortalLink.revoked_at.is_(None), PortalLink.expires_at > now).order_by(PortalLink.id.desc()).limit(1)
    )
    return rows.scalars().first()


async def revoke(db: AsyncSession, client_id: int, now: datetime | None = None) -> int:
    """Revoke every live link of the client; how many there were."""
    now = now or utcnow()
    links = (await db.execute(select(PortalLink).where(PortalLink.client_id == client_id, PortalLink.revoked_at.is_(None)))).scalars().all()
    for link in links:
        link.revoked_at = now
    return len(links)


async def revoke_by(db: AsyncSession, actor: Staff, client_id: int) -> int:
    """A PK's or supervisor's revocation of the client's links (an admin runs no guidance)."""
    require_guidance(actor)
    return await revoke(db, client_id)


async def issue(db: AsyncSession, actor: Staff, client: Client, tz: str, now: datetime | None = None) -> PortalLink:
    """A new link for the client; the previous one stops working. Issued in a
    PK's or supervisor's name, never an admin's."""
    require_guidance(actor)
    now = now or utcnow()
    expires = _end_of_supervision(client, tz)
    if expires <= now:
        raise DomainError(ErrorKind.conflict, "supervision-ended", "The client's supervision has ended: no link to their schedule.")
    # Revoke, then add, under the client's lock: two issues at once would each revoke
    # the old link and leave two live ones.
    await hold_clients(db, [client.id])
    await revoke(db, client.id, now)
    link = PortalLink(client_id=client.id, salt=portalpass.new_salt(), created_at=now, created_by_id=actor.id, expires_at=expires)
    db.add(link)
    await db.flush()
    return link


def check_live(link: PortalLink | None, now: datetime) -> PortalLink:
    if link is None:
        raise DomainError(ErrorKind.not_found, "invalid-token", "This link is not valid.")
    if link.revoked_at is not None:
        raise DomainError(ErrorKind.gone, "link-revoked", "This link was revoked; ask your PK for the new one.")
    if link.expires_at <= now:
        raise DomainError(ErrorKind.gone, "link-expired", "This link has expired with the end of supervision.")
    return link


async def open_link(db: AsyncSession, secret: str, token: str, now: datetime | None = None) -> PortalLink:
    """The live link a token opens (``last_opened_at`` stamped), or a refusal."""
    now = now or utcnow()
    link_id = portalpass.token_link_id(token)
    link = await db.get(PortalLink, link_id) if link_id is not None else None
    if link is not None and not portalpass.token_matches(secret, token, link.id, link.salt):
        link = None
    link = check_live(link, now)
    link.last_opened_at = now
    return link


@dataclass
class Appointment:
    session: GuidanceSession
    join_open: bool  # a video session whose join window is open now
    kendala: list[Kendala] = field(default_factory=list)


@dataclass
class PortalView:
    client: Client
    officer_name: str
    office: OfficeProfile
    attendance: Attendance
    appointments: list[Appointment]
    kendala: list[Kendala]
    # Mobile-counseling days the client is invited to (server/domain/fieldwork/mobile_events.py).
    mobile_days: list[MobileEvent] = field(default_factory=list)


def join_window_open(session: GuidanceSession, settings: Settings, now: datetime) -> bool:
    if session.mode != SessionMode.video or session.status not in OPEN_STATUSES:
        return False
    opens = session.scheduled_at - timedelta(minutes=settings.join_opens_before_minutes)
    closes = session.scheduled_at + timedelta(hours=settings.join_expires_after_hours)
    return opens <= now <= closes


async def upcoming(db: AsyncSession, client_id: int, today: date, tz: str) -> list[GuidanceSession]:
    """The client's sessions from today on that they are told of, soonest first:
    video, office and phone sessions, planned home visits the PK chose to
    announce, mobile sessions. Read from the one list of appointments
    (server/domain/record/appointments.py) the reminders read; the
    mobile-counseling days the client is invited to are :func:`invited_days`."""
    start = datetime.combine(today, time.min, ZoneInfo(tz))
    found = await appointments(db, [client_id], start, None, tz, events=False)
    return [a.session for a in found if a.announced and a.start >= start][:20]


async def invited_days(db: AsyncSession, client_id: int, today: date, tz: str) -> list[MobileEvent]:
    """Planned mobile-counseling days from today on that the client is invited to, soonest first."""
    start = datetime.combine(today, time.min, ZoneInfo(tz))
    return [a.event for a in await appointments(db, [client_id], start, None, tz, sessions=False)][:10]


async def portal_view(db: AsyncSession, link: PortalLink, settings: Settings, today: date, now: datetime) -> PortalView:
    client = await db.get(Client, link.client_id)
    if client is None:
        raise not_found("client")
    office = await db.get(Office, client.office_id)
    sessions = list((await db.execute(select(GuidanceSession).where(GuidanceSession.client_id == client.id))).scalars())
    att = attendance(client, sessions, today, rules_of(office, settings.timezone))
    kendala = await kendala_domain.for_client(db, client.id, limit=30)
    appointments = [Appointment(s, join_window_open(s, settings, now), [k for k in kendala if k.session_id == s.id]) for s in await upcoming(db, client.id, today, settings.timezone)]
    days = await invited_days(db, client.id, today, settings.timezone)
    return PortalView(client, client.officer.name if client.officer else "", office_profile(office), att, appointments, kendala, days)


async def report_kendala(
    db: AsyncSession, link: PortalLink, session_id: int, *, kind: KendalaKind, message: str, requested_at: datetime | None, today: date, tz: str, now: datetime | None = None
) -> Kendala:
    """A kendala about one of the client's upcoming appointments, any number of
    days ahead (the join link only opens an hour before the call)."""
    session = await db.get(GuidanceSession, session_id)
    if session is None or session.client_id != link.client_id or session not in await upcoming(db, link.client_id, today, tz):
        raise DomainError(ErrorKind.not_found, "not-found", "No such upcoming appointment.")
    return await kendala_domain.report(db, session, device=f"portal-{link.id}", kind=kind, message=message, requested_at=requested_at, now=now)
