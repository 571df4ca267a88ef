"""Home visits on pages: plan one from the client's record, and the day's list
(grouped by kecamatan and kelurahan, printable and readable on a phone)."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from server.db.models import VISIT_REASONS, Client
from server.domain.access import require_client, require_guidance
from server.domain.errors import DomainError
from server.domain.fieldwork import home_visits
from server.keys import db_key, settings_key
from server.security import auth
from server.web.api.home_visits import VisitPlan, plan_visit
from server.web.dates import date_query, today
from server.web.forms import form_dict
from server.web.pages.page_errors import page_refusal
from server.web.render import render
from server.web.validation import int_param

routes = web.RouteTableDef()


@routes.get("/clients/{id}/home-visits/new")
async def plan_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        require_guidance(staff)
    return render(request, "visits/plan_form.html", {"client": client, "reasons": VISIT_REASONS, "form": {}, "error": None})


@routes.post("/clients/{id}/home-visits/new")
async def plan_submit(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    form = form_dict(await request.post())
    form["notify_client"] = form.get("notify_client") == "on"
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        require_guidance(staff)
    try:
        body = VisitPlan.model_validate(dict(form, client_id=client.id))
        session_id = await plan_visit(request, staff, body)
    except (ValidationError, DomainError) as exc:
        message, status = page_refusal(request, exc)
        return render(request, "visits/plan_form.html", {"client": client, "reasons": VISIT_REASONS, "form": form, "error": message}, status=status)
    raise web.HTTPFound(f"/sessions/{session_id}")


@routes.get("/home-visits")
async def day_page(request: web.Request) -> web.Response:
    staff = auth.current_staff(request)
    day = date_query(request, "date", today(request))
    async with request.app[db_key]() as db:
        groups = await home_visits.day_list(db, staff, day, request.app[settings_key].timezone)
    return render(request, "visits/day.html", {"day": day, "groups": groups})
