"""Letters on paper and on the public verification page.

``/letters/{id}`` is the A4 print page (letterhead, number, Indonesian date,
body, signer's name and NIP, QR code); staff reach it from the client's page.
``/v/{code}`` is public (the QR code's link) and shows only what the issue
allows: authentic and valid or revoked, the number and date, the client's
initials, the kind of letter and the issuing office. An unknown code, or a
letter whose stored facts no longer match their signature, is a 404.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, replace
from datetime import date
from typing import Any

import segno
from aiohttp import web
from markupsafe import Markup
from pydantic import ValidationError
from sqlalchemy import func, select

from server.db.models import GuidanceSession, Letter, LetterKind, Office, Outcome, Program, SessionStatus
from server.db.signing import SessionDocument
from server.domain.documents.letters import REASON_MAX, find_by_code, initials, revocation_message, revocation_state
from server.domain.documents.signing import find_by_code as find_document
from server.domain.errors import DomainError, ErrorKind
from server.domain.office.logo import logo_file
from server.domain.office.profile import FIELDS as PROFILE_FIELDS
from server.domain.office.profile import OfficeProfile, office_profile
from server.keys import db_key, letter_keys_key, settings_key
from server.security.auth import current_staff
from server.web.api.letters import LetterCreate, create, load_letter, revoke, verify_url
from server.web.forms import form_dict
from server.web.pages.clients import client_record_context
from server.web.pages.page_errors import page_refusal
from server.web.render import render
from server.web.validation import int_param

routes = web.RouteTableDef()


def qr_svg(url: str) -> Markup:
    # segno writes the SVG itself (no user text inside but the URL, which it encodes as modules).
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=3, border=2, xmldecl=False, svgns=True, title="QR")
    return Markup(out.getvalue().decode())


@routes.post("/clients/{id}/letters")
async def create_from_form(request: web.Request) -> web.Response:
    staff = current_staff(request)
    client_id = int_param(request, "id")
    # Text fields only: a file sent under a field's name is no text (and no 500).
    form = {k: v for k, v in form_dict(await request.post()).items() if isinstance(v, str)}
    try:
        try:
            kind = LetterKind(form.get("kind", ""))
        except ValueError:
            # No ``fields``: the form's own sentence says which field, in the page's language.
            raise DomainError(ErrorKind.invalid, "invalid-body", "kind: unknown letter kind", key="error.letter_kind") from None
        if len(form.get("reason", "")) > REASON_MAX:
            raise DomainError(ErrorKind.invalid, "invalid-body", f"reason: at most {REASON_MAX} characters", key="error.letter_reason_long")
        report = None
        if kind == LetterKind.perkembangan:
            # The report page's form: its period and the PK's summary, read by the API's own model.
            try:
                report = LetterCreate.model_validate({"kind": kind.value, **{k: form[k] for k in ("from", "to", "summary") if form.get(k)}})
            except ValidationError:
                raise DomainError(ErrorKind.invalid, "invalid-body", "from/to/summary: ISO dates, from not after to; a summary of at most 4000 characters",
                                  key="error.report_fields") from None
        letter = await create(request, staff, client_id, kind, None if report else form.get("reason"), report)
    except DomainError as exc:
        if exc.kind in (ErrorKind.not_found, ErrorKind.forbidden):
            raise
        # A refusal the PK can act on (not overdue without a reason, supervision not
        # ended, no key yet): the client's page again, the sentence above the form.
        message, status = page_refusal(request, exc)
        ctx = await client_record_context(request, staff, client_id)
        ctx.update(letter_error=message, letter_form=form)
        return render(request, "clients/client.html", ctx, status=status)
    raise web.HTTPFound(f"/letters/{letter.id}")


@routes.post("/letters/{id}/revoke")
async def revoke_from_form(request: web.Request) -> web.Response:
    staff = current_staff(request)
    letter = await revoke(request, staff, int_param(request, "id"))
    raise web.HTTPFound(f"/letters/{letter.id}")


@dataclass(frozen=True)
class PrintedClient:
    name: str
    register_number: str
    program: str  # a Program value ("PB"), shown through the catalogue
    supervision_start: date
    supervision_end: date


def printed_view(letter: Letter, today_profile: OfficeProfile, client: Any) -> dict[str, Any]:
    """What the letter page prints: the facts stored at issue (``printed``).
    A letter issued before migration 0010 has at most its letterhead there
    (backfilled from the audit trail); its office name and signer come from
    its columns as always, and the rest from today's data, as it always rendered."""
    printed = letter.printed or {}
    office = printed.get("office")
    kept = {k: str(v) for k, v in (office or {}).items() if k in PROFILE_FIELDS}
    profile = replace(today_profile, name=letter.office_name, **kept)
    stored = printed.get("client")
    shown_client = PrintedClient(
        stored["name"], stored["register_number"], stored["program"],
        date.fromisoformat(stored["supervision_start"]), date.fromisoformat(stored["supervision_end"]),
    ) if stored else PrintedClient(client.name, client.register_number, client.program.value, client.supervision_start, client.supervision_end)
    att = printed.get("attendance")
    body = None
    if att is not None:
        body = "letter.printed_body." + letter.kind.value
        if letter.kind == LetterKind.panggilan and att.get("state") != "overdue":
            body = "letter.printed_body.panggilan_not_overdue"  # never "belum memenuhi wajib lapor" of a client who is not overdue
    return {
        "profile": profile,
        "shown_client": shown_client,
        "program_known": shown_client.program in {p.value for p in Program},
        "printed_att": att,
        "body_key": body,
        "reason": printed.get("reason") or "",
        "printed_hours": printed.get("service_hours"),
        # A violation's letters (teguran, BAP, pencabutan) print its facts and, for pencabutan, the sitting's decision.
        "violation": printed.get("violation"),
        "tpp": printed.get("tpp"),
        # The letterhead's logo as issued (its own file), or today's for an old letter.
        "logo_url": f"/letters/{letter.id}/logo" if office else "/office/logo",
    }


