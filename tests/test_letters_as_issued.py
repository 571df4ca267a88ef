"""Letters say only what is true, and stay as issued (issue 18): a summons
(Surat Panggilan, "belum memenuhi wajib lapor") for a client who came to
today's roll call needs a reason, printed on it; the figures are the ledger's
periods as of the issue date, as the record said that day; the Kasie signs as
Kepala Seksi; and a letter reads the same after the office profile, the logo
and the client change. Through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import aiohttp
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import update

from server.audit.signing import HeadSigner
from server.db.models import Client, Letter, LetterKind, Outcome, SessionMode
from server.domain.documents.letters import initials, letter_message
from tests.audit_support import add_session
from tests.clock import hours_ago, office_today, utc_now
from tests.fieldwork_support import event_body
from tests.foundation import database
from tests.test_letters import Anonymous
from tests.test_pages import csrf_token, text_of

PNG_OLD = b"\x89PNG\r\n\x1a\n" + b"logo-kop-lama" * 4
PNG_NEW = b"\x89PNG\r\n\x1a\n" + b"logo-kop-baru" * 4


async def record_attendance(http, client_id: int) -> dict:
    return (await (await http.get(f"/api/clients/{client_id}/record")).json())["attendance"]


async def letter_page(http, letter_id: int) -> str:
    resp = await http.get(f"/letters/{letter_id}")
    assert resp.status == 200
    return await resp.text()


def field(html: str, name: str) -> str:
    match = re.search(rf'data-field="{name}">([^<]*)<', html)
    assert match, name
    return unescape(match.group(1))


def by_id(html: str, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)</p>', html, re.S)
    assert match, element_id
    return text_of(match.group(1)).strip()


@pytest.mark.clock
async def test_a_summons_for_a_client_at_todays_roll_call_needs_a_reason_printed_on_it(client, office, sign_in):
    c1, c2 = office.clients["c1"].id, office.clients["c2"].id
    # Today's mobile-counseling day: pk1 on duty checks Klien c1 in.
    await sign_in(client, "kasie")
    event = await (await client.post("/api/mobile-events", json=event_body(office))).json()
    await sign_in(client, "pk1")
    checked = await client.post(f"/api/mobile-events/{event['id']}/checkins", json={"client_id": c1, "key": "roll-call-c1-0001"})
    assert checked.status == 201, await checked.text()
    assert (await record_attendance(client, c1))["state"] != "overdue"  # Tertib since this morning, by the ledger

    refused = await client.post(f"/api/clients/{c1}/letters", json={"kind": "panggilan"})
    assert refused.status == 409
    body = await refused.json()
    assert body["error"] == "not-overdue" and body["state"] != "overdue"
    assert (await (await client.get(f"/api/clients/{c1}/letters")).json())["letters"] == []  # nothing numbered or stored

    reason = "Membahas perubahan jadwal kerja di pelabuhan"
    made = await client.post(f"/api/clients/{c1}/letters", json={"kind": "panggilan", "reason": reason})
    assert made.status == 201, await made.text()
    html = await letter_page(client, (await made.json())["id"])
    assert "belum memenuhi wajib lapor" not in html
    assert by_id(html, "letter-reason") == f"Alasan pemanggilan: {reason}"
    listed = (await (await client.get(f"/api/clients/{c1}/letters")).json())["letters"]
    assert [(l["kind"], l["reason"]) for l in listed] == [("panggilan", reason)]

    # Klien c2 never came: overdue, and the summons says so, with no reason needed.
    await sign_in(client, "kasie")
    assert (await record_attendance(client, c2))["state"] == "overdue"
    made = await client.post(f"/api/clients/{c2}/letters", json={"kind": "panggilan"})
    assert made.status == 201
    assert "belum memenuhi wajib lapor" in await letter_page(client, (await made.json())["id"])


@pytest.mark.clock
async def test_the_client_page_asks_for_the_reason_and_shows_the_refusal_above_its_form(client, office, sign_in, database_url):
    c1 = office.clients["c1"].id
    await add_session(database_url, office.clients["c1"], mode=SessionMode.office, scheduled_at=hours_ago(3))  # attended today or yesterday
    await sign_in(client, "pk1")
    page = await (await client.get(f"/clients/{c1}")).text()
    assert 'id="letter-reason"' in page and 'id="letter-reason-hint"' in page
    resp = await client.post(f"/clients/{c1}/letters", data={"csrf_token": csrf_token(page), "kind": "panggilan", "reason": ""}, allow_redirects=False)
    assert resp.status == 409 and resp.content_type == "text/html"
    html = await resp.text()
    assert 'class="topbar"' in html and 'id="letter-form"' in html  # the client's page, in the layout
    assert "Surat Panggilan hanya dapat diterbitkan dengan alasan" in unescape(by_id(html, "letter-error"))
    assert re.search(r'<option value="panggilan" selected>', html)  # what was chosen is kept
    resp = await client.post(f"/clients/{c1}/letters", data={"csrf_token": csrf_token(page), "kind": "panggilan", "reason": "Panggilan untuk asesmen ulang"}, allow_redirects=False)
    assert resp.status == 302


@pytest.mark.clock
async def test_a_letter_prints_the_ledgers_periods_as_of_its_issue_date_and_keeps_them(client, office, sign_in, database_url, now):
    c1 = office.clients["c1"]
    # Supervision began 60 days ago, a report every 14 days: two periods met, long ago.
    for days_ago in (55, 30):
        await add_session(database_url, c1, mode=SessionMode.office, scheduled_at=now - timedelta(days=days_ago))
    await add_session(database_url, c1, mode=SessionMode.office, scheduled_at=now - timedelta(days=20), outcome=Outcome.no_show)
    await sign_in(client, "pk1")
    att = await record_attendance(client, c1.id)
    made = await (await client.post(f"/api/clients/{c1.id}/letters", json={"kind": "keterangan"})).json()
    html = await letter_page(client, made["id"])
    printed = f"{att['periods_met']} dari {att['periods_due']} periode wajib lapor terpenuhi"
    assert printed in by_id(html, "letter-body")
    assert "bimbingan sebanyak" not in html  # periods, never sessions counted as if they were periods
    letter = (await (await client.get(f"/api/clients/{c1.id}/letters")).json())["letters"][0]
    assert letter["attendance"]["as_of"] == office_today().isoformat()
    assert (letter["attendance"]["periods_due"], letter["attendance"]["periods_met"]) == (att["periods_due"], att["periods_met"])

    # A session logged after the letter changes the record, not the letter.
    await add_session(database_url, c1, mode=SessionMode.office, scheduled_at=hours_ago(2))
    assert (await record_attendance(client, c1.id))["periods_met"] == att["periods_met"] + 1
    assert printed in by_id(await letter_page(client, made["id"]), "letter-body")


async def upload_logo(http, data: bytes) -> None:
    page = await (await http.get("/admin/office")).text()
    form = aiohttp.FormData()
    form.add_field("csrf_token", csrf_token(page))
    form.add_field("logo", data, filename="kop.png", content_type="image/png")
    resp = await http.post("/admin/office/logo", data=form, allow_redirects=False)
    assert resp.status == 302, await resp.text()


async def save_profile(http, **fields) -> None:
    page = await (await http.get("/admin/office")).text()
    resp = await http.post("/admin/office", data={"csrf_token": csrf_token(page), **fields}, allow_redirects=False)
    assert resp.status == 302, await resp.text()


async def test_an_issued_letter_reads_the_same_after_the_office_and_the_client_change(client, office, sign_in, database_url):
    c1 = office.clients["c1"].id
    await sign_in(client, "admin")
    await save_profile(client, name="Bapas Uji", address="Jl. Raya Bekasi Km. 18, Jakarta", phone="021-4600000", email="bapas@uji.go.id",
                       head_name="Dra. Siti Rahayu", head_nip="197001011990032001")
    await upload_logo(client, PNG_OLD)
    await sign_in(client, "pk1")
    made = await (await client.post(f"/api/clients/{c1}/letters", json={"kind": "keterangan", "reason": "Melamar kerja"})).json()
    before = await letter_page(client, made["id"])
    logo_src = re.search(r'<img class="kop-logo" src="([^"]+)"', before).group(1)
    assert logo_src == f"/letters/{made['id']}/logo"

    # Later: a new address, phone, head and logo; the client's name corrected; the office renamed.
    await sign_in(client, "admin")
    await save_profile(client, name="Bapas Kelas I Baru", address="Jl. Pemuda No. 1, Bekasi", phone="021-9999999", email="baru@uji.go.id",
                       head_name="Drs. Bambang Wijaya", head_nip="196801011990031001")
    await upload_logo(client, PNG_NEW)
    async with database(database_url) as db:
        await db.execute(update(Client).where(Client.id == c1).values(name="Klien Nama Baru", register_number="REG-BARU"))
        await db.commit()

    await sign_in(client, "pk1")
    page = await letter_page(client, made["id"])
    after = re.search(r'<article class="surat".*?</article>', page, re.S).group(0)  # the letter, not the page's links around it
    for kept in ("Bapas Uji", "Jl. Raya Bekasi Km. 18, Jakarta", "021-4600000", "bapas@uji.go.id", "Dra. Siti Rahayu", "197001011990032001", "Melamar kerja"):
        assert kept in unescape(after), kept
    for later in ("Bapas Kelas I Baru", "Jl. Pemuda", "9999999", "Bambang", "196801011990031001", "Klien Nama Baru", "REG-BARU"):
        assert later not in unescape(after), later
    assert field(after, "name") == "Klien c1" and field(after, "register_number") == "REG-c1"
    assert by_id(after, "letter-signer-title") == "Kepala Bapas"
    assert await (await client.get(logo_src)).read() == PNG_OLD  # the letterhead it was issued with
    assert await (await client.get("/office/logo")).read() == PNG_NEW  # today's, for new letters
    # The public page still vouches for it.
    status, html = await Anonymous(client).get(f"/v/{made['verify_url'].rsplit('/v/', 1)[1]}")
    assert status == 200 and 'data-status="valid"' in html


# An admin issues no letter (issue 23, item 1): tests/test_duty_table.py holds the refusal.
@pytest.mark.parametrize("issuer, title_id, title_en", [
    ("kasie", "Kepala Seksi", "Head of section"),
    ("pk1", "Pembimbing Kemasyarakatan", "Probation officer"),
])
async def test_without_a_head_in_the_profile_the_issuer_signs_with_the_title_of_their_role(client, office, sign_in, issuer, title_id, title_en):
    await sign_in(client, issuer)
    made = await (await client.post(f"/api/clients/{office.clients['c1'].id}/letters", json={"kind": "keterangan"})).json()
    html = await letter_page(client, made["id"])
    signer = text_of(re.search(r'<div class="signer">(.*?)</div>', html, re.S).group(1))
    assert title_id in signer and office.staff[issuer].name in signer
    assert [t for t in ("Kepala Bapas", "Kepala Seksi", "Pembimbing Kemasyarakatan", "Petugas Bapas") if t in signer] == [title_id]
    english = await (await client.get(f"/letters/{made['id']}?lang=en")).text()
    assert title_en in text_of(re.search(r'<div class="signer">(.*?)</div>', english, re.S).group(1))


async def test_printed_facts_are_signed_and_a_letter_signed_before_them_still_verifies(client, office, sign_in, database_url, settings):
    await sign_in(client, "pk1")
    made = await (await client.post(f"/api/clients/{office.clients['c1'].id}/letters", json={"kind": "keterangan"})).json()
    code = made["verify_url"].rsplit("/v/", 1)[1]
    public = Anonymous(client)
    assert (await public.get(f"/v/{code}"))[0] == 200

    # A letter issued before migration 0010: no printed facts, the version 1 statement.
    signer = HeadSigner.load(settings.data_dir / "letter-signing.key", create=False, what="letter signing key")
    async with database(database_url) as db:
        old = Letter(office_id=office.id, client_id=office.clients["c1"].id, kind=LetterKind.panggilan, year=2025, seq=7,
                     number="Bapas Uji-0007/SP/XI/2025", issued_on=office_today() - timedelta(days=400), issued_at=utc_now() - timedelta(days=400),
                     signer_name="Pk1 Bapas Uji", signer_nip="", signer_title="officer", office_name="Bapas Uji",
                     client_initials=initials("Klien c1"), code="kode-surat-lama-0000000001", key_id=signer.key_id, signature="",
                     created_by_id=office.staff["pk1"].id)
        old.signature = signer.private.sign(letter_message(old)).hex()
        db.add(old)
        await db.commit()
        old_id = old.id
    pub = serialization.load_pem_public_key((settings.data_dir / "letter-signing.key.pub").read_bytes())
    v1 = {"code": old.code, "number": old.number, "kind": "panggilan", "issued_on": old.issued_on.isoformat(), "office": "Bapas Uji",
          "client_initials": "K. C.", "client_id": old.client_id, "signer_name": old.signer_name, "signer_nip": "", "key_id": old.key_id}
    pub.verify(bytes.fromhex(old.signature), json.dumps(v1, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode())
    status, html = await public.get("/v/kode-surat-lama-0000000001")
    assert status == 200 and 'data-status="valid"' in html
    # It renders as it always did: the old body, counted when shown.
    page = await letter_page(client, old_id)
    assert "telah mengikuti bimbingan sebanyak" in page and by_id(page, "letter-signer-title") == "Pembimbing Kemasyarakatan"
    # Migration 0010 gives it the letterhead it printed (from the audit trail): shown, and its version 1 signature still holds.
    backfilled = {"version": 1, "backfilled": "audit_trail", "office": {"address": "Jl. Kop Lama 3, Jakarta", "phone": "021-1111", "email": "", "logo_path": ""}}
    async with database(database_url) as db:
        await db.execute(update(Letter).where(Letter.id == old_id).values(printed=backfilled))
        await db.commit()
    assert "Jl. Kop Lama 3, Jakarta" in await letter_page(client, old_id)
    assert (await public.get("/v/kode-surat-lama-0000000001"))[0] == 200

    # Editing a printed fact of a new letter, or passing it off as version 1, breaks its signature.
    async with database(database_url) as db:
        letter = await db.get(Letter, made["id"])
        printed = dict(letter.printed)
    for forged in ({**printed, "attendance": {**printed["attendance"], "periods_met": printed["attendance"]["periods_met"] + 3}},
                   {**printed, "version": 1}, None):
        async with database(database_url) as db:
            await db.execute(update(Letter).where(Letter.id == made["id"]).values(printed=forged))
            await db.commit()
        assert (await public.get(f"/v/{code}"))[0] == 404, forged
    async with database(database_url) as db:
        await db.execute(update(Letter).where(Letter.id == made["id"]).values(printed=printed))
        await db.commit()
    assert (await public.get(f"/v/{code}"))[0] == 200  # the stored facts, as signed


async def test_an_admin_edits_a_staff_members_nip_on_the_staff_page(client, office, sign_in, database_url):
    await sign_in(client, "admin")
    kasie = office.staff["kasie"].id
    page = await (await client.get("/admin/staff")).text()
    resp = await client.post(f"/admin/staff/{kasie}", data={"csrf_token": csrf_token(page), "action": "nip", "nip": "197805052005011002"}, allow_redirects=False)
    assert resp.status == 302
    staff = {s["id"]: s for s in (await (await client.get("/api/staff")).json())["staff"]}
    assert staff[kasie]["nip"] == "197805052005011002"
    bad = await client.post(f"/admin/staff/{kasie}", data={"csrf_token": csrf_token(page), "action": "nip", "nip": "NIP-19780505"}, allow_redirects=False)
    assert bad.status == 400
    html = await bad.text()
    row = re.search(rf'<tr id="staff-{kasie}">(.*?)</tr>', html, re.S).group(1)
    assert "NIP hanya berisi angka dan spasi" in row and 'value="NIP-19780505"' in row
    after = {s["id"]: s for s in (await (await client.get("/api/staff")).json())["staff"]}
    assert after[kasie]["nip"] == "197805052005011002"  # the refused one changed nothing
    # The Kasie's letters carry it.
    await sign_in(client, "kasie")
    made = await (await client.post(f"/api/clients/{office.clients['c1'].id}/letters", json={"kind": "keterangan"})).json()
    assert by_id(await letter_page(client, made["id"]), "letter-signer").startswith(office.staff["kasie"].name)
    assert "197805052005011002" in await letter_page(client, made["id"])
