"""Violations and their path, and the three-misses alerts that propose them
(issue 21; server/domain/violations/). docs/api.md, "Violations", is the contract."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web
from pydantic import Field

from server.audit.signing import HeadSigner, SigningKeyError
from server.db.casework import TppCase, TppSitting, Violation
from server.db.models import Client, Evidence, Letter, Staff, ViolationKind, ViolationState
from server.domain.access import require_client, require_guidance
from server.domain.errors import DomainError, ErrorKind
from server.domain.violations import alerts as alerts_domain
from server.domain.violations.path import client_violations, load_violation, record_violation, take_step
from server.keys import audit_key, db_key, letter_keys_key, settings_key
from server.security.auth import current_staff
from server.web.dates import today
from server.web.serialize import iso
from server.web.validation import Body, int_param, parse_body

routes = web.RouteTableDef()


class ViolationCreate(Body):
    kind: ViolationKind
    occurred_on: date = Field(alias="date", description="the office date it happened (not after today)")
    what_happened: str = Field(min_length=1, max_length=4000)
    evidence: Evidence = Field(description="how it is known, as for sessions: observed | reported | roll_call")
    note: str = Field(default="", max_length=4000)


class StepCreate(Body):
    to: ViolationState
    note: str = Field(default="", max_length=4000, description="printed on the step's letter (teguran, BAP) as its purpose")
    reason: str = Field(default="", max_length=4000, description="why steps are skipped; a supervisor's only")


class AlertConfirm(Body):
    note: str = Field(default="", max_length=4000)


class AlertDismiss(Body):
    reason: str = Field(min_length=1, max_length=1000)


def letter_signer(request: web.Request) -> HeadSigner:
    try:
        return request.app[letter_keys_key].signer()
    except SigningKeyError as exc:
        raise DomainError(ErrorKind.conflict, "letter-key-missing", str(exc), key="error.letter_key_missing") from None


def violation_json(v: Violation, tz: str) -> dict[str, Any]:
    return {
        "id": v.id,
        "client_id": v.client_id,
        "kind": v.kind.value,
        "date": v.occurred_on.isoformat(),
        "what_happened": v.description,
        "evidence": v.evidence.value,
        "state": v.state.value,
        "decision": v.decision.value if v.decision else None,
        "decided_sitting_id": v.decided_sitting_id,
        "alert": v.alert_key,
        "created_at": iso(v.created_at, tz),
        "steps": [
            {"from": s.from_state, "to": s.to_state, "note": s.note, "reason": s.skip_reason, "by_id": s.by_id, "by": s.by_name,
             "at": iso(s.at, tz), "letter_id": s.letter_id, "print_url": f"/letters/{s.letter_id}" if s.letter_id else None}
            for s in v.steps
        ],
    }


def tpp_decision_json(case: TppCase, sitting: TppSitting) -> dict[str, Any]:
    """A sidang TPP's decision as the client's record shows it."""
    return {"sitting_id": sitting.id, "date": sitting.held_on.isoformat(), "case_id": case.id, "kind": case.kind, "violation_id": case.violation_id,
            "subject": case.subject, "decision": case.decision, "reasons": case.reasons, "letter_ids": list(case.letter_ids or []),
            "risalah_letter_id": sitting.risalah_letter_id}


def alert_json(run: alerts_domain.MissedRun) -> dict[str, Any]:
    return {
        "id": run.key,
        "kind": alerts_domain.ALERT_KIND,
        "client_id": run.client_id,
        "officer_id": run.officer_id,
        "first_day": run.first_day.isoformat(),
        "last_day": run.last_day.isoformat(),
        "raised_on": run.raised_on.isoformat(),
        "periods": run.periods,
        "proposed_violation": run.proposed(),
    }


async def _reloaded(db, violation_id: int) -> Violation:
    # Read again with its steps (a step just added is not in the loaded list).
    return await db.get(Violation, violation_id, populate_existing=True)


async def create_violation(request: web.Request, staff: Staff, client_id: int, body: ViolationCreate) -> Violation:
    """Record and audit a violation (shared with the client page's form)."""
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, client_id))
        v = await record_violation(db, staff, client, body.kind, body.occurred_on, body.what_happened, body.evidence, today(request), note=body.note)
        await db.commit()
        v = await _reloaded(db, v.id)
    await request.app[audit_key].record("violation.record", actor=staff, target_type="violation", target_id=v.id,
                                        detail={"client_id": v.client_id, "kind": v.kind.value, "date": v.occurred_on.isoformat(), "evidence": v.evidence.value})
    return v


