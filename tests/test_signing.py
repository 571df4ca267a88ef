"""Signing in the call (issue 22): the PK pushes a kontrak bimbingan or a
surat pernyataan to the client's screen, the client reads it, types their name
and signs with a drawn signature, the PK countersigns, and the public page of
letters confirms it and its SHA-256 hash. A signed document never changes.
Real server, real WebSockets, both databases."""

from __future__ import annotations

import asyncio
import hashlib
import json
import re

from sqlalchemy import select, update

from server.db.models import AuditEntry
from server.db.signing import SessionDocument
from server.domain.documents import signing
from tests.foundation import database
from tests.peers import open_join_link, stage, start_video_session

PHONE_UA = "Mozilla/5.0 (Linux; Android 14; SM-A155F) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"


def drawn(points: int = 40, width: int = 358, height: int = 180) -> dict:
    """A signature of two strokes, as a finger draws it on a 390-px phone."""
    half = points // 2
    first = [[10 + i * 6 % (width - 20), 40 + (i * 7) % 100] for i in range(half)]
    second = [[20 + i * 5 % (width - 40), 120 - (i * 3) % 60] for i in range(points - half)]
    return {"width": width, "height": height, "strokes": [first, second]}


async def push(http, session_id: int, kind: str = "kontrak_bimbingan") -> dict:
    async with http.post(f"/api/sessions/{session_id}/documents", json={"kind": kind}) as resp:
        assert resp.status == 201, await resp.text()
        return await resp.json()


async def sign(phone, document_id: int, revision: int = 1, **over) -> tuple[int, dict]:
    body = {"name": "Budi Santoso", "signature": drawn(), "revision": revision, **over}
    async with phone.post(f"/api/join/documents/{document_id}/sign", json=body, headers={"User-Agent": PHONE_UA}) as resp:
        return resp.status, await resp.json()


async def verify_page(http, url: str) -> tuple[int, str]:
    async with http.get("/v/" + url.rsplit("/v/", 1)[1]) as resp:
        return resp.status, await resp.text()


