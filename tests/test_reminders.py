"""The PK's daily reminders (issue #9 part 4): the day before and the morning of
a video or office appointment, and overdue clients; Indonesian text with a
wa.me link; ordered by time; marking sent is audited; a moved appointment's
reminder is new again and a cancelled one's disappears."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from sqlalchemy import select

from server.app import create_app
from server.db.models import GuidanceSession, NotifyOutbox, Office, SessionStatus, utcnow
from tests.audit_support import audit_entries
from tests.foundation import database
from tests.peers import until
from tests.test_pages import csrf_token
from tests.test_portal import _issue, _phone

WIB = ZoneInfo("Asia/Jakarta")


async def _setup(client, office):
    """Appointments around a day two days ahead of the office's today (any hour)."""
    day = (utcnow().astimezone(WIB) + timedelta(days=2)).date()
    c1 = office.clients["c1"]
    on_day = datetime.combine(day, time(10, 0), WIB)
    next_day = datetime.combine(day + timedelta(days=1), time(9, 30), WIB)
    video = (await (await client.post("/api/sessions", json={"client_id": c1.id, "mode": "video", "scheduled_at": on_day.isoformat()})).json())["id"]
    visit = (await (await client.post("/api/sessions", json={"client_id": c1.id, "mode": "office", "scheduled_at": next_day.isoformat(), "location": "Kantor Bapas"})).json())["id"]
    return day, video, visit


async def test_the_days_reminders_in_order_with_indonesian_text_and_whatsapp(client, office, sign_in):
    await sign_in(client, "pk1")
    day, video, visit = await _setup(client, office)
    resp = await client.get(f"/api/reminders?date={day.isoformat()}")
    assert resp.status == 200
    items = (await resp.json())["reminders"]
    # c1 never attended since supervision began 60 days ago: overdue too. c2 is pk2's.
    assert [(r["kind"], r["session_id"]) for r in items] == [("morning_of", video), ("overdue", None), ("day_before", visit)]
    assert {r["client_id"] for r in items} == {office.clients["c1"].id}
    assert all(r["state"] == "pending" for r in items)
    morning, overdue, before = items
    assert "hari ini" in morning["text"] and day.strftime("%d-%m-%Y") in morning["text"] and "10:00" in morning["text"]
    assert "besok" in before["text"] and "Kantor Bapas" in before["text"]
    assert "terlambat wajib lapor" in overdue["text"]
    assert morning["whatsapp_url"].startswith("https://wa.me/6281200000000?text=")

    page = await (await client.get(f"/reminders?date={day.isoformat()}")).text()
    assert "Pengingat hari ini" in page
    assert page.index(morning["id"]) < page.index(overdue["id"]) < page.index(before["id"])


