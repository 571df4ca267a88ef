"""Sidang TPP: open a sitting, decide its cases, close it (issue 21;
server/domain/violations/sittings.py). docs/api.md, "Sidang TPP", is the contract."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web
from pydantic import Field

from server.db.casework import TppSitting
from server.db.models import Letter
from server.domain.violations import sittings as sittings_domain
from server.keys import audit_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.api.letters import verify_url
from server.web.api.violations import letter_signer
from server.web.dates import today
from server.web.fields import Id
from server.web.serialize import iso
from server.web.validation import Body, int_param, parse_body

routes = web.RouteTableDef()


class AgendaItem(Body):
    violation_id: Id | None = None
    client_id: Id | None = None
    kind: str | None = Field(default=None, max_length=32, description="perubahan_tahap | lainnya, for a case without a violation")
    subject: str | None = Field(default=None, max_length=4000)


class SittingCreate(Body):
    held_on: date = Field(alias="date")
    member_ids: list[Id] = Field(min_length=1, max_length=50)
    agenda: list[AgendaItem] = Field(min_length=1, max_length=sittings_domain.MAX_CASES)


class CaseDecision(Body):
    decision: str = Field(min_length=1, max_length=32)
    reasons: str = Field(min_length=1, max_length=4000)


def sitting_json(request: web.Request, s: TppSitting, risalah: Letter | None = None) -> dict[str, Any]:
    tz = request.app[settings_key].timezone
    return {
        "id": s.id,
        "date": s.held_on.isoformat(),
        "member_ids": list(s.member_ids),
        "status": s.status,
        "closed_at": iso(s.closed_at, tz),
        "cases": [
            {"id": c.id, "client_id": c.client_id, "client_name": c.client.name, "kind": c.kind, "violation_id": c.violation_id, "subject": c.subject,
             "decision": c.decision, "reasons": c.reasons, "letter_ids": list(c.letter_ids or [])}
            for c in s.cases
        ],
        "risalah": {"letter_id": risalah.id, "number": risalah.number, "verify_url": verify_url(request, risalah), "print_url": f"/tpp-sittings/{s.id}/risalah"}
        if risalah is not None else None,
    }


async def _risalah(db, s: TppSitting) -> Letter | None:
    return await db.get(Letter, s.risalah_letter_id) if s.risalah_letter_id else None


async def open_sitting(request: web.Request, body: SittingCreate) -> TppSitting:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        s = await sittings_domain.open_sitting(db, staff, body.held_on, list(body.member_ids), [i.model_dump() for i in body.agenda])
        await db.commit()
        sitting_id = s.id
        detail = {"date": s.held_on.isoformat(), "member_ids": list(s.member_ids), "cases": [{"client_id": c.client_id, "violation_id": c.violation_id, "kind": c.kind} for c in s.cases]}
    await request.app[audit_key].record("tpp.open", actor=staff, target_type="tpp_sitting", target_id=sitting_id, detail=detail)
    async with request.app[db_key]() as db:
        return await sittings_domain.load_sitting(db, staff, sitting_id)


@routes.post("/api/tpp-sittings")
async def post_sitting(request: web.Request) -> web.Response:
    body = await parse_body(request, SittingCreate)
    s = await open_sitting(request, body)
    return web.json_response(sitting_json(request, s), status=201)


@routes.get("/api/tpp-sittings")
async def list_sittings(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        data = [sitting_json(request, s, await _risalah(db, s)) for s in await sittings_domain.office_sittings(db, staff)]
    return web.json_response({"sittings": data})


@routes.get("/api/tpp-sittings/{id}")
async def get_sitting(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        s = await sittings_domain.load_sitting(db, staff, int_param(request, "id"))
        data = sitting_json(request, s, await _risalah(db, s))
    return web.json_response(data)


async def decide(request: web.Request, sitting_id: int, case_id: int, body: CaseDecision) -> None:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        s = await sittings_domain.load_sitting(db, staff, sitting_id)
        case = await sittings_domain.decide_case(db, staff, s, case_id, body.decision, body.reasons)
        await db.commit()
        detail = {"case_id": case.id, "client_id": case.client_id, "violation_id": case.violation_id, "decision": case.decision, "reasons": case.reasons}
    await request.app[audit_key].record("tpp.decide", actor=staff, target_type="tpp_sitting", target_id=sitting_id, detail=detail)


@routes.post("/api/tpp-sittings/{id}/cases/{case_id}/decision")
async def post_decision(request: web.Request) -> web.Response:
    sitting_id, case_id = int_param(request, "id"), int_param(request, "case_id")
    body = await parse_body(request, CaseDecision)
    await decide(request, sitting_id, case_id, body)
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        data = sitting_json(request, await sittings_domain.load_sitting(db, staff, sitting_id))
    return web.json_response(data)


async def close(request: web.Request, sitting_id: int) -> list[Letter]:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        s = await sittings_domain.load_sitting(db, staff, sitting_id)
        signer = letter_signer(request) if s.status == "open" else None
        letters = await sittings_domain.close_sitting(db, signer, staff, s, today(request), request.app[settings_key].timezone)
        await db.commit()
        issued = [(letter.id, letter.kind.value, letter.number, letter.client_id, letter.key_id, letter.signature) for letter in letters]
    for letter_id, kind, number, client_id, key_id, signature in issued:
        await request.app[audit_key].record("letter.issue", actor=staff, target_type="letter", target_id=letter_id,
                                            detail={"client_id": client_id, "kind": kind, "number": number, "key_id": key_id, "signature": signature,
                                                    "reason": "", "tpp_sitting_id": sitting_id})
    await request.app[audit_key].record("tpp.close", actor=staff, target_type="tpp_sitting", target_id=sitting_id,
                                        detail={"letters": [i[0] for i in issued]})
    return letters


@routes.post("/api/tpp-sittings/{id}/close")
async def post_close(request: web.Request) -> web.Response:
    sitting_id = int_param(request, "id")
    await close(request, sitting_id)
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        s = await sittings_domain.load_sitting(db, staff, sitting_id)
        data = sitting_json(request, s, await _risalah(db, s))
    return web.json_response(data)
