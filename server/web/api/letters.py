"""Letters about a client (surat keterangan, panggilan, selesai bimbingan, the
laporan perkembangan klien): issue, list, revoke. The letter's print page and
its public verification page are in server/web/pages/letters.py; docs/api.md
is the contract."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web
from pydantic import Field, model_validator
from sqlalchemy import select

from server.audit.signing import SigningKeyError
from server.db.models import Client, Letter, LetterKind, Role, Staff
from server.domain.access import require_client, require_guidance
from server.domain.documents.letters import HAND_KINDS, issue_letter, revocation_message, revocation_state, revoke_letter
from server.domain.documents.progress_report import SUMMARY_MAX, report_facts, report_range
from server.domain.errors import DomainError, ErrorKind, not_found
from server.domain.partners.sentences import completion_facts
from server.keys import audit_key, db_key, letter_keys_key, settings_key
from server.security.auth import current_staff
from server.web.dates import today
from server.web.ledger import rules_for
from server.web.links import base_url
from server.web.validation import Body, int_param, parse_body

routes = web.RouteTableDef()


class LetterCreate(Body):
    kind: LetterKind
    # Printed on the letter ("Alasan pemanggilan" on a summons, "Keperluan" otherwise);
    # a summons for a client who is not overdue is refused without one (409 not-overdue).
    reason: str | None = Field(default=None, max_length=500, description="printed on the letter; required for a panggilan when the client is not overdue")
    # A laporan perkembangan's period and the PK's summary (only with kind perkembangan).
    date_from: date | None = Field(default=None, alias="from", description="perkembangan: the report's first day (default: the supervision's start)")
    date_to: date | None = Field(default=None, alias="to", description="perkembangan: the report's last day, not after today (default: today)")
    summary: str | None = Field(default=None, max_length=SUMMARY_MAX, description="perkembangan: the PK's summary, printed")

    @model_validator(mode="after")
    def _report_fields(self):
        given = [name for name, value in (("from", self.date_from), ("to", self.date_to), ("summary", self.summary)) if value is not None]
        if given and self.kind != LetterKind.perkembangan:
            raise ValueError(f"{', '.join(given)}: only for a laporan perkembangan (kind perkembangan)")
        for d in (self.date_from, self.date_to):
            if d is not None and not 1900 <= d.year <= 2999:
                raise ValueError("dates from 1900 to 2999")
        return self


def verify_url(request: web.Request, letter: Letter) -> str:
    return f"{base_url(request, request.app[settings_key])}/v/{letter.code}"


def revocation_json(request: web.Request, letter: Letter) -> dict[str, Any] | None:
    """The signed revocation as the public page shows it (``null`` when the letter
    was never revoked): ``state`` ``signed`` or ``unverified``, the statement
    (the exact signed text) and its signature."""
    state = revocation_state(letter, request.app[letter_keys_key].public())
    if state == "none":
        return None
    return {
        "state": state,
        "revoked_at": letter.revoked_at.isoformat() if letter.revoked_at else None,
        "key_id": letter.revocation_key_id,
        "statement": revocation_message(letter).decode(),
        "signature": letter.revocation_signature,
    }


def letter_json(request: web.Request, letter: Letter) -> dict[str, Any]:
    return {
        "id": letter.id,
        "client_id": letter.client_id,
        "kind": letter.kind.value,
        "number": letter.number,
        "issued_on": letter.issued_on.isoformat(),
        "signer_name": letter.signer_name,
        "signer_nip": letter.signer_nip,
        "signer_title": letter.signer_title,
        "reason": (letter.printed or {}).get("reason"),
        # The ledger's figures the letter printed, as of its issue date (null for letters issued before migration 0010).
        "attendance": (letter.printed or {}).get("attendance"),
        # A laporan perkembangan's period (null for other letters).
        "period": ({"from": report["from"], "to": report["to"]} if (report := (letter.printed or {}).get("report")) else None),
        "revoked": letter.revoked_at is not None,
        "revocation": revocation_json(request, letter),
        "verify_url": verify_url(request, letter),
        "print_url": f"/letters/{letter.id}",
    }


async def create(request: web.Request, staff: Staff, client_id: int, kind: LetterKind, reason: str | None = None,
                 report: LetterCreate | None = None) -> Letter:
    """Issue and audit a letter (shared with the client page's and the report page's forms);
    ``report`` carries a laporan perkembangan's period and summary."""
    day = today(request)
    if kind not in HAND_KINDS:
        # Teguran, BAP, risalah and pencabutan letters are issued by a violation's steps and a sitting's close.
        raise DomainError(ErrorKind.invalid, "invalid-body", f"kind: one of {', '.join(k.value for k in HAND_KINDS)}",
                          key="error.letter_kind", fields={"kind": "issued by a violation's steps or a sidang TPP"})
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, client_id))
        require_guidance(staff)  # before the state checks below (issue_letter holds the rule too)
        # "Selesai bimbingan" says supervision has ended: not before its last day.
        if kind == LetterKind.selesai and day < client.supervision_end:
            raise DomainError(ErrorKind.conflict, "supervision-not-ended", "Supervision has not ended yet.", key="error.supervision_not_ended")
        signer = letter_signer(request)
        # Community service done: only when every hour ordered is approved; the hours are printed.
        extra = {"service_hours": await completion_facts(db, client)} if kind == LetterKind.kerja_sosial_selesai else None
        if kind == LetterKind.perkembangan:
            # The report's facts, gathered once and kept with the letter: the issued report never changes after.
            first, last = report_range(client, report and report.date_from, report and report.date_to, day)
            rules = await rules_for(request, db, client.office_id)
            extra = {"report": await report_facts(db, client, first, last, rules, request.app[settings_key].timezone, (report and report.summary) or "")}
        letter = await issue_letter(db, signer, staff, client, kind, day, request.app[settings_key].timezone, reason, extra)
        await db.commit()
    await request.app[audit_key].record(
        "letter.issue", actor=staff, target_type="letter", target_id=letter.id,
        detail={"client_id": letter.client_id, "kind": letter.kind.value, "number": letter.number, "key_id": letter.key_id, "signature": letter.signature,
                "reason": letter.printed["reason"], **({"period": [r["from"], r["to"]]} if (r := letter.printed.get("report")) else {})},
    )
    return letter


