"""Community-service and supervision sentences (issue 21): the hours ordered,
entered per day by the PK or the site supervisor's link, counted once the PK
approves them, never twice, never ahead of today, at most a day's limit; the
balance always shown, and the completion letter for the Kejaksaan at zero."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta
from urllib.parse import urlsplit

import aiohttp
import pytest
from sqlalchemy import func, select

from server.db.partners import ServiceHours
from tests.audit_support import audit_entries
from tests.clock import office_today
from tests.foundation import database


async def _browser(aiohttp_client, app_client, sign_in=None, username: str | None = None):
    http = await aiohttp_client(app_client.server, cookie_jar=aiohttp.CookieJar(unsafe=True))
    if username:
        await sign_in(http, username)
    return http


async def _placement(kasie, name: str) -> int:
    resp = await kasie.post("/api/partners", json={"name": name, "kind": "tempat_kerja_sosial"})
    assert resp.status == 201, await resp.text()
    return (await resp.json())["id"]


async def _order(http, client_id: int, placement: int, hours: int = 10, **extra) -> dict:
    resp = await http.put(f"/api/clients/{client_id}/sentence", json={"kind": "pidana_kerja_sosial", "hours_ordered": hours, "placement": placement,
                                                                       "site_supervisor": "Pak Darto", **extra})
    assert resp.status == 200, await resp.text()
    return await resp.json()


def _day(days_ago: int) -> str:
    return (office_today() - timedelta(days=days_ago)).isoformat()


@pytest.mark.clock
async def test_hours_count_once_approved_within_the_rules_and_zero_drafts_the_letter(client, aiohttp_client, office, sign_in, database_url):
    kasie = await _browser(aiohttp_client, client, sign_in, "kasie")
    masjid = await _placement(kasie, "Masjid Al-Ikhlas Cakung")
    c1 = office.clients["c1"]
    await sign_in(client, "pk1")
    assert (await _order(client, c1.id, masjid))["service_hours"] == {"ordered": 10, "approved": 0, "pending": 0, "balance": 10}

    async def enter(day: str, hours, task: str = "Membersihkan halaman"):
        return await client.post(f"/api/clients/{c1.id}/service-hours", json={"date": day, "hours": hours, "task": task})

    first = await enter(_day(3), 6)
    assert first.status == 201 and (await first.json())["service_hours"] == {"ordered": 10, "approved": 0, "pending": 6, "balance": 10}
    for day, hours, code in ((_day(2), 9, "too-many-hours"), (_day(-1), 2, "hours-in-future"), (_day(2), 1.1, "invalid-body"),
                             (_day(3), 2, "hours-already-entered"), (_day(2), 5, "exceeds-order")):
        refused = await enter(day, hours)
        assert (await refused.json())["error"] == code, (day, hours)
        assert refused.status in (400, 409)
    entry = await first.json()
    approved = await client.post(f"/api/service-hours/{entry['id']}/approve")
    assert (await approved.json())["service_hours"] == {"ordered": 10, "approved": 6, "pending": 0, "balance": 4}
    assert (await client.post(f"/api/service-hours/{entry['id']}/approve")).status == 409  # decided once

    early = await client.post(f"/api/clients/{c1.id}/letters", json={"kind": "kerja_sosial_selesai"})
    assert early.status == 409 and (await early.json())["error"] == "hours-outstanding"
    rest = await (await enter(_day(1), 4, "Mengecat pagar")).json()
    assert (await (await client.post(f"/api/service-hours/{rest['id']}/reject", json={})).json())["error"] == "invalid-body"  # a reason is needed
    record = await (await client.post(f"/api/service-hours/{rest['id']}/approve")).json()
    assert record["service_hours"]["balance"] == 0 and record["completion_letter_due"] is True
    whole = await (await client.get(f"/api/clients/{c1.id}/record")).json()
    assert whole["service_hours"] == {"ordered": 10, "approved": 10, "pending": 0, "balance": 0}
    assert whole["sentence"]["placement_name"] == "Masjid Al-Ikhlas Cakung"
    letter = await client.post(f"/api/clients/{c1.id}/letters", json={"kind": "kerja_sosial_selesai"})
    assert letter.status == 201, await letter.text()
    page = await (await client.get((await letter.json())["print_url"])).text()
    assert "SELESAI PIDANA KERJA SOSIAL" in page and "10 jam" in page and "Masjid Al-Ikhlas Cakung" in page

    # the order says 10 a day: 9 hours then pass; lowering the order below what is approved does not
    assert (await client.put(f"/api/clients/{c1.id}/sentence", json={"kind": "pidana_kerja_sosial", "hours_ordered": 5, "placement": masjid})).status == 409
    await _order(client, c1.id, masjid, hours=30, max_hours_per_day=10)
    assert (await enter(_day(4), 9)).status == 201
    pengawasan = await client.put(f"/api/clients/{c1.id}/sentence", json={"kind": "pidana_pengawasan", "term_months": 12, "conditions": "Tidak keluar kota"})
    assert (await pengawasan.json()) == {"sentence": {"kind": "pidana_pengawasan", "term_months": 12, "conditions": "Tidak keluar kota",
                                                      "verdict_date": None, "start_date": None, "end_date": None},
                                         "service_hours": None, "completion_letter_due": False}
    # Each step that changed the sentence or its hours is audited, by whom; the refused ones changed nothing.
    trail = [(e.action, e.actor) for e in await audit_entries(database_url) if e.action.split(".")[0] in ("sentence", "service_hours")]
    assert trail == [("sentence.set", "pk1"), ("service_hours.enter", "pk1"), ("service_hours.approve", "pk1"), ("service_hours.enter", "pk1"),
                     ("service_hours.approve", "pk1"), ("sentence.hours_complete", "pk1"), ("sentence.set", "pk1"), ("service_hours.enter", "pk1"),
                     ("sentence.set", "pk1")]


@pytest.mark.clock
async def test_a_sentence_starts_after_its_verdict_and_no_hours_count_before_the_start(client, aiohttp_client, office, sign_in):
    kasie = await _browser(aiohttp_client, client, sign_in, "kasie")
    masjid = await _placement(kasie, "Masjid Al-Ikhlas Cakung")
    c1 = office.clients["c1"]
    await sign_in(client, "pk1")
    end = (await (await client.get(f"/api/clients/{c1.id}")).json())["supervision_end"]
    for dates, code in (({"verdict_date": _day(-1)}, "verdict-in-future"), ({"verdict_date": "2025-12-31"}, "verdict-before-code"),
                        ({"start_date": _day(20)}, "invalid-body"), ({"verdict_date": _day(30), "start_date": _day(31)}, "start-before-verdict"),
                        ({"verdict_date": _day(30), "start_date": "2999-01-01"}, "start-after-supervision")):
        resp = await client.put(f"/api/clients/{c1.id}/sentence", json={"kind": "pidana_kerja_sosial", "hours_ordered": 10, "placement": masjid, **dates})
        assert (resp.status, (await resp.json())["error"]) == (400, code), dates
    assert (await (await client.get(f"/api/clients/{c1.id}/sentence")).json())["sentence"] is None  # nothing kept from a refusal
    made = await _order(client, c1.id, masjid, verdict_date=_day(30), start_date=_day(20))
    assert (made["sentence"]["verdict_date"], made["sentence"]["start_date"]) == (_day(30), _day(20))
    early = await client.post(f"/api/clients/{c1.id}/service-hours", json={"date": _day(21), "hours": 2, "task": "Menyapu"})
    assert (early.status, (await early.json())["error"]) == (400, "hours-before-start")
    assert (await client.post(f"/api/clients/{c1.id}/service-hours", json={"date": _day(20), "hours": 2, "task": "Menyapu"})).status == 201
    # A later start would leave those hours before it: refused until they are rejected.
    moved = await client.put(f"/api/clients/{c1.id}/sentence", json={"kind": "pidana_kerja_sosial", "hours_ordered": 10, "placement": masjid,
                                                                      "verdict_date": _day(30), "start_date": _day(10)})
    assert (moved.status, (await moved.json())["error"]) == (409, "hours-before-start")
    # A supervision sentence runs term_months from its start: the day before the same date, twelve months on.
    resp = await client.put(f"/api/clients/{c1.id}/sentence", json={"kind": "pidana_pengawasan", "term_months": 12, "verdict_date": "2026-01-30",
                                                                     "start_date": "2026-01-31"})
    sentence = (await resp.json())["sentence"]
    assert resp.status == 200 and sentence["end_date"] == "2027-01-30" and end >= sentence["start_date"]


async def test_only_guidance_roles_of_the_clients_office_set_sentences_and_hours(client, aiohttp_client, office, other_office, sign_in):
    kasie = await _browser(aiohttp_client, client, sign_in, "kasie")
    masjid = await _placement(kasie, "Masjid Al-Ikhlas Cakung")
    c1 = office.clients["c1"]
    body = {"kind": "pidana_kerja_sosial", "hours_ordered": 10, "placement": masjid}
    admin = await _browser(aiohttp_client, client, sign_in, "admin")
    assert (await (await admin.put(f"/api/clients/{c1.id}/sentence", json=body)).json())["error"] == "no-guidance-role"
    pk2 = await _browser(aiohttp_client, client, sign_in, "pk2")
    assert (await pk2.put(f"/api/clients/{c1.id}/sentence", json=body)).status == 404
    other = await _browser(aiohttp_client, client, sign_in, "x_kasie")
    assert (await other.put(f"/api/clients/{c1.id}/sentence", json=body)).status == 404
    mine = other_office.clients["c1"].id
    assert (await (await other.put(f"/api/clients/{mine}/sentence", json=body)).json())["fields"] == {"placement": "no such active partner"}
    assert (await kasie.put(f"/api/clients/{c1.id}/sentence", json={**body, "term_months": 3})).status == 400  # a field of the other kind
    await _order(kasie, c1.id, masjid)
    entry = await (await kasie.post(f"/api/clients/{c1.id}/service-hours", json={"date": _day(1), "hours": 2, "task": "Menyapu"})).json()
    assert (await pk2.post(f"/api/service-hours/{entry['id']}/approve")).status == 404
    assert (await (await admin.post(f"/api/service-hours/{entry['id']}/approve")).json())["error"] == "no-guidance-role"
    assert (await other.post(f"/api/service-hours/{entry['id']}/approve")).status == 404
    assert (await admin.get(f"/api/clients/{c1.id}/service-hours")).status == 200


async def _site_link(http, partner_id: int, name: str = "Pak Darto") -> tuple[int, str]:
    resp = await http.post(f"/api/partners/{partner_id}/site-links", json={"name": name, "days": 30})
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    return body["id"], urlsplit(body["url"]).path


def _site_token(html: str) -> str:
    return re.search(r'name="site_token" value="([0-9a-f]+)"', html).group(1)


@pytest.mark.clock
async def test_two_devices_entering_the_same_day_at_once_count_it_once(client, aiohttp_client, office, sign_in, database_url):
    kasie = await _browser(aiohttp_client, client, sign_in, "kasie")
    masjid = await _placement(kasie, "Masjid Al-Ikhlas Cakung")
    c1 = office.clients["c1"]
    await sign_in(client, "pk1")
    await _order(client, c1.id, masjid, hours=100)
    _link_id, path = await _site_link(client, masjid)
    phone = await _browser(aiohttp_client, client)
    assert (await phone.get(path, allow_redirects=False)).status == 303
    token = _site_token(await (await phone.get("/lapangan")).text())
    day = _day(1)

    async def from_the_desk():
        return (await client.post(f"/api/clients/{c1.id}/service-hours", json={"date": day, "hours": 4, "task": "Menyapu"})).status

    async def from_the_site():
        form = {"site_token": token, "client_id": str(c1.id), "date": day, "hours": "4", "task": "Menyapu"}
        return (await phone.post("/lapangan/jam", data=form, allow_redirects=False)).status

    statuses = await asyncio.gather(*[from_the_desk() for _ in range(10)], *[from_the_site() for _ in range(10)])
    assert sum(s in (201, 303) for s in statuses) == 1, statuses
    assert set(statuses) <= {201, 303, 409}
    async with database(database_url) as db:
        assert await db.scalar(select(func.count()).select_from(ServiceHours).where(ServiceHours.client_id == c1.id)) == 1
    hours = await (await client.get(f"/api/clients/{c1.id}/service-hours")).json()
    assert hours["service_hours"] == {"ordered": 100, "approved": 0, "pending": 4, "balance": 100}


@pytest.mark.clock
async def test_a_site_link_reaches_only_its_placements_clients_and_revoking_holds_at_once(client, aiohttp_client, office, sign_in, database_url):
    kasie = await _browser(aiohttp_client, client, sign_in, "kasie")
    masjid, panti = await _placement(kasie, "Masjid Al-Ikhlas Cakung"), await _placement(kasie, "Panti Werdha Cipayung")
    c1, c2 = office.clients["c1"], office.clients["c2"]
    await _order(kasie, c1.id, masjid)
    await _order(kasie, c2.id, panti)
    link_id, path = await _site_link(kasie, masjid)

    phone = await _browser(aiohttp_client, client)
    opened = await phone.get(path, allow_redirects=False)
    assert (opened.status, opened.headers["Location"]) == (303, "/lapangan")
    page = await (await phone.get("/lapangan")).text()
    assert c1.name in page and c2.name not in page and "Pak Darto" in page
    token = _site_token(page)

    async def log(client_id: int):
        form = {"site_token": token, "client_id": str(client_id), "date": _day(1), "hours": "3", "task": "Membersihkan tempat wudu"}
        return await phone.post("/lapangan/jam", data=form, allow_redirects=False)

    assert (await log(c2.id)).status == 404  # another placement's client does not exist for this link
    assert (await log(c1.id)).status == 303
    entries = (await (await kasie.get(f"/api/clients/{c1.id}/service-hours")).json())["entries"]
    assert [(e["hours"], e["status"], e["entered_by"]) for e in entries] == [(3, "pending", "site_supervisor")]
    forged = await phone.post("/lapangan/jam", data={"site_token": "0" * 64, "client_id": str(c1.id), "date": _day(2), "hours": "1", "task": "x"})
    assert forged.status == 403

    assert (await kasie.delete(f"/api/site-links/{link_id}")).status == 200
    assert (await phone.get("/lapangan")).status == 410
    assert (await log(c1.id)).status == 410
    assert (await phone.get(path, allow_redirects=False)).status == 410
    pk2 = await _browser(aiohttp_client, client, sign_in, "pk2")
    assert (await (await pk2.get(f"/api/partners/{masjid}/site-links")).json())["site_links"][0]["live"] is False
    # The link's life is audited: issued and revoked by the Kasie, opened and used by the site supervisor.
    trail = [(e.action, e.actor) for e in await audit_entries(database_url) if e.action in ("site_link.issue", "site_link.open", "service_hours.enter", "site_link.revoke")]
    assert trail == [("site_link.issue", "kasie"), ("site_link.open", "site_supervisor"), ("service_hours.enter", "site_supervisor"), ("site_link.revoke", "kasie")]
