"""A client's appointments, in one list: what the double-booking rule, the
reminders (server/domain/outreach/reminders.py) and the client's own page
(server/domain/outreach/portal.py) all read.

An appointment is
- a guidance session not yet held (status ``scheduled``, or ``active`` while it
  runs): a video, office or phone session, a planned home visit, a mobile
  session scheduled by hand. A session has no planned length, so it occupies
  ``SESSION_MINUTES`` from its ``scheduled_at``: the office's usual session,
  talk and paperwork together;
- a planned (not cancelled) mobile-counseling day the client is invited to,
  from its start to its end time on its date, office time.

A planned home visit is *announced* (reminded, shown on the client's page) only
when the PK chose so when planning it (``notify_client``); an unannounced visit
still books the client's time.

Two appointments overlap when one starts before the other ends: a day that ends
at 12:00 and a session at 12:00 do not. The rule (issue 18): a client is never
invited to two events that overlap, nor to an event that overlaps one of their
sessions; sessions among themselves are the PK's business and are not checked.
Who books checks and writes under :func:`hold_clients`, so two bookings of one
client made at the same moment are taken one after the other.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import (
    Client,
    GuidanceSession,
    MobileEvent,
    MobileEventStatus,
    MobileInvitation,
    SessionMode,
    SessionStatus,
)
from server.domain.errors import DomainError, ErrorKind

SESSION_MINUTES = 60
SESSION_LENGTH = timedelta(minutes=SESSION_MINUTES)
# Sessions not yet held: scheduled, or under way (a call that runs, a client who may rejoin).
BOOKED_STATUSES = (SessionStatus.scheduled, SessionStatus.active)


def _shifted(moment: datetime, delta: timedelta) -> datetime:
    """``moment + delta``, held at the calendar's ends: a mistyped year 9999 (or 1)
    must not overflow into a 500."""
    try:
        return moment + delta
    except OverflowError:
        return (datetime.max if delta > timedelta(0) else datetime.min).replace(tzinfo=timezone.utc)


def _local_day(moment: datetime, zone: ZoneInfo) -> date:
    try:
        return moment.astimezone(zone).date()
    except OverflowError:
        return date.max if moment.year > 1 else date.min


def _at(day: date, hhmm: str, tz: str) -> datetime:
    hh, mm = (int(x) for x in hhmm.split(":"))
    return datetime.combine(day, time(hh, mm), ZoneInfo(tz))


def day_span(day: date, start_time: str, end_time: str, tz: str) -> tuple[datetime, datetime]:
    """From ``start_time`` to ``end_time`` (``HH:MM``) on ``day``, office time."""
    return _at(day, start_time, tz), _at(day, end_time, tz)


def event_span(event: MobileEvent, tz: str) -> tuple[datetime, datetime]:
    """When a mobile-counseling day starts and ends: its times on its date, office time."""
    return day_span(event.date, event.start_time, event.end_time, tz)


def session_span(session: GuidanceSession) -> tuple[datetime, datetime]:
    return session.scheduled_at, _shifted(session.scheduled_at, SESSION_LENGTH)


@dataclass(frozen=True)
class Appointment:
    client_id: int
    start: datetime
    end: datetime
    session: GuidanceSession | None = None
    event: MobileEvent | None = None

    @property
    def announced(self) -> bool:
        """Whether the client is told of it (a home visit only when the PK chose so)."""
        s = self.session
        return s is None or s.mode != SessionMode.home_visit or bool(s.notify_client)

    def overlaps(self, start: datetime, end: datetime) -> bool:
        return self.start < end and start < self.end

    def describe(self, tz: str) -> dict:
        """The appointment as the ``with`` of a double-booking refusal or conflict."""
        zone = ZoneInfo(tz)
        if self.event is not None:
            e = self.event
            return {"kind": "mobile_event", "event_id": e.id, "date": e.date.isoformat(), "start_time": e.start_time,
                    "end_time": e.end_time, "kelurahan": e.kelurahan}
        s = self.session
        return {"kind": "session", "session_id": s.id, "mode": s.mode.value, "scheduled_at": self.start.astimezone(zone).isoformat(),
                "until": self.end.astimezone(zone).isoformat()}

    def page_params(self, tz: str) -> dict:
        """The same, for the page's sentence (``error.double_booked_*``)."""
        if self.event is not None:
            e = self.event
            return {"date": e.date.strftime("%d-%m-%Y"), "start": e.start_time, "end": e.end_time, "kelurahan": e.kelurahan, "id": e.id}
        local = self.start.astimezone(ZoneInfo(tz))
        return {"date": local.strftime("%d-%m-%Y"), "start": local.strftime("%H:%M"), "id": self.session.id}


