"""The rules that keep the supervision record true (issue #9, part 1), each from
a bug users found: an outcome on a session that has not happened, "Hadir" on a
video call nobody joined, a future session clearing an overdue client, a rate
above 100%, and late entries nobody sees."""

from __future__ import annotations

from collections import Counter

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from server.db.models import GuidanceSession, Outcome, SessionMode, SessionStatus, utcnow
from tests.foundation import database

WIB = ZoneInfo("Asia/Jakarta")


def wib(moment: datetime) -> str:
    return moment.astimezone(WIB).isoformat(timespec="seconds")


async def test_an_outcome_on_a_session_eleven_days_ahead_is_refused_as_not_yet(client, office, sign_in):
    await sign_in(client, "pk1")
    ahead = utcnow() + timedelta(days=11)
    created = await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "office", "scheduled_at": wib(ahead)})
    assert created.status == 201, await created.text()
    sid = (await created.json())["id"]
    for outcome in ("attended", "excused", "no_show"):
        resp = await client.patch(f"/api/sessions/{sid}", json={"outcome": outcome})
        assert resp.status == 409
        assert (await resp.json())["error"] == "not-yet"
    # Logging it with an outcome straight away is the same story.
    resp = await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "office", "scheduled_at": wib(ahead), "outcome": "attended", "duration_minutes": 30})
    assert resp.status == 409 and (await resp.json())["error"] == "not-yet"
    # The record shows no attendance dated ahead.
    record = await (await client.get(f"/api/clients/{office.clients['c1'].id}/record")).json()
    assert record["attendance"]["last_attended"] is None
    assert record["attendance"]["attended"] == 0
    # Notes may still be written ahead, and "rescheduled" says nothing about attendance.
    resp = await client.patch(f"/api/sessions/{sid}", json={"notes": "Persiapan.", "outcome": "rescheduled"})
    assert resp.status == 200, await resp.text()
    kept = await (await client.get(f"/api/sessions/{sid}")).json()
    assert (kept["notes"], kept["outcome"]) == ("Persiapan.", "rescheduled")


async def test_video_attended_needs_observed_media(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    created = await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "video", "scheduled_at": wib(utcnow() - timedelta(minutes=30))})
    sid = (await created.json())["id"]
    resp = await client.patch(f"/api/sessions/{sid}", json={"outcome": "attended"})
    assert resp.status == 409
    assert (await resp.json())["error"] == "not-observed"
    assert (await (await client.get(f"/api/sessions/{sid}")).json())["outcome"] is None
    # What the PK records instead is accepted.
    resp = await client.patch(f"/api/sessions/{sid}", json={"outcome": "no_show"})
    assert resp.status == 200 and (await resp.json())["outcome"] == "no_show"
    # Once the server observed a connected interval, "attended" is allowed.
    async with database(database_url) as db:
        session = await db.get(GuidanceSession, sid)
        session.duration_seconds = 600
        await db.commit()
    resp = await client.patch(f"/api/sessions/{sid}", json={"outcome": "attended"})
    assert resp.status == 200, await resp.text()
    assert (await (await client.get(f"/api/sessions/{sid}")).json())["outcome"] == "attended"


async def test_the_console_does_not_offer_outcomes_before_the_time_and_says_why(client, office, sign_in):
    await sign_in(client, "pk1")
    ahead = (await (await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "video", "scheduled_at": wib(utcnow() + timedelta(days=2))})).json())["id"]
    html = await (await client.get(f"/sessions/{ahead}/call")).text()
    assert 'id="outcome"' not in html
    assert "waktu sesi" in html and 'data-reason="not-yet"' in html
    now = (await (await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "video", "scheduled_at": wib(utcnow() - timedelta(minutes=5))})).json())["id"]
    html = await (await client.get(f"/sessions/{now}/call")).text()
    select = html.split('<select id="outcome">', 1)[1].split("</select>", 1)[0]
    attended = next(line for line in select.split("<option") if 'value="attended"' in line)
    assert "disabled" in attended and 'data-refused="not-observed"' in attended
    assert 'value="no_show"' in select and "disabled" not in next(line for line in select.split("<option") if 'value="no_show"' in line)
    assert 'data-reason="not-observed"' in html


async def test_the_session_page_form_offers_no_outcome_ahead_and_refuses_one_in_indonesian(client, office, sign_in):
    await sign_in(client, "pk1")
    sid = (await (await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "office", "scheduled_at": wib(utcnow() + timedelta(days=3))})).json())["id"]
    page = await client.get(f"/sessions/{sid}")
    html = await page.text()
    form = html.split('action="/sessions/%d/notes"' % sid, 1)[1].split("</form>", 1)[0]
    assert 'value="attended"' not in form and 'value="no_show"' not in form
    assert "Hasil sesi baru bisa dicatat setelah waktu sesi" in form
    token = html.split('name="csrf_token" value="', 1)[1].split('"', 1)[0]
    resp = await client.post(f"/sessions/{sid}/notes", data={"csrf_token": token, "notes": "x", "outcome": "attended"}, allow_redirects=False)
    assert resp.status == 409
    assert "Hasil sesi baru bisa dicatat setelah waktu sesi" in await resp.text()
    refused = await (await client.get(f"/api/sessions/{sid}")).json()
    assert (refused["notes"], refused["outcome"]) == ("", None)
    sessions_before = (await (await client.get(f"/api/clients/{office.clients['c1'].id}/record")).json())["sessions"]
    # The new-session form says it in Indonesian too.
    resp = await client.post(
        f"/clients/{office.clients['c1'].id}/sessions/new",
        data={"csrf_token": token, "mode": "office", "outcome": "attended", "duration_minutes": "20", "scheduled_at": (utcnow() + timedelta(days=3)).astimezone(WIB).strftime("%Y-%m-%dT%H:%M")},
        allow_redirects=False,
    )
    assert resp.status == 409
    assert "Waktu sesi belum tiba" in await resp.text()
    assert (await (await client.get(f"/api/clients/{office.clients['c1'].id}/record")).json())["sessions"] == sessions_before


