"""Kendala: the client tells the PK about an obstacle from the join page and
may propose a new time; the PK (or a supervisor) sees it and answers —
declining with a reply, or accepting and moving the session. On SQLite and
PostgreSQL, through the real app."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from aiohttp.test_utils import TestClient
from sqlalchemy import select

from server.db.engine import make_engine, make_sessionmaker
from server.db.models import AuditEntry, Kendala
from server.domain.outreach.kendala import REPORTS_PER_WINDOW
from tests.clock import office_now
from tests.test_call_pages import start_video_session


def wib(delta: timedelta) -> str:
    """Now plus ``delta`` on the office's wall clock, as the client's phone sends it."""
    return (office_now() + delta).replace(microsecond=0).isoformat()


def path_of(url: str) -> str:
    return "/" + url.split("/", 3)[3]


@pytest.fixture
async def phone(client):
    """The client's phone: a second browser (its own cookie jar) on the same running server."""
    p = TestClient(client.server)
    await p.start_server()  # already running: a no-op
    yield p
    await p.session.close()  # not p.close(): that would stop the shared server


async def phone_opens_link(phone, session: dict) -> None:
    resp = await phone.get(path_of(session["client_join_url"]), allow_redirects=False)
    assert resp.status == 303, await resp.text()


async def kendala_rows(database_url: str) -> list[Kendala]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            return list((await db.execute(select(Kendala).order_by(Kendala.id))).scalars())
    finally:
        await engine.dispose()


async def audit_actions(database_url: str, prefix: str) -> list[AuditEntry]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            query = select(AuditEntry).where(AuditEntry.action.like(prefix + "%")).order_by(AuditEntry.seq)
            return list((await db.execute(query)).scalars())
    finally:
        await engine.dispose()


async def events(http, session_id: int) -> list[str]:
    body = await (await http.get(f"/api/sessions/{session_id}")).json()
    return [e["kind"] for e in body["events"]]


@pytest.fixture
async def reported(client, phone, sign_in, office):
    """pk1 started a video session for c1; the client opened the link and reported a kendala."""
    session = await start_video_session(client, sign_in, office)
    await phone_opens_link(phone, session)
    proposed = wib(timedelta(days=3))
    resp = await phone.post("/api/join/kendala", json={
        "kind": "transport_cost", "message": "Belum gajian, tidak ada ongkos kapal.", "requested_at": proposed,
    })
    assert resp.status == 201, await resp.text()
    return {"session": session, "kendala": await resp.json(), "proposed": proposed}


async def test_client_with_the_link_reports_a_kendala_and_sees_it(client, phone, reported, settings):
    k = reported["kendala"]
    assert k["status"] == "open" and k["kind"] == "transport_cost" and k["reply"] == ""
    assert k["requested_at"] == reported["proposed"]
    assert "client_id" not in k and "session_id" not in k  # the phone learns no internal ids but its report's

    listed = await (await phone.get("/api/join/kendala")).json()
    assert listed["can_report"] is True
    assert [x["id"] for x in listed["kendala"]] == [k["id"]]

    # the join page carries the form and the strings its script shows
    html = await (await phone.get("/join")).text()
    assert 'id="kendala-form"' in html
    # Its script comes after the first words, loaded by the join page's own code (issue 25).
    join_code = re.search(r'src="(/static/v/[0-9a-f]+/join\.js)"', html)
    assert join_code and "kendala.js" in await (await phone.get(join_code.group(1))).text()
    assert "Ada kendala? Minta jadwal ulang" in html

    assert (await events(client, reported["session"]["id"]))[-1] == "kendala_reported"
    [entry] = await audit_actions(settings.database_url, "kendala.")
    assert (entry.action, entry.actor, entry.target_id) == ("kendala.create", "client", str(k["id"]))
    assert entry.detail["session_id"] == reported["session"]["id"]


async def test_a_phone_without_a_valid_pass_can_neither_report_nor_read(client, phone, sign_in, office, settings):
    session = await start_video_session(client, sign_in, office)
    body = {"kind": "illness", "message": "Demam."}
    # no pass at all
    for method in ("get", "post"):
        resp = await getattr(phone, method)("/api/join/kendala", json=body if method == "post" else None)
        assert resp.status == 401 and (await resp.json())["error"] == "unauthorized"
    # a forged pass
    phone.session.cookie_jar.update_cookies({"bimbing_join": "eyJzIjoxfQ.c2lnbmF0dXJl"})
    assert (await phone.post("/api/join/kendala", json=body)).status == 401
    # a real pass whose link the PK has since revoked
    phone.session.cookie_jar.clear()
    await phone_opens_link(phone, session)
    assert (await client.delete(f"/api/sessions/{session['id']}/link")).status == 200
    for method in ("get", "post"):
        resp = await getattr(phone, method)("/api/join/kendala", json=body if method == "post" else None)
        assert resp.status == 403 and (await resp.json())["error"] == "link-revoked"
    assert await kendala_rows(settings.database_url) == []
    assert await audit_actions(settings.database_url, "kendala.") == []


