"""Mobile counseling (layanan bergerak): a day in a kelurahan, its invited
clients, the roll call at the venue, and the summary after the day.

Who may do what: events belong to the office. A supervisor (or admin) reads
them all; a PK reads every event but sees the clients of only their own
caseload, except on an event they are on duty for, where the roll call needs
everyone invited (and any client of the office for a walk-in). PKs and
supervisors create events and change invitations; the PKs on duty and
supervisors take the roll call.

A check-in is idempotent: the device makes a ``key`` for each check-in and a
unique constraint on (event, key) lets concurrent retries make one session. The
key is bound to its check-in: the same key for another client is refused (409
``key-reused``), whether the two arrive one after the other or at once. A client
has at most one standing check-in per day: the check runs under the client's
lock, and a partial unique index on (event, client) for the sessions not taken
back (migration 0012) holds it for any writer.

A day is *over* at its end time on its date, office time. Until then an invited
client who has not checked in is awaited (``diundang``), never absent: absence
is a fact only once the day is over (and a cancelled day has no absentees).
Walk-ins (checked in without an invitation) are counted apart from the invited.

A client is never invited to a day that overlaps another day they are invited
to or one of their sessions (server/domain/record/appointments.py): inviting
one is refused, a new day's automatic invitations leave them out (and say so),
and a day is not moved onto such a clash.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.locks import hold
from server.db.models import (
    Area,
    Client,
    Evidence,
    GuidanceSession,
    MobileEvent,
    MobileEventStatus,
    MobileInvitation,
    Outcome,
    Role,
    SessionMode,
    SessionStatus,
    Staff,
    utcnow,
)
from server.domain.access import can_see_client, require_guidance
from server.domain.errors import DomainError, ErrorKind, invalid, not_found
from server.domain.office.areas import match_kelurahan
from server.domain.record.appointments import Appointment, appointment_moved, clashes, day_span, double_booked, event_span, hold_clients
from server.domain.record.ledger import STATE_ORDER, Attendance, attendance, local_date
from server.domain.record.rules import office_rules
from server.domain.record.sessions import add_event

# A device that was offline at the venue may send its check-ins a little later.
LATE_SYNC_DAYS = 3


def event_start(event: MobileEvent, tz: str) -> datetime:
    return event_span(event, tz)[0]


def is_over(event: MobileEvent, now: datetime, tz: str) -> bool:
    """Whether the day has ended: its end time on its date, office time, has come."""
    return now >= event_span(event, tz)[1]


def on_duty(staff: Staff, event: MobileEvent) -> bool:
    return staff.id in (event.officer_ids or [])


def sees_all_clients(staff: Staff, event: MobileEvent) -> bool:
    return staff.role in (Role.supervisor, Role.admin) or on_duty(staff, event)


def may_change(staff: Staff) -> bool:
    return staff.role in (Role.pk, Role.supervisor)


def require_day_duty(actor: Staff, event: MobileEvent, changes: dict | None = None) -> None:
    """Who may change or cancel a day that exists (issue 23, item 2): the
    supervisor, or a PK already on duty at it; and only the supervisor assigns
    duty (the Kasie's act in the field). A PK who could add themselves to any day
    would then read its whole roster, check in other PKs' clients and undo their
    check-ins. An admin runs no guidance at all."""
    require_guidance(actor)
    if actor.role == Role.supervisor:
        return
    if not on_duty(actor, event):
        raise DomainError(ErrorKind.forbidden, "not-on-duty", "Only the PKs on duty at this day, or a supervisor, change it.", key="error.not_on_duty")
    if changes and "officer_ids" in changes and sorted(set(changes["officer_ids"])) != sorted(event.officer_ids or []):
        raise DomainError(ErrorKind.forbidden, "duty-by-supervisor", "Duty at a mobile-counseling day is assigned by a supervisor.", key="error.duty_by_supervisor")


def may_roll_call(staff: Staff, event: MobileEvent) -> bool:
    return staff.role == Role.supervisor or (staff.role == Role.pk and on_duty(staff, event))


def may_edit_day(staff: Staff, event: MobileEvent) -> bool:
    """Whether ``require_day_duty`` lets ``staff`` change or cancel the day."""
    return may_roll_call(staff, event)


def require_roll_call(actor: Staff, event: MobileEvent) -> None:
    """The roll call (roster, check-ins, their undo) is the PKs' on duty and the supervisor's."""
    require_guidance(actor)
    if not may_roll_call(actor, event):
        raise DomainError(ErrorKind.forbidden, "not-on-duty", "Only the PKs on duty or a supervisor take the roll call.", key="error.not_on_duty")


async def load_event(db: AsyncSession, staff: Staff, event_id: int) -> MobileEvent:
    event = await db.get(MobileEvent, event_id)
    if event is None or event.office_id != staff.office_id:
        raise not_found("mobile event")
    return event


async def _check_officers(db: AsyncSession, office_id: int, officer_ids: list[int]) -> list[int]:
    ids = sorted(set(officer_ids))
    if not ids:
        raise invalid("officer_ids", "name at least one PK on duty")
    found = set((await db.execute(select(Staff.id).where(Staff.id.in_(ids), Staff.office_id == office_id, Staff.active, Staff.role.in_([Role.pk, Role.supervisor])))).scalars())
    if found != set(ids):
        raise invalid("officer_ids", "every id must be an active PK or supervisor of this office")
    return ids


def _check_times(start_time: str, end_time: str) -> None:
    if end_time <= start_time:
        raise invalid("end_time", "must be after start_time")


async def area_clients(db: AsyncSession, office_id: int, kelurahan: str, area_id: int | None, *, whole_kecamatan: bool = False) -> list[Client]:
    """The office's clients living in the kelurahan (or its whole kecamatan)."""
    query = select(Client).where(Client.office_id == office_id)
    if area_id is not None:
        area_ids = [area_id]
        if whole_kecamatan:
            parent = await db.scalar(select(Area.parent_id).where(Area.id == area_id))
            if parent is not None:
                area_ids = list((await db.execute(select(Area.id).where(Area.parent_id == parent))).scalars())
        query = query.where(or_(Client.area_id.in_(area_ids), func.lower(Client.kelurahan) == kelurahan.lower()))
    else:
        query = query.where(func.lower(Client.kelurahan) == kelurahan.lower())
    return list((await db.execute(query.order_by(Client.name))).scalars())


async def attendance_of(db: AsyncSession, clients: list[Client], today: date, tz: str) -> dict[int, Attendance]:
    if not clients:
        return {}
    ids = [c.id for c in clients]
    by: dict[int, list[GuidanceSession]] = {i: [] for i in ids}
    for s in (await db.execute(select(GuidanceSession).where(GuidanceSession.client_id.in_(ids)))).scalars():
        by[s.client_id].append(s)
    rules = await office_rules(db, clients[0].office_id, tz)  # the clients of one office
    return {c.id: attendance(c, by[c.id], today, rules) for c in clients}


def due_first(clients: list[Client], att: dict[int, Attendance]) -> list[Client]:
    return sorted(clients, key=lambda c: (STATE_ORDER[att[c.id].state], -att[c.id].overdue_days, c.name))


async def create_event(
    db: AsyncSession,
    actor: Staff,
    *,
    day: date,
    start_time: str,
    end_time: str,
    kelurahan: str,
    venue: str,
    officer_ids: list[int],
    topic: str,
    client_note: str = "",
    whole_kecamatan: bool = False,
    today: date,
    tz: str,
) -> tuple[MobileEvent, list[int], dict[int, Appointment]]:
    """Create the day and invite the area's clients under supervision on it,
    due or overdue first, except those with an appointment that overlaps it.
    Returns the event, the invited client ids and, for each client left out,
    the appointment in the way."""
    require_guidance(actor)
    if day < today:
        raise DomainError(ErrorKind.invalid, "date-past", "date: the day has passed", key="error.date_past", fields={"date": "in the past"})
    _check_times(start_time, end_time)
    ids = await _check_officers(db, actor.office_id, officer_ids)
    # A PK plans a day they hold themselves; putting others on duty is the Kasie's.
    if actor.role == Role.pk and ids != [actor.id]:
        raise DomainError(ErrorKind.forbidden, "duty-by-supervisor", "Duty at a mobile-counseling day is assigned by a supervisor: a PK plans a day with themself alone on duty.", key="error.duty_by_supervisor")
    area = await match_kelurahan(db, actor.office_id, kelurahan)
    event = MobileEvent(
        office_id=actor.office_id, date=day, start_time=start_time, end_time=end_time,
        kelurahan=area.name if area else " ".join(kelurahan.split()), area_id=area.id if area else None,
        venue=venue, topic=topic, client_note=client_note, officer_ids=ids, status=MobileEventStatus.planned,
        created_by_id=actor.id,
    )
    db.add(event)
    await db.flush()
    clients = [c for c in await area_clients(db, actor.office_id, event.kelurahan, event.area_id, whole_kecamatan=whole_kecamatan)
               if c.supervision_start <= day <= c.supervision_end]
    if area is None and clients:
        event.kelurahan = clients[0].kelurahan  # the spelling the clients' records use
    await hold_clients(db, [c.id for c in clients])
    conflicts = await clashes(db, [c.id for c in clients], *event_span(event, tz), tz, except_event_id=event.id)
    free = [c for c in clients if c.id not in conflicts]
    att = await attendance_of(db, free, today, tz)
    invited = [c.id for c in due_first(free, att)]
    for cid in invited:
        db.add(MobileInvitation(event_id=event.id, client_id=cid, added_by_id=actor.id))
    await db.flush()
    return event, invited, {c.id: conflicts[c.id] for c in clients if c.id in conflicts}


async def update_event(db: AsyncSession, actor: Staff, event: MobileEvent, changes: dict, *, today: date, tz: str) -> dict:
    """Move or edit an event (date, times, venue, topic, note, PKs on duty); returns
    what changed (field → [old, new]). A moved event moves its clients' reminders."""
    require_day_duty(actor, event, changes)
    if event.status == MobileEventStatus.cancelled:
        raise DomainError(ErrorKind.conflict, "event-cancelled", "The event is cancelled.", key="error.event_cancelled")
    new_date = changes.get("date", event.date)
    if "date" in changes and new_date < today:
        raise DomainError(ErrorKind.invalid, "date-past", "date: the day has passed", key="error.date_past", fields={"date": "in the past"})
    _check_times(changes.get("start_time", event.start_time), changes.get("end_time", event.end_time))
    if "officer_ids" in changes:
        changes["officer_ids"] = await _check_officers(db, actor.office_id, changes["officer_ids"])
    if any(changes.get(k, getattr(event, k)) != getattr(event, k) for k in ("date", "start_time", "end_time")):
        await _refuse_clashing_move(db, actor, event, changes, tz)
    old_start = event_start(event, tz)
    changed = {}
    for key, value in changes.items():
        attr = "date" if key == "date" else key
        old = getattr(event, attr)
        if old != value:
            changed[key] = [str(old) if isinstance(old, date) else old, str(value) if isinstance(value, date) else value]
            setattr(event, attr, value)
    if "date" in changed or "start_time" in changed:
        await appointment_moved(db, kind="mobile_event", target_id=event.id, client_ids=await invited_ids(db, event), old_start=old_start, new_start=event_start(event, tz))
    return changed


async def _refuse_clashing_move(db: AsyncSession, actor: Staff, event: MobileEvent, changes: dict, tz: str) -> None:
    """A day is not moved onto another appointment of a client it invites: the
    move is refused whole (409 ``double-booked`` naming every clash the actor may
    see), so the PK removes those invitations, or moves the other appointment, first."""
    ids = await invited_ids(db, event)
    await hold_clients(db, ids)
    moved = day_span(changes.get("date", event.date), changes.get("start_time", event.start_time), changes.get("end_time", event.end_time), tz)
    found = await clashes(db, ids, *moved, tz, except_event_id=event.id)
    if found:
        names = {c.id: c.name for c in (await db.execute(select(Client).where(Client.id.in_(list(found))))).scalars()}
        raise double_booked(found, names, tz, shown=set(await visible_ids(db, actor, event, list(found))))


async def cancel_event(db: AsyncSession, actor: Staff, event: MobileEvent, tz: str) -> None:
    require_day_duty(actor, event)
    if event.status == MobileEventStatus.cancelled:
        raise DomainError(ErrorKind.conflict, "event-cancelled", "The event is cancelled.", key="error.event_cancelled")
    event.status = MobileEventStatus.cancelled
    await appointment_moved(db, kind="mobile_event", target_id=event.id, client_ids=await invited_ids(db, event), old_start=event_start(event, tz), new_start=None)


async def invited_ids(db: AsyncSession, event: MobileEvent) -> list[int]:
    return list((await db.execute(select(MobileInvitation.client_id).where(MobileInvitation.event_id == event.id).order_by(MobileInvitation.id))).scalars())


async def checkin_sessions(db: AsyncSession, event: MobileEvent, *, include_undone: bool = False) -> list[GuidanceSession]:
    q = select(GuidanceSession).where(GuidanceSession.mobile_event_id == event.id)
    if not include_undone:
        q = q.where(GuidanceSession.status != SessionStatus.cancelled)
    return list((await db.execute(q.order_by(GuidanceSession.id))).scalars())


async def visible_ids(db: AsyncSession, staff: Staff, event: MobileEvent, client_ids: list[int]) -> list[int]:
    if sees_all_clients(staff, event) or not client_ids:
        return client_ids
    own = set((await db.execute(select(Client.id).where(Client.id.in_(client_ids), Client.officer_id == staff.id))).scalars())
    return [i for i in client_ids if i in own]


def _may_invite(actor: Staff, event: MobileEvent, client: Client | None) -> Client:
    """The client, if the actor may change its invitation to the event; a client
    who does not exist, or whom the actor may not see, is not found alike."""
    require_guidance(actor)
    if client is None or not (can_see_client(actor, client) or (client.office_id == actor.office_id and sees_all_clients(actor, event))):
        raise not_found("client")
    return client


async def invite(db: AsyncSession, actor: Staff, event: MobileEvent, client: Client | None, tz: str) -> bool:
    """Add a client to the invited list; False when already invited. A client with
    another appointment overlapping the day is refused (409 ``double-booked``)."""
    client = _may_invite(actor, event, client)
    await hold_clients(db, [client.id])
    if await db.scalar(select(MobileInvitation.id).where(MobileInvitation.event_id == event.id, MobileInvitation.client_id == client.id)):
        return False
    if event.status == MobileEventStatus.planned:
        found = await clashes(db, [client.id], *event_span(event, tz), tz, except_event_id=event.id)
        if found:
            raise double_booked(found, {client.id: client.name}, tz)
    db.add(MobileInvitation(event_id=event.id, client_id=client.id, added_by_id=actor.id))
    await db.flush()
    return True


async def uninvite(db: AsyncSession, actor: Staff, event: MobileEvent, client: Client | None) -> None:
    client = _may_invite(actor, event, client)
    row = (await db.execute(select(MobileInvitation).where(MobileInvitation.event_id == event.id, MobileInvitation.client_id == client.id))).scalar_one_or_none()
    if row is None:
        raise not_found("invitation")
    await db.delete(row)


async def left_out(db: AsyncSession, staff: Staff, event: MobileEvent, client_ids: list[int], tz: str) -> list[tuple[Client, Appointment]]:
    """Of ``client_ids`` (those a new day's invitations left out), the ones ``staff``
    may see who are still not invited and still have an appointment in the way, with it."""
    invited = set(await invited_ids(db, event))
    ids = [i for i in await visible_ids(db, staff, event, client_ids) if i not in invited]
    found = await clashes(db, ids, *event_span(event, tz), tz, except_event_id=event.id) if ids else {}
    clients = {c.id: c for c in (await db.execute(select(Client).where(Client.id.in_(list(found)), Client.office_id == event.office_id))).scalars()} if found else {}
    return sorted(((clients[i], a) for i, a in found.items() if i in clients), key=lambda pair: pair[0].name)


async def find_checkin(db: AsyncSession, event: MobileEvent, *, key: str | None = None, client_id: int | None = None) -> GuidanceSession | None:
    q = select(GuidanceSession).where(GuidanceSession.mobile_event_id == event.id)
    if key is not None:
        q = q.where(GuidanceSession.checkin_key == key)
    else:
        q = q.where(GuidanceSession.client_id == client_id, GuidanceSession.status != SessionStatus.cancelled)
    return (await db.execute(q.order_by(GuidanceSession.id).limit(1))).scalar_one_or_none()


def key_reused() -> DomainError:
    return DomainError(ErrorKind.conflict, "key-reused", "That check-in key was used for another client.", key="error.key_reused")


async def check_in(
    db: AsyncSession, actor: Staff, event: MobileEvent, client: Client | None, *, key: str | None, today: date, tz: str, now: datetime | None = None
) -> tuple[GuidanceSession, bool]:
    """Check a client in: a ``mobile`` session with evidence ``roll_call``, outcome
    attended, linked to the event and the PK on duty. Returns (session, created);
    the same key again, or a client already checked in, returns the first session."""
    require_roll_call(actor, event)
    if client is None or client.office_id != event.office_id:
        raise not_found("client")
    # Check, then insert, under the client's lock: parallel check-ins of one client
    # (ten at once made nine sessions, issue 23) run one after the other.
    await hold_clients(db, [client.id])
    if key is not None:
        same = await find_checkin(db, event, key=key)
        if same is not None:
            if same.client_id != client.id:
                raise key_reused()
            return same, False
    if event.status == MobileEventStatus.cancelled:
        raise DomainError(ErrorKind.conflict, "event-cancelled", "The event is cancelled.", key="error.event_cancelled")
    if today < event.date or (today - event.date).days > LATE_SYNC_DAYS:
        raise DomainError(ErrorKind.conflict, "not-event-day", "Check-ins are taken on the event's day.", key="error.not_event_day")
    already = await find_checkin(db, event, client_id=client.id)
    if already is not None:
        return already, False
    now = now or utcnow()
    start = event_start(event, tz)
    began = now if local_date(now, tz) == event.date else start
    invited = client.id in await invited_ids(db, event)
    session = GuidanceSession(
        office_id=client.office_id, client_id=client.id, officer_id=client.officer_id, mode=SessionMode.mobile,
        evidence=Evidence.roll_call, status=SessionStatus.ended, scheduled_at=start, started_at=began, ended_at=began,
        duration_seconds=0, outcome=Outcome.attended, notes="", topics=[], location=f"{event.venue}, {event.kelurahan}".strip(", "),
        mobile_event_id=event.id, checked_in_by_id=actor.id, checkin_key=key, created_by_id=actor.id, created_at=now,
    )
    db.add(session)
    await db.flush()
    add_event(db, session, "created", "officer", at=now, mode="mobile", by=actor.username)
    add_event(db, session, "checked_in", "officer", at=now, event_id=event.id, by=actor.username, walk_in=not invited)
    add_event(db, session, "ended", "officer", at=now)
    return session, True


async def undo_checkin(db: AsyncSession, actor: Staff, event: MobileEvent, session: GuidanceSession | None, *, today: date) -> GuidanceSession:
    """Take a check-in back on the event's day. The session stays in the record,
    cancelled, with the undo in its history."""
    require_roll_call(actor, event)
    if session is None or session.mobile_event_id != event.id:
        raise not_found("check-in")
    # Read the status again under the session's lock: two undos at once take it back once.
    await hold(db, GuidanceSession, [session.id])
    if session.status == SessionStatus.cancelled:
        raise DomainError(ErrorKind.conflict, "already-undone", "That check-in was already taken back.", key="error.already_undone")
    if today != event.date:
        raise DomainError(ErrorKind.conflict, "undo-same-day", "A check-in can be taken back only on the event's day.", key="error.undo_same_day")
    session.status = SessionStatus.cancelled
    add_event(db, session, "checkin_undone", "officer", by=actor.username)
    return session


@dataclass
class Summary:
    """The roll call of a day as ``staff`` may see it. ``attended``: invited and
    checked in; ``walk_ins``: checked in without an invitation; the invited who
    have not checked in are ``awaited`` until the day is ``over``, then
    ``absent``. A cancelled day awaits no one and has no absentees."""

    over: bool = False
    cancelled: bool = False
    invited: list[Client] = field(default_factory=list)
    attended: list[tuple[Client, GuidanceSession]] = field(default_factory=list)
    walk_ins: list[tuple[Client, GuidanceSession]] = field(default_factory=list)
    awaited: list[tuple[Client, Attendance]] = field(default_factory=list)
    absent: list[tuple[Client, Attendance]] = field(default_factory=list)
    undone: list[GuidanceSession] = field(default_factory=list)

    def counts(self) -> dict:
        """The figures of the roll call: ``absent`` only once a held day is over,
        ``awaited`` before (neither for a cancelled day)."""
        out = {"invited": len(self.invited), "invited_present": len(self.attended), "walk_ins": len(self.walk_ins),
               "present": len(self.attended) + len(self.walk_ins)}
        if not self.cancelled:
            out["absent" if self.over else "awaited"] = len(self.absent if self.over else self.awaited)
        return out


async def summary(db: AsyncSession, staff: Staff, event: MobileEvent, today: date, tz: str, now: datetime | None = None) -> Summary:
    inv_ids = await visible_ids(db, staff, event, await invited_ids(db, event))
    sessions = await checkin_sessions(db, event, include_undone=True)
    all_ids = set(inv_ids) | {s.client_id for s in sessions}
    clients = {c.id: c for c in (await db.execute(select(Client).where(Client.id.in_(all_ids)))).scalars()} if all_ids else {}
    visible = set(await visible_ids(db, staff, event, list(clients)))
    out = Summary(over=is_over(event, now or utcnow(), tz), cancelled=event.status == MobileEventStatus.cancelled, invited=[clients[i] for i in inv_ids])
    came = set()
    for s in sessions:
        if s.client_id not in visible:
            continue
        if s.status == SessionStatus.cancelled:
            out.undone.append(s)
            continue
        came.add(s.client_id)
        (out.attended if s.client_id in inv_ids else out.walk_ins).append((clients[s.client_id], s))
    if out.cancelled:
        return out
    missing = [clients[i] for i in inv_ids if i not in came]
    att = await attendance_of(db, missing, today, tz)
    ranked = [(c, att[c.id]) for c in due_first(missing, att)]
    if out.over:
        out.absent = ranked
    else:
        out.awaited = ranked
    return out


async def events_between(db: AsyncSession, office_id: int, start: date, end: date) -> list[MobileEvent]:
    return list((await db.execute(select(MobileEvent).where(MobileEvent.office_id == office_id, MobileEvent.date >= start, MobileEvent.date <= end).order_by(MobileEvent.date, MobileEvent.start_time))).scalars())


async def days_per_kelurahan(db: AsyncSession, office_id: int, now: datetime, tz: str) -> list[tuple[str, int, date]]:
    """How many mobile days each kelurahan has had (held, not cancelled: over by
    ``now``, so today's day counts once it has ended), and the last."""
    rows = (await db.execute(select(MobileEvent).where(MobileEvent.office_id == office_id, MobileEvent.status == MobileEventStatus.planned,
                                                       MobileEvent.date <= local_date(now, tz)))).scalars()
    count: Counter[str] = Counter()
    last: dict[str, date] = {}
    for event in rows:
        if not is_over(event, now, tz):
            continue
        name, day = event.kelurahan, event.date
        count[name] += 1
        last[name] = max(last.get(name, day), day)
    return sorted(((k, n, last[k]) for k, n in count.items()), key=lambda r: (-r[1], r[0]))


def whatsapp_text(event: MobileEvent, client_name: str | None, office_name: str) -> str:
    """The invitation in Bahasa Indonesia, for one client or (no name) a group."""
    days = ["Senin", "Selasa", "Rabu", "Kamis", "Jumat", "Sabtu", "Minggu"]
    months = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November", "Desember"]
    when = f"{days[event.date.weekday()]}, {event.date.day} {months[event.date.month - 1]} {event.date.year}"
    greeting = f"Yth. Bapak/Ibu {client_name}," if client_name else "Yth. Bapak/Ibu klien pemasyarakatan,"
    lines = [
        greeting,
        f"{office_name} mengundang Anda ke layanan bimbingan bergerak (wajib lapor) di Kelurahan {event.kelurahan}.",
        f"Hari/tanggal: {when}",
        f"Pukul: {event.start_time}–{event.end_time} WIB",
        f"Tempat: {event.venue}",
    ]
    if event.topic:
        lines.append(f"Materi: {event.topic}")
    if event.client_note:
        lines.append(f"Catatan: {event.client_note}")
    lines.append("Kehadiran Anda dicatat sebagai wajib lapor. Terima kasih.")
    return "\n".join(lines)

