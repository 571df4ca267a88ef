"""Documents signed in the call (issue 22): the PK pushes a kontrak bimbingan
or a surat pernyataan to the client's screen, the client signs it with their
join pass, the PK countersigns. docs/api.md "Documents signed in a call" is
the contract; server/domain/documents/signing.py holds the rules.

Staff routes take the session as any session route does (``load_session`` in
server/web/lookups.py): its own PK or a supervisor of the office acts
(an admin reads, as for records; another PK's session is a 404). The
client's two routes live under ``/api/join/`` (public in
server/security/auth.py), check the ``bimbing_join`` pass and the session's
current ``link_version`` as kendala do, and reach only a document of the
pass's own session.

Why the signature comes over HTTP, not the signaling socket: it is tens of
kilobytes of points (a signaling frame is capped at 64 KiB for everything
else), the client needs a plain yes or no (201, or 409 when the PK changed the
text meanwhile), and the request carries the user agent and the address the
server records with the signature.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from aiohttp import web
from pydantic import Field, StringConstraints

from server.db.models import GuidanceSession, SessionMode, Staff
from server.db.signing import SessionDocument
from server.domain.access import require_guidance
from server.domain.documents import signing
from server.domain.errors import DomainError, ErrorKind, not_found
from server.domain.record.sessions import OPEN_STATUSES
from server.keys import audit_key, catalogue_key, db_key, letter_keys_key, settings_key
from server.security.auth import current_staff
from server.security.joinpass import PassError, read_pass
from server.security.proxy import client_address
from server.signaling import documents as pushing
from server.web.api.letters import letter_signer
from server.web.lookups import load_session
from server.web.dates import today
from server.web.links import base_url
from server.web.render import locale_of
from server.web.serialize import iso
from server.web.validation import Body, int_param, parse_body

routes = web.RouteTableDef()


class DocumentCreate(Body):
    kind: Literal["kontrak_bimbingan", "surat_pernyataan"] = Field(description="the office template")


class DocumentUpdate(Body):
    body: Annotated[str, StringConstraints(min_length=1, max_length=signing.MAX_BODY_CHARS)] = Field(
        description="the corrected text; only while pending (409 document-signed after)")


class DrawnSignature(Body):
    width: int = Field(description="the canvas' width in CSS pixels")
    height: int = Field(description="the canvas' height in CSS pixels")
    # Bounded again, and as 413, by the domain (signing.MAX_STROKES, MAX_POINTS); this cap only keeps parsing bounded.
    strokes: list[list[list[int]]] = Field(max_length=1000, description="strokes of [x, y] integer points")


class DocumentSign(Body):
    name: Annotated[str, StringConstraints(min_length=1, max_length=signing.MAX_NAME_CHARS)] = Field(description="the client's typed name")
    signature: DrawnSignature
    revision: int = Field(ge=1, description="the revision the client read (409 document-changed if the PK changed it since)")


def verify_url(request: web.Request, document: SessionDocument) -> str:
    return f"{base_url(request, request.app[settings_key])}/v/{document.code}"


def document_json(request: web.Request, document: SessionDocument, *, for_client: bool = False) -> dict[str, Any]:
    tz = request.app[settings_key].timezone
    data: dict[str, Any] = {
        "id": document.id,
        "kind": document.kind,
        "version": document.version,
        "revision": document.revision,
        "title": document.title,
        "body": document.body,
        "status": document.status,
        "signed_name": document.signed_name,
        "signed_at": iso(document.signed_at, tz),
    }
    if for_client:
        return data
    data.update(
        session_id=document.session_id, client_id=document.client_id, particulars=document.particulars,
        created_at=iso(document.created_at, tz), created_by_id=document.created_by_id,
        signed_user_agent=document.signed_user_agent, signed_address=document.signed_address,
        content_hash=document.content_hash, countersigner_name=document.countersigner_name,
        countersigned_at=iso(document.countersigned_at, tz), countersign_hash=document.countersign_hash,
        verify_url=verify_url(request, document) if document.status != "pending" else None,
        print_url=f"/documents/{document.id}",
    )
    return data


async def _staff_document(request: web.Request, db, staff: Staff, *, lock: bool = False) -> SessionDocument:
    """The session's document (404 otherwise); ``lock`` holds its row for a change."""
    session = await load_session(request, db, staff)
    document_id = int_param(request, "doc_id")
    document = await (signing.held(db, document_id) if lock else db.get(SessionDocument, document_id))
    if document is None or document.session_id != session.id:
        raise not_found("document")
    return document


# --- staff ------------------------------------------------------------------


@routes.post("/api/sessions/{id}/documents")
async def create_document(request: web.Request) -> web.Response:
    """A new document from an office template, pushed to the client in the call."""
    staff = current_staff(request)
    require_guidance(staff)
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
    body = await parse_body(request, DocumentCreate)
    if session.mode != SessionMode.video or session.status not in OPEN_STATUSES:
        raise DomainError(ErrorKind.conflict, "session-closed", "Documents are pushed in an open video session.", key="error.document_session_closed")
    async with request.app[db_key]() as db:
        document = await signing.create_document(db, staff, session, body.kind, today(request))
        data = document_json(request, document)
    await request.app[audit_key].record("document.create", actor=staff, target_type="document", target_id=document.id,
                                        detail={"session_id": session.id, "kind": document.kind, "version": document.version})
    data["delivered"] = await pushing.push(request.app, document)
    return web.json_response(data, status=201)