async def load_letter(db, staff: Staff, letter_id: int) -> Letter:
    """The letter if its client is one the caller may see (404 otherwise, as for clients)."""
    letter = await db.get(Letter, letter_id)
    if letter is None or letter.office_id != staff.office_id:
        raise not_found("letter")
    require_client(staff, letter.client)
    return letter


def letter_signer(request: web.Request):
    """The letter key, or 409 ``letter-key-missing`` (production never makes one)."""
    try:
        return request.app[letter_keys_key].signer()
    except SigningKeyError as exc:
        raise DomainError(ErrorKind.conflict, "letter-key-missing", str(exc), key="error.letter_key_missing") from None


async def revoke(request: web.Request, staff: Staff, letter_id: int) -> Letter:
    async with request.app[db_key]() as db:
        letter = await load_letter(db, staff, letter_id)
        # A PK revokes letters about their own clients; supervisors and admins any in the office.
        if staff.role == Role.pk and letter.client.officer_id != staff.id:
            raise not_found("letter")
        changed = await revoke_letter(db, letter_signer(request), staff, letter)
        await db.commit()
    if changed:
        # The signed revocation goes into the trail too: a row cleared later still leaves it there.
        await request.app[audit_key].record(
            "letter.revoke", actor=staff, target_type="letter", target_id=letter.id,
            detail={"number": letter.number, "client_id": letter.client_id, "revoked_at": letter.revoked_at.isoformat(),
                    "key_id": letter.revocation_key_id, "signature": letter.revocation_signature},
        )
    return letter


@routes.post("/api/clients/{id}/letters")
async def create_letter(request: web.Request) -> web.Response:
    staff = current_staff(request)
    client_id = int_param(request, "id")
    body = await parse_body(request, LetterCreate)
    letter = await create(request, staff, client_id, body.kind, body.reason, body)
    data = letter_json(request, letter)
    return web.json_response({"id": data["id"], "number": data["number"], "verify_url": data["verify_url"], "print_url": data["print_url"]}, status=201)


@routes.get("/api/clients/{id}/letters")
async def list_letters(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        rows = (await db.execute(select(Letter).where(Letter.client_id == client.id).order_by(Letter.id))).scalars().all()
        data = [letter_json(request, r) for r in rows]
    return web.json_response({"letters": data})


@routes.delete("/api/letters/{id}")
async def delete_letter(request: web.Request) -> web.Response:
    staff = current_staff(request)
    letter = await revoke(request, staff, int_param(request, "id"))
    return web.json_response(letter_json(request, letter))
