"""A client's sentence (pidana kerja sosial / pidana pengawasan) and the
community-service hours logged against it (docs/api.md, "Partners, referrals
and sentences")."""

from __future__ import annotations

from datetime import date
from functools import partial
from typing import Annotated, Literal

from aiohttp import web
from pydantic import Field, RootModel

from server.db.models import Client
from server.db.partners import SentenceKind
from server.domain.access import require_client, require_guidance
from server.domain.partners import sentences as sentences_domain
from server.keys import audit_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.dates import today
from server.web.fields import Id, ShortText
from server.web.serialize import iso
from server.web.validation import Body, int_param, parse_body

routes = web.RouteTableDef()


class SentenceDates(Body):
    verdict_date: date | None = Field(default=None, description="the court's verdict (tanggal putusan): not after today, not before 2026-01-02")
    start_date: date | None = Field(default=None, description="the day the sentence begins: not before verdict_date (required with it), within the supervision")


class KerjaSosial(SentenceDates):
    kind: Literal["pidana_kerja_sosial"]
    hours_ordered: int = Field(ge=1, le=10000)
    placement: Id = Field(description="the partner where the hours are worked")
    site_supervisor: ShortText = Field(default="", description="the person supervising the work there")
    max_hours_per_day: int = Field(default=8, ge=1, le=24, description="8 unless the order says otherwise")


class Pengawasan(SentenceDates):
    kind: Literal["pidana_pengawasan"]
    term_months: int = Field(ge=1, le=120)
    conditions: str = Field(default="", max_length=4000)


class SentenceBody(RootModel[Annotated[KerjaSosial | Pengawasan, Field(discriminator="kind")]]):
    pass


class HoursEntry(Body):
    date: date
    hours: float = Field(gt=0, le=24, description="in quarters of an hour")
    task: str = Field(min_length=1, max_length=300)


class HoursDecision(Body):
    reason: str = Field(default="", max_length=300)


async def sentence_and_hours(db, client_id: int) -> dict:
    """What the record and the sentence call answer: the sentence and, for community service, its hours."""
    sentence = await sentences_domain.sentence_of(db, client_id)
    hours = await sentences_domain.summary(db, sentence)
    return {"sentence": sentences_domain.sentence_dict(sentence), "service_hours": hours.as_dict() if hours else None,
            "completion_letter_due": bool(hours and hours.complete)}


@routes.get("/api/clients/{id}/sentence")
async def get_sentence(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        data = await sentence_and_hours(db, client.id)
    return web.json_response(data)


async def put_sentence(request: web.Request, client_id: int, body: KerjaSosial | Pengawasan) -> dict:
    """Set the client's sentence, audited with what changed (shared with the client page's form)."""
    staff = current_staff(request)
    require_guidance(staff)
    fields = body.model_dump()
    fields["kind"] = SentenceKind(fields["kind"])
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, client_id))
        _sentence, changed = await sentences_domain.set_sentence(db, staff, client, **fields, today=today(request))
        await db.commit()
        data = await sentence_and_hours(db, client.id)
    if changed:
        await request.app[audit_key].record("sentence.set", actor=staff, target_type="client", target_id=client_id, detail=changed)
    return data


@routes.put("/api/clients/{id}/sentence")
async def set_sentence(request: web.Request) -> web.Response:
    client_id = int_param(request, "id")
    body = await parse_body(request, SentenceBody)
    return web.json_response(await put_sentence(request, client_id, body.root))


@routes.get("/api/clients/{id}/service-hours")
async def list_hours(request: web.Request) -> web.Response:
    staff = current_staff(request)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        rows = await sentences_domain.entries(db, client.id)
        data = await sentence_and_hours(db, client.id)
    return web.json_response({"service_hours": data["service_hours"], "entries": [sentences_domain.entry_dict(e, partial(iso, tz=tz)) for e in rows]})


async def log_hours(request: web.Request, client_id: int, body: HoursEntry) -> dict:
    staff = current_staff(request)
    require_guidance(staff)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, client_id))
        entry = await sentences_domain.add_hours(db, client, day=body.date, hours=body.hours, task=body.task, today=today(request), staff=staff)
        await db.commit()
        data = {**sentences_domain.entry_dict(entry, partial(iso, tz=tz)), "service_hours": (await sentence_and_hours(db, client.id))["service_hours"]}
    await request.app[audit_key].record("service_hours.enter", actor=staff, target_type="client", target_id=client_id,
                                        detail={"entry_id": data["id"], "date": data["date"], "hours": data["hours"]})
    return data


@routes.post("/api/clients/{id}/service-hours")
async def add_hours(request: web.Request) -> web.Response:
    client_id = int_param(request, "id")
    body = await parse_body(request, HoursEntry)
    return web.json_response(await log_hours(request, client_id, body), status=201)


async def decide(request: web.Request, entry_id: int, *, approve: bool, reason: str = "") -> dict:
    """Approve or reject one entry, audited; the hours after it (shared with the page)."""
    staff = current_staff(request)
    require_guidance(staff)
    async with request.app[db_key]() as db:
        entry, client = await sentences_domain.get_entry(db, staff, entry_id)
        await sentences_domain.decide(db, staff, entry, approve=approve, reason=reason)
        await db.commit()
        data = await sentence_and_hours(db, client.id)
    await request.app[audit_key].record("service_hours.approve" if approve else "service_hours.reject", actor=staff, target_type="client",
                                        target_id=client.id, detail={"entry_id": entry_id, "reason": reason or None})
    if approve and data["completion_letter_due"]:
        await request.app[audit_key].record("sentence.hours_complete", actor=staff, target_type="client", target_id=client.id,
                                            detail={"ordered": data["service_hours"]["ordered"]})
    return {"id": entry_id, "client_id": client.id, "status": "approved" if approve else "rejected", **data}


@routes.post("/api/service-hours/{id}/approve")
async def approve_hours(request: web.Request) -> web.Response:
    return web.json_response(await decide(request, int_param(request, "id"), approve=True))


@routes.post("/api/service-hours/{id}/reject")
async def reject_hours(request: web.Request) -> web.Response:
    entry_id = int_param(request, "id")
    body = await parse_body(request, HoursDecision)
    return web.json_response(await decide(request, entry_id, approve=False, reason=body.reason))
