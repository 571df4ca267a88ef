"""Letters that can be verified: a PK issues a surat keterangan, anyone holding
it checks it at /v/{code} (authentic, number, date, initials, kind, office and
nothing more), the signature holds with the public key file alone, revoking
shows on the page, and altered or unknown codes are 404. A revocation is signed
by the same key and checked offline from what the page shows; a revocation
altered, forged or cut down in the database is caught."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from html import unescape
from zoneinfo import ZoneInfo

import aiohttp
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, update

from server.db.models import Client, Letter, Office, Staff
from tests.audit_support import audit_entries
from tests.foundation import database
from tests.test_pages import csrf_token, text_of

WIB = ZoneInfo("Asia/Jakarta")
BULAN = ["Januari", "Februari", "Maret", "April", "Mei", "Juni", "Juli", "Agustus", "September", "Oktober", "November", "Desember"]
ROMAN = ["I", "II", "III", "IV", "V", "VI", "VII", "VIII", "IX", "X", "XI", "XII"]


class Anonymous:
    """Someone holding the letter: the same server, no cookies, no account."""

    def __init__(self, client):
        self.client = client

    async def get(self, path: str):
        async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
            resp = await http.get(self.client.make_url(path), allow_redirects=False)
            body = await resp.text()
        return resp.status, body


def indonesian_date(d) -> str:
    return f"{d.day} {BULAN[d.month - 1]} {d.year}"


async def set_profile(database_url: str, office, **profile):
    async with database(database_url) as db:
        o = await db.get(Office, office.id)
        o.settings = {**(o.settings or {}), "profile": profile}
        await db.commit()


async def test_a_letter_is_numbered_signed_and_verifiable_by_anyone(client, office, sign_in, database_url, settings):
    await set_profile(database_url, office, letter_prefix="W10.PAS.PAS.10-PK.01.05", head_name="Dra. Siti Rahayu", head_nip="197001011990032001", address="Jl. Raya Bekasi Km. 18, Jakarta", phone="021-4600000")
    async with database(database_url) as db:
        await db.execute(update(Client).where(Client.id == office.clients["c1"].id).values(name="Rudi Hartono"))
        await db.commit()
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    today = datetime.now(WIB).date()

    resp = await client.post(f"/api/clients/{c1}/letters", json={"kind": "keterangan"})
    assert resp.status == 201, await resp.text()
    first = await resp.json()
    assert set(first) >= {"id", "number", "verify_url"}
    assert first["number"] == f"W10.PAS.PAS.10-PK.01.05-0001/SK/{ROMAN[today.month - 1]}/{today.year}"
    second = await (await client.post(f"/api/clients/{c1}/letters", json={"kind": "panggilan"})).json()
    assert second["number"].startswith("W10.PAS.PAS.10-PK.01.05-0002/SP/")
    code = first["verify_url"].rsplit("/v/", 1)[1]
    assert first["verify_url"].endswith("/v/" + code) and len(code) >= 20

    # Someone with the letter and no account opens the QR code's link.
    status, html = await Anonymous(client).get(f"/v/{code}")
    assert status == 200
    assert 'data-status="valid"' in html and "ASLI" in html
    facts = dict(re.findall(r'<dd data-field="(\w+)">([^<]*)</dd>', html))
    assert facts == {
        "number": first["number"], "date": indonesian_date(today), "kind": "Surat Keterangan",
        "initials": "R. H.", "office": "Bapas Uji",
    }
    # Nothing beyond those fields: no name, register number, signer, NIP, phone, address, staff navigation.
    text = text_of(html)
    for private in ("Rudi", "Hartono", "REG-c1", "Siti Rahayu", "197001011990032001", "4600000", "Bekasi", "Pk1", "/caseload", "Keluar"):
        assert private not in text and private not in html, private

    # The print page: letterhead, number, Indonesian date, signer's name and NIP, a QR code of the link.
    printed = await (await client.get(f"/letters/{first['id']}")).text()
    assert "Bapas Uji" in printed and "Jl. Raya Bekasi Km. 18" in printed and first["number"] in printed
    assert indonesian_date(today) in printed
    assert "Dra. Siti Rahayu" in printed and "197001011990032001" in printed and "Rudi Hartono" in printed
    assert "<svg" in printed and 'class="kop"' in printed

    # Registered in the audit trail, with the signature.
    issued = await audit_entries(database_url, "letter.issue")
    assert [(e.target_type, e.target_id, e.detail["number"]) for e in issued] == [("letter", str(first["id"]), first["number"]), ("letter", str(second["id"]), second["number"])]


async def test_the_signature_holds_with_the_public_key_file_alone(client, office, sign_in, database_url, settings):
    await sign_in(client, "pk1")
    made = await (await client.post(f"/api/clients/{office.clients['c1'].id}/letters", json={"kind": "keterangan"})).json()
    pub_path = settings.data_dir / "letter-signing.key.pub"
    public = serialization.load_pem_public_key(pub_path.read_bytes())
    async with database(database_url) as db:
        letter = await db.get(Letter, made["id"])
    # The signed statement, rebuilt here from the stored row as docs/api.md describes it:
    # version 2 adds what the letter printed (``printed``, which says its version).
    assert letter.printed["version"] == 2
    statement = {
        "code": letter.code, "number": letter.number, "kind": letter.kind.value, "issued_on": letter.issued_on.isoformat(),
        "office": letter.office_name, "client_initials": letter.client_initials, "client_id": letter.client_id,
        "signer_name": letter.signer_name, "signer_nip": letter.signer_nip, "key_id": letter.key_id,
        "printed": letter.printed,
    }
    message = json.dumps(statement, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()
    public.verify(bytes.fromhex(letter.signature), message)  # raises if it does not hold
    altered = json.dumps({**statement, "number": statement["number"].replace("0001", "0009")}, sort_keys=True, separators=(",", ":")).encode()
    try:
        public.verify(bytes.fromhex(letter.signature), altered)
    except InvalidSignature:
        pass
    else:
        raise AssertionError("an altered number still verified")
    # The private key is a 0600 file outside the database.
    assert (settings.data_dir / "letter-signing.key").stat().st_mode & 0o077 == 0


async def test_revoking_shows_on_the_page_and_altered_or_unknown_codes_are_404(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    made = await (await client.post(f"/api/clients/{office.clients['c1'].id}/letters", json={"kind": "keterangan"})).json()
    code = made["verify_url"].rsplit("/v/", 1)[1]
    public = Anonymous(client)

    altered = code[:-1] + ("A" if code[-1] != "A" else "B")
    for bad in (altered, "tidak-ada", "x" * 65, code.upper() if code.upper() != code else code.lower()):
        status, html = await public.get(f"/v/{bad}")
        assert status == 404, bad
        assert 'data-status="unknown"' in html

    # pk2 may not revoke pk1's client's letter; pk1 may.
    await sign_in(client, "pk2")
    assert (await client.delete(f"/api/letters/{made['id']}")).status == 404
    await sign_in(client, "pk1")
    resp = await client.delete(f"/api/letters/{made['id']}")
    assert resp.status == 200 and (await resp.json())["revoked"] is True
    again = await client.delete(f"/api/letters/{made['id']}")
    assert again.status == 200
    assert len(await audit_entries(database_url, "letter.revoke")) == 1

    status, html = await public.get(f"/v/{code}")
    assert status == 200
    assert 'data-status="revoked"' in html and "DICABUT" in html and 'data-status="valid"' not in html

    # A row edited in the database no longer matches its signature: the page vouches for nothing.
    async with database(database_url) as db:
        await db.execute(update(Letter).where(Letter.id == made["id"]).values(number="999/PALSU/2026"))
        await db.commit()
    assert (await public.get(f"/v/{code}"))[0] == 404


def shown(html: str, element_id: str) -> str:
    """The exact text of a <pre id=...> on the page, as someone copies it."""
    found = re.search(rf'<pre class="proof" id="{element_id}">([^<]*)</pre>', html)
    assert found, f"no #{element_id} on the page"
    return unescape(found.group(1))


async def test_a_revocation_is_signed_checked_offline_and_tampering_is_caught(client, office, sign_in, database_url, settings):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    made = await (await client.post(f"/api/clients/{c1}/letters", json={"kind": "keterangan"})).json()
    kept = await (await client.post(f"/api/clients/{c1}/letters", json={"kind": "keterangan"})).json()
    code = made["verify_url"].rsplit("/v/", 1)[1]
    public = Anonymous(client)
    status, html = await public.get(f"/v/{code}")
    assert status == 200 and 'data-status="valid"' in html and 'id="revocation"' not in html

    resp = await client.delete(f"/api/letters/{made['id']}")
    assert resp.status == 200
    revocation = (await resp.json())["revocation"]
    assert revocation["state"] == "signed" and revocation["key_id"] == (await audit_entries(database_url, "letter.issue"))[0].detail["key_id"]

    # Whoever holds the letter reads the revocation, its statement and its signature on the page ...
    status, html = await public.get(f"/v/{code}")
    assert status == 200 and 'data-status="revoked"' in html and 'data-state="signed"' in html
    statement, signature = shown(html, "revocation-statement"), shown(html, "revocation-signature")
    assert (statement, signature) == (revocation["statement"], revocation["signature"])
    facts = json.loads(statement)
    assert facts["statement"] == "letter-revocation" and facts["code"] == code and facts["number"] == made["number"]
    assert abs(datetime.fromisoformat(facts["revoked_at"]) - datetime.now(WIB)) < timedelta(minutes=5)
    # ... and checks it offline with the published public key alone (docs/api.md, "Checking a revocation offline").
    pub = serialization.load_pem_public_key((settings.data_dir / "letter-signing.key.pub").read_bytes())
    pub.verify(bytes.fromhex(signature), statement.encode())
    # The trail keeps the signed revocation too.
    assert (await audit_entries(database_url, "letter.revoke"))[0].detail["signature"] == signature

    async def page_after(**values) -> str:
        async with database(database_url) as db:
            await db.execute(update(Letter).where(Letter.id == made["id"]).values(**values))
            await db.commit()
        status, html = await public.get(f"/v/{code}")
        assert status == 200
        return html

    # The revocation's date moved in the database: its signature no longer holds, and the page says so.
    revoked_at = datetime.fromisoformat(facts["revoked_at"])
    html = await page_after(revoked_at=revoked_at - timedelta(days=30))
    assert 'data-status="revocation-unverified"' in html and 'data-status="revoked"' not in html and 'data-status="valid"' not in html
    moved = shown(html, "revocation-statement")
    assert moved != statement
    try:
        pub.verify(bytes.fromhex(signature), moved.encode())
    except InvalidSignature:
        pass
    else:
        raise AssertionError("a moved revocation still verified offline")
    # Another signature, or a revocation cleared but for its signature: the same.
    html = await page_after(revoked_at=revoked_at, revocation_signature="ab" * 64)
    assert 'data-status="revocation-unverified"' in html
    html = await page_after(revoked_at=None, revocation_signature=signature)
    assert 'data-status="revocation-unverified"' in html and 'data-status="valid"' not in html
    # Put back as signed, it holds again.
    html = await page_after(revoked_at=revoked_at, revocation_signature=signature)
    assert 'data-status="revoked"' in html

    # A revocation written into the database by hand (no signature) is never taken for a signed one.
    async with database(database_url) as db:
        await db.execute(update(Letter).where(Letter.id == kept["id"]).values(revoked_at=revoked_at))
        await db.commit()
    status, html = await public.get(f"/v/{kept['verify_url'].rsplit('/v/', 1)[1]}")
    assert status == 200 and 'data-status="revocation-unverified"' in html and 'data-state="unverified"' in html
    listed = {row["id"]: row["revocation"] for row in (await (await client.get(f"/api/clients/{c1}/letters")).json())["letters"]}
    assert listed[kept["id"]]["state"] == "unverified" and listed[made["id"]]["state"] == "signed"


async def test_revocations_made_before_signing_are_signed_from_the_audit_trail(client, office, sign_in, database_url, settings):
    """``bimbing letters sign-revocations``, once after migration 0014: a revocation
    the trail records is signed as of the trail's moment; one written in by hand stays unsigned."""
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    old, forged = [await (await client.post(f"/api/clients/{c1}/letters", json={"kind": "keterangan"})).json() for _ in range(2)]
    assert (await client.delete(f"/api/letters/{old['id']}")).status == 200
    trail_at = (await audit_entries(database_url, "letter.revoke"))[0].at
    async with database(database_url) as db:
        # As a revocation made before 0014 (no signature), its row's date since moved; and one written in by hand.
        await db.execute(update(Letter).where(Letter.id == old["id"]).values(
            revoked_at=trail_at - timedelta(hours=5), revocation_key_id=None, revocation_signature=None))
        await db.execute(update(Letter).where(Letter.id == forged["id"]).values(revoked_at=trail_at))
        await db.commit()
    public = Anonymous(client)
    codes = {x["id"]: x["verify_url"].rsplit("/v/", 1)[1] for x in (old, forged)}
    for letter_id in codes:
        assert 'data-status="revocation-unverified"' in (await public.get(f"/v/{codes[letter_id]}"))[1]

    env = {k: v for k, v in os.environ.items() if not k.startswith("BIMBING_")}
    env.update(BIMBING_DATABASE_URL=database_url, BIMBING_DATA_DIR=str(settings.data_dir), BIMBING_AUDIT_SIGNING_KEY=str(settings.audit_signing_key_path))
    # In a thread: the app under test keeps serving on this loop meanwhile.
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "server", "letters", "sign-revocations"],
                                   env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"signed {old['number']}" in done.stdout and f"Left 1 unsigned (no letter.revoke in the audit trail): {forged['number']}" in done.stdout

    html = (await public.get(f"/v/{codes[old['id']]}"))[1]
    assert 'data-status="revoked"' in html
    facts = json.loads(shown(html, "revocation-statement"))
    assert facts["revoked_at"] == trail_at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    pub = serialization.load_pem_public_key((settings.data_dir / "letter-signing.key.pub").read_bytes())
    pub.verify(bytes.fromhex(shown(html, "revocation-signature")), shown(html, "revocation-statement").encode())
    assert 'data-status="revocation-unverified"' in (await public.get(f"/v/{codes[forged['id']]}"))[1]
    [entry] = await audit_entries(database_url, "letter.revocations_signed")
    assert entry.detail == {"signed": [old["number"]], "left": [forged["number"]]}