@routes.get("/api/sessions/{id}/documents")
async def list_documents(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        session = await load_session(request, db, staff)
        data = [document_json(request, d) for d in await signing.session_documents(db, session.id)]
    return web.json_response({"session_id": session.id, "documents": data})


@routes.get("/api/sessions/{id}/documents/{doc_id}")
async def read_document(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        document = await _staff_document(request, db, staff)
        data = document_json(request, document)
        data["integrity"] = signing.integrity(document, request.app[letter_keys_key].public())
    return web.json_response(data)


@routes.patch("/api/sessions/{id}/documents/{doc_id}")
async def update_document(request: web.Request) -> web.Response:
    """Correct a pending text (pushed again); a signed one is refused, 409."""
    staff = current_staff(request)
    require_guidance(staff)
    async with request.app[db_key]() as db:
        await _staff_document(request, db, staff)
    body = await parse_body(request, DocumentUpdate)
    async with request.app[db_key]() as db:
        document = await _staff_document(request, db, staff, lock=True)
        signing.update_body(document, body.body)
        await db.commit()
        data = document_json(request, document)
    await request.app[audit_key].record("document.update", actor=staff, target_type="document", target_id=document.id,
                                        detail={"session_id": document.session_id, "revision": document.revision})
    data["delivered"] = await pushing.push(request.app, document)
    return web.json_response(data)


@routes.post("/api/sessions/{id}/documents/{doc_id}/push")
async def push_document(request: web.Request) -> web.Response:
    """Put a pending document on the client's screen again (after a reconnect)."""
    staff = current_staff(request)
    require_guidance(staff)
    async with request.app[db_key]() as db:
        document = await _staff_document(request, db, staff)
    if document.status != "pending":
        raise DomainError(ErrorKind.conflict, "document-signed", "The document is already signed.", key="error.document_signed")
    return web.json_response({"id": document.id, "delivered": await pushing.push(request.app, document)})


@routes.post("/api/sessions/{id}/documents/{doc_id}/countersign")
async def countersign_document(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_guidance(staff)
    async with request.app[db_key]() as db:
        document = await _staff_document(request, db, staff, lock=True)
        signing.countersign(document, letter_signer(request), staff)
        await db.commit()
        data = document_json(request, document)
    await request.app[audit_key].record("document.countersign", actor=staff, target_type="document", target_id=document.id,
                                        detail={"session_id": document.session_id, "content_hash": document.content_hash,
                                                "countersign_hash": document.countersign_hash})
    return web.json_response(data)


# --- the client -------------------------------------------------------------


async def _client_document(request: web.Request, db, *, lock: bool = False) -> tuple[Any, SessionDocument]:
    try:
        grant = read_pass(request)
    except PassError as exc:
        raise DomainError(ErrorKind.unauthenticated, exc.code, exc.message) from None
    session = await db.get(GuidanceSession, grant.session_id)
    if session is None or session.mode != SessionMode.video or session.link_version != grant.link_version:
        raise DomainError(ErrorKind.forbidden, "link-revoked", "This link is no longer valid; ask your PK for a new one.")
    document_id = int_param(request, "doc_id")
    document = await (signing.held(db, document_id) if lock else db.get(SessionDocument, document_id))
    # Only a document of the pass's own session: any other is unknown to this client.
    if document is None or document.session_id != session.id:
        raise not_found("document")
    return (grant, session), document


@routes.get("/api/join/documents/{doc_id}")
async def client_reads(request: web.Request) -> web.Response:
    """The text to read, and the panel's labels in the page's language."""
    async with request.app[db_key]() as db:
        _held, document = await _client_document(request, db)
        data = document_json(request, document, for_client=True)
    data["strings"] = request.app[catalogue_key].subset(locale_of(request), "signing.")
    data["css"] = str(request.app.router["static"].url_for(filename="signing.css"))
    return web.json_response(data)


@routes.post("/api/join/documents/{doc_id}/sign")
async def client_signs(request: web.Request) -> web.Response:
    async with request.app[db_key]() as db:
        await _client_document(request, db)  # the pass first: without one, the body is not even read
    body = await parse_body(request, DocumentSign)
    drawn = signing.check_signature(body.signature.width, body.signature.height, body.signature.strokes)
    async with request.app[db_key]() as db:
        (grant, session), document = await _client_document(request, db, lock=True)
        if session.status not in OPEN_STATUSES:
            raise DomainError(ErrorKind.conflict, "session-closed", "This session is over; the document can no longer be signed here.",
                              key="error.document_session_closed")
        signing.sign_by_client(document, letter_signer(request), name=body.name, drawn=drawn, revision=body.revision,
                               user_agent=request.headers.get("User-Agent", ""), address=client_address(request))
        await db.commit()
        data = document_json(request, document, for_client=True)
        detail = {"session_id": session.id, "device": grant.device, "content_hash": document.content_hash,
                  "address": document.signed_address, "user_agent": document.signed_user_agent}
    await request.app[audit_key].record("document.sign", actor="client", target_type="document", target_id=document.id, detail=detail)
    await pushing.tell_signed(request.app, document, data["signed_at"])
    return web.json_response(data, status=201)