def _dated(report: dict[str, Any]) -> dict[str, Any]:
    """The report's JSON with its days as dates, for the page's date formats."""
    d = date.fromisoformat
    return {**report, "stages": [{**s, "start": d(s["start"]), "end": d(s["end"])} for s in report["stages"]],
            "periods": [{**p, "start": d(p["start"]), "end": d(p["end"])} for p in report["periods"]],
            "assessments": [{**a, "date": d(a["date"])} for a in report["assessments"]],
            "goals": [{**g, "ratings": [{**r, "date": d(r["date"])} for r in g["ratings"]]} for g in report["goals"]]}


@routes.get("/letters/{id}")
async def letter_page(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        letter = await load_letter(db, staff, int_param(request, "id"))
        client = letter.client
        profile = office_profile(await db.get(Office, letter.office_id))
        attended = None
        if not (letter.printed or {}).get("attendance"):
            # A letter issued before migration 0010 printed the attended sessions counted
            # when it is shown; it still does (docs/api.md, "Letters").
            attended = await db.scalar(
                select(func.count()).select_from(GuidanceSession).where(
                    GuidanceSession.client_id == client.id, GuidanceSession.outcome == Outcome.attended, GuidanceSession.status != SessionStatus.cancelled
                )
            )
    url = verify_url(request, letter)
    ctx = {"letter": letter, "client": client, "attended": attended or 0, "verify_url": url, "qr": qr_svg(url)}
    ctx.update(printed_view(letter, profile, client))
    report = (letter.printed or {}).get("report")
    if letter.kind == LetterKind.perkembangan and report:
        # The laporan perkembangan as issued: every section from what the letter printed and signed.
        ctx.update(report=_dated(report), first=date.fromisoformat(report["from"]), last=date.fromisoformat(report["to"]),
                   as_of=date.fromisoformat(report["attendance"]["as_of"]))
        return render(request, "letters/progress_report.html", ctx)
    return render(request, "letters/letter.html", ctx)


@routes.get("/letters/{id}/logo")
async def letter_logo(request: web.Request) -> web.StreamResponse:
    """The letterhead logo the letter was issued with (an admin's later upload
    is another file, so the old one still answers here)."""
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        letter = await load_letter(db, staff, int_param(request, "id"))
    logo_path = ((letter.printed or {}).get("office") or {}).get("logo_path", "")
    found = logo_file(request.app[settings_key].data_dir, logo_path)
    if found is None:
        raise web.HTTPNotFound()
    path, content_type = found
    return web.Response(body=path.read_bytes(), content_type=content_type, headers={"Cache-Control": "private, max-age=3600", "X-Content-Type-Options": "nosniff"})


def document_verify_context(document: SessionDocument, state: str) -> dict[str, Any]:
    """What the public page shows of a signed document: its kind and version, the
    client's initials, the office, when it was signed and countersigned, and the
    hashes; never its text, the signature or a name in full."""
    particulars = document.particulars or {}
    return {"document": document, "state": state, "client_initials": initials(str(particulars.get("nama", ""))),
            "office_name": str((particulars.get("kop") or {}).get("name", ""))}


@routes.get("/v/{code}")
async def verify_page(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    async with request.app[db_key]() as db:
        letter = await find_by_code(db, code, request.app[letter_keys_key].public())
        # The same page confirms a document signed in a call (its code is of the same kind).
        found = await find_document(db, code, request.app[letter_keys_key].public()) if letter is None else None
    if found is not None:
        return render(request, "documents/verify.html", document_verify_context(*found))
    if letter is None:
        return render(request, "letters/verify.html", {"letter": None}, status=404)
    # The revocation is shown with its signed statement, so that it can be checked offline.
    state = revocation_state(letter, request.app[letter_keys_key].public())
    statement = revocation_message(letter).decode() if state != "none" else None
    return render(request, "letters/verify.html", {"letter": letter, "revocation": state, "statement": statement,
                                                    "office_tz": request.app[settings_key].timezone})
