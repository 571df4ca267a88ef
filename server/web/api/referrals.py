"""Referrals of a client to a partner: make one, move it through its steps,
attach the partner's report, and read the report back (docs/api.md,
"Partners, referrals and sentences")."""

from __future__ import annotations

import asyncio
import logging
from functools import partial

from aiohttp import web
from pydantic import Field

from server.db.models import Client
from server.db.partners import ReferralOutcome, ReferralReport, ReferralStatus
from server.domain.access import require_client, require_guidance
from server.domain.errors import DomainError, ErrorKind, not_found
from server.domain.partners import referrals as referrals_domain
from server.keys import audit_key, db_key, settings_key
from server.media import crypto
from server.security.auth import current_staff
from server.web.fields import Id, Notes
from server.web.serialize import iso
from server.web.validation import Body, int_param, parse_body

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


class ReferralCreate(Body):
    partner_id: Id
    purpose: str = Field(min_length=1, max_length=2000)
    goal_id: Id | None = Field(default=None, description="the goal of the client's case plan the referral serves, when there is one (400 unknown-goal when it is not one)")


class ReferralStepBody(Body):
    to: ReferralStatus
    note: Notes = ""
    outcome: ReferralOutcome | None = Field(default=None, description="required with to=selesai")


async def referral_json(request: web.Request, db, referral) -> dict:
    tz = request.app[settings_key].timezone
    return referrals_domain.referral_dict(referral, partial(iso, tz=tz), await referrals_domain.plan_goals(db, referral.client_id))