@pytest.mark.parametrize(
    "body, field",
    [
        ({"kind": "lazy", "message": "x"}, "kind"),
        ({"kind": 3, "message": "x"}, "kind"),
        ({"kind": "illness", "message": "x" * 1001}, "message"),
        ({"kind": "other", "message": "   "}, "message"),  # "other" must say what
        pytest.param({"kind": "illness", "requested_at": "past"}, "requested_at", marks=pytest.mark.clock),
        ({"kind": "illness", "requested_at": "2020-01-01T09:00"}, "requested_at"),
        pytest.param({"kind": "illness", "requested_at": "far"}, "requested_at", marks=pytest.mark.clock),
        ({"kind": "illness", "session_id": 1}, "session_id"),  # the pass names the session, not the body
        ("not json", None),
        ([{"kind": "illness"}], None),
    ],
)
async def test_bad_reports_are_refused_and_nothing_is_written(client, phone, sign_in, office, settings, body, field):
    session = await start_video_session(client, sign_in, office)
    await phone_opens_link(phone, session)
    if isinstance(body, dict) and body.get("requested_at") == "past":
        body["requested_at"] = wib(-timedelta(minutes=5))
    if isinstance(body, dict) and body.get("requested_at") == "far":
        body["requested_at"] = wib(timedelta(days=400))
    if body == "not json":
        resp = await phone.post("/api/join/kendala", data="{kind: illness", headers={"Content-Type": "application/json"})
    else:
        resp = await phone.post("/api/join/kendala", json=body)
    assert resp.status == 400, await resp.text()
    error = await resp.json()
    if field:
        assert error["error"] == "invalid-body" and field in error["fields"]
    assert await kendala_rows(settings.database_url) == []
    assert "kendala_reported" not in await events(client, session["id"])


async def test_the_owning_pk_and_a_supervisor_see_the_kendala_and_another_pk_does_not(client, reported, sign_in, office):
    c1 = office.clients["c1"].id
    kid = reported["kendala"]["id"]
    for who, status in (("pk1", 200), ("kasie", 200), ("pk2", 404)):
        await sign_in(client, who)
        resp = await client.get(f"/api/clients/{c1}/kendala")
        assert resp.status == status, who
        if status == 200:
            [k] = (await resp.json())["kendala"]
            assert (k["id"], k["status"], k["session_id"]) == (kid, "open", reported["session"]["id"])
    # pk2 cannot answer it either, and learns nothing about it
    await sign_in(client, "pk2")
    resp = await client.post(f"/api/kendala/{kid}/answer", json={"status": "declined", "reply": "Tidak."})
    assert resp.status == 404
    await sign_in(client, "admin")
    assert (await client.post(f"/api/kendala/{kid}/answer", json={"status": "declined", "reply": "Tidak."})).status == 403
    await sign_in(client, "pk1")
    assert (await (await client.get(f"/api/clients/{c1}/kendala")).json())["kendala"][0]["status"] == "open"


async def test_pk_sees_the_badge_and_the_form_on_the_caseload_and_record(client, reported, sign_in, office):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    caseload = await (await client.get("/caseload")).text()
    row = re.search(rf'<tr[^>]*data-client-id="{c1}".*?</tr>', caseload, re.DOTALL).group(0)
    assert "1 kendala" in row and f'href="/clients/{c1}#kendala"' in row
    record = await (await client.get(f"/clients/{c1}")).text()
    assert f'action="/kendala/{reported["kendala"]["id"]}/answer"' in record
    assert "Tidak ada biaya transport" in record and "Belum gajian" in record
    console = await (await client.get(f"/sessions/{reported['session']['id']}/call")).text()
    assert 'id="console-kendala"' in console


@pytest.mark.clock
async def test_pk_accepts_with_a_new_time_and_the_session_moves(client, phone, reported, sign_in, office, settings):
    old_id = reported["session"]["id"]
    kid = reported["kendala"]["id"]
    new_time = reported["proposed"]
    await sign_in(client, "pk1")
    resp = await client.post(f"/api/kendala/{kid}/answer", json={
        "status": "accepted", "reply": "Baik, kita pindah.", "new_scheduled_at": new_time,
    })
    assert resp.status == 200, await resp.text()
    answered = await resp.json()
    assert answered["status"] == "accepted" and answered["answered_by_id"] == office.staff["pk1"].id
    new_id = answered["new_session"]["id"]
    assert new_id != old_id and answered["new_session"]["scheduled_at"] == new_time

    old = await (await client.get(f"/api/sessions/{old_id}")).json()
    assert (old["status"], old["outcome"]) == ("cancelled", "rescheduled")
    kinds = [e["kind"] for e in old["events"]]
    assert kinds[-4:] == ["kendala_reported", "kendala_answered", "rescheduled", "cancelled"]
    assert old["events"][-2]["detail"]["to_session_id"] == new_id
    new = await (await client.get(f"/api/sessions/{new_id}")).json()
    assert (new["status"], new["mode"], new["scheduled_at"], new["client_id"]) == ("scheduled", "video", new_time, office.clients["c1"].id)
    assert [e["kind"] for e in new["events"]] == ["created", "link_issued", "rescheduled"]
    assert new["events"][-1]["detail"]["from_session_id"] == old_id

    actions = [(e.action, e.target_id) for e in await audit_actions(settings.database_url, "")]
    assert ("kendala.answer", str(kid)) in actions and ("session.create", str(new_id)) in actions
    [answer] = await audit_actions(settings.database_url, "kendala.answer")
    assert answer.detail["new_session_id"] == new_id and answer.detail["cancelled_session_id"] == old_id

    # the client sees the answer and the new time; the old session takes no more reports
    mine = await (await phone.get("/api/join/kendala")).json()
    assert mine["can_report"] is False
    assert mine["kendala"][0]["status"] == "accepted"
    assert mine["kendala"][0]["new_session"] == {"scheduled_at": new_time}
    resp = await phone.post("/api/join/kendala", json={"kind": "illness"})
    assert resp.status == 409 and (await resp.json())["error"] == "session-closed"
    closed = await phone.get("/join")
    assert closed.status == 410
    assert "PK akan mengirim tautan baru" in await closed.text()
    # answered once only
    again = await client.post(f"/api/kendala/{kid}/answer", json={"status": "declined", "reply": "Eh."})
    assert again.status == 409 and (await again.json())["error"] == "kendala-answered"
    assert [(k["status"], k["reply"]) for k in (await (await phone.get("/api/join/kendala")).json())["kendala"]] == [("accepted", mine["kendala"][0]["reply"])]