async def test_who_may_issue_and_what_is_refused(client, office, sign_in, database_url):
    c1 = office.clients["c1"].id
    assert (await client.post(f"/api/clients/{c1}/letters", json={"kind": "keterangan"})).status == 401
    await sign_in(client, "pk2")
    assert (await client.post(f"/api/clients/{c1}/letters", json={"kind": "keterangan"})).status == 404
    await sign_in(client, "kasie")
    assert (await client.post(f"/api/clients/{c1}/letters", json={"kind": "pujian"})).status == 400
    assert (await client.post(f"/api/clients/{c1}/letters", json={"kind": "keterangan", "extra": 1})).status == 400
    # Supervision runs ~300 more days: no "selesai bimbingan" yet.
    resp = await client.post(f"/api/clients/{c1}/letters", json={"kind": "selesai"})
    assert resp.status == 409 and (await resp.json())["error"] == "supervision-not-ended"
    async with database(database_url) as db:
        await db.execute(update(Client).where(Client.id == c1).values(supervision_end=datetime.now(WIB).date() - timedelta(days=1)))
        await db.commit()
    assert (await client.post(f"/api/clients/{c1}/letters", json={"kind": "selesai"})).status == 201
    listed = await (await client.get(f"/api/clients/{c1}/letters")).json()
    assert [l["kind"] for l in listed["letters"]] == ["selesai"]
    assert (await client.get("/api/letters/999999")).status in (404, 405)
    assert (await client.delete("/api/letters/999999")).status == 404


