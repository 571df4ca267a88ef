"""Partners (mitra) and referrals (issue 21): the Kasie keeps the office's
partners, a PK refers a client and moves the referral step by step, the
partner's report is kept sealed like a recording, and each office sees only
its own."""

from __future__ import annotations

import aiohttp
import pytest

from server.db.partners import ReferralReport
from tests.audit_support import audit_entries
from tests.clock import office_today
from tests.foundation import database
from tests.test_pages import csrf_token

PDF = b"%PDF-1.4\n% laporan mitra: klien mengikuti pelatihan las dengan baik\n%%EOF\n"


async def _browser(aiohttp_client, app_client, sign_in, username: str):
    """Another signed-in browser on the same server."""
    http = await aiohttp_client(app_client.server, cookie_jar=aiohttp.CookieJar(unsafe=True))
    await sign_in(http, username)
    return http


async def _partner(http, name: str = "BLK Jakarta Timur", kind: str = "blk_lpk") -> dict:
    resp = await http.post("/api/partners", json={"name": name, "kind": kind, "contact": "0812 3456", "kelurahan": "Cakung Barat"})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _plan_goal(http, client_id: int) -> int:
    """The client assessed and given a one-goal plan by their PK; the goal's id."""
    today = office_today().isoformat()
    assert (await http.post(f"/api/clients/{client_id}/assessments", json={"date": today, "category": "sedang", "needs": ["pekerjaan"]})).status == 201
    resp = await http.put(f"/api/clients/{client_id}/plan", json={"goals": [{"need": "pekerjaan", "text": "Mendapat pekerjaan tetap", "steps": []}],
                                                                  "agreement": "setuju"})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["goals"][0]["id"]


async def test_the_kasie_keeps_the_partners_and_each_office_sees_only_its_own(client, aiohttp_client, office, other_office, sign_in, database_url):
    await sign_in(client, "kasie")
    blk = await _partner(client)
    assert (await client.post("/api/partners", json={"name": "BLK Jakarta Timur", "kind": "bnn"})).status == 409
    bad = await client.post("/api/partners", json={"name": "X", "kind": "bengkel"})
    assert bad.status == 400 and "kind" in (await bad.json())["fields"]
    changed = await client.patch(f"/api/partners/{blk['id']}", json={"contact": "021 555", "active": False})
    assert changed.status == 200 and (await changed.json())["contact"] == "021 555"

    pk = await _browser(aiohttp_client, client, sign_in, "pk1")
    assert [p["name"] for p in (await (await pk.get("/api/partners")).json())["partners"]] == ["BLK Jakarta Timur"]
    refused = await pk.post("/api/partners", json={"name": "Puskesmas Cakung", "kind": "puskesmas"})
    assert refused.status == 403 and (await refused.json())["error"] == "forbidden"
    admin = await _browser(aiohttp_client, client, sign_in, "admin")
    assert (await (await admin.post("/api/partners", json={"name": "P", "kind": "lainnya"})).json())["error"] == "no-guidance-role"
    assert (await admin.get("/api/partners")).status == 200

    other = await _browser(aiohttp_client, client, sign_in, "x_kasie")
    assert (await (await other.get("/api/partners")).json())["partners"] == []
    assert (await other.get(f"/api/partners/{blk['id']}")).status == 404
    assert (await other.patch(f"/api/partners/{blk['id']}", json={"name": "Milik saya"})).status == 404
    assert [e.detail for e in await audit_entries(database_url, "partner.update")] == [{"contact": ["0812 3456", "021 555"], "active": [True, False]}]


