"""Home visits (kunjungan rumah): planned with a reason and a date, listed by
day grouped by kecamatan and kelurahan (one area after the other saves travel),
then reported through ``field_sessions.complete_session``.

A planned visit is an appointment like any other (it may not overlap a
mobile-counseling day the client is invited to); the client is told of it
(reminders, their own page) only when the PK chooses so, ``notify_client``:
an address check is often better unannounced."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import (
    VISIT_REASONS,
    Area,
    Client,
    GuidanceSession,
    SessionMode,
    SessionStatus,
    Staff,
    utcnow,
)
from server.domain.access import require_guidance, scope_sessions
from server.domain.errors import DomainError, ErrorKind, invalid
from server.domain.record.appointments import appointment_moved, refuse_session_clash
from server.domain.record.sessions import add_event, create_session


async def plan_visit(
    db: AsyncSession, actor: Staff, client: Client, *, day: date, at: time | None, reason: str, note: str, today: date, tz: str, notify_client: bool = False
) -> GuidanceSession:
    require_guidance(actor)
    if reason not in VISIT_REASONS:
        raise invalid("reason", f"one of {', '.join(VISIT_REASONS)}")
    if day < today:
        raise DomainError(ErrorKind.invalid, "date-past", "date: the day has passed", key="error.date_past", fields={"date": "in the past"})
    when = datetime.combine(day, at or time(9, 0), ZoneInfo(tz))
    session = await create_session(db, actor, client, mode=SessionMode.home_visit, scheduled_at=when, notes=note, location=address_of(client),
                                   notify_client=notify_client, tz=tz)
    session.visit_reason = reason
    add_event(db, session, "visit_planned", "officer", reason=reason, by=actor.username, notify_client=notify_client)
    return session


async def move_visit(db: AsyncSession, session: GuidanceSession, new_start: datetime, tz: str) -> None:
    await refuse_session_clash(db, session.client, new_start, tz)
    old = session.scheduled_at
    session.scheduled_at = new_start
    add_event(db, session, "rescheduled", "officer", at=utcnow(), old=old.isoformat(), new=new_start.isoformat())
    await appointment_moved(db, kind="home_visit", target_id=session.id, client_ids=[session.client_id], old_start=old, new_start=new_start)


def address_of(client: Client) -> str:
    parts = [client.street, f"RT/RW {client.rt_rw}" if client.rt_rw else "", f"Kel. {client.kelurahan}" if client.kelurahan else ""]
    return ", ".join(p for p in parts if p)


@dataclass
class DayGroup:
    kecamatan: str
    kelurahan: str
    visits: list[GuidanceSession] = field(default_factory=list)


async def day_list(db: AsyncSession, staff: Staff, day: date, tz: str) -> list[DayGroup]:
    """The home visits planned on the day that this staff member may see, grouped by
    kecamatan then kelurahan (alphabetical, so neighbouring places follow each other),
    by time within a kelurahan."""
    zone = ZoneInfo(tz)
    start = datetime.combine(day, time(0, 0), zone)
    end = datetime.combine(day, time(23, 59, 59), zone)
    q = scope_sessions(select(GuidanceSession), staff).where(
        GuidanceSession.mode == SessionMode.home_visit, GuidanceSession.scheduled_at >= start, GuidanceSession.scheduled_at <= end,
        GuidanceSession.status != SessionStatus.cancelled,
    )
    visits = list((await db.execute(q.order_by(GuidanceSession.scheduled_at))).scalars())
    area_ids = {v.client.area_id for v in visits if v.client.area_id}
    areas = {a.id: a for a in (await db.execute(select(Area).where(Area.office_id == staff.office_id))).scalars()} if area_ids else {}
    groups: dict[tuple[str, str], DayGroup] = {}
    for v in visits:
        kel = areas.get(v.client.area_id) if v.client.area_id else None
        kec = areas.get(kel.parent_id) if kel and kel.parent_id else None
        key = (kec.name if kec else "—", v.client.kelurahan)
        groups.setdefault(key, DayGroup(*key)).visits.append(v)
    return [groups[k] for k in sorted(groups)]