async def test_pk_declines_with_a_reply_from_the_record_page_and_the_client_reads_it(client, phone, reported, sign_in, office, settings):
    kid = reported["kendala"]["id"]
    c1 = office.clients["c1"].id
    await sign_in(client, "pk1")
    record = await (await client.get(f"/clients/{c1}")).text()
    token = re.search(r'name="csrf_token" value="([^"]+)"', record).group(1)
    form = {"csrf_token": token, "status": "declined", "reply": "", "new_scheduled_at": reported["proposed"][:16]}
    # a decline with no reason comes back with the error and changes nothing
    resp = await client.post(f"/kendala/{kid}/answer", data=form, allow_redirects=False)
    assert resp.status == 400 and "Tuliskan alasan penolakan" in await resp.text()
    assert (await kendala_rows(settings.database_url))[0].status == "open"
    form["reply"] = "Jadwal tetap; ongkos bisa diganti di kantor."
    resp = await client.post(f"/kendala/{kid}/answer", data=form, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == f"/clients/{c1}#kendala"
    # without the form token: refused
    resp = await client.post(f"/kendala/{kid}/answer", data={"status": "declined", "reply": "x"}, allow_redirects=False)
    assert resp.status == 403

    mine = await (await phone.get("/api/join/kendala")).json()
    assert mine["kendala"][0]["status"] == "declined"
    assert mine["kendala"][0]["reply"] == "Jadwal tetap; ongkos bisa diganti di kantor."
    assert mine["kendala"][0]["new_session"] is None and mine["can_report"] is True
    session = await (await client.get(f"/api/sessions/{reported['session']['id']}")).json()
    assert session["status"] == "scheduled"  # a decline moves nothing
    assert session["events"][-1]["kind"] == "kendala_answered" and session["events"][-1]["detail"]["status"] == "declined"


@pytest.mark.parametrize(
    "body",
    [
        {"status": "declined"},  # no reply
        {"status": "declined", "reply": "Tidak.", "new_scheduled_at": "2030-01-01T09:00"},
        {"status": "accepted", "new_scheduled_at": "2020-01-01T09:00"},
        {"status": "open"},
        {"status": "accepted", "reply": "x" * 501},
        {"status": "accepted", "extra": 1},
    ],
)
async def test_bad_answers_are_refused_and_nothing_moves(client, reported, sign_in, settings, body):
    await sign_in(client, "pk1")
    resp = await client.post(f"/api/kendala/{reported['kendala']['id']}/answer", json=body)
    assert resp.status == 400, await resp.text()
    [k] = await kendala_rows(settings.database_url)
    assert (k.status, k.new_session_id, k.answered_at) == ("open", None, None)
    assert (await (await client.get(f"/api/sessions/{reported['session']['id']}")).json())["status"] == "scheduled"


async def test_a_phone_may_send_only_a_few_reports_an_hour(client, phone, sign_in, office, settings):
    session = await start_video_session(client, sign_in, office)
    await phone_opens_link(phone, session)
    for n in range(REPORTS_PER_WINDOW):
        assert (await phone.post("/api/join/kendala", json={"kind": "work_shift", "message": f"#{n}"})).status == 201
    resp = await phone.post("/api/join/kendala", json={"kind": "work_shift", "message": "lagi"})
    assert resp.status == 429
    error = await resp.json()
    assert error["error"] == "too-many-reports" and 0 < error["retry_after"] <= 3600
    # a fresh device id (the link opened in another browser) does not lift it: the session counts too
    phone.session.cookie_jar.clear()
    await phone_opens_link(phone, session)
    assert (await phone.post("/api/join/kendala", json={"kind": "work_shift", "message": "lagi"})).status == 429
    assert len(await kendala_rows(settings.database_url)) == REPORTS_PER_WINDOW