async def test_the_client_page_issues_a_letter_through_its_form(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    page = await (await client.get(f"/clients/{c1}")).text()
    assert 'id="letters"' in page
    resp = await client.post(f"/clients/{c1}/letters", data={"csrf_token": csrf_token(page), "kind": "panggilan"}, allow_redirects=False)
    assert resp.status == 302 and re.fullmatch(r"/letters/\d+", resp.headers["Location"])
    no_token = await client.post(f"/clients/{c1}/letters", data={"kind": "panggilan"}, allow_redirects=False)
    assert no_token.status == 403
    page = await (await client.get(f"/clients/{c1}")).text()
    assert "Surat Panggilan" in unescape(page)


async def test_the_monthly_report_has_the_letterhead_a_print_button_and_names_with_nip(client, office, sign_in, database_url):
    await set_profile(database_url, office, head_name="Dra. Siti Rahayu", head_nip="197001011990032001", address="Jl. Raya Bekasi Km. 18")
    async with database(database_url) as db:
        await db.execute(update(Staff).where(Staff.id == office.staff["pk1"].id).values(nip="198502022010121002"))
        await db.commit()
    await sign_in(client, "kasie")
    html = await (await client.get(f"/audit/reports/client/{office.clients['c1'].id}")).text()
    assert 'class="kop"' in html and "Jl. Raya Bekasi Km. 18" in html
    assert 'id="print-report" data-print' in html and "/print.js" in html and "onclick" not in html
    signed = dict(re.findall(r'data-field="([\w-]+)">([^<]*)<', html))
    assert signed["preparer"] == office.staff["pk1"].name and signed["preparer-nip"] == "198502022010121002"
    assert signed["approver"] == "Dra. Siti Rahayu" and signed["approver-nip"] == "197001011990032001"


async def test_staff_gain_an_nip(client, office, sign_in, database_url):
    await sign_in(client, "admin")
    resp = await client.post("/api/staff", json={"username": "pk3", "name": "Budi Santoso", "role": "pk", "password": "rahasia-sekali", "nip": "199001012015031001"})
    assert resp.status == 201 and (await resp.json())["nip"] == "199001012015031001"
    bad = await client.post("/api/staff", json={"username": "pk4", "name": "Budi", "role": "pk", "password": "rahasia-sekali", "nip": "NIP-abc"})
    assert bad.status == 400
    staff_id = (await resp.json())["id"]
    patched = await client.patch(f"/api/staff/{staff_id}", json={"nip": "199001012015031002"})
    assert (await patched.json())["nip"] == "199001012015031002"
    async with database(database_url) as db:
        assert (await db.scalar(select(Staff.nip).where(Staff.id == staff_id))) == "199001012015031002"


async def test_a_refused_letter_from_the_form_says_why_in_indonesian(client, office, sign_in):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    page = await (await client.get(f"/clients/{c1}")).text()
    resp = await client.post(f"/clients/{c1}/letters", data={"csrf_token": csrf_token(page), "kind": "selesai"}, allow_redirects=False)
    assert resp.status == 409 and "Masa bimbingan klien belum berakhir." in await resp.text()
    assert (await (await client.get(f"/api/clients/{c1}/letters")).json())["letters"] == []
