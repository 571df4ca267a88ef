"""Documents signed in a call on paper: ``/documents/{id}`` is the A4 print
page (the letterhead kept with the document, the text, the client's drawn
signature and typed name, the PK's countersignature, the SHA-256 hash and a QR
code to the public page ``/v/{code}``, which letters share; see
server/web/pages/letters.py). Staff reach it from the console and the API's
``print_url``; who may see the session may print it."""

from __future__ import annotations

from aiohttp import web

from server.db.models import GuidanceSession
from server.db.signing import SessionDocument
from server.domain.access import require_session
from server.domain.documents.signing import integrity, signature_paths
from server.domain.errors import not_found
from server.domain.office.profile import OfficeProfile
from server.keys import db_key, letter_keys_key, settings_key
from server.security.auth import current_staff
from server.web.api.documents import verify_url
from server.web.pages.letters import qr_svg
from server.web.render import render
from server.web.validation import int_param

routes = web.RouteTableDef()


def kop_profile(document: SessionDocument) -> OfficeProfile:
    kop = (document.particulars or {}).get("kop") or {}
    return OfficeProfile(name=str(kop.get("name", "")), address=str(kop.get("address", "")), phone=str(kop.get("phone", "")),
                         email=str(kop.get("email", "")), logo_path=str(kop.get("logo_path", "")))


@routes.get("/documents/{id}")
async def document_page(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        document = await db.get(SessionDocument, int_param(request, "id"))
        if document is None:
            raise not_found("document")
        require_session(staff, await db.get(GuidanceSession, document.session_id))
    state = integrity(document, request.app[letter_keys_key].public())
    url = verify_url(request, document)
    signed = state in ("signed", "countersigned")
    return render(request, "documents/document.html", {
        "document": document, "state": state, "profile": kop_profile(document), "paragraphs": document.body.split("\n"),
        "paths": signature_paths(document.signature), "verify_url": url, "qr": qr_svg(url) if signed else None,
        "office_tz": request.app[settings_key].timezone,
    })

