"""Documents on the signaling socket (issue 22, docs/signaling.md "document"):
the server tells the admitted client that the PK pushed a document
(``document``) and the officer that the client signed it (``document-signed``);
the client says it opened one (``document-seen``), passed on to the officer.

The text and the signature travel over HTTP with the client's join pass
(server/web/api/documents.py), not here: a signature is tens of kilobytes, and
HTTP gives the signer a plain answer (201 or the refusal) and the server the
user agent and address it records with it.
"""

from __future__ import annotations

from server.db.signing import SessionDocument
from server.keys import db_key, rooms_key
from server.signaling import protocol as p
from server.signaling.registry import Party, Refusal, Room


async def documents_seen(request, room: Room, party: Party, message: p.DocumentSeen) -> None:
    if party.role != "client":
        raise Refusal("forbidden", "Only the client reads a pushed document.")
    if not party.admitted or room.client is not party:
        raise Refusal("not-admitted", "You are still in the waiting room.")
    async with request.app[db_key]() as db:
        document = await db.get(SessionDocument, message.id)
    if document is None or document.session_id != party.session_id:
        raise Refusal("no-document", "No such document in this session.")
    await request.app[rooms_key].tell(party.session_id, "officer", p.DocumentSeenByClient.model_validate({"id": document.id, "from": "client"}))


async def push(app, document: SessionDocument) -> bool:
    """Put the document on the admitted client's screen; whether a socket held the place."""
    message = p.DocumentPushed(id=document.id, kind=document.kind, title=document.title, revision=document.revision)  # type: ignore[arg-type]
    return await app[rooms_key].tell(document.session_id, "client", message)


async def tell_signed(app, document: SessionDocument, at: str) -> bool:
    return await app[rooms_key].tell(document.session_id, "officer", p.DocumentSigned(id=document.id, signed_at=at))
