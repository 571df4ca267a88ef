"""Mobile-counseling days: plan, create, read, move or cancel, invitations,
roll-call check-ins and their undo, the office's cadence
(server/domain/fieldwork/mobile_events.py, server/domain/fieldwork/mobile_planner.py)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Annotated

from aiohttp import web
from pydantic import Field, StringConstraints, model_validator
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from server.db.models import Client, GuidanceSession, MobileEvent, Office, Role, utcnow
from server.domain.access import require_role
from server.domain.errors import invalid
from server.domain.fieldwork import mobile_events as events_domain
from server.domain.fieldwork import mobile_planner
from server.domain.record.appointments import Appointment
from server.keys import audit_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.dates import date_query, today
from server.web.fields import Id, Notes, OfficeDate, ShortText
from server.web.serialize import iso
from server.web.validation import Body, int_param, parse_body

routes = web.RouteTableDef()

HHMM = Annotated[str, StringConstraints(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$")]
Key = Annotated[str, StringConstraints(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class EventCreate(Body):
    date: OfficeDate
    start_time: HHMM
    end_time: HHMM
    kelurahan: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    venue: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    officer_ids: list[Id] = Field(min_length=1, max_length=20)
    topic: ShortText = ""
    client_note: Notes = ""
    whole_kecamatan: bool = False


class EventUpdate(Body):
    date: OfficeDate | None = None
    start_time: HHMM | None = None
    end_time: HHMM | None = None
    venue: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = None
    officer_ids: list[Id] | None = Field(default=None, min_length=1, max_length=20)
    topic: ShortText | None = None
    client_note: Notes | None = None

    @model_validator(mode="after")
    def _something(self):
        if not self.model_fields_set:
            raise ValueError("give at least one field to change")
        for name in self.model_fields_set:
            if getattr(self, name) is None:
                raise ValueError(f"{name}: may not be null")
        return self


class CheckIn(Body):
    client_id: Id
    key: Key | None = None


class InvitationAdd(Body):
    client_id: Id


class CadenceUpdate(Body):
    anchor: OfficeDate
    every_days: int = Field(ge=7, le=56)


def event_json(event: MobileEvent, tz: str, invited: list[int] | None = None, checked_in: list[int] | None = None, now: datetime | None = None) -> dict:
    data = {
        "id": event.id,
        "date": event.date.isoformat(),
        "start_time": event.start_time,
        "end_time": event.end_time,
        "kelurahan": event.kelurahan,
        "area_id": event.area_id,
        "venue": event.venue,
        "topic": event.topic,
        "client_note": event.client_note,
        "officer_ids": list(event.officer_ids or []),
        "status": event.status.value,
        "over": events_domain.is_over(event, now or utcnow(), tz),
        "created_at": iso(event.created_at, tz),
    }
    if invited is not None:
        data["invited"] = invited
    if checked_in is not None:
        data["checked_in"] = checked_in
    return data


async def _office(db, staff) -> Office:
    return await db.get(Office, staff.office_id)


@routes.get("/api/mobile-events/plan")
async def plan(request: web.Request) -> web.Response:
    staff = current_staff(request)
    tz = request.app[settings_key].timezone
    now = today(request)
    start = date_query(request, "from", now)
    raw_count = request.query.get("count", "4")
    if not (raw_count.isascii() and raw_count.isdigit()) or len(raw_count) > 3:
        raise invalid("count", f"a number from 1 to {mobile_planner.MAX_COUNT}", code="invalid-query")
    async with request.app[db_key]() as db:
        office = await _office(db, staff)
        proposals = await mobile_planner.plan(db, office, start, int(raw_count), now, tz)
        cadence = mobile_planner.cadence_of(office)
    return web.json_response({"cadence": cadence.as_dict(), "proposals": [p.as_dict() for p in proposals]})


@routes.get("/api/mobile-events/cadence")
async def get_cadence(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        office = await _office(db, staff)
    return web.json_response(mobile_planner.cadence_of(office).as_dict())


@routes.put("/api/mobile-events/cadence")
async def put_cadence(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_role(staff, Role.supervisor, Role.admin)
    body = await parse_body(request, CadenceUpdate)
    async with request.app[db_key]() as db:
        office = await _office(db, staff)
        before, after = mobile_planner.set_cadence(office, body.anchor, body.every_days)
        await db.commit()
    await request.app[audit_key].record("mobile.cadence_change", actor=staff, target_type="office", target_id=staff.office_id, detail={"before": before.as_dict(), "after": after.as_dict()})
    return web.json_response(after.as_dict())


async def create_event(request: web.Request, staff, body: EventCreate) -> tuple[int, list[int], dict[int, Appointment]]:
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        event, invited, conflicts = await events_domain.create_event(
            db, staff, day=body.date, start_time=body.start_time, end_time=body.end_time, kelurahan=body.kelurahan, venue=body.venue,
            officer_ids=body.officer_ids, topic=body.topic, client_note=body.client_note, whole_kecamatan=body.whole_kecamatan,
            today=today(request), tz=tz,
        )
        await db.commit()
        event_id = event.id
    await request.app[audit_key].record("mobile.create", actor=staff, target_type="mobile_event", target_id=event_id,
                                        detail={"date": body.date.isoformat(), "kelurahan": body.kelurahan, "invited": len(invited),
                                                "conflicts": sorted(conflicts)})
    return event_id, invited, conflicts


@routes.post("/api/mobile-events")
async def post_event(request: web.Request) -> web.Response:
    staff = current_staff(request)
    tz = request.app[settings_key].timezone
    body = await parse_body(request, EventCreate)
    event_id, _invited, conflicts = await create_event(request, staff, body)
    async with request.app[db_key]() as db:
        event = await db.get(MobileEvent, event_id)
        data = await event_detail(db, staff, event, tz, today(request))
        shown = await events_domain.visible_ids(db, staff, event, list(conflicts))
    data["conflicts"] = [{"client_id": cid, "with": conflicts[cid].describe(tz)} for cid in shown]
    return web.json_response(data, status=201)


@routes.get("/api/mobile-events")
async def list_events(request: web.Request) -> web.Response:
    staff = current_staff(request)
    now = today(request)
    start = date_query(request, "from", now - timedelta(days=30))
    end = date_query(request, "to", now + timedelta(days=90))
    if end < start or (end - start).days > 3660:
        raise invalid("to", "after from, within ten years", code="invalid-query")
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        events = await events_domain.events_between(db, staff.office_id, start, end)
    return web.json_response({"events": [event_json(e, tz) for e in events]})


async def event_detail(db, staff, event: MobileEvent, tz: str, day: date) -> dict:
    """The event with its roll call as ``staff`` may see it: who is invited, who
    checked in (``walk_ins`` among them: not invited), and the invited who did not:
    ``awaited`` until the day is over, then ``absent`` (neither for a cancelled day)."""
    now = utcnow()
    roll = await events_domain.summary(db, staff, event, day, tz, now)
    came = sorted(roll.attended + roll.walk_ins, key=lambda pair: pair[1].id)
    data = event_json(event, tz, [c.id for c in roll.invited], [c.id for c, _s in came], now)
    data["walk_ins"] = [c.id for c, _s in roll.walk_ins]
    if not roll.cancelled:
        data["absent" if roll.over else "awaited"] = [c.id for c, _att in (roll.absent if roll.over else roll.awaited)]
    data["summary"] = roll.counts()
    return data


@routes.get("/api/mobile-events/{id}")
async def get_event(request: web.Request) -> web.Response:
    staff = current_staff(request)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        event = await events_domain.load_event(db, staff, int_param(request, "id"))
        data = await event_detail(db, staff, event, tz, today(request))
    return web.json_response(data)


@routes.patch("/api/mobile-events/{id}")
async def patch_event(request: web.Request) -> web.Response:
    staff = current_staff(request)
    tz = request.app[settings_key].timezone
    body = await parse_body(request, EventUpdate)
    async with request.app[db_key]() as db:
        event = await events_domain.load_event(db, staff, int_param(request, "id"))
        changed = await events_domain.update_event(db, staff, event, {k: getattr(body, k) for k in body.model_fields_set}, today=today(request), tz=tz)
        await db.commit()
        data = await event_detail(db, staff, event, tz, today(request))
    if changed:
        await request.app[audit_key].record("mobile.change", actor=staff, target_type="mobile_event", target_id=event.id, detail={"changed": changed})
    return web.json_response(data)


@routes.post("/api/mobile-events/{id}/cancel")
async def cancel_event(request: web.Request) -> web.Response:
    staff = current_staff(request)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        event = await events_domain.load_event(db, staff, int_param(request, "id"))
        await events_domain.cancel_event(db, staff, event, tz)
        await db.commit()
        data = await event_detail(db, staff, event, tz, today(request))
    await request.app[audit_key].record("mobile.cancel", actor=staff, target_type="mobile_event", target_id=event.id)
    return web.json_response(data)


@routes.post("/api/mobile-events/{id}/invitations")
async def add_invitation(request: web.Request) -> web.Response:
    staff = current_staff(request)
    body = await parse_body(request, InvitationAdd)
    async with request.app[db_key]() as db:
        event = await events_domain.load_event(db, staff, int_param(request, "id"))
        added = await events_domain.invite(db, staff, event, await db.get(Client, body.client_id), request.app[settings_key].timezone)
        await db.commit()
    if added:
        await request.app[audit_key].record("mobile.invite", actor=staff, target_type="mobile_event", target_id=event.id, detail={"client_id": body.client_id})
    return web.json_response({"event_id": event.id, "client_id": body.client_id, "invited": True}, status=201 if added else 200)


@routes.delete("/api/mobile-events/{id}/invitations/{client_id}")
async def remove_invitation(request: web.Request) -> web.Response:
    staff = current_staff(request)
    client_id = int_param(request, "client_id")
    async with request.app[db_key]() as db:
        event = await events_domain.load_event(db, staff, int_param(request, "id"))
        await events_domain.uninvite(db, staff, event, await db.get(Client, client_id))
        await db.commit()
    await request.app[audit_key].record("mobile.uninvite", actor=staff, target_type="mobile_event", target_id=event.id, detail={"client_id": client_id})
    return web.json_response({"event_id": event.id, "client_id": client_id, "invited": False})


async def check_in(request: web.Request, staff, event_id: int, client_id: int, key: str | None) -> tuple[int, bool]:
    """One check-in. A concurrent request that loses the race on a constraint
    (the same key, or the same client) reads the winner's session instead; the
    winner's key names another client's check-in: 409 ``key-reused``, as when
    the two come one after the other (a key is bound to its check-in)."""
    tz = request.app[settings_key].timezone
    try:
        async with request.app[db_key]() as db:
            event = await events_domain.load_event(db, staff, event_id)
            session, created = await events_domain.check_in(db, staff, event, await db.get(Client, client_id), key=key, today=today(request), tz=tz)
            await db.commit()
            session_id = session.id
    except IntegrityError:
        async with request.app[db_key]() as db:
            event = await events_domain.load_event(db, staff, event_id)
            same = await events_domain.find_checkin(db, event, key=key) if key else await events_domain.find_checkin(db, event, client_id=client_id)
            if same is None:
                raise
            if same.client_id != client_id:
                raise events_domain.key_reused() from None
            session_id, created = same.id, False
    if created:
        await request.app[audit_key].record("mobile.checkin", actor=staff, target_type="session", target_id=session_id, detail={"event_id": event_id, "client_id": client_id, "key": key})
    return session_id, created


@routes.post("/api/mobile-events/{id}/checkins")
async def post_checkin(request: web.Request) -> web.Response:
    staff = current_staff(request)
    body = await parse_body(request, CheckIn)
    session_id, created = await check_in(request, staff, int_param(request, "id"), body.client_id, body.key)
    return web.json_response({"session_id": session_id, "client_id": body.client_id, "created": created}, status=201 if created else 200)


@routes.post("/api/mobile-events/{id}/checkins/{session_id}/undo")
async def undo_checkin(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        event = await events_domain.load_event(db, staff, int_param(request, "id"))
        session = await events_domain.undo_checkin(db, staff, event, await db.get(GuidanceSession, int_param(request, "session_id")), today=today(request))
        await db.commit()
        session_id, client_id = session.id, session.client_id
    await request.app[audit_key].record("mobile.checkin_undo", actor=staff, target_type="session", target_id=session_id, detail={"event_id": event.id, "client_id": client_id})
    return web.json_response({"session_id": session_id, "client_id": client_id, "status": "cancelled"})


@routes.get("/api/mobile-events/{id}/roster")
async def roster(request: web.Request) -> web.Response:
    """What the roll-call page needs: the invited clients first, then the office's
    other clients for walk-ins (only to the PKs on duty and supervisors), with
    who is checked in. Sent no-store; the page keeps it in memory only."""
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        event = await events_domain.load_event(db, staff, int_param(request, "id"))
        events_domain.require_roll_call(staff, event)
        invited = await events_domain.invited_ids(db, event)
        sessions = {s.client_id: s.id for s in await events_domain.checkin_sessions(db, event)}
        clients = [c for c in (await db.execute(select(Client).where(Client.office_id == event.office_id).order_by(Client.name))).scalars()
                   if c.supervision_start <= event.date <= c.supervision_end or c.id in sessions]
    order = {cid: i for i, cid in enumerate(invited)}
    rows = sorted(clients, key=lambda c: (c.id not in order, order.get(c.id, 0), c.name))
    return web.json_response({
        "event": event_json(event, request.app[settings_key].timezone),
        "clients": [{"id": c.id, "name": c.name, "register_number": c.register_number, "kelurahan": c.kelurahan,
                     "invited": c.id in order, "session_id": sessions.get(c.id)} for c in rows],
    })
