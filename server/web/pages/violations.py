"""Pages for a client's slips (issue 21): the forms of the client page's
"Pelanggaran" section (record a violation, take a step, confirm or dismiss a
three-misses alert) and the supervisors' sidang TPP pages (list and open,
decide, close, the printable risalah). Each form posts to the same domain
calls as the JSON API (server/web/api/violations.py, server/web/api/tpp.py); a
refusal is the layout's refusal page, which names the reason and links back."""

from __future__ import annotations

from dataclasses import replace
from datetime import date
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ValidationError
from sqlalchemy import select

from server.db.casework import Violation
from server.db.models import Letter, Office, Role, Staff, ViolationState
from server.domain.access import require_role
from server.domain.errors import DomainError, ErrorKind
from server.domain.office.profile import FIELDS as PROFILE_FIELDS
from server.domain.office.profile import office_profile
from server.domain.record.rules import office_rules
from server.domain.violations import sittings as sittings_domain
from server.keys import db_key, settings_key
from server.security.auth import current_staff
from server.web.api import tpp as tpp_api
from server.web.api import violations as violations_api
from server.web.api.letters import verify_url
from server.web.dates import today
from server.web.forms import form_dict
from server.web.pages.letters import qr_svg
from server.web.render import render
from server.web.validation import describe, int_param

routes = web.RouteTableDef()


def _parsed(model: type[BaseModel], data: dict) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        message, fields = describe(exc)
        raise DomainError(ErrorKind.invalid, "invalid-body", message, fields=fields) from None


async def _form(request: web.Request) -> dict[str, str]:
    # Text fields only: a file sent under a field's name is no text (and no 500).
    return {k: v for k, v in form_dict(await request.post()).items() if isinstance(v, str)}


@routes.post("/clients/{id}/violations")
async def record_from_form(request: web.Request) -> web.Response:
    staff = current_staff(request)
    client_id = int_param(request, "id")
    body = _parsed(violations_api.ViolationCreate, await _form(request))
    await violations_api.create_violation(request, staff, client_id, body)
    raise web.HTTPFound(f"/clients/{client_id}#violations")


@routes.post("/violations/{id}/steps")
async def step_from_form(request: web.Request) -> web.Response:
    staff = current_staff(request)
    body = _parsed(violations_api.StepCreate, await _form(request))
    v = await violations_api.step_violation(request, staff, int_param(request, "id"), body)
    raise web.HTTPFound(f"/clients/{v.client_id}#violation-{v.id}")


@routes.post("/clients/{id}/alerts/{key}/confirm")
async def confirm_from_form(request: web.Request) -> web.Response:
    staff = current_staff(request)
    client_id = int_param(request, "id")
    body = _parsed(violations_api.AlertConfirm, await _form(request))
    await violations_api.answer(request, staff, client_id, request.match_info["key"], confirm=True, note=body.note)
    raise web.HTTPFound(f"/clients/{client_id}#violations")


@routes.post("/clients/{id}/alerts/{key}/dismiss")
async def dismiss_from_form(request: web.Request) -> web.Response:
    staff = current_staff(request)
    client_id = int_param(request, "id")
    body = _parsed(violations_api.AlertDismiss, await _form(request))
    await violations_api.answer(request, staff, client_id, request.match_info["key"], confirm=False, reason=body.reason)
    raise web.HTTPFound(f"/clients/{client_id}#violations")


# --- sidang TPP, for supervisors ---------------------------------------------------------


@routes.get("/tpp-sittings")
async def sittings_page(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_role(staff, Role.supervisor, Role.admin)
    async with request.app[db_key]() as db:
        sittings = await sittings_domain.office_sittings(db, staff)
        waiting = list((await db.execute(select(Violation).where(Violation.office_id == staff.office_id, Violation.state == ViolationState.sidang_tpp,
                                                                   Violation.decision.is_(None)).order_by(Violation.id))).scalars())
        members = list((await db.execute(select(Staff).where(Staff.office_id == staff.office_id, Staff.active.is_(True)).order_by(Staff.name))).scalars())
    return render(request, "tpp/list.html", {"sittings": sittings, "waiting": waiting, "members": members, "today": today(request)})


@routes.post("/tpp-sittings")
async def open_from_form(request: web.Request) -> web.Response:
    form = await request.post()
    data = {
        "date": str(form.get("date", "")),
        "member_ids": [int(v) for v in form.getall("member_ids", []) if isinstance(v, str) and v.isdigit() and len(v) < 12],
        "agenda": [{"violation_id": int(v)} for v in form.getall("violation_ids", []) if isinstance(v, str) and v.isdigit() and len(v) < 12],
    }
    body = _parsed(tpp_api.SittingCreate, data)
    s = await tpp_api.open_sitting(request, body)
    raise web.HTTPFound(f"/tpp-sittings/{s.id}")


@routes.get("/tpp-sittings/{id}")
async def sitting_page(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        s = await sittings_domain.load_sitting(db, staff, int_param(request, "id"))
        names = dict((await db.execute(select(Staff.id, Staff.name).where(Staff.id.in_(s.member_ids)))).all())
        quorum = (await office_rules(db, s.office_id, request.app[settings_key].timezone)).tpp_quorum
    return render(request, "tpp/sitting.html", {"sitting": s, "member_names": [names.get(i, "") for i in s.member_ids], "quorum": quorum,
                                                "violation_decisions": sittings_domain.VIOLATION_DECISIONS, "other_decisions": sittings_domain.OTHER_DECISIONS})


@routes.post("/tpp-sittings/{id}/cases/{case_id}/decision")
async def decide_from_form(request: web.Request) -> web.Response:
    sitting_id, case_id = int_param(request, "id"), int_param(request, "case_id")
    body = _parsed(tpp_api.CaseDecision, await _form(request))
    await tpp_api.decide(request, sitting_id, case_id, body)
    raise web.HTTPFound(f"/tpp-sittings/{sitting_id}")


@routes.post("/tpp-sittings/{id}/close")
async def close_from_form(request: web.Request) -> web.Response:
    sitting_id = int_param(request, "id")
    await tpp_api.close(request, sitting_id)
    raise web.HTTPFound(f"/tpp-sittings/{sitting_id}/risalah")


@routes.get("/tpp-sittings/{id}/risalah")
async def risalah_page(request: web.Request) -> web.Response:
    """The risalah as issued: letterhead, number, members, every decision with
    its reasons (all from what the letter printed and signed), and the QR code."""
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        s = await sittings_domain.load_sitting(db, staff, int_param(request, "id"))
        letter = await db.get(Letter, s.risalah_letter_id) if s.risalah_letter_id else None
        if letter is None:
            raise DomainError(ErrorKind.conflict, "sitting-open", "The sitting is not closed yet: its risalah is issued when it closes.")
        profile = office_profile(await db.get(Office, letter.office_id))
    printed = letter.printed or {}
    # The letterhead as issued, whatever the office profile says today.
    kept = {k: str(v) for k, v in (printed.get("office") or {}).items() if k in PROFILE_FIELDS}
    profile = replace(profile, name=letter.office_name, **kept)
    url = verify_url(request, letter)
    tpp = printed.get("tpp") or {}
    return render(request, "tpp/risalah.html", {"sitting": s, "letter": letter, "tpp": tpp, "cases": printed.get("cases") or [],
                                                "held_on": date.fromisoformat(tpp["held_on"]) if tpp.get("held_on") else None,
                                                "profile": profile, "logo_url": "/office/logo", "verify_url": url, "qr": qr_svg(url)})