async def appointments(
    db: AsyncSession,
    client_ids: list[int],
    start: datetime,
    end: datetime | None,
    tz: str,
    *,
    sessions: bool = True,
    events: bool = True,
) -> list[Appointment]:
    """Every appointment of the clients that overlaps [start, end) (``end`` None:
    from ``start`` on), soonest first."""
    ids = sorted(set(client_ids))
    if not ids:
        return []
    found: list[Appointment] = []
    if sessions:
        q = select(GuidanceSession).where(
            GuidanceSession.client_id.in_(ids), GuidanceSession.status.in_(BOOKED_STATUSES), GuidanceSession.scheduled_at > _shifted(start, -SESSION_LENGTH)
        )
        if end is not None:
            q = q.where(GuidanceSession.scheduled_at < end)
        for s in (await db.execute(q)).scalars():
            found.append(Appointment(s.client_id, *session_span(s), session=s))
    if events:
        zone = ZoneInfo(tz)
        q = (
            select(MobileInvitation.client_id, MobileEvent)
            .join(MobileEvent, MobileEvent.id == MobileInvitation.event_id)
            .where(MobileInvitation.client_id.in_(ids), MobileEvent.status == MobileEventStatus.planned,
                   MobileEvent.date >= _local_day(start, zone))
        )
        if end is not None:
            q = q.where(MobileEvent.date <= _local_day(end, zone))
        for client_id, event in (await db.execute(q)).all():
            found.append(Appointment(client_id, *event_span(event, tz), event=event))
    found = [a for a in found if a.end > start and (end is None or a.start < end)]
    return sorted(found, key=lambda a: (a.start, a.end, a.client_id, a.event.id if a.event else 0, a.session.id if a.session else 0))


def session_end(start: datetime) -> datetime:
    """The end of the time a session at ``start`` occupies."""
    return _shifted(start, SESSION_LENGTH)


async def clashes(
    db: AsyncSession,
    client_ids: list[int],
    start: datetime,
    end: datetime,
    tz: str,
    *,
    sessions: bool = True,
    except_event_id: int | None = None,
) -> dict[int, Appointment]:
    """For each client who has one, the first appointment overlapping [start, end)
    (events always; sessions too unless ``sessions`` is False; the event being
    booked or moved, ``except_event_id``, left out)."""
    out: dict[int, Appointment] = {}
    for a in await appointments(db, client_ids, start, end, tz, sessions=sessions):
        if a.event is not None and a.event.id == except_event_id:
            continue
        out.setdefault(a.client_id, a)
    return out


async def hold_clients(db: AsyncSession, client_ids: list[int]) -> None:
    """Take the clients' booking lock until the transaction ends, before checking
    their appointments: check-then-insert is a race (/work/shared/PITFALLS.md 11),
    and two requests booking one client must run one after the other so the
    second sees the first's booking. PostgreSQL: the client rows are locked ``FOR
    NO KEY UPDATE`` (in id order, so two holders never wait on each other crosswise;
    rows that merely refer to a client are still inserted meanwhile). SQLite: a
    transaction begins at its first write, so a write that changes nothing takes
    the database's one write lock now, and the check reads after it."""
    ids = sorted(set(client_ids))
    if not ids:
        return
    if db.get_bind().dialect.name == "postgresql":
        await db.execute(select(Client.id).where(Client.id.in_(ids)).order_by(Client.id).with_for_update(key_share=True))
    else:
        await db.execute(update(Client).where(Client.id.in_(ids)).values(name=Client.name).execution_options(synchronize_session=False))


async def refuse_session_clash(db: AsyncSession, client: Client, start: datetime, tz: str) -> None:
    """Refuse (409 ``double-booked``) a session of ``client`` at ``start`` that would
    overlap a day they are invited to; the check runs under the client's booking
    lock, which the caller's transaction keeps until it writes the session."""
    await hold_clients(db, [client.id])
    found = await clashes(db, [client.id], start, session_end(start), tz, sessions=False)
    if found:
        raise double_booked(found, {client.id: client.name}, tz)


def double_booked(found: dict[int, Appointment], names: dict[int, str], tz: str, shown: set[int] | None = None) -> DomainError:
    """409 ``double-booked``: ``conflicts`` names, for each client, the other
    appointment; only the clients in ``shown`` (those the caller may see) when
    given, though every clash refuses."""
    listed = {cid: a for cid, a in found.items() if shown is None or cid in shown}
    client_id, first = next(iter((listed or found).items()))
    kind = "event" if first.event is not None else "session"
    what = f"mobile event {first.event.id} on {first.event.date}" if first.event is not None else f"session {first.session.id} at {first.start.isoformat()}"
    return DomainError(
        ErrorKind.conflict, "double-booked",
        f"Client {client_id} already has {what} at that time" + (f" ({len(found) - 1} more clients likewise)." if len(found) > 1 else "."),
        key=f"error.double_booked_{kind}", params={"client": names.get(client_id, str(client_id)), **first.page_params(tz)},
        conflicts=[{"client_id": cid, "with": a.describe(tz)} for cid, a in listed.items()],
    )


async def appointment_moved(
    db: AsyncSession,
    *,
    kind: str,  # "mobile_event" | "home_visit"
    target_id: int,
    client_ids: list[int],
    old_start: datetime | None,
    new_start: datetime | None,  # None: cancelled
) -> None:
    """The one hook for what follows a moved appointment, called in the
    transaction that moves it (server/domain/fieldwork/mobile_events.py and
    home_visits.py). Nothing is stored that would need moving: reminders are
    computed from :func:`appointments` each time, keyed by the appointment's
    time, so a moved day or visit makes new reminders and a cancelled one's
    disappear. This stays the place for what must be *pushed* on a move (a
    message to the client through the gateway, say)."""
    return None
