"""Where guidance is going (issue 20): stages whose intervals the record's
periods follow, assessments, the case plan in countersigned versions, and
progress rated at every session; told as a PK and the Kasie do it, through the
real app on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit

import aiohttp
import pytest

from tests.audit_support import audit_entries
from tests.clock import OFFICE_TZ, office_today, utc_now
from tests.foundation import CLIENT_BODY, OFFICE_SETTINGS

pytestmark = pytest.mark.clock


async def as_user(aiohttp_client, app_client, sign_in, username: str):
    """Another signed-in user on the same server, with cookies of their own (one sign-in each: Argon2 is slow)."""
    http = await aiohttp_client(app_client.server, cookie_jar=aiohttp.CookieJar(unsafe=True))
    await sign_in(http, username)
    return http


def wib_iso(moment) -> str:
    return moment.astimezone(OFFICE_TZ).isoformat(timespec="seconds")


async def record_of(http, client_id: int) -> dict:
    resp = await http.get(f"/api/clients/{client_id}/record")
    assert resp.status == 200, await resp.text()
    return await resp.json()


async def test_a_new_client_gets_the_office_stages_and_its_periods_follow_each_stages_interval(client, office, sign_in, database_url):
    await sign_in(client, "kasie")
    resp = await client.put("/api/office/settings", json={"stage_intervals": {"awal": 20}, "reassessment_days": 90})
    assert resp.status == 200, await resp.text()
    assert await resp.json() == {**OFFICE_SETTINGS, "stage_intervals": {"awal": 20, "lanjutan": 60, "akhir": 90}, "reassessment_days": 90}
    assert [e.detail for e in await audit_entries(database_url, "office.settings")] == [
        {"stage_intervals": {"old": {"awal": 30, "lanjutan": 60, "akhir": 90}, "new": {"awal": 20, "lanjutan": 60, "akhir": 90}},
         "reassessment_days": {"old": 180, "new": 90}}]
    for bad in ({"stage_intervals": {"awal": 0}}, {"stage_intervals": {"tengah": 30}}, {"reassessment_days": None}, {"needs": []}, {"needs": ["a", "A"]}, {}):
        assert (await client.put("/api/office/settings", json=bad)).status == 400, bad

    # 301 days in thirds: awal from 100 days ago (every 20 days), lanjutan from today (every 60), akhir later.
    today = office_today()
    start = today - timedelta(days=100)
    body = {k: v for k, v in CLIENT_BODY.items() if k != "reporting_interval_days"}
    body.update(supervision_start=start.isoformat(), supervision_end=(today + timedelta(days=200)).isoformat(), officer_id=office.staff["pk1"].id)
    resp = await client.post("/api/clients", json=body)
    assert resp.status == 201, await resp.text()
    made = await resp.json()
    assert made["reporting_interval_days"] == 20
    record = await record_of(client, made["id"])
    assert [(s["stage"], s["start"], s["end"], s["interval_days"]) for s in record["stages"]] == [
        ("awal", start.isoformat(), (today - timedelta(days=1)).isoformat(), 20),
        ("lanjutan", today.isoformat(), (start + timedelta(days=199)).isoformat(), 60),
        ("akhir", (start + timedelta(days=200)).isoformat(), (today + timedelta(days=200)).isoformat(), 90),
    ]
    assert record["stage"]["stage"] == "lanjutan"
    spans = [(p["start"], p["end"]) for p in record["periods"]]
    assert spans == [((start + timedelta(days=k)).isoformat(), (start + timedelta(days=min(k + 19, 99))).isoformat()) for k in range(0, 100, 20)] + [
        (today.isoformat(), (today + timedelta(days=59)).isoformat())]
    assert record["attendance"]["periods_due"] == 6 and record["attendance"]["periods"]["missed"] == 5
    # A client given one interval keeps it from start to end, without stages.
    plain = await record_of(client, office.clients["c1"].id)
    assert plain["stage"] is None and plain["stages"] == []


async def test_the_pk_moves_the_last_stage_early_with_a_reason_and_it_is_audited(client, office, sign_in, database_url):
    today = office_today()
    await sign_in(client, "pk1")
    body = {k: v for k, v in CLIENT_BODY.items() if k != "reporting_interval_days"}
    # 91 days in thirds: awal from 30 days ago, lanjutan from today, akhir in 30 days.
    body.update(supervision_start=(today - timedelta(days=30)).isoformat(), supervision_end=(today + timedelta(days=60)).isoformat())
    cid = (await (await client.post("/api/clients", json=body)).json())["id"]
    akhir = (await record_of(client, cid))["stages"][2]
    early = today + timedelta(days=20)
    assert akhir["start"] == (today + timedelta(days=30)).isoformat()
    refusals = [
        ({"stage": "akhir", "start": (today - timedelta(days=1)).isoformat(), "reason": "x"}, 400, "invalid-body"),
        ({"stage": "akhir", "start": early.isoformat(), "reason": ""}, 400, "invalid-body"),
        ({"stage": "akhir", "start": "2026-02-30", "reason": "x"}, 400, "invalid-body"),
        ({"stage": "awal", "start": early.isoformat(), "reason": "x"}, 400, "invalid-body"),
    ]
    for bad, status, code in refusals:
        resp = await client.post(f"/api/clients/{cid}/stage", json=bad)
        assert (resp.status, (await resp.json())["error"]) == (status, code), bad
    resp = await client.post(f"/api/clients/{cid}/stage", json={"stage": "akhir", "start": early.isoformat(), "reason": "Sidang TPP: kooperatif"})
    assert resp.status == 200, await resp.text()
    moved = (await resp.json())["stages"][2]
    assert (moved["start"], moved["planned_start"], [m["reason"] for m in moved["moves"]]) == (early.isoformat(), akhir["start"], ["Sidang TPP: kooperatif"])
    assert [e.detail for e in await audit_entries(database_url, "client.stage_move")] == [
        {"stage": "akhir", "old": akhir["start"], "new": early.isoformat(), "reason": "Sidang TPP: kooperatif"}]
    # The lanjutan began today: it is not moved any more. A client on one interval has no stages to move.
    resp = await client.post(f"/api/clients/{cid}/stage", json={"stage": "lanjutan", "start": (today + timedelta(days=5)).isoformat(), "reason": "x"})
    assert (resp.status, (await resp.json())["error"]) == (409, "stage-begun")
    resp = await client.post(f"/api/clients/{office.clients['c1'].id}/stage", json={"stage": "akhir", "start": early.isoformat(), "reason": "x"})
    assert (resp.status, (await resp.json())["error"]) == (409, "no-stages")


async def session_at(http, client_id: int, hours_ago: int, mode: str, progress: list | None = None) -> tuple[int, dict]:
    body = {"client_id": client_id, "mode": mode, "scheduled_at": wib_iso(utc_now() - timedelta(hours=hours_ago)), "outcome": "attended",
            "duration_minutes": 30}
    if progress is not None:
        body["progress"] = progress
    resp = await http.post("/api/sessions", json=body)
    return resp.status, await resp.json()


async def test_assessment_plan_countersignature_and_progress_at_sessions(client, aiohttp_client, office, sign_in, database_url):
    c1 = office.clients["c1"].id
    today = office_today()
    await sign_in(client, "pk1")
    kasie = await as_user(aiohttp_client, client, sign_in, "kasie")
    assert (await (await client.get(f"/api/clients/{c1}/assessments")).json())["due"] == {"state": "none", "reason": "never", "since": None}
    for bad in ({"date": (today + timedelta(days=1)).isoformat(), "category": "sedang"}, {"date": today.isoformat(), "category": "besar"},
                {"date": today.isoformat(), "category": "sedang", "needs": ["judi"]}, {"date": today.isoformat(), "category": "sedang", "instrument": "lsi"},
                {"date": today.isoformat(), "category": "sedang", "score": -1}):
        assert (await client.post(f"/api/clients/{c1}/assessments", json=bad)).status == 400, bad
    resp = await client.post(f"/api/clients/{c1}/assessments", json={"date": today.isoformat(), "instrument": "rri", "score": 14, "category": "sedang",
                                                                    "needs": ["Pekerjaan", "keluarga"], "notes": "Belum bekerja."})
    assert resp.status == 201, await resp.text()
    assessment = await resp.json()
    assert (assessment["needs"], assessment["category"], assessment["score"]) == (["pekerjaan", "keluarga"], "sedang", 14)
    caseload = {c["id"]: c for c in (await (await client.get("/api/clients")).json())["clients"]}
    assert caseload[c1]["risk_category"] == "sedang" and caseload[c1]["assessment_due"]["state"] == "ok"

    goals = [{"need": "pekerjaan", "text": "Mendapat pekerjaan tetap", "steps": ["Ikut pelatihan BLK", "Melamar tiga tempat"],
              "target_date": (today + timedelta(days=90)).isoformat(), "helpers": "BLK Jakarta Timur"},
             {"need": "keluarga", "text": "Pulang ke rumah orang tua", "steps": [], "helpers": "Penjamin (ayah)"},
             {"need": "NAPZA", "text": "Tes urin bersih", "steps": ["Rujukan ke BNN"]}]
    resp = await client.put(f"/api/clients/{c1}/plan", json={"goals": goals, "agreement": "setuju"})
    assert (resp.status, (await resp.json())["error"]) == (400, "need-not-assessed")
    resp = await client.put(f"/api/clients/{c1}/plan", json={"goals": goals, "agreement": "tidak_setuju"})
    assert resp.status == 400  # the client's reason is wanted when they disagree (and the NAPZA goal still lacks its reason)
    goals[2]["need_reason"] = "Riwayat pemakaian sebelum ditahan"
    resp = await client.put(f"/api/clients/{c1}/plan", json={"goals": goals, "agreement": "setuju"})
    assert resp.status == 201, await resp.text()
    plan = await resp.json()
    assert (plan["version"], plan["status"], plan["agreement"]) == (1, "draft", "setuju")
    ids = [g["id"] for g in plan["goals"]]
    assert len(set(ids)) == 3

    # Ratings belong to a goal of the plan and to a session already held.
    status, answer = await session_at(client, c1, 30, "office", [{"goal_id": 999999, "rating": "maju"}])
    assert (status, answer["error"]) == (400, "invalid-body")
    resp = await client.post("/api/sessions", json={"client_id": c1, "mode": "phone", "scheduled_at": wib_iso(utc_now() + timedelta(days=2)),
                                                   "progress": [{"goal_id": ids[0], "rating": "maju"}]})
    assert (resp.status, (await resp.json())["error"]) == (409, "session-ahead")
    status, first = await session_at(client, c1, 50, "office", [{"goal_id": ids[0], "rating": "tetap", "note": "Belum daftar"}])
    assert status == 201, first
    assert first["progress"] == [{"goal_id": ids[0], "rating": "tetap", "note": "Belum daftar"}]

    # A PK does not countersign; the Kasie does, and the version is locked: the next change is version 2.
    assert (await client.post(f"/api/clients/{c1}/plan/approve", json={})).status == 403
    resp = await kasie.post(f"/api/clients/{c1}/plan/approve", json={"version": 1})
    assert resp.status == 200 and (await resp.json())["status"] == "approved"
    resp = await kasie.post(f"/api/clients/{c1}/plan/approve", json={})
    assert (resp.status, (await resp.json())["error"]) == (409, "plan-approved")
    kept = [dict(g, id=i) for g, i in zip(goals[:2], ids)] + [{"need": "keuangan", "text": "Menabung", "need_reason": "Utang keluarga"}]
    resp = await client.put(f"/api/clients/{c1}/plan", json={"goals": kept, "agreement": "tidak_setuju", "agreement_reason": "Ingin tetap di kos"})
    assert resp.status == 201, await resp.text()
    second = await resp.json()
    assert (second["version"], second["status"], [g["id"] for g in second["goals"]][:2]) == (2, "draft", ids[:2])
    old = await (await client.get(f"/api/clients/{c1}/plan?version=1")).json()
    assert (old["status"], old["latest_version"], [g["text"] for g in old["goals"]]) == ("approved", 2, [g["text"] for g in goals])
    assert (await client.get(f"/api/clients/{c1}/plan?version=9")).status == 404
    assert (await client.get(f"/api/clients/{c1}/plan?version=x")).status == 400

    # Three sessions of different modes; the record lists each goal's ratings in the sessions' order.
    status, second_session = await session_at(client, c1, 26, "home_visit", [{"goal_id": ids[0], "rating": "maju"}, {"goal_id": ids[1], "rating": "maju"}])
    assert status == 201, second_session
    status, third = await session_at(client, c1, 2, "phone")
    resp = await client.patch(f"/api/sessions/{third['id']}", json={"progress": [{"goal_id": ids[0], "rating": "tercapai", "note": "Diterima kerja"}]})
    assert resp.status == 200 and (await resp.json())["progress"][0]["rating"] == "tercapai"
    assert [e.detail for e in await audit_entries(database_url, "session.progress")] == [{"progress": [{"goal_id": ids[0], "rating": "tercapai"}]}]
    record = await record_of(client, c1)
    lines = {g["id"]: g for g in record["goals"]}
    assert [r["rating"] for r in lines[ids[0]]["ratings"]] == ["tetap", "maju", "tercapai"]
    assert [r["mode"] for r in lines[ids[0]]["ratings"]] == ["office", "home_visit", "phone"]
    assert (lines[ids[0]]["reached"], lines[ids[1]]["reached"], lines[ids[1]]["latest_rating"]) == (True, False, "maju")
    assert record["plan"] == {"version": 2, "status": "draft", "agreement": "tidak_setuju"}
    assert record["assessment"]["id"] == assessment["id"] and record["assessment_due"]["state"] == "ok"

    # The evaluation counts the ratings by need, stage and kind of session; each table adds up to the same total.
    months = f"from={(today - timedelta(days=4)).strftime('%Y-%m')}&to={today.strftime('%Y-%m')}"
    progress = (await (await kasie.get(f"/api/reports/evaluation?{months}")).json())["progress"]
    assert {k: v["ratings"] for k, v in progress["by_mode"].items()} == {"office": 1, "home_visit": 2, "phone": 1}
    assert (progress["by_need"]["pekerjaan"]["tercapai"], progress["by_need"]["keluarga"]["maju"], progress["by_stage"]["none"]["ratings"]) == (1, 1, 4)
    assert progress["total"]["ratings"] == 4 and progress["total"]["moved_share"] == 0.75
    assert all(sum(row["ratings"] for row in progress[t].values()) == 4 for t in ("by_need", "by_stage", "by_mode"))
    page = await (await kasie.get(f"/evaluation?{months}")).text()
    assert 'id="table-progress-by_need"' in page and 'id="progress-note"' in page

    # The record page shows the assessment, the plan and each goal's ratings in order.
    html = await (await client.get(f"/clients/{c1}")).text()
    assert 'id="latest-assessment" data-category="sedang"' in html and 'data-version="2" data-status="draft"' in html
    goal_html = html.split(f'data-goal-id="{ids[0]}"', 1)[1].split("data-goal-id=", 1)[0]
    assert re.findall(r'<span class="badge rating-\w+" data-rating="(\w+)"', goal_html) == ["tetap", "maju", "tercapai"]
    assert re.findall(r'<circle[^>]*data-rating="(\w+)"', goal_html) == ["tetap", "maju", "tercapai"]  # the goal's line, drawn on the server

    # The laporan perkembangan prints the assessment history and the goals with the ratings in its range.
    report = await (await client.get(f"/clients/{c1}/perkembangan")).text()
    assert 'data-category="sedang"' in report and "Mendapat pekerjaan tetap" in report
    goals_part = report.split('id="report-goals"', 1)[1].split("</section>", 1)[0]
    assert re.findall(r'data-rating="(\w+)"', goals_part.split(f'data-goal-id="{ids[0]}"', 1)[1].split("</div>", 1)[0]) == ["tetap", "maju", "tercapai"]
    recent = await (await client.get(f"/clients/{c1}/perkembangan?from={today.isoformat()}")).text()
    assert 'data-rating="tetap"' not in recent.split('id="report-goals"', 1)[1]  # rated two days ago: outside the range
    for bad in ("from=kemarin", f"from={today.isoformat()}&to={(today - timedelta(days=1)).isoformat()}", "to=0001-01-01"):
        assert (await client.get(f"/clients/{c1}/perkembangan?{bad}")).status == 400, bad

    # The call console shows the open goals (not the one reached) beside the notes, with questions for their need.
    video = await (await client.post("/api/sessions", json={"client_id": c1, "mode": "video"})).json()
    console = await (await client.get(f"/sessions/{video['id']}/call")).text()
    shown = re.findall(r'class="goal" data-goal-id="(\d+)"', console)
    assert shown == [str(ids[1]), str(second["goals"][2]["id"])]
    assert "Bagaimana hubungan Anda dengan keluarga" in console  # the keluarga goal's open question
    keluarga = console.split(f'data-goal-id="{ids[1]}"', 1)[1].split('class="goal"', 1)[0]
    assert re.findall(r'<li data-kind="(\w+)">', keluarga) == ["open", "closed", "reflective"]  # one question of each kind

    # The client's own page: the goals of the countersigned version, in plain words, without the risk category.
    path = urlsplit((await (await client.post(f"/api/clients/{c1}/portal-link")).json())["url"]).path
    phone = await aiohttp_client(client.server, cookie_jar=aiohttp.CookieJar(unsafe=True))
    assert (await phone.get(path, allow_redirects=False)).status == 303
    page = await (await phone.get("/klien")).text()
    mine = page.split('id="my-goals"', 1)[1].split("</section>", 1)[0]
    assert goals[0]["text"] in mine and "Tes urin bersih" in mine and "Ikut pelatihan BLK" not in mine  # reached: no steps left
    assert "Sudah tercapai" in mine and "Rujukan ke BNN" in mine and "Langkah berikutnya" in mine
    assert "risk-" not in page and "risiko" not in page.lower() and "data-category" not in page
    assert "Menabung" not in mine  # version 2 is still a draft


async def test_a_reassessment_falls_due_and_shows_among_the_pks_reminders(client, aiohttp_client, office, sign_in, database_url):
    c1 = office.clients["c1"].id
    today = office_today()
    await sign_in(client, "pk1")
    old = today - timedelta(days=181)
    resp = await client.post(f"/api/clients/{c1}/assessments", json={"date": (today - timedelta(days=60 + 367)).isoformat(), "category": "tinggi"})
    assert resp.status == 400  # more than a year before the supervision (from 60 days ago) began
    resp = await client.post(f"/api/clients/{c1}/assessments", json={"date": old.isoformat(), "category": "tinggi", "needs": ["pergaulan"]})
    assert resp.status == 201, await resp.text()
    due = (await (await client.get(f"/api/clients/{c1}/assessments")).json())["due"]
    assert due == {"state": "due", "reason": "interval", "since": (old + timedelta(days=180)).isoformat()}
    reminders = (await (await client.get(f"/api/reminders?date={today.isoformat()}")).json())["reminders"]
    mine = [r for r in reminders if r["kind"] == "reassessment"]
    assert [(r["client_id"], r["whatsapp_url"]) for r in mine] == [(c1, None)]
    resp = await client.post(f"/api/reminders/{mine[0]['id']}/sent")
    assert resp.status == 200 and (await resp.json())["state"] == "sent"
    pk2 = await as_user(aiohttp_client, client, sign_in, "pk2")
    assert [r for r in (await (await pk2.get("/api/reminders")).json())["reminders"] if r["kind"] == "reassessment"] == []


# (label, method, path, body) against pk1 (owns c1), pk2, kasie, admin, another office's kasie.
ROUTES = [
    ("assessments", "GET", "/api/clients/{c1}/assessments", None),
    ("assess", "POST", "/api/clients/{c1}/assessments", {"date": "{today}", "category": "rendah"}),
    ("plan", "GET", "/api/clients/{c1}/plan", None),
    ("save plan", "PUT", "/api/clients/{c1}/plan", {"goals": [{"need": "kesehatan", "need_reason": "Sakit", "text": "Berobat"}], "agreement": "setuju"}),
    ("approve", "POST", "/api/clients/{c1}/plan/approve", {}),
    ("move stage", "POST", "/api/clients/{c1}/stage", {"stage": "akhir", "start": "{today}", "reason": "x"}),
]
#                 pk1  pk2  kasie admin other
EXPECTED = {
    "assessments": (200, 404, 200, 200, 404),
    "assess":      (201, 404, 201, 403, 404),
    "plan":        (404, 404, 404, 404, 404),  # no plan yet: read before any is saved
    "save plan":   (201, 404, 200, 403, 404),  # the kasie's save updates pk1's draft
    "approve":     (403, 404, 200, 403, 404),
    "move stage":  (409, 404, 409, 403, 404),  # c1 is kept on one interval
}


async def test_who_may_read_and_change_guidance(client, aiohttp_client, office, other_office, sign_in):
    today = office_today().isoformat()
    users = {role: await as_user(aiohttp_client, client, sign_in, username)
             for role, username in {"pk1": "pk1", "pk2": "pk2", "kasie": "kasie", "admin": "admin", "other": "x_kasie"}.items()}
    seen = {}
    for label, method, path, body in ROUTES:
        for role, http in users.items():
            url = path.format(c1=office.clients["c1"].id)
            payload = None if body is None else {k: (v.format(today=today) if isinstance(v, str) else v) for k, v in body.items()}
            resp = await http.request(method, url, json=payload)
            seen.setdefault(label, []).append(resp.status)
            if resp.status == 403 and role == "admin" and label != "assessments":
                assert (await resp.json())["error"] == "no-guidance-role"
    assert {k: tuple(v) for k, v in seen.items()} == EXPECTED
    # A cross-site request is refused before anything is read.
    resp = await users["pk1"].post(f"/api/clients/{office.clients['c1'].id}/assessments", json={"date": today, "category": "rendah"},
                             headers={"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
    assert resp.status == 403


async def form_token(http, path: str) -> str:
    html = await (await http.get(path)).text()
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)


async def test_the_pk_assesses_and_plans_on_the_clients_page_and_the_kasie_countersigns_there(client, aiohttp_client, office, sign_in, database_url):
    c1 = office.clients["c1"].id
    today = office_today()
    await sign_in(client, "pk1")
    token = await form_token(client, f"/clients/{c1}")
    form = [("csrf_token", token), ("date", today.isoformat()), ("category", "tinggi"), ("score", "21"), ("needs", "pekerjaan"), ("needs", "NAPZA"), ("notes", "")]
    resp = await client.post(f"/clients/{c1}/assessments", data=form, allow_redirects=False)
    assert (resp.status, resp.headers.get("Location")) == (302, f"/clients/{c1}#asesmen")
    # A goal for a need the assessment did not name, without a reason: the page again, with the sentence and what was typed.
    plan = {"csrf_token": token, "agreement": "setuju", "goal-0-text": "Bekerja di bengkel", "goal-0-need": "pekerjaan",
            "goal-0-steps": "Daftar BLK\nMagang", "goal-1-text": "Tinggal bersama kakak", "goal-1-need": "tempat tinggal"}
    resp = await client.post(f"/clients/{c1}/plan", data=plan, allow_redirects=False)
    assert resp.status == 400
    page = await resp.text()
    assert 'id="guidance-error"' in page and 'value="Tinggal bersama kakak"' in page
    plan["goal-1-need_reason"] = "Kos habis bulan depan"
    resp = await client.post(f"/clients/{c1}/plan", data=plan, allow_redirects=False)
    assert resp.status == 302
    saved = await (await client.get(f"/api/clients/{c1}/plan")).json()
    assert [(g["need"], g["steps"]) for g in saved["goals"]] == [("pekerjaan", ["Daftar BLK", "Magang"]), ("tempat tinggal", [])]
    assert "approve-form" not in await (await client.get(f"/clients/{c1}")).text()  # a PK does not countersign
    kasie = await as_user(aiohttp_client, client, sign_in, "kasie")
    html = await (await kasie.get(f"/clients/{c1}")).text()
    assert 'id="approve-form"' in html and 'data-category="tinggi"' in html
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)
    resp = await kasie.post(f"/clients/{c1}/plan/approve", data={"csrf_token": token, "version": "1"}, allow_redirects=False)
    assert resp.status == 302
    assert (await (await kasie.get(f"/api/clients/{c1}/plan")).json())["status"] == "approved"
    assert [e.detail["version"] for e in await audit_entries(database_url, "plan.approve")] == [1]
    # A session logged at the office; its page rates the goals.
    at = wib_iso(utc_now() - timedelta(hours=5))
    sid = (await (await client.post("/api/sessions", json={"client_id": c1, "mode": "office", "scheduled_at": at, "outcome": "attended",
                                                          "duration_minutes": 30})).json())["id"]
    goal_id = saved["goals"][0]["id"]
    token = await form_token(client, f"/sessions/{sid}")
    resp = await client.post(f"/sessions/{sid}/progress", data={"csrf_token": token, f"goal-{goal_id}-rating": "maju", f"goal-{goal_id}-note": "Sudah magang",
                                                               f"goal-{saved['goals'][1]['id']}-rating": ""}, allow_redirects=False)
    assert resp.status == 302
    assert (await (await client.get(f"/api/sessions/{sid}")).json())["progress"] == [{"goal_id": goal_id, "rating": "maju", "note": "Sudah magang"}]
    assert f'data-goal-id="{goal_id}" data-rating="maju"' in await (await client.get(f"/sessions/{sid}")).text()
    resp = await client.post(f"/sessions/{sid}/progress", data={"csrf_token": token, "goal-999999-rating": "maju"}, allow_redirects=False)
    assert resp.status == 400 and 'id="progress-error"' in await resp.text()
    # Without the token the form is refused.
    resp = await kasie.post(f"/clients/{c1}/plan/approve", data={"version": "1"}, allow_redirects=False)
    assert resp.status == 403


async def test_a_new_stage_calls_for_a_reassessment_and_a_mobile_session_rates_the_goals_too(client, office, sign_in):
    """Two lines of issue 20 not told above: a reassessment is due at each stage change, not only after
    ``reassessment_days``; and a mobile-counseling session carries progress like the other modes. The
    caseload page shows the latest category beside the name."""
    today = office_today()
    await sign_in(client, "pk1")
    # 301 days in thirds from 100 days ago: the lanjutan begins today; assessed ten days ago, in the awal.
    body = {k: v for k, v in CLIENT_BODY.items() if k != "reporting_interval_days"}
    body.update(supervision_start=(today - timedelta(days=100)).isoformat(), supervision_end=(today + timedelta(days=200)).isoformat())
    cid = (await (await client.post("/api/clients", json=body)).json())["id"]
    assessed = today - timedelta(days=10)
    resp = await client.post(f"/api/clients/{cid}/assessments", json={"date": assessed.isoformat(), "category": "rendah", "needs": ["pekerjaan"]})
    assert resp.status == 201, await resp.text()
    due = (await (await client.get(f"/api/clients/{cid}/assessments")).json())["due"]
    assert due == {"state": "due", "reason": "stage", "since": today.isoformat()}  # 170 days before the interval would ask
    caseload = {c["id"]: c for c in (await (await client.get("/api/clients")).json())["clients"]}
    assert caseload[cid]["assessment_due"]["state"] == "due" and caseload[cid]["risk_category"] == "rendah"
    assert re.search(rf'href="/clients/{cid}">[^<]*</a>.*?data-risk="rendah"', await (await client.get("/caseload")).text())
    # Assessed again today, in the lanjutan: nothing due until the next stage or the interval.
    await client.post(f"/api/clients/{cid}/assessments", json={"date": today.isoformat(), "category": "rendah", "needs": ["pekerjaan"]})
    assert (await (await client.get(f"/api/clients/{cid}/assessments")).json())["due"]["state"] == "ok"

    plan = await (await client.put(f"/api/clients/{cid}/plan", json={"goals": [{"need": "pekerjaan", "text": "Bekerja"}], "agreement": "setuju"})).json()
    goal_id = plan["goals"][0]["id"]
    status, mobile = await session_at(client, cid, 3, "mobile", [{"goal_id": goal_id, "rating": "maju", "note": "Di layanan bergerak"}])
    assert status == 201, mobile
    (line,) = (await record_of(client, cid))["goals"]
    assert [(r["mode"], r["rating"]) for r in line["ratings"]] == [("mobile", "maju")]