async def test_record_caseload_and_report_count_periods_and_evidence(client, office, sign_in, database_url):
    """Two sessions two days apart in one period, on a client 60 days in: "n dari m periode", never 3/2."""
    c1 = office.clients["c1"]
    async with database(database_url) as db:
        for days_ago in (3, 1):
            when = utcnow() - timedelta(days=days_ago)
            db.add(GuidanceSession(office_id=c1.office_id, client_id=c1.id, officer_id=c1.officer_id, mode=SessionMode.office, status=SessionStatus.ended,
                                   scheduled_at=when, started_at=when, ended_at=when, duration_seconds=1800, outcome=Outcome.attended, notes="Hadir."))
        await db.commit()
    await sign_in(client, "pk1")
    record = await (await client.get(f"/api/clients/{c1.id}/record")).json()
    att = record["attendance"]
    # 60 days since the start with a 14-day interval: 5 periods begun (the current included).
    assert att["periods_due"] == 5
    assert att["periods_met"] in (1, 2)  # 3 and 1 days ago may straddle a period boundary
    assert att["rate"] == round(att["periods_met"] / att["periods_due"], 3) and att["rate"] <= 1
    assert att["attended_by_evidence"] == {"observed": 0, "reported": 2, "roll_call": 0}
    expected = f"{att['periods_met']} dari 5 periode"
    assert expected in await (await client.get(f"/clients/{c1.id}")).text()
    assert expected in await (await client.get("/caseload")).text()
    await sign_in(client, "kasie")
    month = utcnow().astimezone(WIB).strftime("%Y-%m")
    report = await client.get(f"/audit/reports/client/{c1.id}?month={month}")
    assert report.status == 200
    html = await report.text()
    assert "periode" in html and 'id="report-by-evidence"' in html
    log = await (await client.get(f"/api/audit/sessions?client_id={c1.id}")).json()
    assert log["attended_by_evidence"] == {"observed": 0, "reported": 2, "roll_call": 0}
    audit_page = await (await client.get(f"/audit?client_id={c1.id}")).text()
    assert 'data-evidence="reported" data-count="2"' in audit_page


async def test_a_session_logged_days_after_it_is_a_late_entry_with_who_and_when(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    held = utcnow() - timedelta(days=10)
    sid = (await (await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "home_visit", "scheduled_at": wib(held), "outcome": "attended", "duration_minutes": 45, "notes": "Kunjungan."})).json())["id"]
    prompt = (await (await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "office", "outcome": "attended", "duration_minutes": 30, "notes": "Hadir."})).json())["id"]
    await sign_in(client, "kasie")
    found = (await (await client.get("/api/audit/anomalies")).json())["anomalies"]
    late = [a for a in found if a["kind"] == "late-entry"]
    assert [a["session_id"] for a in late] == [sid]
    assert late[0]["detail"]["entered_by"] == office.staff["pk1"].name
    assert late[0]["detail"]["days_after_session"] == 10
    assert datetime.fromisoformat(late[0]["detail"]["entered_at"]) > held
    assert prompt not in [a["session_id"] for a in late]
    html = await (await client.get("/audit/anomalies")).text()
    assert "Dicatat terlambat" in html and office.staff["pk1"].name in html

    # An outcome first recorded late on a session scheduled long ago is late too.
    async with database(database_url) as db:
        c1 = office.clients["c1"]
        old = GuidanceSession(office_id=c1.office_id, client_id=c1.id, officer_id=c1.officer_id, mode=SessionMode.office, status=SessionStatus.scheduled,
                              scheduled_at=utcnow() - timedelta(days=6), created_at=utcnow() - timedelta(days=7))
        db.add(old)
        await db.commit()
        old_id = old.id
    await sign_in(client, "pk1")
    assert (await client.patch(f"/api/sessions/{old_id}", json={"outcome": "no_show"})).status == 200
    await sign_in(client, "kasie")
    found = (await (await client.get("/api/audit/anomalies")).json())["anomalies"]
    assert sorted(a["session_id"] for a in found if a["kind"] == "late-entry") == sorted([sid, old_id])
    # Every view marks it the same way, with the day it was entered; the entry is one
    # anomaly, not also a "late edit" of its own first version.
    entered_on = datetime.fromisoformat(late[0]["detail"]["entered_at"]).astimezone(WIB).date().isoformat()
    session = await (await client.get(f"/api/sessions/{sid}")).json()
    assert (session["late_entry"], session["entered_on"]) == (True, entered_on)
    assert (await (await client.get(f"/api/sessions/{prompt}")).json())["late_entry"] is False
    record = await (await client.get(f"/api/clients/{office.clients['c1'].id}/record")).json()
    assert {s["id"]: s["late_entry"] for s in record["sessions"]}[sid] is True
    log = {r["id"]: r for r in (await (await client.get(f"/api/audit/sessions?client_id={office.clients['c1'].id}")).json())["sessions"]}
    assert (log[sid]["late_entry"], log[sid]["entered_on"], log[prompt]["late_entry"]) == (True, entered_on, False)
    per_reason = Counter((a["session_id"], a["kind"]) for a in found if a["session_id"] is not None)
    assert max(per_reason.values()) == 1 and (sid, "late_edit") not in per_reason