async def step_violation(request: web.Request, staff: Staff, violation_id: int, body: StepCreate) -> Violation:
    """Take and audit one step (shared with the client page's form)."""
    require_guidance(staff)
    async with request.app[db_key]() as db:
        v = await load_violation(db, staff, violation_id)
        from_state = v.state.value
        signer = letter_signer(request) if body.to.value in ("teguran_1", "teguran_2", "bap") else None
        step = await take_step(db, signer, staff, v, body.to, body.note, body.reason, today(request), request.app[settings_key].timezone)
        await db.commit()
        step_id, letter_id, skip = step.id, step.letter_id, step.skip_reason
        letter = await db.get(Letter, letter_id) if letter_id else None
        v = await _reloaded(db, violation_id)
    if letter is not None:
        await request.app[audit_key].record("letter.issue", actor=staff, target_type="letter", target_id=letter.id,
                                            detail={"client_id": letter.client_id, "kind": letter.kind.value, "number": letter.number, "key_id": letter.key_id,
                                                    "signature": letter.signature, "reason": (letter.printed or {}).get("reason", ""), "violation_id": violation_id})
    await request.app[audit_key].record("violation.step", actor=staff, target_type="violation", target_id=v.id,
                                        detail={"client_id": v.client_id, "from": from_state, "to": body.to.value, "step_id": step_id, "letter_id": letter_id,
                                                "skip_reason": skip, "decision": v.decision.value if v.decision and body.to == ViolationState.keputusan else None})
    return v


@routes.post("/api/clients/{id}/violations")
async def post_violation(request: web.Request) -> web.Response:
    staff = current_staff(request)
    client_id = int_param(request, "id")
    body = await parse_body(request, ViolationCreate)
    v = await create_violation(request, staff, client_id, body)
    return web.json_response(violation_json(v, request.app[settings_key].timezone), status=201)


@routes.get("/api/clients/{id}/violations")
async def list_violations(request: web.Request) -> web.Response:
    staff = current_staff(request)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        data = [violation_json(v, tz) for v in await client_violations(db, client.id)]
    return web.json_response({"violations": data})


@routes.get("/api/violations/{id}")
async def get_violation(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        v = await load_violation(db, staff, int_param(request, "id"))
        data = violation_json(v, request.app[settings_key].timezone)
    return web.json_response(data)


@routes.post("/api/violations/{id}/steps")
async def post_step(request: web.Request) -> web.Response:
    staff = current_staff(request)
    violation_id = int_param(request, "id")
    body = await parse_body(request, StepCreate)
    v = await step_violation(request, staff, violation_id, body)
    return web.json_response(violation_json(v, request.app[settings_key].timezone))


@routes.get("/api/clients/{id}/alerts")
async def list_alerts(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        runs = await alerts_domain.open_alerts(db, staff, today(request), request.app[settings_key].timezone, client_id=client.id)
    return web.json_response({"alerts": [alert_json(r) for r in runs]})


async def answer(request: web.Request, staff: Staff, client_id: int, key: str, *, confirm: bool, reason: str = "", note: str = "") -> Violation | None:
    """Confirm or dismiss an alert, audited (shared with the client page's forms)."""
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, client_id))
        decision, v = await alerts_domain.answer_alert(db, staff, client, key[:64], today(request), tz, confirm=confirm, reason=reason, note=note)
        await db.commit()
        if v is not None:
            v = await _reloaded(db, v.id)
    await request.app[audit_key].record("alert.confirm" if confirm else "alert.dismiss", actor=staff, target_type="client", target_id=client_id,
                                        detail={"alert": decision.alert_key, "reason": decision.reason, "violation_id": decision.violation_id})
    return v


@routes.post("/api/clients/{id}/alerts/{key}/confirm")
async def confirm_alert(request: web.Request) -> web.Response:
    staff = current_staff(request)
    client_id = int_param(request, "id")
    body = await parse_body(request, AlertConfirm)
    v = await answer(request, staff, client_id, request.match_info["key"], confirm=True, note=body.note)
    return web.json_response(violation_json(v, request.app[settings_key].timezone), status=201)


@routes.post("/api/clients/{id}/alerts/{key}/dismiss")
async def dismiss_alert(request: web.Request) -> web.Response:
    staff = current_staff(request)
    client_id = int_param(request, "id")
    body = await parse_body(request, AlertDismiss)
    await answer(request, staff, client_id, request.match_info["key"], confirm=False, reason=body.reason)
    return web.json_response({"id": request.match_info["key"][:64], "decision": "dismissed", "reason": " ".join(body.reason.split())})
