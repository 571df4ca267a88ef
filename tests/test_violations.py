"""When a client slips (issue 21): the ledger's three-misses alert appears on
the very day the third period in a row ends missed, never for an excused
period; the PK confirms or dismisses it; a violation walks its set path with
its letters, and cannot reach keputusan without a sidang TPP; a sitting
without quorum cannot close; its risalah and letters verify at /v/{code}.
Through the real app, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from server.db.models import Client, ClientCategory, Outcome, Program
from server.domain.record.rules import Rules
from server.domain.violations.alerts import runs_of
from tests.audit_support import add_session, audit_entries
from tests.clock import office_today
from tests.foundation import OFFICE_SETTINGS, database

pytestmark = pytest.mark.clock

WIB = ZoneInfo("Asia/Jakarta")
WEEK = 7


def excused_at(day: date) -> SimpleNamespace:
    """An excused absence on ``day`` (office date), as the ledger reads a session row."""
    from server.db.models import SessionMode, SessionStatus

    return SimpleNamespace(status=SessionStatus.ended, started_at=None, scheduled_at=datetime.combine(day, time(12), WIB), outcome=Outcome.excused,
                           mode=SessionMode.office, duration_seconds=0)


@pytest.mark.sqlite_only
def test_the_alert_arises_the_day_the_third_missed_period_ends_and_an_excused_period_breaks_the_run():
    # A pure reading of the ledger, day by day, on dates of its own.
    start = date(2030, 1, 7)
    never = SimpleNamespace(id=1, officer_id=1, supervision_start=start, supervision_end=start + timedelta(days=365), reporting_interval_days=WEEK)
    first_day = next(start + timedelta(days=d) for d in range(100) if runs_of(never, [], start + timedelta(days=d), Rules()))
    assert first_day == start + timedelta(days=3 * WEEK)  # the day after the third period's last day
    (run,) = runs_of(never, [], first_day, Rules())
    assert (run.periods, run.raised_on, run.first_day, run.last_day) == (3, first_day, start, first_day - timedelta(days=1))
    assert run.key == f"tiga-kali-berturut-{start.isoformat()}"
    # The run grows and stays the same alert.
    (later,) = runs_of(never, [], start + timedelta(days=5 * WEEK), Rules())
    assert (later.key, later.periods) == (run.key, 5)
    # Excused in the second period: missed, excused, missed, missed, missed: the alert waits for the fifth period's end.
    excused = [excused_at(start + timedelta(days=WEEK + 2))]
    first_with_excuse = next(start + timedelta(days=d) for d in range(100) if runs_of(never, excused, start + timedelta(days=d), Rules()))
    assert first_with_excuse == start + timedelta(days=5 * WEEK)
    # Excused every other period: never three in a row.
    every_other = [excused_at(start + timedelta(days=k * WEEK + 1)) for k in range(1, 40, 2)]
    assert all(not runs_of(never, every_other, start + timedelta(days=d), Rules()) for d in range(0, 300, 3))


async def add_client(database_url: str, office, key: str, start: date, pk: str = "pk1") -> Client:
    async with database(database_url) as db:
        c = Client(office_id=office.id, officer_id=office.staff[pk].id, register_number=f"REG-{key}", name=f"Klien {key}", category=ClientCategory.adult,
                   program=Program.pb, supervision_start=start, supervision_end=start + timedelta(days=365), reporting_interval_days=WEEK,
                   kelurahan="Cakung Barat")
        db.add(c)
        await db.commit()
        return c


async def json_of(resp, status: int = 200):
    assert resp.status == status, await resp.text()
    return await resp.json()


async def test_three_missed_periods_raise_the_alert_everywhere_until_the_pk_answers_it(client, office, sign_in, database_url):
    today = office_today()
    three = await add_client(database_url, office, "three", today - timedelta(days=3 * WEEK))  # its third period ended yesterday
    two = await add_client(database_url, office, "two", today - timedelta(days=3 * WEEK - 1))  # its third period ends today: still open
    excused = await add_client(database_url, office, "excused", today - timedelta(days=4 * WEEK))  # missed, excused, missed, missed
    await add_session(database_url, excused, outcome=Outcome.excused, scheduled_at=datetime.combine(excused.supervision_start + timedelta(days=WEEK + 1), time(12), WIB))
    mine = {three.id: "three", two.id: "two", excused.id: "excused"}

    await sign_in(client, "pk1")
    caseload = (await json_of(await client.get("/api/clients")))["clients"]
    alerted = {mine[c["id"]] for c in caseload if c["id"] in mine and c["alerts"]}
    assert alerted == {"three"}
    (alert,) = next(c["alerts"] for c in caseload if c["id"] == three.id)
    assert alert["kind"] == "tiga-kali-berturut" and alert["periods"] == 3 and alert["raised_on"] == today.isoformat()
    assert alert["proposed_violation"]["kind"] == "tidak_wajib_lapor" and alert["proposed_violation"]["evidence"] == "reported"
    reminders = await json_of(await client.get("/api/reminders"))
    assert {mine[a["client_id"]] for a in reminders["alerts"] if a["client_id"] in mine} == {"three"}
    assert {r["kind"] for r in reminders["reminders"]} <= {"overdue", "morning_of", "day_before", "mobile_invitation"}  # nothing sent to a client on its own
    page = await (await client.get(f"/clients/{three.id}")).text()
    assert f'data-alert-id="{alert["id"]}"' in page

    await sign_in(client, "kasie")
    anomalies = (await json_of(await client.get("/api/audit/anomalies")))["anomalies"]
    assert {mine[a["client_id"]] for a in anomalies if a["kind"] == "tiga-kali-berturut" and a["client_id"] in mine} == {"three"}

    # Nothing was recorded on its own; the PK confirms and the alert is answered everywhere.
    await sign_in(client, "pk1")
    assert (await json_of(await client.get(f"/api/clients/{three.id}/violations")))["violations"] == []
    url = f"/api/clients/{three.id}/alerts/{alert['id']}"
    violation = await json_of(await client.post(url + "/confirm", json={}), 201)
    assert (violation["kind"], violation["state"], violation["evidence"], violation["alert"]) == ("tidak_wajib_lapor", "dicatat", "reported", alert["id"])
    assert [(s["to"], s["by"]) for s in violation["steps"]] == [("dicatat", office.staff["pk1"].name)]
    again = await client.post(url + "/dismiss", json={"reason": "salah hitung"})
    assert again.status == 409 and (await again.json())["error"] == "alert-answered"
    assert (await json_of(await client.get(f"/api/clients/{three.id}/alerts")))["alerts"] == []
    assert not next(c["alerts"] for c in (await json_of(await client.get("/api/clients")))["clients"] if c["id"] == three.id)
    assert [e.detail["alert"] for e in await audit_entries(database_url, "alert.confirm")] == [alert["id"]]

    # The seeded c1 (never came) has its own run; a dismissal needs a reason.
    c1 = office.clients["c1"]
    (c1_alert,) = (await json_of(await client.get(f"/api/clients/{c1.id}/alerts")))["alerts"]
    refused = await client.post(f"/api/clients/{c1.id}/alerts/{c1_alert['id']}/dismiss", json={"reason": ""})
    assert refused.status == 400
    await json_of(await client.post(f"/api/clients/{c1.id}/alerts/{c1_alert['id']}/dismiss", json={"reason": "Klien dirawat di rumah sakit, surat dokter menyusul."}))
    assert (await json_of(await client.get(f"/api/clients/{c1.id}/alerts")))["alerts"] == []
    assert (await json_of(await client.get(f"/api/clients/{c1.id}/violations")))["violations"] == []


async def test_a_violation_walks_its_path_to_a_sitting_which_needs_a_quorum_and_its_papers_verify(client, office, sign_in, database_url):
    c1 = office.clients["c1"]
    today = office_today()
    await sign_in(client, "pk1")
    made = await json_of(await client.post(f"/api/clients/{c1.id}/violations", json={
        "kind": "pindah_alamat", "date": (today - timedelta(days=2)).isoformat(), "what_happened": "Pindah ke Bekasi tanpa memberi tahu PK.", "evidence": "reported",
    }), 201)
    vid = made["id"]
    future = await client.post(f"/api/clients/{c1.id}/violations", json={"kind": "lainnya", "date": (today + timedelta(days=2)).isoformat(), "what_happened": "x", "evidence": "reported"})
    assert future.status == 400

    async def step(to: str, status: int = 200, **extra):
        resp = await client.post(f"/api/violations/{vid}/steps", json={"to": to, **extra})
        body = await resp.json()
        assert resp.status == status, body
        return body

    first = await step("teguran_1", note="Teguran atas kepindahan tanpa izin.")
    assert first["state"] == "teguran_1" and first["steps"][-1]["letter_id"]
    assert (await step("bap", 409))["error"] == "step-skipped"
    assert (await step("bap", 403, reason="Klien mengakui."))["error"] == "skip-needs-supervisor"
    assert (await step("dicatat", 409))["error"] == "step-backward"
    await step("teguran_2")
    await step("bap")
    assert (await step("keputusan", 409))["error"] == "needs-sitting"
    await step("sidang_tpp")
    assert (await step("keputusan", 409))["error"] == "needs-sitting"

    # The letters of the path verify at /v/{code}, for anyone holding them.
    letters = (await json_of(await client.get(f"/api/clients/{c1.id}/letters")))["letters"]
    assert [lt["kind"] for lt in letters] == ["teguran_1", "teguran_2", "bap"]
    assert (await client.post(f"/api/clients/{c1.id}/letters", json={"kind": "bap"})).status == 400  # never by hand
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as anyone:
        for lt in letters:
            resp = await anyone.get(client.make_url("/v/" + lt["verify_url"].rsplit("/v/", 1)[1]))
            assert resp.status == 200 and 'data-status="valid"' in await resp.text()

    # A PK does not open a sitting; the Kasie does, with two members present.
    members = [office.staff["kasie"].id, office.staff["pk2"].id]
    sitting_body = {"date": today.isoformat(), "member_ids": members, "agenda": [{"violation_id": vid}, {"client_id": office.clients["c2"].id, "kind": "perubahan_tahap", "subject": "Usul ke tahap lanjutan."}]}
    assert (await client.post("/api/tpp-sittings", json=sitting_body)).status == 403
    await sign_in(client, "kasie")
    sitting = await json_of(await client.post("/api/tpp-sittings", json=sitting_body), 201)
    busy = await client.post("/api/tpp-sittings", json=sitting_body)
    assert busy.status == 409 and (await busy.json())["error"] == "already-on-agenda"
    sid = sitting["id"]
    case_v, case_other = sitting["cases"]
    refused = await client.post(f"/api/tpp-sittings/{sid}/close")
    assert refused.status == 409 and (await refused.json())["error"] == "no-quorum"  # two present, the office's quorum is 3
    bad = await client.post(f"/api/tpp-sittings/{sid}/cases/{case_other['id']}/decision", json={"decision": "pencabutan", "reasons": "x"})
    assert bad.status == 400  # a stage change is approved, rejected or deferred
    await json_of(await client.post(f"/api/tpp-sittings/{sid}/cases/{case_v['id']}/decision", json={"decision": "pencabutan", "reasons": "Tidak dapat dihubungi, alamat baru tidak dilaporkan."}))
    assert (await json_of(await client.put("/api/office/settings", json={"tpp_quorum": 2}))) == {**OFFICE_SETTINGS, "tpp_quorum": 2}
    undecided = await client.post(f"/api/tpp-sittings/{sid}/close")
    assert undecided.status == 409 and (await undecided.json())["error"] == "undecided-cases"
    await json_of(await client.post(f"/api/tpp-sittings/{sid}/cases/{case_other['id']}/decision", json={"decision": "disetujui", "reasons": "Wajib lapor terpenuhi."}))
    closed = await json_of(await client.post(f"/api/tpp-sittings/{sid}/close"))
    assert closed["status"] == "closed" and closed["risalah"]["number"]
    assert (await client.post(f"/api/tpp-sittings/{sid}/close")).status == 409
    # The sitting's steps are audited, by the Kasie; the refused ones (no quorum, undecided, a wrong decision) are not.
    assert [(e.action, e.actor) for e in await audit_entries(database_url) if e.action.startswith("tpp.")] == [
        ("tpp.open", "kasie"), ("tpp.decide", "kasie"), ("tpp.decide", "kasie"), ("tpp.close", "kasie")]

    # The risalah prints with the letterhead and a QR code, and verifies; so do the two pencabutan letters.
    risalah = await (await client.get(closed["risalah"]["print_url"])).text()
    assert "<svg" in risalah and 'class="kop"' in risalah and "Tidak dapat dihubungi" in risalah
    pencabutan = [lt for lt in (await json_of(await client.get(f"/api/clients/{c1.id}/letters")))["letters"] if lt["kind"].startswith("pencabutan")]
    assert sorted(lt["kind"] for lt in pencabutan) == ["pencabutan_kanwil", "pencabutan_kejari"]
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as anyone:
        for url in [closed["risalah"]["verify_url"], *(lt["verify_url"] for lt in pencabutan)]:
            resp = await anyone.get(client.make_url("/v/" + url.rsplit("/v/", 1)[1]))
            assert resp.status == 200 and 'data-status="valid"' in await resp.text()

    # The decision lands in the record; the keputusan follows it.
    await sign_in(client, "pk1")
    record = await json_of(await client.get(f"/api/clients/{c1.id}/record"))
    assert [(d["violation_id"], d["decision"]) for d in record["tpp_decisions"]] == [(vid, "pencabutan")]
    done = await step("keputusan", note="Keputusan Kepala Bapas.")
    assert (done["state"], done["decision"]) == ("keputusan", "pencabutan")
    assert [s["to"] for s in done["steps"]] == ["dicatat", "teguran_1", "teguran_2", "bap", "sidang_tpp", "keputusan"]
    assert (await step("keputusan", 409))["error"] == "violation-closed"
    steps = await audit_entries(database_url, "violation.step")
    assert [e.detail["to"] for e in steps] == ["teguran_1", "teguran_2", "bap", "sidang_tpp", "keputusan"]
    assert {e.actor for e in steps} == {"pk1"}


async def test_each_role_sees_and_does_only_its_own(client, office, other_office, sign_in, database_url):
    c1, c2 = office.clients["c1"], office.clients["c2"]
    today = office_today().isoformat()
    body = {"kind": "meresahkan", "date": today, "what_happened": "Keributan di lingkungan RT.", "evidence": "reported"}
    await sign_in(client, "pk1")
    vid = (await json_of(await client.post(f"/api/clients/{c1.id}/violations", json=body), 201))["id"]
    assert (await client.post(f"/api/clients/{c2.id}/violations", json=body)).status == 404  # another PK's client
    await sign_in(client, "pk2")
    assert (await client.get(f"/api/violations/{vid}")).status == 404
    assert (await client.post(f"/api/violations/{vid}/steps", json={"to": "teguran_1"})).status == 404
    assert (await client.get("/api/tpp-sittings")).status == 403
    await sign_in(client, "admin")
    for method, url, payload in (("POST", f"/api/clients/{c1.id}/violations", body), ("POST", f"/api/violations/{vid}/steps", {"to": "teguran_1"}),
                                 ("POST", "/api/tpp-sittings", {"date": today, "member_ids": [office.staff["kasie"].id], "agenda": [{"violation_id": vid}]})):
        resp = await client.request(method, url, json=payload)
        assert resp.status == 403 and (await resp.json())["error"] == "no-guidance-role", url
    assert (await json_of(await client.get(f"/api/violations/{vid}")))["state"] == "dicatat"  # the admin reads the office's records
    # The supervisor steps any violation of the office, and skips with a reason.
    await sign_in(client, "kasie")
    skipped = await json_of(await client.post(f"/api/violations/{vid}/steps", json={"to": "bap", "reason": "Tindak lanjut laporan RT."}))
    assert (skipped["state"], skipped["steps"][-1]["reason"], skipped["steps"][-1]["by"]) == ("bap", "Tindak lanjut laporan RT.", office.staff["kasie"].name)
    await sign_in(client, "x_kasie")
    assert (await client.get(f"/api/violations/{vid}")).status == 404
    assert (await client.get(f"/api/clients/{c1.id}/violations")).status == 404
    assert (await json_of(await client.get("/api/tpp-sittings")))["sittings"] == []
    members = [other_office.staff["kasie"].id, other_office.staff["pk1"].id, other_office.staff["pk2"].id]
    foreign = await client.post("/api/tpp-sittings", json={"date": today, "member_ids": members, "agenda": [{"violation_id": vid}]})
    assert foreign.status == 400  # no such violation in this office
    mixed = await client.post("/api/tpp-sittings", json={"date": today, "member_ids": [office.staff["kasie"].id], "agenda": [{"client_id": other_office.clients["c1"].id, "subject": "x"}]})
    assert mixed.status == 400  # members are this office's staff
