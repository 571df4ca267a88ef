"""Staff pages for partners and for a client's referrals, sentence and hours.

``/partners``: the office's partners (the Kasie adds and changes them);
``/partners/{id}``: one partner with its site supervisors' links. The client
page's sections (referrals, sentence and hours) post to the routes below,
which reuse the API's handlers' shared functions and send the browser back to
the section; a refusal is the layout's refusal page in the reader's language
(server/web/pages/page_errors.py)."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ValidationError

from server.db.models import Client, Role, Staff
from server.db.partners import PartnerKind, ReferralOutcome, ReferralStatus
from server.domain.access import require_client, require_guidance
from server.domain.errors import DomainError, ErrorKind
from server.domain.partners import directory, site_links
from server.domain.partners import referrals as referrals_domain
from server.domain.partners import sentences as sentences_domain
from server.keys import audit_key, db_key
from server.security.auth import current_staff
from server.web.api import referrals as referrals_api
from server.web.api import sentences as sentences_api
from server.web.api.partners import (
    PartnerCreate,
    PartnerUpdate,
    SiteLinkCreate,
    site_link_json,
)
from server.web.forms import form_dict
from server.web.render import render
from server.web.validation import describe, int_param

routes = web.RouteTableDef()

M = TypeVar("M", bound=BaseModel)


def _parse(model: type[M], form: dict) -> M:
    """A form's fields through the API's model (lax: a form's numbers are text), or a 400."""
    try:
        return model.model_validate(form)
    except ValidationError as exc:
        message, fields = describe(exc)
        raise DomainError(ErrorKind.invalid, "invalid-body", message, fields=fields) from None


async def _form(request: web.Request) -> dict:
    return form_dict(await request.post())


# --- partners ----------------------------------------------------------------------


@routes.get("/partners")
async def partners_page(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        rows = await directory.office_partners(db, staff.office_id)
    return render(request, "partners/list.html", {"partners": rows, "kinds": [k.value for k in PartnerKind], "may_manage": staff.role == Role.supervisor})


@routes.post("/partners")
async def partners_add(request: web.Request) -> web.Response:
    staff = current_staff(request)
    directory.require_partner_manager(staff)
    body = _parse(PartnerCreate, await _form(request))
    async with request.app[db_key]() as db:
        partner = await directory.add_partner(db, staff, **body.model_dump())
        await db.commit()
        partner_id = partner.id
    await request.app[audit_key].record("partner.create", actor=staff, target_type="partner", target_id=partner_id, detail={"name": body.name, "kind": body.kind.value})
    raise web.HTTPFound(f"/partners/{partner_id}")


@routes.get("/partners/{id}")
async def partner_page(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        partner = await directory.get_partner(db, staff, int_param(request, "id"))
        links = await site_links.links_of(db, partner.id) if staff.role in (Role.pk, Role.supervisor) else []
    ctx = {"partner": partner, "kinds": [k.value for k in PartnerKind], "may_manage": staff.role == Role.supervisor,
           "may_link": staff.role in (Role.pk, Role.supervisor), "links": [site_link_json(request, link) for link in links]}
    response = render(request, "partners/partner.html", ctx)
    response.headers["Cache-Control"] = "no-store"  # the page shows live links
    return response


@routes.post("/partners/{id}")
async def partner_update(request: web.Request) -> web.Response:
    staff = current_staff(request)
    directory.require_partner_manager(staff)
    form = await _form(request)
    form["active"] = form.get("active") == "on"
    body = _parse(PartnerUpdate, form)
    async with request.app[db_key]() as db:
        partner = await directory.get_partner(db, staff, int_param(request, "id"))
        changed = await directory.change_partner(db, staff, partner, body.model_dump(exclude_none=True))
        await db.commit()
        partner_id = partner.id
    if changed:
        await request.app[audit_key].record("partner.update", actor=staff, target_type="partner", target_id=partner_id, detail=changed)
    raise web.HTTPFound(f"/partners/{partner_id}")


@routes.post("/partners/{id}/site-links")
async def site_link_issue(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    body = _parse(SiteLinkCreate, await _form(request))
    async with request.app[db_key]() as db:
        partner = await directory.get_partner(db, staff, int_param(request, "id"))
        link = await site_links.issue(db, staff, partner, name=body.name, days=body.days)
        await db.commit()
        partner_id, link_id = partner.id, link.id
    await request.app[audit_key].record("site_link.issue", actor=staff, target_type="partner", target_id=partner_id, detail={"link_id": link_id, "name": body.name})
    raise web.HTTPFound(f"/partners/{partner_id}#site-links")


@routes.post("/site-links/{id}/revoke")
async def site_link_revoke(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        link = await site_links.get_link(db, staff, int_param(request, "id"))
        changed = site_links.revoke(staff, link)
        await db.commit()
        partner_id, link_id = link.partner_id, link.id
    if changed:
        await request.app[audit_key].record("site_link.revoke", actor=staff, target_type="partner", target_id=partner_id, detail={"link_id": link_id})
    raise web.HTTPFound(f"/partners/{partner_id}#site-links")


# --- the client page's sections -----------------------------------------------------


async def client_sections(db, staff: Staff, client: Client) -> dict:
    """What the client page shows of referrals, sentence and hours (server/web/pages/clients.py)."""
    sentence = await sentences_domain.sentence_of(db, client.id)
    hours = await sentences_domain.summary(db, sentence)
    return {
        "referrals": await referrals_domain.for_client(db, client.id),
        # The plan's goals as it stands: the referral form's choices, and the words of each referral's goal.
        "plan_goals": await referrals_domain.plan_goals(db, client.id),
        "referral_next": referrals_domain.NEXT,
        "referral_outcomes": [o.value for o in ReferralOutcome],
        "partner_choices": await directory.office_partners(db, client.office_id, active_only=True),
        "may_read_reports": staff.role == Role.supervisor or (staff.role == Role.pk and client.officer_id == staff.id),
        "sentence": sentence,
        "hours": hours,
        "hours_entries": await sentences_domain.entries(db, client.id),
        "hours_of": sentences_domain.hours_of,
    }


@routes.post("/clients/{id}/referrals")
async def referral_add(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    client_id = int_param(request, "id")
    form = await _form(request)
    if not form.get("goal_id"):
        form.pop("goal_id", None)  # "—": no goal
    body = _parse(referrals_api.ReferralCreate, form)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, client_id))
        referral = await referrals_domain.create(db, staff, client, **body.model_dump())
        await db.commit()
        referral_id = referral.id
    await request.app[audit_key].record("referral.create", actor=staff, target_type="referral", target_id=referral_id,
                                        detail={"client_id": client_id, "partner_id": body.partner_id, "goal_id": body.goal_id})
    raise web.HTTPFound(f"/clients/{client_id}#referrals")


@routes.post("/referrals/{id}/steps")
async def referral_step(request: web.Request) -> web.Response:
    referral_id = int_param(request, "id")
    form = await _form(request)
    if form.get("to") != ReferralStatus.selesai.value:
        form.pop("outcome", None)
    body = _parse(referrals_api.ReferralStepBody, form)
    data = await referrals_api.move(request, referral_id, body)
    raise web.HTTPFound(f"/clients/{data['client_id']}#referral-{referral_id}")


@routes.post("/referrals/{id}/reports")
async def referral_report(request: web.Request) -> web.Response:
    referral_id = int_param(request, "id")
    upload = (await request.post()).get("report")
    if not isinstance(upload, web.FileField):
        raise DomainError(ErrorKind.invalid, "invalid-body", "report: choose a file", fields={"report": "required"})
    data = upload.file.read(referrals_domain.MAX_REPORT_BYTES + 1)
    out = await referrals_api.keep_report(request, referral_id, upload.content_type, data)
    raise web.HTTPFound(f"/clients/{out['client_id']}#referral-{referral_id}")


@routes.post("/clients/{id}/sentence")
async def sentence_set(request: web.Request) -> web.Response:
    client_id = int_param(request, "id")
    form = await _form(request)
    keep = ("kind", "hours_ordered", "placement", "site_supervisor", "max_hours_per_day") if form.get("kind") == "pidana_kerja_sosial" \
        else ("kind", "term_months", "conditions")
    # A date left empty is no date.
    keep += tuple(k for k in ("verdict_date", "start_date") if form.get(k))
    body = _parse(sentences_api.SentenceBody, {k: v for k, v in form.items() if k in keep})
    await sentences_api.put_sentence(request, client_id, body.root)
    raise web.HTTPFound(f"/clients/{client_id}#sentence")


@routes.post("/clients/{id}/service-hours")
async def hours_add(request: web.Request) -> web.Response:
    client_id = int_param(request, "id")
    form = await _form(request)
    if "hours" in form:
        form["hours"] = form["hours"].replace(",", ".")
    body = _parse(sentences_api.HoursEntry, form)
    await sentences_api.log_hours(request, client_id, body)
    raise web.HTTPFound(f"/clients/{client_id}#sentence")


@routes.post("/service-hours/{id}/decide")
async def hours_decide(request: web.Request) -> web.Response:
    entry_id = int_param(request, "id")
    form = await _form(request)
    approve = form.get("decision") == "approve"
    reason = " ".join(str(form.get("reason", "")).split())[:300]
    data = await sentences_api.decide(request, entry_id, approve=approve, reason=reason)
    raise web.HTTPFound(f"/clients/{data['client_id']}#sentence")