@routes.post("/api/clients/{id}/referrals")
async def create_referral(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    body = await parse_body(request, ReferralCreate)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        referral = await referrals_domain.create(db, staff, client, **body.model_dump())
        await db.commit()
        referral = await referrals_domain.reload(db, referral.id)
        data = await referral_json(request, db, referral)
    await request.app[audit_key].record("referral.create", actor=staff, target_type="referral", target_id=data["id"],
                                        detail={"client_id": data["client_id"], "partner_id": data["partner"]["id"], "goal_id": data["goal_id"]})
    return web.json_response(data, status=201)


@routes.get("/api/clients/{id}/referrals")
async def list_referrals(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        rows = await referrals_domain.for_client(db, client.id)
        data = [await referral_json(request, db, r) for r in rows]
    return web.json_response({"referrals": data})


@routes.get("/api/referrals/{id}")
async def get_referral(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        referral = await referrals_domain.get_referral(db, staff, int_param(request, "id"))
        data = await referral_json(request, db, referral)
    return web.json_response(data)


async def move(request: web.Request, referral_id: int, body: ReferralStepBody) -> dict:
    """One step of a referral, audited (shared with the client page's form)."""
    staff = current_staff(request)
    require_guidance(staff)
    async with request.app[db_key]() as db:
        referral = await referrals_domain.get_referral(db, staff, referral_id)
        before = referral.status.value
        await referrals_domain.step(db, staff, referral, body.to, note=body.note, outcome=body.outcome)
        await db.commit()
        data = await referral_json(request, db, await referrals_domain.reload(db, referral_id))
    await request.app[audit_key].record("referral.step", actor=staff, target_type="referral", target_id=referral_id,
                                        detail={"client_id": data["client_id"], "from": before, "to": data["status"], "outcome": data["outcome"], "note": body.note})
    return data


@routes.post("/api/referrals/{id}/steps")
async def step_referral(request: web.Request) -> web.Response:
    referral_id = int_param(request, "id")
    body = await parse_body(request, ReferralStepBody)
    return web.json_response(await move(request, referral_id, body))


async def keep_report(request: web.Request, referral_id: int, content_type: str, data: bytes) -> dict:
    """Seal and register a partner's report, audited (shared with the page's upload)."""
    staff = current_staff(request)
    require_guidance(staff)
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        referral = await referrals_domain.get_referral(db, staff, referral_id)
        ext = referrals_domain.report_type(content_type, data)
        if referral.status == ReferralStatus.ditolak:
            raise DomainError(ErrorKind.conflict, "referral-declined", "The partner declined this referral: there is no report to keep.")
        key = crypto.load_master_key(settings)
        name, size, sha256 = await asyncio.to_thread(referrals_domain.seal_report, settings.recordings_dir, key, referral.id, ext, data)
        report = await referrals_domain.attach_report(db, staff, referral, name=name, content_type=content_type, size=size, sha256=sha256)
        await db.commit()
        out = {"id": report.id, "referral_id": referral.id, "client_id": referral.client_id, "content_type": content_type, "size": size, "sha256": sha256, "url": f"/referral-reports/{report.id}"}
    await request.app[audit_key].record("referral.report_attach", actor=staff, target_type="referral", target_id=referral_id,
                                        detail={"report_id": out["id"], "content_type": content_type, "bytes": len(data), "sha256": sha256})
    return out


async def read_upload(request: web.Request, limit: int) -> bytes:
    """The whole body, or a refusal as soon as it passes ``limit`` (a read returns what has arrived, not all)."""
    parts, size = [], 0
    while chunk := await request.content.read(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise DomainError(ErrorKind.too_large, "body-too-large", f"A report is at most {limit} bytes.")
        parts.append(chunk)
    return b"".join(parts)


@routes.post("/api/referrals/{id}/reports")
async def upload_report(request: web.Request) -> web.Response:
    # The body is the file itself (Content-Type application/pdf, image/jpeg or
    # image/png). No CSRF token: a cross-site form cannot send those types, and
    # a cross-site script sending them needs a CORS preflight we never grant;
    # the Sec-Fetch-Site / Origin check holds for every POST (server/security/csrf.py).
    referral_id = int_param(request, "id")
    limit = referrals_domain.MAX_REPORT_BYTES
    if request.content_length is not None and request.content_length > limit:
        raise DomainError(ErrorKind.too_large, "body-too-large", f"A report is at most {limit} bytes.")
    if request.content_type not in referrals_domain.REPORT_TYPES:
        raise DomainError(ErrorKind.unsupported, "unsupported-media-type", "Send the report as application/pdf, image/jpeg or image/png.")
    data = await read_upload(request, limit)
    return web.json_response(await keep_report(request, referral_id, request.content_type, data), status=201)


@routes.get("/referral-reports/{id}")
async def read_report(request: web.Request) -> web.StreamResponse:
    """The report, decrypted as it streams (never written in the clear), audited."""
    staff = current_staff(request)
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        report = await db.get(ReferralReport, int_param(request, "id"))
        referral = await referrals_domain.get_referral(db, staff, report.referral_id) if report is not None else None
        if report is None or referral is None or not referrals_domain.may_read_report(staff, referral):
            raise not_found("report")
    try:
        chunks = referrals_domain.report_plaintext(settings.recordings_dir, crypto.load_master_key(settings), report)
        first = await asyncio.to_thread(next, chunks, b"")
    except (crypto.DecryptionError, crypto.UnsafePath, FileNotFoundError) as exc:
        log.warning("referral report %s cannot be opened: %s", report.id, exc)
        raise DomainError(ErrorKind.conflict, "report-unreadable", f"Report {report.id} cannot be opened; the server log says why.") from None
    await request.app[audit_key].record("referral.report_view", actor=staff, target_type="referral", target_id=report.referral_id, detail={"report_id": report.id})
    response = web.StreamResponse(headers={"Content-Type": report.content_type, "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff",
                                           "Content-Disposition": f'inline; filename="laporan-rujukan-{report.referral_id}-{report.id}"'})
    await response.prepare(request)
    await response.write(first)
    while (chunk := await asyncio.to_thread(next, chunks, None)) is not None:
        await response.write(chunk)
    await response.write_eof()
    return response
