"""Finishing a session on its page (held, excused, no-show; a home visit's
report), carrying a failed video call on by phone, and the printable
laporan kunjungan rumah."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from server.db.models import MET_WITH, GuidanceSession, Office, SessionMode
from server.domain.access import require_session
from server.domain.errors import DomainError
from server.domain.fieldwork import field_sessions
from server.domain.office.profile import office_profile
from server.keys import audit_key, db_key
from server.security import auth
from server.web.api.field_sessions import (
    SessionComplete,
    complete_kwargs,
    start_phone_fallback,
)
from server.web.forms import form_dict
from server.web.lookups import load_session
from server.web.pages.page_errors import page_refusal
from server.web.pages.sessions import session_page_context
from server.web.render import render
from server.web.validation import int_param

routes = web.RouteTableDef()


def completion_form(raw) -> dict:
    form = form_dict(raw)
    form["met_with"] = [v for v in raw.getall("met_with", [])]
    present = form.pop("client_present", None)
    if present in ("yes", "no"):
        form["client_present"] = present == "yes"
    return form


@routes.post("/sessions/{id}/complete")
async def complete_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    session_id = int_param(request, "id")
    form = completion_form(await request.post())
    if not form["met_with"]:
        form.pop("met_with")
    async with request.app[db_key]() as db:
        session = require_session(staff, await db.get(GuidanceSession, session_id))
        try:
            body = SessionComplete.model_validate(form)
            field_sessions.complete_session(session, staff, db, **complete_kwargs(body))
            await db.commit()
        except (ValidationError, DomainError) as exc:
            await db.rollback()
            message, status = page_refusal(request, exc)
            ctx = await session_page_context(request, staff, session_id)
            ctx.update(complete_error=message, complete_form=form)
            return render(request, "sessions/session.html", ctx, status=status)
    await request.app[audit_key].record("session.complete", actor=staff, target_type="session", target_id=session_id, detail={"outcome": body.outcome.value, "fields": sorted(body.model_fields_set)})
    raise web.HTTPFound(f"/sessions/{session_id}")


@routes.post("/sessions/{id}/phone-fallback")
async def phone_fallback_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    phone_id = await start_phone_fallback(request, staff, int_param(request, "id"))
    raise web.HTTPFound(f"/sessions/{phone_id}#complete")


@routes.get("/sessions/{id}/report")
async def visit_report(request: web.Request) -> web.Response:
    """Laporan kunjungan rumah, for print (signature lines for the PK and the head)."""
    staff = auth.current_staff(request)
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        office = await db.get(Office, session.office_id)
    if session.mode != SessionMode.home_visit:
        raise web.HTTPNotFound()
    return render(request, "sessions/visit_report.html", {"s": session, "profile": office_profile(office), "met_with_values": MET_WITH})
