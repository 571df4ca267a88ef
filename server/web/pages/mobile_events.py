"""Mobile counseling on pages: the list with the count of days per kelurahan,
the planner and the cadence, a new event, an event's page (invitations with
WhatsApp links, summary after the day), the roll-call phone page and the
printable daftar hadir."""

from __future__ import annotations

from datetime import timedelta, timezone
from urllib.parse import quote

from aiohttp import web
from pydantic import ValidationError
from sqlalchemy import select

from server.db.ids import id_from_text
from server.db.models import Client, MobileEvent, Office, Role, Staff, utcnow
from server.domain.access import require_role
from server.domain.errors import DomainError, ErrorKind
from server.domain.fieldwork import mobile_events as events_domain
from server.domain.fieldwork import mobile_planner
from server.domain.office.profile import office_profile
from server.domain.record.appointments import event_span
from server.keys import audit_key, db_key, settings_key
from server.security import auth
from server.static_files import webclient_dir
from server.web.api.mobile_events import (
    CadenceUpdate,
    EventCreate,
    create_event,
)
from server.web.dates import date_query, today
from server.web.forms import form_dict
from server.web.pages.call import _strings, whatsapp_number
from server.web.pages.page_errors import page_refusal
from server.web.render import render
from server.web.validation import int_param

routes = web.RouteTableDef()

# The roll call's service worker (webclient/rollcall-sw.js). Served from here, not
# from /static/: a worker controls only pages under the folder its script is served
# from, and the roll-call pages are under /mobile-events/ (docs/webclient.md).
ROLLCALL_WORKER = webclient_dir() / "rollcall-sw.js"
ROLLCALL_WORKER_PATH = "/mobile-events/rollcall-sw.js"


async def _duty_staff(db, office_id: int) -> list[Staff]:
    return list((await db.execute(select(Staff).where(Staff.office_id == office_id, Staff.active, Staff.role.in_([Role.pk, Role.supervisor])).order_by(Staff.name))).scalars())


@routes.get("/mobile-events")
async def list_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    now = today(request)
    async with request.app[db_key]() as db:
        upcoming = await events_domain.events_between(db, staff.office_id, now, now + timedelta(days=366))
        past = list(reversed(await events_domain.events_between(db, staff.office_id, now - timedelta(days=366), now - timedelta(days=1))))
        per_kelurahan = await events_domain.days_per_kelurahan(db, staff.office_id, utcnow(), request.app[settings_key].timezone)
    return render(request, "mobile/list.html", {"upcoming": upcoming, "past": past, "per_kelurahan": per_kelurahan, "today": now})


@routes.get(ROLLCALL_WORKER_PATH)
async def rollcall_worker(request: web.Request) -> web.Response:
    """The worker script, for signed-in staff. Same origin, JavaScript, under the
    site's CSP; ``no-store`` like every answer outside /static/, so a changed
    worker is picked up on the next visit with a signal."""
    auth.current_staff(request)
    return web.Response(body=ROLLCALL_WORKER.read_bytes(), content_type="text/javascript", charset="utf-8")


@routes.get("/mobile-events/plan")
async def plan_page(request: web.Request, *, error: str | None = None, status: int = 200) -> web.Response:
    staff = auth.current_staff(request)
    now = today(request)
    start = date_query(request, "from", now)
    async with request.app[db_key]() as db:
        office = await db.get(Office, staff.office_id)
        proposals = await mobile_planner.plan(db, office, start, 4, now, request.app[settings_key].timezone)
        cadence = mobile_planner.cadence_of(office)
    return render(request, "mobile/plan.html", {"proposals": proposals, "cadence": cadence, "error": error}, status=status)


@routes.post("/mobile-events/cadence")
async def cadence_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    require_role(staff, Role.supervisor, Role.admin)
    form = form_dict(await request.post())
    try:
        body = CadenceUpdate.model_validate(form)
        async with request.app[db_key]() as db:
            office = await db.get(Office, staff.office_id)
            before, after = mobile_planner.set_cadence(office, body.anchor, body.every_days)
            await db.commit()
    except (ValidationError, DomainError) as exc:
        message, status = page_refusal(request, exc)
        return await plan_page(request, error=message, status=status)
    await request.app[audit_key].record("mobile.cadence_change", actor=staff, target_type="office", target_id=staff.office_id, detail={"before": before.as_dict(), "after": after.as_dict()})
    raise web.HTTPFound("/mobile-events/plan")


def _new_ctx(staff_list, form, error):
    return {"duty": staff_list, "form": form, "error": error}


@routes.get("/mobile-events/new")
async def new_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    async with request.app[db_key]() as db:
        duty = await _duty_staff(db, staff.office_id)
    form = {"date": request.query.get("date", ""), "kelurahan": request.query.get("kelurahan", ""), "start_time": "08:00", "end_time": "12:00",
            "officer_ids": [str(staff.id)]}
    return render(request, "mobile/new.html", _new_ctx(duty, form, None))


@routes.post("/mobile-events/new")
async def new_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    raw = await request.post()
    form = form_dict(raw)
    form["officer_ids"] = raw.getall("officer_ids", [])
    form["whole_kecamatan"] = raw.get("whole_kecamatan") == "on"
    try:
        body = EventCreate.model_validate(form)
        event_id, _invited, conflicts = await create_event(request, staff, body)
    except (ValidationError, DomainError) as exc:
        message, status = page_refusal(request, exc)
        async with request.app[db_key]() as db:
            duty = await _duty_staff(db, staff.office_id)
        return render(request, "mobile/new.html", _new_ctx(duty, form, message), status=status)
    # The clients the invitations left out are shown on the event page, which reads them again.
    left_out = f"?conflicts={','.join(str(i) for i in sorted(conflicts))}" if conflicts else ""
    raise web.HTTPFound(f"/mobile-events/{event_id}{left_out}")


