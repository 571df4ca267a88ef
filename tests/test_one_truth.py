"""One ledger (issue "One truth"): what meets a wajib-lapor period, the office's
own minimum, and the views that used to count their own way, told as the
head of office found them. Through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest

from server.db.models import Outcome, SessionMode
from tests.audit_support import add_session, audit_entries
from tests.clock import office_date, office_today, utc_now

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
