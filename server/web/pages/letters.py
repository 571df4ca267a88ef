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

import segno
from aiohttp import web
from markupsafe import Markup
from sqlalchemy import func, select

from server.db.models import GuidanceSession, LetterKind, Office, Outcome, SessionStatus
from server.domain.documents.letters import find_by_code
from server.domain.errors import DomainError, ErrorKind
from server.domain.office.profile import office_profile
from server.keys import db_key, letter_keys_key
from server.security.auth import current_staff
from server.web.api.letters import create, load_letter, revoke, verify_url
from server.web.errors import http_status
from server.web.render import error_text, render
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
    form = await request.post()
    try:
        kind = LetterKind(form.get("kind", ""))
    except ValueError:
        raise web.HTTPBadRequest(text="Jenis surat tidak dikenal.") from None
    try:
        letter = await create(request, staff, int_param(request, "id"), kind)
    except DomainError as exc:
        if exc.kind in (ErrorKind.not_found, ErrorKind.forbidden):
            raise
        # A refusal the PK can act on (supervision not ended, no key yet), in the page's language.
        return web.Response(status=http_status(exc), text=error_text(request, exc), content_type="text/plain")
    raise web.HTTPFound(f"/letters/{letter.id}")


@routes.post("/letters/{id}/revoke")
async def revoke_from_form(request: web.Request) -> web.Response:
    staff = current_staff(request)
    letter = await revoke(request, staff, int_param(request, "id"))
    raise web.HTTPFound(f"/letters/{letter.id}")


@routes.get("/letters/{id}")
async def letter_page(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        letter = await load_letter(db, staff, int_param(request, "id"))
        client = letter.client
        profile = office_profile(await db.get(Office, letter.office_id))
        attended = await db.scalar(
            select(func.count()).select_from(GuidanceSession).where(
                GuidanceSession.client_id == client.id, GuidanceSession.outcome == Outcome.attended, GuidanceSession.status != SessionStatus.cancelled
            )
        )
    url = verify_url(request, letter)
    return render(request, "letters/letter.html", {"letter": letter, "client": client, "profile": profile, "attended": attended or 0, "verify_url": url, "qr": qr_svg(url)})


@routes.get("/v/{code}")
async def verify_page(request: web.Request) -> web.Response:
    code = request.match_info["code"]
    async with request.app[db_key]() as db:
        letter = await find_by_code(db, code, request.app[letter_keys_key].public())
    if letter is None:
        return render(request, "letters/verify.html", {"letter": None}, status=404)
    return render(request, "letters/verify.html", {"letter": letter})
