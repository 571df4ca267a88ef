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
- the supervision record (sessions with their events, note versions,
  recordings, the text line beside the call, its guests and the ratings of the case
  plan's goals given at them; kendala;
  the client with their letters, violations, referrals, sentence and hours,
  assessments and case plan; the sittings of the sidang TPP with their risalah):
  ``session_retention_days``, counted from the session's end, the kendala's
  sending, the end of the client's supervision, the sitting's day;
- what only served to reach the client (reminders, the gateway's outbox,
  invitations, links, site supervisors' links): ``outreach_retention_days``
  after its day;
- staff sign-ins: until they expire; the audit trail: ``audit_retention_days``;
- staff accounts and partners (organisations) are kept: they are deactivated.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import delete, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.casework import (
    AlertDecision,
    TppCase,
    TppSitting,
    Violation,
    ViolationStep,
)
from server.db.chat import ChatMessage
from server.db.signing import SessionDocument
from server.db.guests import GuestAttendance, SessionGuest
from server.db.guidance import Assessment, CasePlan, GoalProgress, PlanGoal
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
from server.db.partners import (
    Referral,
    ReferralReport,
    ReferralStep,
    Sentence,
    ServiceHours,
    SiteLink,
)
from server.settings import Settings


@dataclass(frozen=True)
class Kept:
    period: str  # how long, in the settings' words
    removed_by: str  # what removes it


SESSIONS = "`bimbing audit retention`, with its session"
CLIENTS = "`bimbing audit retention`, with its client"
PERSONAL_DATA: dict[str, Kept] = {
    "client": Kept("`BIMBING_SESSION_RETENTION_DAYS` after the end of supervision", "`bimbing audit retention`, with everything below that is theirs"),
    "guidance_session": Kept("`BIMBING_SESSION_RETENTION_DAYS` after it ended (or its time, if never held)", "`bimbing audit retention`; a session still scheduled or active is kept"),
    "session_event": Kept("as its session", SESSIONS),
    "note_version": Kept("as its session", SESSIONS),
    "recording": Kept("as its session", SESSIONS + " (the encrypted file too)"),
    "chat_message": Kept("as its session", SESSIONS),
    "session_document": Kept("as its session", SESSIONS + " (`/v/{code}` then answers that it knows no such document)"),
    "session_guest": Kept("as its session", SESSIONS),
    "guest_attendance": Kept("as its session", SESSIONS),
    "kendala": Kept("`BIMBING_SESSION_RETENTION_DAYS` after the client sent it", "`bimbing audit retention` (or with its client)"),
    "letter": Kept("as its client (a risalah, which has none: as its sitting)", "`bimbing audit retention`, with its client or sitting (`/v/{code}` then answers that it knows no such letter)"),
    "reminder_mark": Kept("`BIMBING_OUTREACH_RETENTION_DAYS` after it was marked sent", "`bimbing audit retention` (or with its session or client)"),
    "notify_outbox": Kept("`BIMBING_OUTREACH_RETENTION_DAYS` after it was queued, whatever its state", "`bimbing audit retention` (or with its session or client)"),
    "portal_link": Kept("`BIMBING_OUTREACH_RETENTION_DAYS` after it expired or was revoked", "`bimbing audit retention` (or with its client)"),
    "mobile_invitation": Kept("`BIMBING_OUTREACH_RETENTION_DAYS` after the mobile-counseling day", "`bimbing audit retention` (or with its client)"),
    "violation": Kept("as its client", "`bimbing audit retention`, with its client (a sitting that decided it and goes first only leaves it)"),
    "violation_step": Kept("as its violation", CLIENTS),
    "alert_decision": Kept("as its client", CLIENTS),
    "tpp_sitting": Kept("`BIMBING_SESSION_RETENTION_DAYS` after the day it sat", "`bimbing audit retention`, with its risalah letter and its cases"),
    "tpp_case": Kept("as its sitting, or its client if the client goes first", "`bimbing audit retention`, with its sitting or client"),
    "referral": Kept("as its client", CLIENTS),
    "referral_step": Kept("as its referral", CLIENTS),
    "referral_report": Kept("as its referral", CLIENTS + " (the encrypted file too)"),
    "sentence": Kept("as its client", CLIENTS),
    "service_hours": Kept("as its client", CLIENTS + " (a site link that goes first only leaves it)"),
    "assessment": Kept("as its client", CLIENTS),
    "case_plan": Kept("as its client", CLIENTS + " (every version)"),
    "plan_goal": Kept("as its client", CLIENTS),
    # A rating means nothing without the session it was given at.
    "goal_progress": Kept("as its session", SESSIONS + " (or with its client)"),
    "site_link": Kept("`BIMBING_OUTREACH_RETENTION_DAYS` after it expired or was revoked", "`bimbing audit retention`"),
    "staff_session": Kept("until it expires (`BIMBING_STAFF_SESSION_HOURS`; signing out ends it at once)", "`bimbing audit retention`"),
    "audit_entry": Kept("`BIMBING_AUDIT_RETENTION_DAYS`", "`bimbing audit retention`, behind a signed checkpoint (docs/audit.md)"),
    # Two tables retention leaves. Staff: sessions, letters and the audit trail name
    # the staff member who acted, for as long as they are kept themselves.
    "staff": Kept("as long as the office runs Bimbing", "nobody automatically: an admin deactivates an account, never deletes it"),
    # An organisation the office works with (its name, contact and address are an
    # office's, a clinic's, an employer's), named by referrals, sentences and site links.
    "partner": Kept("as long as the office works with it", "nobody automatically: a supervisor deactivates a partner, never deletes it"),
}
# Tables retention never removes rows from (their row is named by the records above).
KEPT_TABLES = ("staff", "partner")


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
    # A site supervisor's link; the hours entered through it stay with their client, forgetting it.
    old_links = select(SiteLink.id).where(or_(SiteLink.expires_at < cutoff, SiteLink.revoked_at < cutoff))
    await db.execute(update(ServiceHours).where(ServiceHours.site_link_id.in_(old_links)).values(site_link_id=None))
    await _drop(db, removed, SiteLink, SiteLink.id.in_(old_links))


async def remove_sittings(db: AsyncSession, settings: Settings, now: datetime, removed: dict[str, int]) -> None:
    """Sittings of the sidang TPP ``session_retention_days`` after their day, with their
    cases and their risalah (a letter of no client, which prints the clients' names).
    The violations they decided stay with their clients, keeping the decision."""
    last_day = office_day(now, settings.timezone) - timedelta(days=settings.session_retention_days)
    old = select(TppSitting.id).where(TppSitting.held_on < last_day)
    risalah = list((await db.execute(select(TppSitting.risalah_letter_id).where(TppSitting.id.in_(old), TppSitting.risalah_letter_id.is_not(None)))).scalars())
    await db.execute(update(Violation).where(Violation.decided_sitting_id.in_(old)).values(decided_sitting_id=None))
    await _drop(db, removed, TppCase, TppCase.sitting_id.in_(old))
    await _drop(db, removed, TppSitting, TppSitting.id.in_(old))
    await _drop(db, removed, Letter, Letter.id.in_(risalah))


async def unlink_sessions(db: AsyncSession, chunk: list[int], removed: dict[str, int]) -> None:
    """Before sessions go: what is theirs goes, what only points at them forgets them."""
    # The ratings of the case plan's goals given at them: the goal stays with its client.
    await _drop(db, removed, GoalProgress, GoalProgress.session_id.in_(chunk))
    # The text line beside the call is part of the session's record.
    await _drop(db, removed, ChatMessage, ChatMessage.session_id.in_(chunk))
    # So are the documents signed in the call.
    await _drop(db, removed, SessionDocument, SessionDocument.session_id.in_(chunk))
    # So are the guests it had, and their attendance.
    await _drop(db, removed, GuestAttendance, GuestAttendance.session_id.in_(chunk))
    await _drop(db, removed, SessionGuest, SessionGuest.session_id.in_(chunk))
    await _drop(db, removed, ReminderMark, ReminderMark.session_id.in_(chunk))
    await _drop(db, removed, NotifyOutbox, NotifyOutbox.session_id.in_(chunk))
    # A kendala belongs to the client; it only loses its link to the session (and to the one it moved to).
    await db.execute(update(Kendala).where(Kendala.session_id.in_(chunk)).values(session_id=None))
    await db.execute(update(Kendala).where(Kendala.new_session_id.in_(chunk)).values(new_session_id=None))
    await db.execute(update(GuidanceSession).where(GuidanceSession.follows_session_id.in_(chunk)).values(follows_session_id=None))


async def clients_past_retention(db: AsyncSession, settings: Settings, now: datetime) -> list[int]:
    last_day = office_day(now, settings.timezone) - timedelta(days=settings.session_retention_days)
    return list((await db.execute(select(Client.id).where(Client.supervision_end < last_day))).scalars())


async def remove_clients(db: AsyncSession, chunk: list[int], removed: dict[str, int]) -> list[str]:
    """The clients themselves, once their sessions are gone (server/audit/retention.py removes those first),
    with everything of theirs, in foreign-key order. Returns the names of their sealed referral reports,
    for the caller to delete once the removal is committed."""
    violations = select(Violation.id).where(Violation.client_id.in_(chunk))
    await _drop(db, removed, TppCase, or_(TppCase.client_id.in_(chunk), TppCase.violation_id.in_(violations)))
    await _drop(db, removed, AlertDecision, or_(AlertDecision.client_id.in_(chunk), AlertDecision.violation_id.in_(violations)))
    await _drop(db, removed, ViolationStep, ViolationStep.violation_id.in_(violations))  # before the letters they issued
    await _drop(db, removed, Violation, Violation.client_id.in_(chunk))
    referrals = select(Referral.id).where(Referral.client_id.in_(chunk))
    files = list((await db.execute(select(ReferralReport.path).where(ReferralReport.referral_id.in_(referrals)))).scalars())
    for model in (ReferralReport, ReferralStep):
        await _drop(db, removed, model, model.referral_id.in_(referrals))
    # Referrals before the plan's goals they serve (referral.goal_id, migration 0018).
    await _drop(db, removed, Referral, Referral.client_id.in_(chunk))
    # The case plan: ratings before their goals, plans before the assessments they rest on.
    for model in (GoalProgress, PlanGoal, CasePlan, Assessment):
        await _drop(db, removed, model, model.client_id.in_(chunk))
    for model in (Sentence, ServiceHours, Kendala, ReminderMark, NotifyOutbox, PortalLink, MobileInvitation, Letter):
        await _drop(db, removed, model, model.client_id.in_(chunk))
    await _drop(db, removed, Client, Client.id.in_(chunk))
    return files
