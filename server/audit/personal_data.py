"""Every table that holds personal data, how long it is kept, and what removes it.

Issue 23 found retention removing sessions and audit entries only: the
gateway's outbox (phone, name, "terlambat wajib lapor N hari"), the reminders'
"sent" marks, kendala text, the clients' links, invitations and the clients
themselves stayed for ever. :data:`PERSONAL_DATA` names each such table with
its period; :func:`remove_personal_data` is what `bimbing audit retention`
runs for them (server/audit/retention.py), and docs/deploy.md ("Retention of
personal data") lists the same. tests/test_retention_coverage.py walks the
models and fails when a table with personal data is missing here, and ages a
row of every table listed and checks that retention removes it.

The periods (settings, docs/deploy.md):
- the supervision record (sessions with their events, note versions and
  recordings; kendala; the client and their letters): ``session_retention_days``,
  counted from the session's end, the kendala's sending, the end of the client's
  supervision;
- what only served to reach the client (reminders, the gateway's outbox,
  invitations, links): ``outreach_retention_days`` after its day;
- staff sign-ins: until they expire; the audit trail: ``audit_retention_days``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import (
    Client,
    GuidanceSession,
    Kendala,
    Letter,
    MobileEvent,
    MobileInvitation,
    NotifyOutbox,
    PortalLink,
    ReminderMark,
    StaffSession,
)
from server.settings import Settings


@dataclass(frozen=True)
class Kept:
    period: str  # how long, in the settings' words
    removed_by: str  # what removes it


SESSIONS = "`bimbing audit retention`, with its session"
PERSONAL_DATA: dict[str, Kept] = {
    "client": Kept("`BIMBING_SESSION_RETENTION_DAYS` after the end of supervision", "`bimbing audit retention`, with everything below that is theirs"),
    "guidance_session": Kept("`BIMBING_SESSION_RETENTION_DAYS` after it ended (or its time, if never held)", "`bimbing audit retention`; a session still scheduled or active is kept"),
    "session_event": Kept("as its session", SESSIONS),
    "note_version": Kept("as its session", SESSIONS),
    "recording": Kept("as its session", SESSIONS + " (the encrypted file too)"),
    "kendala": Kept("`BIMBING_SESSION_RETENTION_DAYS` after the client sent it", "`bimbing audit retention` (or with its client)"),
    "letter": Kept("as its client", "`bimbing audit retention`, with its client (`/v/{code}` then answers that it knows no such letter)"),
    "reminder_mark": Kept("`BIMBING_OUTREACH_RETENTION_DAYS` after it was marked sent", "`bimbing audit retention` (or with its session or client)"),
    "notify_outbox": Kept("`BIMBING_OUTREACH_RETENTION_DAYS` after it was queued, whatever its state", "`bimbing audit retention` (or with its session or client)"),
    "portal_link": Kept("`BIMBING_OUTREACH_RETENTION_DAYS` after it expired or was revoked", "`bimbing audit retention` (or with its client)"),
    "mobile_invitation": Kept("`BIMBING_OUTREACH_RETENTION_DAYS` after the mobile-counseling day", "`bimbing audit retention` (or with its client)"),
    "staff_session": Kept("until it expires (`BIMBING_STAFF_SESSION_HOURS`; signing out ends it at once)", "`bimbing audit retention`"),
    "audit_entry": Kept("`BIMBING_AUDIT_RETENTION_DAYS`", "`bimbing audit retention`, behind a signed checkpoint (docs/audit.md)"),
    # The one table retention leaves: sessions, letters and the audit trail name
    # the staff member who acted, for as long as they are kept themselves.
    "staff": Kept("as long as the office runs Bimbing", "nobody automatically: an admin deactivates an account, never deletes it"),
}
# Tables retention never removes rows from (their row is named by the records above).
KEPT_TABLES = ("staff",)


def office_day(moment: datetime, tz: str) -> date:
    return moment.astimezone(ZoneInfo(tz)).date()


async def _drop(db: AsyncSession, removed: dict[str, int], model, *where) -> None:
    result = await db.execute(delete(model).where(*where))
    removed[model.__tablename__] = removed.get(model.__tablename__, 0) + (result.rowcount or 0)


async def remove_outreach(db: AsyncSession, settings: Settings, now: datetime, removed: dict[str, int]) -> None:
    """What only served to reach a client, ``outreach_retention_days`` after its day;
    kendala ``session_retention_days`` after they were sent; expired staff sign-ins."""
    cutoff = now - timedelta(days=settings.outreach_retention_days)
    await _drop(db, removed, NotifyOutbox, NotifyOutbox.created_at < cutoff)
    await _drop(db, removed, ReminderMark, ReminderMark.sent_at < cutoff)
    await _drop(db, removed, PortalLink, or_(PortalLink.expires_at < cutoff, PortalLink.revoked_at < cutoff))
    past_days = select(MobileEvent.id).where(MobileEvent.date < office_day(cutoff, settings.timezone))
    await _drop(db, removed, MobileInvitation, MobileInvitation.event_id.in_(past_days))
    await _drop(db, removed, Kendala, Kendala.created_at < now - timedelta(days=settings.session_retention_days))
    await _drop(db, removed, StaffSession, StaffSession.expires_at < now)


async def unlink_sessions(db: AsyncSession, chunk: list[int], removed: dict[str, int]) -> None:
    """Before sessions go: what is theirs goes, what only points at them forgets them."""
    await _drop(db, removed, ReminderMark, ReminderMark.session_id.in_(chunk))
    await _drop(db, removed, NotifyOutbox, NotifyOutbox.session_id.in_(chunk))
    # A kendala belongs to the client; it only loses its link to the session (and to the one it moved to).
    await db.execute(update(Kendala).where(Kendala.session_id.in_(chunk)).values(session_id=None))
    await db.execute(update(Kendala).where(Kendala.new_session_id.in_(chunk)).values(new_session_id=None))
    await db.execute(update(GuidanceSession).where(GuidanceSession.follows_session_id.in_(chunk)).values(follows_session_id=None))


async def clients_past_retention(db: AsyncSession, settings: Settings, now: datetime) -> list[int]:
    last_day = office_day(now, settings.timezone) - timedelta(days=settings.session_retention_days)
    return list((await db.execute(select(Client.id).where(Client.supervision_end < last_day))).scalars())


async def remove_clients(db: AsyncSession, chunk: list[int], removed: dict[str, int]) -> None:
    """The clients themselves, once their sessions are gone (server/audit/retention.py removes those first)."""
    for model in (Kendala, ReminderMark, NotifyOutbox, PortalLink, MobileInvitation, Letter):
        await _drop(db, removed, model, model.client_id.in_(chunk))
    await _drop(db, removed, Client, Client.id.in_(chunk))
