"""One ledger (issue "One truth"): what meets a wajib-lapor period, the office's
own minimum, and the views that used to count their own way, told as the
head of office found them. Through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
from collections import Counter
from datetime import date, timedelta

import aiohttp
import pytest

from server.db.models import Outcome, SessionMode
from tests.audit_support import add_session, audit_entries
from tests.clock import OFFICE_TZ, office_date, office_today, utc_now

pytestmark = pytest.mark.clock


async def record_of(http, client_id: int) -> dict:
    resp = await http.get(f"/api/clients/{client_id}/record")
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_73_second_call_is_a_contact_and_leaves_an_overdue_client_overdue(client, office, sign_in, database_url):
    c1 = office.clients["c1"]  # supervised from 60 days ago, every 14 days, never came
    short = await add_session(database_url, c1, mode=SessionMode.video, duration_seconds=73, scheduled_at=utc_now() - timedelta(hours=3))
    await sign_in(client, "pk1")
    record = await record_of(client, c1.id)
    att = record["attendance"]
    assert att["state"] == "overdue" and att["last_attended"] is None
    assert att["sessions"] == {"attended": 1, "excused": 0, "no_show": 0, "contacts": 1}
    assert sum(att["periods"].values()) == att["periods_due"] == len(record["periods"])
    assert att["periods"]["met"] == 0
    judged = {s["id"]: s for s in record["sessions"]}[short]
    assert (judged["meets_reporting"], judged["reporting_reason"]) == (False, "too_short")
    single = await (await client.get(f"/api/sessions/{short}")).json()
    assert (single["meets_reporting"], single["reporting_reason"]) == (False, "too_short")


async def test_the_office_sets_the_shortest_call_that_counts_and_every_view_follows(client, office, sign_in, database_url):
    c1 = office.clients["c1"]
    short = await add_session(database_url, c1, mode=SessionMode.phone, duration_seconds=5 * 60, scheduled_at=utc_now() - timedelta(hours=3))
    await sign_in(client, "pk1")
    assert (await (await client.get("/api/office/settings")).json())["min_report_minutes"] == 10
    refused = await client.put("/api/office/settings", json={"min_report_minutes": 3})
    assert refused.status == 403  # a PK does not change the office's rules
    assert (await (await client.get("/api/office/settings")).json())["min_report_minutes"] == 10
    before = await record_of(client, c1.id)
    assert {s["id"]: s["meets_reporting"] for s in before["sessions"]}[short] is False

    await sign_in(client, "kasie")
    for bad in (0, 121, "5", True, None, 4.5):
        resp = await client.put("/api/office/settings", json={"min_report_minutes": bad})
        assert resp.status == 400, bad
    assert (await (await client.get("/api/office/settings")).json())["min_report_minutes"] == 10
    resp = await client.put("/api/office/settings", json={"min_report_minutes": 5})
    assert resp.status == 200 and (await resp.json())["min_report_minutes"] == 5
    changes = await audit_entries(database_url, "office.settings")
    assert [e.detail for e in changes] == [{"min_report_minutes": {"old": 10, "new": 5}}]

    after = await record_of(client, c1.id)
    assert {s["id"]: s["meets_reporting"] for s in after["sessions"]}[short] is True
    assert after["attendance"]["periods"]["met"] == 1 and after["attendance"]["state"] in ("ok", "due")
    # The audit log, the caseload and the evaluation count by the same rule.
    log = {r["id"]: r for r in (await (await client.get(f"/api/audit/sessions?client_id={c1.id}")).json())["sessions"]}
    assert log[short]["meets_reporting"] is True
    audit_clients = {r["client_id"]: r["attendance"] for r in (await (await client.get("/api/audit/clients")).json())["clients"]}
    assert audit_clients[c1.id] == after["attendance"]
    this = office_today().strftime("%Y-%m")
    evaluation = await (await client.get(f"/api/reports/evaluation?from={this}&to={this}")).json()
    assert evaluation["headline"]["overdue_clients"] == 1  # c2 only


async def test_the_client_page_counts_periods_as_periods_and_sessions_as_sessions(client, office, sign_in, database_url):
    # "11 obligations next to Hadir 4 + Izin 1 + Tidak hadir 7 = 12".
    c1 = office.clients["c1"]
    for days_ago, outcome in ((55, Outcome.attended), (54, Outcome.attended), (40, Outcome.no_show), (39, Outcome.no_show), (26, Outcome.excused)):
        await add_session(database_url, c1, scheduled_at=utc_now() - timedelta(days=days_ago), outcome=outcome)
    await sign_in(client, "pk1")
    att = (await record_of(client, c1.id))["attendance"]
    html = await (await client.get(f"/clients/{c1.id}")).text()
    summary = html.split('id="periods-summary"', 1)[1].split(">", 1)[0]
    figures = {k: int(summary.split(f'data-{k}="', 1)[1].split('"', 1)[0]) for k in ("met", "excused", "missed", "open", "due")}
    assert figures["met"] + figures["excused"] + figures["missed"] + figures["open"] == figures["due"] == att["periods_due"]
    assert figures["met"] == att["periods"]["met"] == 1
    assert att["sessions"] == {"attended": 2, "excused": 1, "no_show": 2, "contacts": 0}
    sessions_line = html.split('id="sessions-summary"', 1)[1].split("</dd>", 1)[0]
    assert "Sesi hadir: 2" in sessions_line and "Sesi tidak hadir: 2" in sessions_line


async def test_the_officers_mode_columns_add_up_to_the_sessions_held(client, office, sign_in, database_url):
    # In /audit/officers a PK's mode columns added up to 10 next to "Sesi terlaksana 11": phone had no column.
    c1 = office.clients["c1"]
    held = utc_now() - timedelta(hours=5)
    for mode in (SessionMode.office, SessionMode.phone, SessionMode.home_visit, SessionMode.video):
        await add_session(database_url, c1, mode=mode, scheduled_at=held)
    await sign_in(client, "kasie")
    # The month they were held in (five hours ago may be last month, just after midnight on the 1st).
    html = await (await client.get(f"/audit/officers?month={office_date(held).strftime('%Y-%m')}")).text()
    row = html.split(f'data-officer-id="{office.staff["pk1"].id}"', 1)[1].split("</tr>", 1)[0]
    cells = [int(chunk.split(">", 1)[1].split("<", 1)[0]) for chunk in row.split('data-mode="')[1:]]
    held = int(row.split("data-label=", 2)[2].split(">", 1)[1].split("<", 1)[0])
    assert len(cells) == len(SessionMode) and sum(cells) == held == 4


async def ok(resp, status: int = 200) -> dict:
    body = await resp.json()
    assert resp.status == status, body
    return body


async def test_the_evaluations_casework_is_what_the_clients_records_show(client, aiohttp_client, office, sign_in):
    """Issues 20 and 21 in the evaluation: the violations by kind and state, the
    sittings of the TPP and their decisions, referrals, community-service hours,
    the latest risk category, case plans and goal ratings count exactly what the
    clients' own records and lists show, for the Kasie and for each PK's caseload;
    and a range over before any of it was entered counts none of it."""
    async def browser(username):
        http = await aiohttp_client(client.server, cookie_jar=aiohttp.CookieJar(unsafe=True))
        await sign_in(http, username)
        return http

    kasie, pk1, pk2 = await browser("kasie"), await browser("pk1"), await browser("pk2")
    c1, c2 = office.clients["c1"].id, office.clients["c2"].id
    today = office_today()

    def wib(moment) -> str:
        return moment.astimezone(OFFICE_TZ).isoformat(timespec="seconds")

    # Klien c1: assessed (sedang), a countersigned plan, two sessions rating its goal; c2 never assessed.
    await ok(await pk1.post(f"/api/clients/{c1}/assessments", json={"date": today.isoformat(), "instrument": "rri", "category": "sedang", "needs": ["pekerjaan"]}), 201)
    plan = await ok(await pk1.put(f"/api/clients/{c1}/plan", json={"goals": [{"need": "pekerjaan", "text": "Bekerja tetap", "steps": []}], "agreement": "setuju"}), 201)
    await ok(await kasie.post(f"/api/clients/{c1}/plan/approve", json={}))
    goal = plan["goals"][0]["id"]
    for hours, mode, rating in ((3, "office", "maju"), (2, "phone", "tercapai")):
        await ok(await pk1.post("/api/sessions", json={"client_id": c1, "mode": mode, "scheduled_at": wib(utc_now() - timedelta(hours=hours)), "outcome": "attended",
                                                       "duration_minutes": 30, "progress": [{"goal_id": goal, "rating": rating}]}), 201)
    # Violations: c1's walks to a sitting; c2's stays recorded. The sitting decides c1's and a stage change of c2's, and closes.
    v1 = await ok(await pk1.post(f"/api/clients/{c1}/violations", json={"kind": "pindah_alamat", "date": today.isoformat(), "what_happened": "Pindah tanpa izin.",
                                                                      "evidence": "reported"}), 201)
    for to in ("teguran_1", "teguran_2", "bap", "sidang_tpp"):
        await ok(await pk1.post(f"/api/violations/{v1['id']}/steps", json={"to": to}))
    await ok(await pk2.post(f"/api/clients/{c2}/violations", json={"kind": "tidak_wajib_lapor", "date": today.isoformat(), "what_happened": "Tidak datang.",
                                                                 "evidence": "reported"}), 201)
    members = [office.staff[u].id for u in ("kasie", "pk1", "pk2")]
    sitting = await ok(await kasie.post("/api/tpp-sittings", json={"date": today.isoformat(), "member_ids": members, "agenda": [
        {"violation_id": v1["id"]}, {"client_id": c2, "kind": "perubahan_tahap", "subject": "Usul tahap lanjutan."}]}), 201)
    for case, decision in zip(sitting["cases"], ("pencabutan", "disetujui")):
        await ok(await kasie.post(f"/api/tpp-sittings/{sitting['id']}/cases/{case['id']}/decision", json={"decision": decision, "reasons": "Sesuai laporan PK."}))
    await ok(await kasie.post(f"/api/tpp-sittings/{sitting['id']}/close"))
    # A referral of c2, accepted; c1's community service: 10 hours ordered, 4 approved, 2 waiting.
    blk = await ok(await kasie.post("/api/partners", json={"name": "BLK Cakung", "kind": "blk_lpk"}), 201)
    site = await ok(await kasie.post("/api/partners", json={"name": "Masjid Al-Ikhlas", "kind": "tempat_kerja_sosial"}), 201)
    referral = await ok(await pk2.post(f"/api/clients/{c2}/referrals", json={"partner_id": blk["id"], "purpose": "Pelatihan las"}), 201)
    await ok(await pk2.post(f"/api/referrals/{referral['id']}/steps", json={"to": "diterima"}))
    await ok(await pk1.put(f"/api/clients/{c1}/sentence", json={"kind": "pidana_kerja_sosial", "hours_ordered": 10, "placement": site["id"]}))
    first = await ok(await pk1.post(f"/api/clients/{c1}/service-hours", json={"date": (today - timedelta(days=1)).isoformat(), "hours": 4, "task": "Menyapu"}), 201)
    await ok(await pk1.post(f"/api/service-hours/{first['id']}/approve", json={}))
    await ok(await pk1.post(f"/api/clients/{c1}/service-hours", json={"date": today.isoformat(), "hours": 2, "task": "Mengecat"}), 201)

    # The range: the month of 40 days ago to this one, so that yesterday and the sessions' hours fall in it.
    span = f"from={(today - timedelta(days=40)).strftime('%Y-%m')}&to={today.strftime('%Y-%m')}"
    for http, keys in ((kasie, (c1, c2)), (pk1, (c1,)), (pk2, (c2,))):
        ev = await ok(await http.get(f"/api/reports/evaluation?{span}"))
        first_day, as_of = date.fromisoformat(ev["from"] + "-01"), ev["as_of"]
        records = [await record_of(http, cid) for cid in keys]
        violations = [v for r in records for v in r["violations"] if first_day.isoformat() <= v["date"] <= as_of]
        assert ev["violations"]["total"] == len(violations) == sum(ev["violations"]["by_kind"].values()) == sum(ev["violations"]["by_state"].values())
        assert {k: n for k, n in ev["violations"]["by_kind"].items() if n} == dict(Counter(v["kind"] for v in violations))
        assert {k: n for k, n in ev["violations"]["by_state"].items() if n} == dict(Counter(v["state"] for v in violations))
        decisions = [d for r in records for d in r["tpp_decisions"] if first_day.isoformat() <= d["date"] <= as_of]
        tpp = ev["tpp"]
        assert tpp["held"] == len({d["sitting_id"] for d in decisions}) == 1 and tpp["open"] == 0
        assert {k: n for k, n in tpp["decisions"].items() if n} == dict(Counter(d["decision"] for d in decisions if d["violation_id"]))
        assert {k: n for k, n in tpp["other_decisions"].items() if n} == dict(Counter(d["decision"] for d in decisions if not d["violation_id"]))
        hours = [r["service_hours"] for r in records if r["service_hours"]]
        for figure in ("ordered", "approved", "pending", "balance"):
            assert ev["service_hours"][figure] == sum(h[figure] for h in hours), figure
        assert ev["service_hours"]["clients"] == len(hours)
        assert {k: n for k, n in ev["progress"]["risk"].items() if n} == dict(Counter(r["assessment"]["category"] if r["assessment"] else "none" for r in records))
        assert ev["progress"]["plans"] == {"clients": len(records), "with_plan": sum(1 for r in records if r["plan"]),
                                           "countersigned": sum(1 for r in records if r["plan"] and r["plan"]["status"] == "approved")}
        rated = Counter(x["rating"] for r in records for g in r["goals"] for x in g["ratings"] if first_day.isoformat() <= x["at"][:10] <= as_of)
        assert {k: ev["progress"]["total"][k] for k in rated} == dict(rated) and ev["progress"]["total"]["ratings"] == sum(rated.values())
        lists = [x for cid in keys for x in (await ok(await http.get(f"/api/clients/{cid}/referrals")))["referrals"]]
        assert {k: v["total"] for k, v in ev["referrals"]["by_kind"].items()} == dict(Counter(x["partner"]["kind"] for x in lists))
        # The casework CSV holds the JSON's figures, row for row.
        raw = await (await http.get(f"/api/reports/evaluation?{span}&format=csv&table=casework")).read()
        rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
        assert rows[0] == ["section", "key", "count"]
        cells = {(s, k): c for s, k, c in rows[1:]}
        assert cells[("violations", "total")] == str(ev["violations"]["total"]) and cells[("tpp", "held")] == str(tpp["held"])
        assert all(cells[("violation_state", k)] == str(n) for k, n in ev["violations"]["by_state"].items())
        assert all(cells[("service_hours", k)] == str(n) for k, n in ev["service_hours"].items())
    # The Kasie's office as a whole: what was made above.
    ev = await ok(await kasie.get(f"/api/reports/evaluation?{span}"))
    assert ev["service_hours"] == {"clients": 1, "ordered": 10, "approved": 4, "pending": 2, "balance": 6, "complete": 0, "approved_in_range": 4}
    assert ev["violations"]["by_state"]["sidang_tpp"] == 1 and ev["violations"]["by_state"]["dicatat"] == 1
    assert ev["progress"]["risk"] == {"rendah": 0, "sedang": 1, "tinggi": 0, "none": 1}
    # The page shows the API's figures.
    html = await (await kasie.get(f"/evaluation?{span}")).text()
    shown = dict(re.findall(r'<dd data-(?:tpp|hours|plan|decision)="(\w+)">([^<]*)<', html))
    assert (shown["held"], shown["pencabutan"], shown["disetujui"], shown["approved"], shown["pending"], shown["ordered"], shown["with_plan"]) == (
        "1", "1", "1", "4", "2", "10", "1")
    assert re.findall(r'<td data-risk="(\w+)">(\d+)<', html) == [("rendah", "0"), ("sedang", "1"), ("tinggi", "0"), ("none", "1")]
    assert re.findall(r'<td data-state="(\w+)">(\d+)<', html) == [(k, str(n)) for k, n in ev["violations"]["by_state"].items()]

    # Counted as of a day before any of it was entered (the month before last): none of it.
    before = (today.replace(day=1) - timedelta(days=1)).replace(day=1) - timedelta(days=1)
    past = await ok(await kasie.get(f"/api/reports/evaluation?from={before.strftime('%Y-%m')}&to={before.strftime('%Y-%m')}"))
    assert past["as_of"] == before.isoformat()
    assert past["violations"]["total"] == 0 and past["tpp"]["held"] == 0 and past["referrals"]["total"] == 0
    assert past["service_hours"]["approved"] == 0 and past["service_hours"]["pending"] == 0
    assert past["progress"]["plans"]["with_plan"] == 0 and past["progress"]["risk"]["sedang"] == 0


async def test_the_issued_progress_report_counts_as_the_record_does(client, office, sign_in, database_url):
    """The laporan perkembangan, issued as a letter, prints the ledger's periods:
    the same counts and the same periods, each with the same status, as the record that day."""
    from server.db.models import Letter
    from tests.foundation import database

    c1 = office.clients["c1"]
    for days_ago, outcome in ((55, Outcome.attended), (40, Outcome.no_show), (26, Outcome.excused), (3, Outcome.attended)):
        await add_session(database_url, c1, scheduled_at=utc_now() - timedelta(days=days_ago), outcome=outcome)
    await sign_in(client, "pk1")
    record = await record_of(client, c1.id)
    made = await client.post(f"/api/clients/{c1.id}/letters", json={"kind": "perkembangan"})
    assert made.status == 201, await made.text()
    async with database(database_url) as db:
        report = (await db.get(Letter, (await made.json())["id"])).printed["report"]
    att = record["attendance"]
    assert report["to"] == office_today().isoformat()
    assert (report["attendance"]["periods_due"], report["attendance"]["periods_met"], report["attendance"]["periods"]) == (
        att["periods_due"], att["periods_met"], att["periods"])
    assert [(p["start"], p["end"], p["status"]) for p in report["periods"]] == [(p["start"], p["end"], p["status"]) for p in record["periods"]]
    page = await (await client.get(f"/letters/{(await made.json())['id']}")).text()
    summary = page.split('id="report-periods-summary"', 1)[1].split(">", 1)[0]
    assert f'data-due="{att["periods_due"]}"' in summary and f'data-met="{att["periods"]["met"]}"' in summary