async def test_a_referral_moves_step_by_step_and_an_illegal_step_is_refused(client, aiohttp_client, office, other_office, sign_in, database_url):
    await sign_in(client, "kasie")
    blk = await _partner(client)
    c1 = office.clients["c1"]
    pk = await _browser(aiohttp_client, client, sign_in, "pk1")
    goal_id = await _plan_goal(pk, c1.id)
    # The goal is one of this client's plan, by its id: another client's goal, or none at all, is refused.
    other_goal = await _plan_goal(await _browser(aiohttp_client, client, sign_in, "pk2"), office.clients["c2"].id)
    for wrong in (other_goal, goal_id + 1000, "Tujuan 2: kerja"):
        refused = await pk.post(f"/api/clients/{c1.id}/referrals", json={"partner_id": blk["id"], "purpose": "Pelatihan las", "goal_id": wrong})
        assert refused.status == 400, wrong
        if isinstance(wrong, int):
            assert (await refused.json())["error"] == "unknown-goal"
    made = await pk.post(f"/api/clients/{c1.id}/referrals", json={"partner_id": blk["id"], "purpose": "Pelatihan las 3 bulan", "goal_id": goal_id})
    assert made.status == 201, await made.text()
    ref = await made.json()
    assert (ref["status"], ref["goal_id"], ref["goal"], ref["goal_ref"], ref["next"]) == (
        "dirujuk", goal_id, {"id": goal_id, "need": "pekerjaan", "text": "Mendapat pekerjaan tetap"}, None, ["diterima", "ditolak"])

    async def step(http, body):
        return await http.post(f"/api/referrals/{ref['id']}/steps", json=body)

    skipped = await step(pk, {"to": "berjalan"})
    assert skipped.status == 409 and (await skipped.json())["error"] == "illegal-transition"
    assert (await step(pk, {"to": "diterima", "note": "Diterima BLK"})).status == 200
    assert (await step(client, {"to": "berjalan"})).status == 200  # the Kasie moves it too
    assert (await step(pk, {"to": "selesai"})).status == 400  # an ending needs its outcome
    done = await step(pk, {"to": "selesai", "outcome": "berhasil", "note": "Lulus sertifikasi"})
    assert done.status == 200
    body = await done.json()
    assert [(s["from"], s["to"]) for s in body["steps"]] == [(None, "dirujuk"), ("dirujuk", "diterima"), ("diterima", "berjalan"), ("berjalan", "selesai")]
    assert [s["by"]["name"] for s in body["steps"]][1:] == [office.staff["pk1"].name, office.staff["kasie"].name, office.staff["pk1"].name]
    assert (body["outcome"], body["next"]) == ("berhasil", [])
    assert (await step(pk, {"to": "berjalan"})).status == 409
    trail = [(e.detail["from"], e.detail["to"], e.actor) for e in await audit_entries(database_url, "referral.step")]
    assert trail == [("dirujuk", "diterima", "pk1"), ("diterima", "berjalan", "kasie"), ("berjalan", "selesai", "pk1")]

    # ownership: another PK and another office see nothing; the admin reads but does not move it
    pk2 = await _browser(aiohttp_client, client, sign_in, "pk2")
    assert (await pk2.get(f"/api/referrals/{ref['id']}")).status == 404
    assert (await pk2.post(f"/api/clients/{c1.id}/referrals", json={"partner_id": blk["id"], "purpose": "x"})).status == 404
    other = await _browser(aiohttp_client, client, sign_in, "x_kasie")
    assert (await other.get(f"/api/clients/{c1.id}/referrals")).status == 404
    assert (await other.post(f"/api/clients/{other_office.clients['c1'].id}/referrals", json={"partner_id": blk["id"], "purpose": "x"})).status == 400
    admin = await _browser(aiohttp_client, client, sign_in, "admin")
    assert (await admin.get(f"/api/referrals/{ref['id']}")).status == 200
    assert (await (await admin.post(f"/api/clients/{c1.id}/referrals", json={"partner_id": blk["id"], "purpose": "x"})).json())["error"] == "no-guidance-role"
    assert len((await (await pk.get(f"/api/clients/{c1.id}/referrals")).json())["referrals"]) == 1