async def test_marking_sent_is_audited_once_and_scoped(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    day, video, _visit = await _setup(client, office)
    items = (await (await client.get(f"/api/reminders?date={day.isoformat()}")).json())["reminders"]
    rid = items[0]["id"]
    await sign_in(client, "pk2")
    assert (await client.post(f"/api/reminders/{rid}/sent?date={day.isoformat()}")).status == 404
    await sign_in(client, "pk1")
    first = await client.post(f"/api/reminders/{rid}/sent?date={day.isoformat()}")
    assert first.status == 200 and (await first.json())["state"] == "sent"
    again = await client.post(f"/api/reminders/{rid}/sent?date={day.isoformat()}")
    assert again.status == 200
    assert [(e.actor, e.detail["reminder"]) for e in await audit_entries(database_url, "reminder.sent")] == [("pk1", rid)]
    listed = (await (await client.get(f"/api/reminders?date={day.isoformat()}")).json())["reminders"]
    assert [r["state"] for r in listed if r["id"] == rid] == ["sent"]
    assert (await client.post(f"/api/reminders/nonsense/sent?date={day.isoformat()}")).status == 404
    assert (await client.get("/api/reminders?date=kemarin")).status == 400


async def test_a_moved_appointment_is_reminded_again_and_a_cancelled_one_disappears(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    day, video, visit = await _setup(client, office)
    before = {r["session_id"]: r for r in (await (await client.get(f"/api/reminders?date={day.isoformat()}")).json())["reminders"]}
    assert (await client.post(f"/api/reminders/{before[video]['id']}/sent?date={day.isoformat()}")).status == 200
    async with database(database_url) as db:
        moved = await db.get(GuidanceSession, video)
        moved.scheduled_at = moved.scheduled_at + timedelta(hours=3)
        (await db.get(GuidanceSession, visit)).status = SessionStatus.cancelled
        await db.commit()
    after = {r["session_id"]: r for r in (await (await client.get(f"/api/reminders?date={day.isoformat()}")).json())["reminders"]}
    assert visit not in after
    assert after[video]["id"] != before[video]["id"] and after[video]["state"] == "pending"
    assert "13:00" in after[video]["text"]
    # The old one is gone: nothing to mark.
    assert (await client.post(f"/api/reminders/{before[visit]['id']}/sent?date={day.isoformat()}")).status == 404


async def test_reminders_need_a_staff_session(client):
    assert (await client.get("/api/reminders")).status == 401
    assert (await client.post("/api/reminders/overdue-c1-2026-01-01/sent")).status == 401
    page = await client.get("/reminders", allow_redirects=False)
    assert page.status == 302 and page.headers["Location"].startswith("/login")


@pytest.mark.clock
async def test_clients_invited_to_a_mobile_day_are_reminded_the_day_before_and_the_reminder_follows_the_day(client, office, sign_in):
    await sign_in(client, "kasie")
    event_day = (utcnow().astimezone(WIB) + timedelta(days=3)).date()
    body = {"date": event_day.isoformat(), "start_time": "08:00", "end_time": "12:00", "kelurahan": "Cakung Barat",
            "venue": "Kantor Kelurahan Cakung Barat", "officer_ids": [office.staff["pk1"].id], "topic": "Kesadaran hukum"}
    resp = await client.post("/api/mobile-events", json=body)
    assert resp.status == 201, await resp.text()
    event = await resp.json()
    c1 = office.clients["c1"].id
    assert c1 in event["invited"]
    await sign_in(client, "pk1")

    def invitations(items):
        return [r for r in items if r["kind"] == "mobile_invitation"]

    before = event_day - timedelta(days=1)
    items = invitations((await (await client.get(f"/api/reminders?date={before.isoformat()}")).json())["reminders"])
    assert [(r["client_id"], r["event_id"]) for r in items] == [(c1, event["id"])]
    assert "besok" in items[0]["text"] and event_day.strftime("%d-%m-%Y") in items[0]["text"] and "Kantor Kelurahan Cakung Barat" in items[0]["text"]
    assert items[0]["whatsapp_url"].startswith("https://wa.me/62")
    # Not on other days.
    assert invitations((await (await client.get(f"/api/reminders?date={event_day.isoformat()}")).json())["reminders"]) == []
    marked = await client.post(f"/api/reminders/{items[0]['id']}/sent?date={before.isoformat()}")
    assert marked.status == 200 and (await marked.json())["state"] == "sent"

    # The day moves an hour later: a new reminder, pending again; then it is cancelled: none.
    await sign_in(client, "kasie")
    assert (await client.patch(f"/api/mobile-events/{event['id']}", json={"start_time": "09:00"})).status == 200
    await sign_in(client, "pk1")
    moved = invitations((await (await client.get(f"/api/reminders?date={before.isoformat()}")).json())["reminders"])
    assert len(moved) == 1 and moved[0]["id"] != items[0]["id"] and moved[0]["state"] == "pending" and "09:00" in moved[0]["text"]
    await sign_in(client, "kasie")
    assert (await client.post(f"/api/mobile-events/{event['id']}/cancel")).status == 200
    await sign_in(client, "pk1")
    assert invitations((await (await client.get(f"/api/reminders?date={before.isoformat()}")).json())["reminders"]) == []


# --- issue 18: reminders from the one list of appointments ----------------------------------------

async def test_every_kind_of_appointment_is_reminded_and_a_visit_only_when_the_client_is_told(client, aiohttp_client, office, sign_in):
    await sign_in(client, "pk1")
    day = (utcnow().astimezone(WIB) + timedelta(days=2)).date()
    nxt = day + timedelta(days=1)
    c1 = office.clients["c1"].id

    async def booked(path, body):
        resp = await client.post(path, json=body)
        assert resp.status == 201, await resp.text()
        return (await resp.json())["id"]

    phone = await booked("/api/sessions", {"client_id": c1, "mode": "phone", "scheduled_at": datetime.combine(day, time(10, 0), WIB).isoformat()})
    told = await booked("/api/home-visits", {"client_id": c1, "date": day.isoformat(), "time": "13:00", "reason": "address_check", "notify_client": True})
    untold = await booked("/api/home-visits", {"client_id": c1, "date": nxt.isoformat(), "time": "09:00", "reason": "address_check"})
    told_next = await booked("/api/home-visits", {"client_id": c1, "date": nxt.isoformat(), "time": "11:00", "reason": "overdue", "notify_client": True})
    assert (await (await client.get(f"/api/sessions/{untold}")).json())["notify_client"] is False
    event = await (await client.post("/api/mobile-events", json={
        "date": nxt.isoformat(), "start_time": "14:00", "end_time": "16:00", "kelurahan": "Cakung Barat", "venue": "Balai Warga",
        "officer_ids": [office.staff["pk1"].id]})).json()
    assert c1 in event["invited"]

    items = (await (await client.get(f"/api/reminders?date={day.isoformat()}")).json())["reminders"]
    assert [(r["kind"], r["session_id"], r["event_id"]) for r in items] == [
        ("morning_of", phone, None), ("morning_of", told, None), ("overdue", None, None), ("day_before", told_next, None),
        ("mobile_invitation", None, event["id"])]
    texts = {r["session_id"]: r["text"] for r in items}
    assert "bimbingan lewat telepon/WhatsApp hari ini" in texts[phone] and "10:00" in texts[phone]
    assert "kunjungan rumah oleh PK hari ini" in texts[told] and "kunjungan rumah oleh PK besok" in texts[told_next]
    page = await (await client.get(f"/reminders?date={day.isoformat()}")).text()
    assert all(r["id"] in page for r in items) and f"-{untold}-" not in page

    # The client's own page shows the visits they are told of, not the other one.
    link = await _issue(client, c1)
    device = await _phone(aiohttp_client, client)
    await device.get(link)
    html = await (await device.get("/klien")).text()
    assert f'data-session-id="{told}"' in html and f'data-session-id="{told_next}"' in html and f'data-session-id="{phone}"' in html
    assert f'data-session-id="{untold}"' not in html

    # The PK chooses it on the planning form too (unticked: not told).
    form_page = await client.get(f"/clients/{c1}/home-visits/new")
    form = {"csrf_token": csrf_token(await form_page.text()), "date": (nxt + timedelta(days=1)).isoformat(), "time": "10:00",
            "reason": "address_check"}
    for ticked in (False, True):
        made = await client.post(f"/clients/{c1}/home-visits/new", data=dict(form, notify_client="on") if ticked else form, allow_redirects=False)
        assert made.status == 302, await made.text()
        visit = await (await client.get(f"/api/sessions/{made.headers['Location'].rsplit('/', 1)[1]}")).json()
        assert visit["notify_client"] is ticked


async def test_the_gateway_is_sent_the_reminders_of_every_appointment_the_client_is_told_of(aiohttp_client, aiohttp_server, settings, office, sign_in, database_url):
    received: list[dict] = []

    async def gateway(request):
        received.append(await request.json())
        return web.json_response({"accepted": True})

    gw = web.Application()
    gw.router.add_post("/send", gateway)
    gw_server = await aiohttp_server(gw)
    # The full text, which this office chose (the gateway gets a neutral sentence by default: tests/test_notify_secrets.py).
    async with database(database_url) as db:
        (await db.get(Office, office.id)).settings = {"reminders": {"full_text": True}}
        await db.commit()
    app = create_app(replace(settings, notify_url=str(gw_server.make_url("/send")), notify_poll_seconds=0.2))
    http = await aiohttp_client(app)
    await sign_in(http, "pk1")
    c1 = office.clients["c1"].id
    # Half an hour from now: its reminder (this morning's or, just before midnight, the
    # day-before one) is due now, at any hour.
    soon = (utcnow().astimezone(WIB) + timedelta(minutes=30)).replace(second=0, microsecond=0)

    async def booked(path, body):
        resp = await http.post(path, json=body)
        assert resp.status == 201, await resp.text()
        return (await resp.json())["id"]

    visit = {"client_id": c1, "date": soon.date().isoformat(), "time": soon.strftime("%H:%M"), "reason": "address_check"}
    untold = await booked("/api/home-visits", visit)
    phone = await booked("/api/sessions", {"client_id": c1, "mode": "phone", "scheduled_at": soon.isoformat()})
    told = await booked("/api/home-visits", dict(visit, notify_client=True))

    async def outbox():
        async with database(database_url) as db:
            rows = {r.session_id: r for r in (await db.execute(select(NotifyOutbox))).scalars() if r.session_id}
        return rows if {phone, told} <= set(rows) and all(rows[i].state == "sent" for i in (phone, told)) else None

    rows = await until(outbox, timeout=20, what="the phone appointment's and the announced visit's reminders delivered")
    # Every run of the sender since the unannounced visit was planned left it out.
    assert untold not in rows
    assert {r["idempotency_key"] for r in received} >= {rows[phone].key, rows[told].key}
    assert not any(f"-{untold}-" in r["idempotency_key"] for r in received)
    sent = {r["idempotency_key"]: r for r in received}
    assert "telepon/WhatsApp" in sent[rows[phone].key]["text"] and "kunjungan rumah" in sent[rows[told].key]["text"]