async def test_the_client_signs_a_kontrak_in_the_call_and_the_pk_countersigns(aiohttp_server, settings, office, database_url):
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        c1 = office.clients["c1"]

        document = await push(st.pk, st.session_id)
        assert (document["kind"], document["version"], document["revision"], document["status"]) == ("kontrak_bimbingan", 1, 1, "pending")
        assert document["delivered"] is True and document["verify_url"] is None
        # The client's screen is told; the text comes over HTTP with the pass.
        told = await client.next("document")
        assert told == {"type": "document", "id": document["id"], "kind": "kontrak_bimbingan", "title": "KONTRAK BIMBINGAN", "revision": 1}
        async with st.phone.get(f"/api/join/documents/{document['id']}") as resp:
            assert resp.status == 200
            read = await resp.json()
        assert c1.name in read["body"] and c1.register_number in read["body"] and "wajib lapor" in read["body"]
        assert read["strings"]["signing.submit"] and read["css"].startswith("/static/signing.css")
        assert "particulars" not in read and "content_hash" not in read  # the client gets the text, not the record
        await client.send({"type": "document-seen", "id": document["id"]})
        assert await officer.next("document-seen") == {"type": "document-seen", "id": document["id"], "from": "client"}

        status, signed = await sign(st.phone, document["id"])
        assert status == 201, signed
        assert (signed["status"], signed["signed_name"]) == ("signed", "Budi Santoso")
        assert (await officer.next("document-signed"))["id"] == document["id"]

        async with st.pk.get(f"/api/sessions/{st.session_id}/documents/{document['id']}") as resp:
            record = await resp.json()
        assert record["integrity"] == "signed"
        assert record["signed_user_agent"] == PHONE_UA and record["signed_address"] == "127.0.0.1"
        assert re.fullmatch(r"[0-9a-f]{64}", record["content_hash"])
        # The hash is SHA-256 over the canonical content as docs/api.md states it.
        async with database(database_url) as db:
            row = await db.get(SessionDocument, document["id"])
            canonical = json.dumps(signing.signed_content(row), sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
        assert hashlib.sha256(canonical).hexdigest() == record["content_hash"]
        assert json.loads(canonical)["signature"] == drawn() and json.loads(canonical)["user_agent"] == PHONE_UA

        # The public page of letters confirms it and its hash, without the text or the name in full.
        status, page = await verify_page(st.phone, record["verify_url"])
        assert status == 200 and 'data-document="signed"' in page and record["content_hash"] in page
        assert c1.name not in page and "wajib lapor" not in page

        async with st.pk.post(f"/api/sessions/{st.session_id}/documents/{document['id']}/countersign") as resp:
            assert resp.status == 200, await resp.text()
            countersigned = await resp.json()
        assert countersigned["status"] == "countersigned" and countersigned["countersigner_name"] == office.staff["pk1"].name
        async with st.pk.post(f"/api/sessions/{st.session_id}/documents/{document['id']}/countersign") as resp:
            assert (resp.status, (await resp.json())["error"]) == (409, "document-countersigned")
        status, page = await verify_page(st.phone, record["verify_url"])
        assert status == 200 and 'data-document="countersigned"' in page and countersigned["countersign_hash"] in page

        # The print page: the letterhead kept with it, the text, the drawn strokes, the QR code to /v/.
        async with st.pk.get(f"/documents/{document['id']}") as resp:
            assert resp.status == 200
            printed = await resp.text()
        assert 'class="kop"' in printed and c1.name in printed and "<path d=\"M" in printed and "<svg" in printed
        assert 'data-state="countersigned"' in printed and record["content_hash"] in printed
        # The session's page lists it with its state, linked to the print page.
        async with st.pk.get(f"/sessions/{st.session_id}") as resp:
            session_page = await resp.text()
        assert f'href="/documents/{document["id"]}"' in session_page and 'data-status="countersigned"' in session_page

        # Every change of the record is in the audit trail, in order, the signature's facts with it.
        async with database(database_url) as db:
            entries = list((await db.execute(select(AuditEntry).where(AuditEntry.action.like("document.%")).order_by(AuditEntry.seq))).scalars())
        assert [(e.action, e.actor, e.target_id) for e in entries] == [
            ("document.create", "pk1", str(document["id"])), ("document.sign", "client", str(document["id"])),
            ("document.countersign", "pk1", str(document["id"]))]
        assert entries[1].detail["content_hash"] == record["content_hash"] and entries[1].detail["user_agent"] == PHONE_UA

        # Anything written in behind the server's back breaks the hash: the page then knows no such document.
        async with database(database_url) as db:
            await db.execute(update(SessionDocument).where(SessionDocument.id == document["id"]).values(signed_name="Orang Lain"))
            await db.commit()
        status, page = await verify_page(st.phone, record["verify_url"])
        assert status == 404 and 'data-status="unknown"' in page
        async with st.pk.get(f"/api/sessions/{st.session_id}/documents/{document['id']}") as resp:
            assert (await resp.json())["integrity"] == "broken"


async def test_a_signed_document_cannot_change_and_an_edit_is_a_new_document(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        _officer, client = await st.officer_and_admitted_client()
        document = await push(st.pk, st.session_id, "surat_pernyataan")
        await client.next("document")
        url = f"/api/sessions/{st.session_id}/documents/{document['id']}"

        # Pending: the PK may correct the text; the client's screen gets the new revision.
        async with st.pk.patch(url, json={"body": "Saya menyatakan akan wajib lapor setiap bulan."}) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["revision"] == 2
        assert (await client.next("document"))["revision"] == 2
        # Signing what was read before the change is refused: the client reads again.
        status, refused = await sign(st.phone, document["id"], revision=1)
        assert (status, refused["error"]) == (409, "document-changed")
        status, _ = await sign(st.phone, document["id"], revision=2)
        assert status == 201

        # Signed: no change, by the PK or by signing again.
        async with st.pk.patch(url, json={"body": "Teks lain."}) as resp:
            assert (resp.status, (await resp.json())["error"]) == (409, "document-signed")
        status, refused = await sign(st.phone, document["id"], revision=2)
        assert (status, refused["error"]) == (409, "document-signed")
        async with st.pk.post(url + "/push") as resp:
            assert resp.status == 409
        async with st.pk.get(url) as resp:
            kept = await resp.json()
        assert kept["body"] == "Saya menyatakan akan wajib lapor setiap bulan." and kept["integrity"] == "signed"

        # A new text is a new document: the next version of its kind for the client.
        again = await push(st.pk, st.session_id, "surat_pernyataan")
        assert (again["version"], again["id"] != document["id"]) == (2, True)
        async with st.pk.get(f"/api/sessions/{st.session_id}/documents") as resp:
            listed = (await resp.json())["documents"]
        assert [(d["version"], d["status"]) for d in listed] == [(1, "signed"), (2, "pending")]


async def test_bad_signatures_and_bad_requests_are_refused_with_4xx(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        _officer, client = await st.officer_and_admitted_client()
        document = await push(st.pk, st.session_id)
        sid, did = st.session_id, document["id"]

        big = drawn(points=signing.MAX_POINTS + 2)
        cases = [
            ({"signature": big}, 413, "signature-too-large"),
            ({"signature": {**drawn(), "strokes": [[[1, 1]] for _ in range(signing.MAX_STROKES + 1)]}}, 413, "signature-too-large"),
            ({"signature": {**drawn(), "strokes": []}}, 400, "signature-empty"),
            ({"signature": {**drawn(), "strokes": [[[5, 5], [9999, 5]]]}}, 400, "invalid-signature"),
            ({"signature": {**drawn(), "strokes": [[[5, 5, 5], [6, 6]]]}}, 400, "invalid-signature"),
            ({"signature": {**drawn(), "width": 10}}, 400, "invalid-signature"),
            ({"signature": {**drawn(), "strokes": [[["5", 5], [6, 6]]]}}, 400, "invalid-body"),
            ({"name": "   "}, 400, "invalid-body"),
            ({"name": "x" * 201}, 400, "invalid-body"),
            ({"revision": 0}, 400, "invalid-body"),
            ({"extra": 1}, 400, "invalid-body"),
        ]
        for over, code, error in cases:
            status, body = await sign(st.phone, did, **over)
            assert (status, body["error"]) == (code, error), over
        # A body past the API's limit (a PNG pasted in, say) is refused before it is read.
        async with st.phone.post(f"/api/join/documents/{did}/sign", json={"name": "B", "signature": drawn(), "revision": 1, "png": "A" * 70_000}) as resp:
            assert (resp.status, (await resp.json())["error"]) == (413, "body-too-large")
        async with st.phone.post(f"/api/join/documents/{did}/sign", data="name=B", headers={"Content-Type": "application/x-www-form-urlencoded"}) as resp:
            assert resp.status == 415

        # Staff side: an unknown kind, a body not JSON, a document of another session.
        for body, code in (({"kind": "surat_sakti"}, 400), ({}, 400), ({"kind": "kontrak_bimbingan", "x": 1}, 400)):
            async with st.pk.post(f"/api/sessions/{sid}/documents", json=body) as resp:
                assert resp.status == code, body
        async with st.pk.post(f"/api/sessions/{sid}/documents", data=b"{", headers={"Content-Type": "application/json"}) as resp:
            assert (resp.status, (await resp.json())["error"]) == (400, "malformed-json")
        async with st.pk.patch(f"/api/sessions/{sid}/documents/{did}", json={"body": ""}) as resp:
            assert resp.status == 400
        async with st.pk.get(f"/api/sessions/{sid}/documents/999999") as resp:
            assert resp.status == 404
        async with st.pk.post(f"/api/sessions/{sid}/documents/{did}/countersign") as resp:
            assert (resp.status, (await resp.json())["error"]) == (409, "document-not-signed")

        # Over the socket: a document-seen for no document of this session, or from the officer.
        await client.send({"type": "document-seen", "id": 999999})
        assert (await client.next("error"))["code"] == "no-document"
        await client.send({"type": "document-seen", "id": "1"})
        assert (await client.next("error"))["code"] == "bad-message"
        # Nothing of that changed the document.
        async with st.pk.get(f"/api/sessions/{sid}/documents/{did}") as resp:
            assert (await resp.json())["status"] == "pending"


async def test_roles_and_ownership_on_every_document_route(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        await st.officer_and_admitted_client()
        document = await push(st.pk, st.session_id)
        sid, did = st.session_id, document["id"]
        admin, pk2, kasie = await st.browser("admin"), await st.browser("pk2"), await st.browser("kasie")

        # An admin reads, but runs no guidance; another PK does not know the session.
        async with admin.post(f"/api/sessions/{sid}/documents", json={"kind": "kontrak_bimbingan"}) as resp:
            assert (resp.status, (await resp.json())["error"]) == (403, "no-guidance-role")
        async with admin.get(f"/api/sessions/{sid}/documents") as resp:
            assert resp.status == 200
        for method, path in (("POST", f"/api/sessions/{sid}/documents"), ("GET", f"/api/sessions/{sid}/documents/{did}"),
                             ("POST", f"/api/sessions/{sid}/documents/{did}/countersign"), ("GET", f"/documents/{did}")):
            async with pk2.request(method, path, json={"kind": "kontrak_bimbingan"} if path.endswith("documents") else None) as resp:
                assert resp.status == 404, (method, path)

        # Another session's pass does not reach this document.
        other = await start_video_session(pk2, office.clients["c2"].id)
        other_phone = await st.browser()
        assert (await open_join_link(other_phone, other["client_join_url"])).status == 303
        async with other_phone.get(f"/api/join/documents/{did}") as resp:
            assert resp.status == 404
        status, body = await sign(other_phone, did)
        assert (status, body["error"]) == (404, "not-found")
        # No pass at all (a staff member's cookie is not one).
        async with st.pk.get(f"/api/join/documents/{did}") as resp:
            assert resp.status == 401
        status, _ = await sign(st.pk, did)
        assert status == 401

        # The office's supervisor may countersign what the client signed.
        status, _ = await sign(st.phone, did)
        assert status == 201
        async with admin.post(f"/api/sessions/{sid}/documents/{did}/countersign") as resp:
            assert resp.status == 403
        async with kasie.post(f"/api/sessions/{sid}/documents/{did}/countersign") as resp:
            assert resp.status == 200
            assert (await resp.json())["countersigner_name"] == office.staff["kasie"].name


async def test_documents_belong_to_an_open_video_session(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        await st.officer_and_admitted_client()
        document = await push(st.pk, st.session_id)
        async with st.pk.post(f"/api/sessions/{st.session_id}/end") as resp:
            assert resp.status == 200, await resp.text()
        # Over: nothing more is pushed, and the pending document is not signed afterwards.
        async with st.pk.post(f"/api/sessions/{st.session_id}/documents", json={"kind": "surat_pernyataan"}) as resp:
            assert (resp.status, (await resp.json())["error"]) == (409, "session-closed")
        status, body = await sign(st.phone, document["id"])
        assert (status, body["error"]) == (409, "session-closed")


async def test_a_document_pushed_to_nobody_is_kept_and_pushed_again(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer = st.peer(st.pk, "officer")
        await officer.join()
        document = await push(st.pk, st.session_id)
        assert document["delivered"] is False
        client = st.peer(st.phone, "client")
        await client.join()
        await officer.admit((await officer.next("client-waiting"))["device"])
        await client.next("admitted")
        async with st.pk.post(f"/api/sessions/{st.session_id}/documents/{document['id']}/push") as resp:
            assert resp.status == 200 and (await resp.json())["delivered"] is True
        assert (await client.next("document"))["id"] == document["id"]


async def test_signatures_and_pushes_at_once_leave_one_signature_and_distinct_versions(aiohttp_server, settings, office):
    """Check, then write, is a race (PITFALLS 11): the document's row is held while
    it is signed, the client's while a version is counted."""
    async with stage(aiohttp_server, settings, office) as st:
        await st.officer_and_admitted_client()
        pushed = await asyncio.gather(*(st.pk.post(f"/api/sessions/{st.session_id}/documents", json={"kind": "surat_pernyataan"}) for _ in range(8)))
        assert [r.status for r in pushed] == [201] * 8
        versions = sorted([(await r.json())["version"] for r in pushed])
        assert versions == list(range(1, 9))
        target = (await pushed[0].json())["id"]

        async def one(n: int):
            body = {"name": f"Penanda {n}", "revision": 1, "signature": drawn()}
            async with st.phone.post(f"/api/join/documents/{target}/sign", json=body) as resp:
                return resp.status, await resp.json()

        answers = await asyncio.gather(*(one(n) for n in range(10)))
        assert sorted(status for status, _ in answers) == [201] + [409] * 9
        [winner] = [body["signed_name"] for status, body in answers if status == 201]
        async with st.pk.get(f"/api/sessions/{st.session_id}/documents/{target}") as resp:
            kept = await resp.json()
        assert (kept["signed_name"], kept["integrity"]) == (winner, "signed")