async def test_the_partners_report_is_sealed_at_rest_and_each_reading_audited(client, aiohttp_client, office, sign_in, database_url, settings):
    await sign_in(client, "kasie")
    blk = await _partner(client)
    c1 = office.clients["c1"]
    pk = await _browser(aiohttp_client, client, sign_in, "pk1")
    ref = await (await pk.post(f"/api/clients/{c1.id}/referrals", json={"partner_id": blk["id"], "purpose": "Pelatihan"})).json()

    assert (await pk.post(f"/api/referrals/{ref['id']}/reports", data=b"halo", headers={"Content-Type": "text/plain"})).status == 415
    fake = await pk.post(f"/api/referrals/{ref['id']}/reports", data=b"<html>bukan pdf", headers={"Content-Type": "application/pdf"})
    assert fake.status == 400 and (await fake.json())["error"] == "report-not-that-type"
    kept = await pk.post(f"/api/referrals/{ref['id']}/reports", data=PDF, headers={"Content-Type": "application/pdf"})
    assert kept.status == 201, await kept.text()
    report = await kept.json()

    async with database(database_url) as db:
        row = await db.get(ReferralReport, report["id"])
    sealed = (settings.recordings_dir / row.path).read_bytes()
    assert b"laporan mitra" not in sealed and sealed.startswith(b"BMBREC1\n")

    read = await pk.get(report["url"])
    assert read.status == 200 and await read.read() == PDF and read.headers["Content-Type"] == "application/pdf"
    assert (await client.get(report["url"])).status == 200  # the Kasie
    for who in ("pk2", "admin"):
        assert (await (await _browser(aiohttp_client, client, sign_in, who)).get(report["url"])).status == 404
    assert [e.actor for e in await audit_entries(database_url, "referral.report_view")] == ["pk1", "kasie"]
    assert [r["id"] for r in (await (await pk.get(f"/api/referrals/{ref['id']}")).json())["reports"]] == [report["id"]]


@pytest.mark.clock
async def test_the_pages_add_a_partner_refer_set_the_sentence_and_approve_hours(client, aiohttp_client, office, sign_in):
    kasie = await _browser(aiohttp_client, client, sign_in, "kasie")
    token = csrf_token(await (await kasie.get("/partners")).text())
    added = await kasie.post("/partners", data={"csrf_token": token, "name": "Masjid Al-Ikhlas", "kind": "tempat_kerja_sosial"}, allow_redirects=False)
    assert added.status == 302
    partner_id = int(added.headers["Location"].rsplit("/", 1)[1])
    assert "Masjid Al-Ikhlas" in await (await kasie.get(added.headers["Location"])).text()

    await sign_in(client, "pk1")
    c1 = office.clients["c1"]
    page = await (await client.get(f"/clients/{c1.id}")).text()
    assert 'id="referrals"' in page and 'id="sentence"' in page and "Masjid Al-Ikhlas" in page
    token = csrf_token(page)

    async def post(path, **data):
        resp = await client.post(path, data={"csrf_token": token, **data}, allow_redirects=False)
        assert resp.status == 302, (path, resp.status, await resp.text())

    await post(f"/clients/{c1.id}/referrals", partner_id=str(partner_id), purpose="Pembinaan rohani", goal_id="")
    referral = (await (await client.get(f"/api/clients/{c1.id}/referrals")).json())["referrals"][0]
    upload = aiohttp.FormData()
    upload.add_field("csrf_token", token)
    upload.add_field("report", PDF, filename="laporan.pdf", content_type="application/pdf")
    sent = await client.post(f"/referrals/{referral['id']}/reports", data=upload, allow_redirects=False)
    assert sent.status == 302, await sent.text()
    report = (await (await client.get(f"/api/referrals/{referral['id']}")).json())["reports"][0]
    assert await (await client.get(report["url"])).read() == PDF
    await post(f"/clients/{c1.id}/sentence", kind="pidana_kerja_sosial", hours_ordered="4", placement=str(partner_id), site_supervisor="Pak Darto",
               max_hours_per_day="8")
    await post(f"/clients/{c1.id}/service-hours", date=office_today().isoformat(), hours="4", task="Menyapu halaman")
    entry = (await (await client.get(f"/api/clients/{c1.id}/service-hours")).json())["entries"][0]
    await post(f"/service-hours/{entry['id']}/decide", decision="approve")
    page = await (await client.get(f"/clients/{c1.id}")).text()
    assert 'data-balance="0"' in page and 'id="completion-draft"' in page and "Pembinaan rohani" in page
    refused = await client.post(f"/clients/{c1.id}/service-hours", data={"csrf_token": token, "date": "2099-01-01", "hours": "1", "task": "x"})
    assert refused.status == 400 and "belum tiba" in await refused.text()
