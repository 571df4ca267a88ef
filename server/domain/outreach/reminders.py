"""The office's daily reminders: who to remind of what today, with the text
in Bahasa Indonesia and a one-tap WhatsApp link (``wa.me/62…``, text prefilled).

Reminders are computed each time from the clients' appointments, read from the
one list the double-booking rule reads too (server/domain/record/appointments.py),
never stored: a moved appointment's reminder follows it (its key names the
appointment's time, so it is pending again), a cancelled one's disappears. Only
the PK's "sent" marks are stored (``ReminderMark``), so the list also says what
was done.

Kinds, for a day D (office dates):
- ``day_before``: a scheduled session on D+1: video, office, phone, a planned
  home visit the PK chose to tell the client of (``notify_client``), a mobile
  session scheduled by hand;
- ``morning_of``: the same, on D;
- ``overdue``: a client whose wajib lapor is overdue on D;
- ``mobile_invitation``: a client invited to a mobile-counseling day on D+1
  (``event_id`` set). A moved day makes a new reminder (its key names the new
  start), a cancelled one's disappears;
- ``reassessment``: for the PK, not the client (no WhatsApp link, never sent
  through the gateway): an assessed client's reassessment is due, after the
  office's ``reassessment_days`` or a stage change
  (server/domain/guidance/assessments.py). Its key names the day it fell due,
  so a mark holds until the next reassessment.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from urllib.parse import quote
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.ids import id_from_text
from server.db.models import (
    Client,
    GuidanceSession,
    MobileEvent,
    Office,
    ReminderMark,
    SessionMode,
    SessionStatus,
    Staff,
    utcnow,
)
from server.domain.access import require_client, require_guidance, scope_clients
from server.domain.errors import DomainError, ErrorKind, not_found
from server.domain.guidance.assessments import (
    AssessmentDue,
    assessment_due,
    assessments_of,
)
from server.domain.guidance.settings import guidance_settings
from server.domain.record.appointments import appointments, hold_clients
from server.domain.record.ledger import attendance
from server.domain.record.rules import office_rules

KINDS = ("morning_of", "overdue", "reassessment", "day_before", "mobile_invitation")
# When each kind is best sent, office time: the order of the PK's list.
SEND_AT = {"morning_of": time(7, 0), "overdue": time(8, 0), "reassessment": time(8, 0), "day_before": time(16, 0), "mobile_invitation": time(16, 0)}
MODE_WORDS = {
    SessionMode.video: "bimbingan lewat panggilan video",
    SessionMode.office: "bimbingan di kantor Bapas",
    SessionMode.phone: "bimbingan lewat telepon/WhatsApp",
    SessionMode.home_visit: "kunjungan rumah oleh PK",
    SessionMode.mobile: "layanan bimbingan bergerak",
}


def whatsapp_number(phone: str | None) -> str | None:
    """An Indonesian phone number in the international form wa.me wants
    (``62…``, digits only), or None when it does not look like one."""
    digits = re.sub(r"\D", "", phone or "")
    if digits.startswith("0"):
        digits = "62" + digits[1:]
    elif digits.startswith("8"):
        digits = "62" + digits
    if not digits.startswith("62") or not 10 <= len(digits) <= 15:
        return None
    return digits


@dataclass(frozen=True)
class Reminder:
    id: str
    kind: str
    client_id: int
    client_name: str
    session_id: int | None
    event_id: int | None
    at: datetime  # when to send it
    appointment_at: datetime | None
    text: str
    whatsapp_url: str | None
    state: str  # pending | sent
    sent_at: datetime | None = None


def _key(kind: str, client_id: int, session: GuidanceSession | None, day: date) -> str:
    # The appointment's time is part of the key: moving it makes a new reminder.
    if session is not None:
        return f"{kind}-{session.id}-{int(session.scheduled_at.timestamp())}"
    return f"{kind}-c{client_id}-{day.isoformat()}"


def _text(kind: str, client: Client, officer: str, session: GuidanceSession | None, tz: str, overdue_days: int = 0) -> str:
    if kind == "overdue":
        return (f"Yth. {client.name}, Anda sudah terlambat wajib lapor {overdue_days} hari. "
                f"Mohon segera menghubungi PK Anda, {officer}, untuk menjadwalkan bimbingan.")
    local = session.scheduled_at.astimezone(ZoneInfo(tz))
    when = "besok" if kind == "day_before" else "hari ini"
    # The office's room is worth saying; a home visit's place is the client's own address.
    place = f" di {session.location}" if session.location and session.mode == SessionMode.office else ""
    return (f"Yth. {client.name}, mengingatkan jadwal {MODE_WORDS[session.mode]} {when}, "
            f"{local.strftime('%d-%m-%Y')} pukul {local.strftime('%H:%M')} WIB{place}, bersama {officer}. "
            "Bila ada kendala, laporkan lewat tautan pribadi Anda atau hubungi PK.")


def _wa(client: Client, text: str) -> str | None:
    number = whatsapp_number(client.phone)
    return f"https://wa.me/{number}?text={quote(text, safe='')}" if number else None


async def daily_reminders(db: AsyncSession, staff: Staff | None, day: date, tz: str) -> list[Reminder]:
    """The reminders of ``day`` for the clients ``staff`` may see (scoped like the
    caseload); ``staff`` None: every client (the gateway's sender, no person)."""
    zone = ZoneInfo(tz)
    query = scope_clients(select(Client), staff) if staff is not None else select(Client)
    clients = {c.id: c for c in (await db.execute(query)).scalars()}
    if not clients:
        return []
    start = datetime.combine(day, time.min, zone)
    end = start + timedelta(days=2)
    found: list[tuple[str, Client, GuidanceSession | None, datetime, int]] = []
    invitations: list[tuple[str, Client, MobileEvent, datetime]] = []
    for a in await appointments(db, list(clients), start, end, tz):
        if not a.announced or not start <= a.start < end:
            continue
        if a.event is not None:
            if a.event.date == day + timedelta(days=1):
                # The key names the client and the day's start (office time), so moving the day makes a new one.
                key = f"mobile_invitation-c{a.client_id}-{a.start.astimezone(zone).strftime('%Y%m%d%H%M')}"
                invitations.append((key, clients[a.client_id], a.event, a.start))
            continue
        s = a.session
        if s.status != SessionStatus.scheduled:
            continue  # under way: too late to remind
        kind = "morning_of" if s.scheduled_at < start + timedelta(days=1) else "day_before"
        send = datetime.combine(day, SEND_AT[kind], zone)
        if kind == "morning_of":
            send = min(send, s.scheduled_at - timedelta(hours=1))
        found.append((kind, clients[s.client_id], s, send, 0))
    sessions = list((await db.execute(select(GuidanceSession).where(GuidanceSession.client_id.in_(list(clients))))).scalars())
    by_client: dict[int, list[GuidanceSession]] = {}
    for s in sessions:
        by_client.setdefault(s.client_id, []).append(s)
    rules = {oid: await office_rules(db, oid, tz) for oid in {c.office_id for c in clients.values()}}
    for client in clients.values():
        att = attendance(client, by_client.get(client.id, []), day, rules[client.office_id])
        if att.state == "overdue":
            found.append(("overdue", client, None, datetime.combine(day, SEND_AT["overdue"], zone), att.overdue_days))
    keys = [_key(kind, c.id, s, day) for kind, c, s, _at, _n in found]
    keys += [key for key, *_rest in invitations]
    # The PK's own reminders (never the gateway's: ``staff`` None sends to clients).
    reassess = await _reassessments(db, list(clients.values()), day) if staff is not None else []
    keys += [key for key, *_rest in reassess]
    marks = {m.key: m for m in (await db.execute(select(ReminderMark).where(ReminderMark.key.in_(keys)))).scalars()} if keys else {}
    out = []
    for (kind, client, session, send, overdue_days), key in zip(found, keys):
        officer = client.officer.name if client.officer else "PK Anda"
        text = _text(kind, client, officer, session, tz, overdue_days)
        mark = marks.get(key)
        out.append(Reminder(key, kind, client.id, client.name, session.id if session else None, None, send, session.scheduled_at if session else None,
                            text, _wa(client, text), "sent" if mark else "pending", mark.sent_at if mark else None))
    for key, client, event, starts in invitations:
        text = _invitation_text(client, event, starts)
        mark = marks.get(key)
        out.append(Reminder(key, "mobile_invitation", client.id, client.name, None, event.id, datetime.combine(day, SEND_AT["mobile_invitation"], zone),
                            starts, text, _wa(client, text), "sent" if mark else "pending", mark.sent_at if mark else None))
    for key, client, due in reassess:
        text = (f"Asesmen ulang {client.name} jatuh tempo sejak {due.since.strftime('%d-%m-%Y')}"
                + (" (pergantian tahap)." if due.reason == "stage" else "."))
        mark = marks.get(key)
        out.append(Reminder(key, "reassessment", client.id, client.name, None, None, datetime.combine(day, SEND_AT["reassessment"], zone), None,
                            text, None, "sent" if mark else "pending", mark.sent_at if mark else None))
    return sorted(out, key=lambda r: (r.at, r.appointment_at or r.at, r.client_name, r.id))


async def _reassessments(db: AsyncSession, clients: list[Client], day: date) -> list[tuple[str, Client, AssessmentDue]]:
    """The assessed clients whose reassessment is due on ``day``, each with its key."""
    assessed = await assessments_of(db, [c.id for c in clients])
    settings = {o.id: guidance_settings(o) for o in (await db.execute(select(Office).where(Office.id.in_({c.office_id for c in clients})))).scalars()}
    out = []
    for client in clients:
        if not assessed[client.id]:
            continue
        due = assessment_due(client, assessed[client.id][-1], settings[client.office_id], day)
        if due.state == "due":
            out.append((f"reassessment-c{client.id}-{due.since.isoformat()}", client, due))
    return out


def _invitation_text(client: Client, event: MobileEvent, starts: datetime) -> str:
    venue = f" di {event.venue}," if event.venue else ""
    topic = f" Topik: {event.topic}." if event.topic else ""
    note = f" {event.client_note}" if event.client_note else ""
    return (f"Yth. {client.name}, Anda diundang ke layanan bimbingan bergerak Bapas besok, {starts.strftime('%d-%m-%Y')} "
            f"pukul {event.start_time}-{event.end_time} WIB{venue} Kelurahan {event.kelurahan}.{topic}{note} "
            "Bila berhalangan, laporkan kendala lewat tautan pribadi Anda atau hubungi PK.")


async def mark_sent(db: AsyncSession, staff: Staff, reminder_id: str, day: date, tz: str) -> tuple[Reminder, bool]:
    """Mark one of the day's reminders sent. Returns it and whether this call
    changed anything (marking twice is harmless). Sending reminders is
    guidance: an admin marks none."""
    require_guidance(staff)
    match = re.fullmatch(r"(morning_of|day_before|overdue|mobile_invitation|reassessment)-(c?)(\d{1,12})-([0-9-]{1,12})", reminder_id)
    # The row id goes through the one id parser: 12 digits are beyond PostgreSQL's
    # 32-bit column, an error there rather than no row (issue 23, item 6).
    row_id = id_from_text(match.group(3)) if match else None
    if row_id is None:
        raise not_found("reminder")
    # The client must be one the caller may see: 404 otherwise, before anything is read.
    if match.group(2):
        client = require_client(staff, await db.get(Client, row_id))
    else:
        session = await db.get(GuidanceSession, row_id)
        if session is None:
            raise not_found("reminder")
        client = require_client(staff, session.client)
    # Read the day's marks under the client's lock: two marks at once (two tabs, a
    # double click) would both find it unsent and the second hit the unique key.
    await hold_clients(db, [client.id])
    current = {r.id: r for r in await daily_reminders(db, staff, day, tz) if r.client_id == client.id}
    reminder = current.get(reminder_id)
    if reminder is None:
        # Moved, cancelled, or not today's: nothing to mark.
        raise DomainError(ErrorKind.not_found, "not-found", "No such reminder today (the appointment may have moved or been cancelled).")
    if reminder.state == "sent":
        return reminder, False
    now = utcnow()
    db.add(ReminderMark(key=reminder.id, client_id=client.id, session_id=reminder.session_id, kind=reminder.kind, sent_at=now, sent_by_id=staff.id))
    await db.flush()
    return Reminder(**{**reminder.__dict__, "state": "sent", "sent_at": now}), True