def _ids_query(request: web.Request, name: str) -> list[int]:
    """``?name=1,2,3`` as ids; anything else in it is ignored (it only chooses what to show)."""
    raw = request.query.get(name, "")[:2000]
    return [i for i in (id_from_text(part) for part in raw.split(",")) if i is not None]


async def event_page_context(request: web.Request, staff: Staff, event_id: int) -> dict:
    tz = request.app[settings_key].timezone
    now = today(request)
    async with request.app[db_key]() as db:
        event = await events_domain.load_event(db, staff, event_id)
        office = await db.get(Office, staff.office_id)
        summary = await events_domain.summary(db, staff, event, now, tz)
        duty = {s.id: s.name for s in (await db.execute(select(Staff).where(Staff.id.in_(event.officer_ids or [0])))).scalars()}
        left_out = await events_domain.left_out(db, staff, event, _ids_query(request, "conflicts"), tz)
    profile = office_profile(office)
    group_text = events_domain.whatsapp_text(event, None, profile.name)
    invites = []
    for c in summary.invited:
        text = events_domain.whatsapp_text(event, c.name, profile.name)
        number = whatsapp_number(c.phone)
        invites.append((c, f"https://wa.me/{number}?text={quote(text)}" if number else None))
    return {"event": event, "summary": summary, "duty": duty, "invites": invites, "group_text": group_text, "left_out": left_out,
            "group_link": f"https://wa.me/?text={quote(group_text)}", "may_change": events_domain.may_change(staff),
            "may_edit_day": events_domain.may_edit_day(staff, event),
            "may_roll_call": events_domain.may_roll_call(staff, event), "error": None}


@routes.get("/mobile-events/{id}")
async def event_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    return render(request, "mobile/event.html", await event_page_context(request, staff, int_param(request, "id")))


@routes.post("/mobile-events/{id}/invitations")
async def invite_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    event_id = int_param(request, "id")
    form = form_dict(await request.post())
    raw = str(form.get("register_number", "")).strip()
    try:
        async with request.app[db_key]() as db:
            event = await events_domain.load_event(db, staff, event_id)
            client = (await db.execute(select(Client).where(Client.office_id == staff.office_id, Client.register_number == raw))).scalar_one_or_none() if raw else None
            if client is None:
                raise DomainError(ErrorKind.invalid, "unknown-client", "register_number: no client with that number", key="error.unknown_register_number")
            added = await events_domain.invite(db, staff, event, client, request.app[settings_key].timezone)
            await db.commit()
            client_id = client.id
    except DomainError as exc:
        message, status = page_refusal(request, exc)
        ctx = await event_page_context(request, staff, event_id)
        ctx["error"] = message
        return render(request, "mobile/event.html", ctx, status=status)
    if added:
        await request.app[audit_key].record("mobile.invite", actor=staff, target_type="mobile_event", target_id=event_id, detail={"client_id": client_id})
    raise web.HTTPFound(f"/mobile-events/{event_id}#invited")


@routes.post("/mobile-events/{id}/invitations/{client_id}/remove")
async def uninvite_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    event_id, client_id = int_param(request, "id"), int_param(request, "client_id")
    async with request.app[db_key]() as db:
        event = await events_domain.load_event(db, staff, event_id)
        await events_domain.uninvite(db, staff, event, await db.get(Client, client_id))
        await db.commit()
    await request.app[audit_key].record("mobile.uninvite", actor=staff, target_type="mobile_event", target_id=event_id, detail={"client_id": client_id})
    raise web.HTTPFound(f"/mobile-events/{event_id}#invited")


@routes.post("/mobile-events/{id}/cancel")
async def cancel_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    event_id = int_param(request, "id")
    async with request.app[db_key]() as db:
        event = await events_domain.load_event(db, staff, event_id)
        await events_domain.cancel_event(db, staff, event, request.app[settings_key].timezone)
        await db.commit()
    await request.app[audit_key].record("mobile.cancel", actor=staff, target_type="mobile_event", target_id=event_id)
    raise web.HTTPFound(f"/mobile-events/{event_id}")


@routes.get("/mobile-events/{id}/rollcall")
async def rollcall_page(request: web.Request) -> web.Response:
    """The phone page at the venue; webclient/rollcall.js does the work."""
    staff = auth.current_staff(request)
    async with request.app[db_key]() as db:
        event: MobileEvent = await events_domain.load_event(db, staff, int_param(request, "id"))
    events_domain.require_roll_call(staff, event)
    # The page may keep itself and the invited on this phone until the event ends (offline_until), no longer.
    ends = event_span(event, request.app[settings_key].timezone)[1]
    data = {"event_id": event.id, "staff_id": staff.id, "strings": _strings(request, "rollcall."),
            "offline_until": ends.astimezone(timezone.utc).isoformat(), "worker": ROLLCALL_WORKER_PATH}
    return render(request, "mobile/rollcall.html", {"event": event, "data": data})


@routes.get("/mobile-events/{id}/daftar-hadir")
async def attendance_sheet(request: web.Request) -> web.Response:
    """Daftar hadir: everyone invited or checked in, with a signature column."""
    staff = auth.current_staff(request)
    ctx = await event_page_context(request, staff, int_param(request, "id"))
    async with request.app[db_key]() as db:
        office = await db.get(Office, staff.office_id)
    ctx["profile"] = office_profile(office)
    return render(request, "mobile/daftar_hadir.html", ctx)

