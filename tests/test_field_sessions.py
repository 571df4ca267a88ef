"""Sessions held away from the video call: a scheduled office, home-visit or
phone session is finished and leaves "Terjadwal"; a failed video call is
carried on by phone; a home visit goes from plan to printed report; every
view and export shows how a session's facts are known (``evidence``)."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timedelta

import pytest

from tests.fieldwork_support import WIB, event_body, office_today
from tests.foundation import add_office_session, row_counts
from tests.test_pages import csrf_token, text_of


async def csv_rows(client) -> list[dict]:
    raw = await (await client.get("/api/audit/sessions?format=csv")).read()
    return list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))


async def _video_session(client, c1: int) -> dict:
    resp = await client.post("/api/sessions", json={"client_id": c1, "mode": "video"})
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def test_a_phone_call_carries_on_a_failed_video_session(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    video = await _video_session(client, c1)
    await client.patch(f"/api/sessions/{video['id']}", json={"notes": "Video putus-putus di awal.", "topics": ["work_skills"]})
    # The console offers the fallback (a page form with its CSRF token).
    console = await (await client.get(f"/sessions/{video['id']}/call")).text()
    assert 'action="/sessions/{}/phone-fallback"'.format(video["id"]) in console and "Lanjutkan lewat telepon/WhatsApp" in console
    resp = await client.post(f"/sessions/{video['id']}/phone-fallback", data={"csrf_token": csrf_token(console)}, allow_redirects=False)
    assert resp.status == 302
    phone_id = int(resp.headers["Location"].split("/")[2].split("#")[0])
    phone = await (await client.get(f"/api/sessions/{phone_id}")).json()
    assert (phone["mode"], phone["evidence"], phone["status"], phone["follows_session_id"], phone["client_id"]) == ("phone", "reported", "scheduled", video["id"], c1)
    assert phone["notes"] == "Video putus-putus di awal." and phone["topics"] == ["work_skills"]
    old = await (await client.get(f"/api/sessions/{video['id']}")).json()
    assert old["status"] == "ended" and old["duration_seconds"] == 0
    assert [e["kind"] for e in old["events"]][-2:] == ["ended", "phone_fallback"]
    # The PK reports how long the call took: the duration is reported, never observed.
    done = await client.post(f"/api/sessions/{phone_id}/complete", json={"outcome": "attended", "duration_minutes": 18, "notes": "Lanjut lewat WhatsApp; klien sehat."})
    assert done.status == 200, await done.text()
    phone = await done.json()
    assert (phone["status"], phone["outcome"], phone["duration_seconds"], phone["evidence"]) == ("ended", "attended", 18 * 60, "reported")
    page = text_of(await (await client.get(f"/sessions/{phone_id}")).text())
    assert "Telepon/WhatsApp" in page and "Dilaporkan PK" in page and f"Bimbingan #{video['id']}" in page
    # A second fallback from the same video session is still possible through the API but not offered on its page.
    video_page = await (await client.get(f"/sessions/{video['id']}")).text()
    assert "phone-fallback-form" not in video_page


@pytest.mark.parametrize("outcome, minutes, duration", [("attended", 25, 1500), ("excused", None, 0), ("no_show", None, 0)])
async def test_a_scheduled_office_session_is_finished_and_leaves_terjadwal(client, office, sign_in, database_url, outcome, minutes, duration):
    await sign_in(client, "pk1")
    s1 = await add_office_session(database_url, office.clients["c1"].id, office.staff["pk1"])
    before = text_of(await (await client.get(f"/sessions/{s1}")).text())
    assert "Terjadwal" in before
    body = {"outcome": outcome, "location": "Kantor Bapas, ruang 2"}
    if minutes:
        body["duration_minutes"] = minutes
    resp = await client.post(f"/api/sessions/{s1}/complete", json=body)
    assert resp.status == 200, await resp.text()
    data = await resp.json()
    assert (data["status"], data["outcome"], data["duration_seconds"], data["location"]) == ("ended", outcome, duration, "Kantor Bapas, ruang 2")
    assert (await client.post(f"/api/sessions/{s1}/complete", json=body)).status == 409
    record = await (await client.get(f"/clients/{office.clients['c1'].id}")).text()
    assert "Kantor Bapas, ruang 2" in record


@pytest.mark.parametrize(
    "body, status, code",
    [
        ({"outcome": "attended"}, 400, "invalid-body"),  # held without a duration
        ({"outcome": "no_show", "duration_minutes": 10}, 400, "invalid-body"),
        ({"outcome": "rescheduled"}, 400, "invalid-body"),
        ({"outcome": "attended", "duration_minutes": 10, "met_with": ["cousin"]}, 400, "invalid-body"),
        ({"outcome": "attended", "duration_minutes": "10"}, 400, "invalid-body"),
        ({"outcome": "hadir"}, 400, "invalid-body"),
    ],
)
async def test_bad_completions_are_refused_and_nothing_is_written(client, office, sign_in, database_url, body, status, code):
    await sign_in(client, "pk1")
    s1 = await add_office_session(database_url, office.clients["c1"].id, office.staff["pk1"])
    before = await row_counts(database_url)
    resp = await client.post(f"/api/sessions/{s1}/complete", json=body)
    assert resp.status == status and (await resp.json())["error"] == code
    assert await row_counts(database_url) == before


async def test_a_future_session_and_a_video_session_cannot_be_finished_by_hand(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    later = (datetime.now(WIB) + timedelta(days=2)).strftime("%Y-%m-%dT%H:%M:%S+07:00")
    future = await (await client.post("/api/sessions", json={"client_id": c1, "mode": "office", "scheduled_at": later})).json()
    video = await _video_session(client, c1)
    before = await row_counts(database_url)
    resp = await client.post(f"/api/sessions/{future['id']}/complete", json={"outcome": "attended", "duration_minutes": 20})
    assert resp.status == 400 and (await resp.json())["error"] == "not-yet"
    resp = await client.post(f"/api/sessions/{video['id']}/complete", json={"outcome": "attended", "duration_minutes": 20})
    assert resp.status == 409 and (await resp.json())["error"] == "video-completes-itself"
    # On the page: the refusal in Bahasa Indonesia, status 400, nothing written.
    page = await (await client.get(f"/sessions/{future['id']}")).text()
    resp = await client.post(f"/sessions/{future['id']}/complete", data={"csrf_token": csrf_token(page), "outcome": "attended", "duration_minutes": "20"})
    assert resp.status == 400
    assert "Waktu sesi belum tiba" in text_of(await resp.text())
    assert await row_counts(database_url) == before


async def test_a_home_visit_from_plan_to_printed_report(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    form_page = await (await client.get(f"/clients/{c1}/home-visits/new")).text()
    today = office_today()
    resp = await client.post(f"/clients/{c1}/home-visits/new", data={
        "csrf_token": csrf_token(form_page), "date": today.isoformat(), "time": "00:00", "reason": "address_check", "note": "Cek alamat baru."},
        allow_redirects=False)
    assert resp.status == 302, await resp.text()
    visit_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    day = text_of(await (await client.get(f"/home-visits?date={today.isoformat()}")).text())
    assert "Klien c1" in day and "Cakung Barat" in day and "Pemeriksaan alamat" in day
    listed = await (await client.get(f"/api/home-visits?date={today.isoformat()}")).json()
    assert [v["id"] for g in listed["groups"] for v in g["visits"]] == [visit_id]
    page = await (await client.get(f"/sessions/{visit_id}")).text()
    assert 'id="complete-form"' in page
    resp = await client.post(f"/sessions/{visit_id}/complete", data=[
        ("csrf_token", csrf_token(page)), ("outcome", "attended"), ("duration_minutes", "35"), ("location", "Jl. Cakung Raya 12, RT 003/RW 007"),
        ("met_with", "client"), ("met_with", "family"), ("met_with", "rt_rw"), ("client_present", "yes"),
        ("findings", "Klien tinggal bersama ibunya; alamat sesuai."), ("follow_up", "Kunjungan ulang dalam tiga bulan."), ("notes", "Kooperatif.")],
        allow_redirects=False)
    assert resp.status == 302, await resp.text()
    data = await (await client.get(f"/api/sessions/{visit_id}")).json()
    assert (data["status"], data["outcome"], data["duration_seconds"], data["met_with"], data["client_present"], data["visit_reason"]) == (
        "ended", "attended", 2100, ["client", "family", "rt_rw"], True, "address_check")
    session_page = text_of(await (await client.get(f"/sessions/{visit_id}")).text())
    assert "Klien, Anggota keluarga, Ketua RT/RW" in session_page and "alamat sesuai" in session_page and "Kunjungan ulang" in session_page
    record = text_of(await (await client.get(f"/clients/{c1}")).text())
    assert "Yang ditemui: Klien, Anggota keluarga, Ketua RT/RW" in record and "Temuan: Klien tinggal bersama ibunya" in record
    report = await (await client.get(f"/sessions/{visit_id}/report")).text()
    text = text_of(report)
    assert "Laporan kunjungan rumah" in text and "Klien c1" in text and "Klien, Anggota keluarga, Ketua RT/RW" in text
    assert "Kunjungan ulang dalam tiga bulan." in text and "Pemeriksaan alamat" in text
    assert report.count('class="sign-line"') == 2
    # Exports carry who was met and the findings.
    await sign_in(client, "kasie")
    rows = await csv_rows(client)
    row = next(r for r in rows if r["id"] == str(visit_id))
    assert (row["evidence"], row["met_with"], row["findings"]) == ("reported", "client;family;rt_rw", "Klien tinggal bersama ibunya; alamat sesuai.")


async def test_every_view_and_export_shows_evidence(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    video = await _video_session(client, c1)
    reported = await add_office_session(database_url, c1, office.staff["pk1"])
    event = await (await client.post("/api/mobile-events", json=event_body(office))).json()
    roll = await (await client.post(f"/api/mobile-events/{event['id']}/checkins", json={"client_id": c1, "key": "ev-000000001"})).json()
    expected = {video["id"]: "observed", reported: "reported", roll["session_id"]: "roll_call"}
    labels = {"observed": "Diamati server", "reported": "Dilaporkan PK", "roll_call": "Absensi layanan bergerak"}
    for sid, evidence in expected.items():
        assert (await (await client.get(f"/api/sessions/{sid}")).json())["evidence"] == evidence
        page = await (await client.get(f"/sessions/{sid}")).text()
        assert f'data-evidence="{evidence}"' in page and labels[evidence] in page
    record = await (await client.get(f"/api/clients/{c1}/record")).json()
    assert {s["id"]: s["evidence"] for s in record["sessions"]} == expected
    record_page = await (await client.get(f"/clients/{c1}")).text()
    for sid, evidence in expected.items():
        assert f'data-evidence="{evidence}"' in record_page
    await sign_in(client, "kasie")
    log = await (await client.get("/api/audit/sessions")).json()
    assert {r["id"]: r["evidence"] for r in log["sessions"] if r["id"] in expected} == expected
    audit_page = await (await client.get("/audit")).text()
    for evidence in expected.values():
        assert f'data-evidence="{evidence}"' in audit_page
    rows = await csv_rows(client)
    assert {int(r["id"]): r["evidence"] for r in rows if int(r["id"]) in expected} == expected
    # The monthly report (this month in WIB: the call and the roll call are today's).
    report = await (await client.get(f"/audit/reports/client/{c1}?month={office_today().strftime('%Y-%m')}")).text()
    assert 'data-evidence="observed"' in report and 'data-evidence="roll_call"' in report
