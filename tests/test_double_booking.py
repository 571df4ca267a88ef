"""A client is never booked twice at once (issue 18): not invited to two
mobile-counseling days that overlap, nor to a day that overlaps one of their
sessions (video, office, phone, a planned home visit). Inviting, moving a day,
scheduling a session or planning a visit over such a clash is 409
``double-booked`` naming the other appointment; a new day's automatic
invitations leave such clients out and say so. Through the real app, on SQLite
and PostgreSQL; the days are weeks ahead, so the hour of the run never matters."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta

from sqlalchemy import select

from server.db.models import MobileInvitation
from tests.fieldwork_support import WIB, add_client, event_body, office_today
from tests.foundation import database, row_counts
from tests.test_pages import csrf_token


def _at(day, hhmm: str) -> str:
    return datetime.combine(day, time.fromisoformat(hhmm), WIB).isoformat()


async def _event(client, office, day, start: str, end: str, kelurahan: str = "Cakung Barat") -> dict:
    resp = await client.post("/api/mobile-events", json=event_body(office, date=day.isoformat(), start_time=start, end_time=end,
                                                                     kelurahan=kelurahan, venue=f"Balai Warga {kelurahan}"))
    assert resp.status == 201, await resp.text()
    return await resp.json()


async def _refused(resp, **expected_with) -> list[dict]:
    assert resp.status == 409, await resp.text()
    body = await resp.json()
    assert body["error"] == "double-booked" and body["message"]
    assert all(expected_with.items() <= c["with"].items() for c in body["conflicts"]), body
    return body["conflicts"]


async def test_a_client_is_not_invited_to_two_days_that_overlap(client, office, sign_in, database_url):
    await sign_in(client, "kasie")
    day = office_today() + timedelta(days=20)
    c1 = office.clients["c1"].id
    first = await _event(client, office, day, "08:00", "12:00")
    assert c1 in first["invited"]
    other = await _event(client, office, day, "10:00", "14:00", kelurahan="Koja")
    before = await row_counts(database_url)
    conflicts = await _refused(await client.post(f"/api/mobile-events/{other['id']}/invitations", json={"client_id": c1}),
                               kind="mobile_event", event_id=first["id"], date=day.isoformat(), kelurahan="Cakung Barat")
    assert [c["client_id"] for c in conflicts] == [c1]
    assert await row_counts(database_url) == before
    # The page says it in Bahasa Indonesia, naming the other day.
    page = await client.get(f"/mobile-events/{other['id']}")
    form = {"csrf_token": csrf_token(await page.text()), "register_number": "REG-c1"}
    refused = await client.post(f"/mobile-events/{other['id']}/invitations?lang=id", data=form, allow_redirects=False)
    text = await refused.text()
    assert refused.status == 409 and "Jadwal bentrok" in text and f"#{first['id']}" in text and day.strftime("%d-%m-%Y") in text
    assert await row_counts(database_url) == before
    # A day that starts when the first ends does not overlap it.
    after = await _event(client, office, day, "12:00", "15:00", kelurahan="Koja")
    assert (await client.post(f"/api/mobile-events/{after['id']}/invitations", json={"client_id": c1})).status == 201


async def test_a_new_days_invitations_leave_out_a_client_booked_then_and_say_so(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    day = office_today() + timedelta(days=20)
    c1, c2 = office.clients["c1"].id, office.clients["c2"].id
    video = await (await client.post("/api/sessions", json={"client_id": c1, "mode": "video", "scheduled_at": _at(day, "09:00")})).json()
    created = await _event(client, office, day, "08:00", "12:00")
    assert created["invited"] == [c2]
    assert created["conflicts"] == [{"client_id": c1, "with": {"kind": "session", "session_id": video["id"], "mode": "video",
                                                               "scheduled_at": _at(day, "09:00"), "until": _at(day, "10:00")}}]
    # On the page: the new day opens with the clients it left out, and the appointment in the way.
    page = await client.get("/mobile-events/new")
    form = {"csrf_token": csrf_token(await page.text()), "date": day.isoformat(), "start_time": "09:30", "end_time": "11:00",
            "kelurahan": "Cakung Barat", "venue": "Balai Warga", "officer_ids": str(office.staff["pk1"].id)}
    made = await client.post("/mobile-events/new", data=form, allow_redirects=False)
    assert made.status == 302 and made.headers["Location"].endswith(f"?conflicts={min(c1, c2)},{max(c1, c2)}")
    html = await (await client.get(made.headers["Location"] + "&lang=id")).text()
    section = html.split('id="conflicts"', 1)[1].split("</section>", 1)[0]
    # c1 has the video call; c2 is invited to the first day, which overlaps this one.
    assert "Tidak diundang karena jadwal bentrok" in section
    assert "Klien c1" in section and f"/sessions/{video['id']}" in section and "09:00" in section
    assert "Klien c2" in section and f"/mobile-events/{created['id']}" in section
    async with database(database_url) as db:
        invited = set((await db.execute(select(MobileInvitation.client_id).where(MobileInvitation.event_id == created["id"]))).scalars())
    assert invited == {c2}


async def test_a_session_or_a_visit_over_an_invited_day_is_refused(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    day = office_today() + timedelta(days=20)
    c1 = office.clients["c1"].id
    event = await _event(client, office, day, "08:00", "12:00")
    before = await row_counts(database_url)
    # A session occupies an hour from its time: 07:01 runs into the day, 07:00 and 12:00 do not.
    for mode, hhmm in (("video", "11:30"), ("office", "07:01"), ("phone", "09:00")):
        resp = await client.post("/api/sessions", json={"client_id": c1, "mode": mode, "scheduled_at": _at(day, hhmm)})
        await _refused(resp, kind="mobile_event", event_id=event["id"], date=day.isoformat(), start_time="08:00", end_time="12:00")
    await _refused(await client.post("/api/home-visits", json={"client_id": c1, "date": day.isoformat(), "time": "10:00", "reason": "overdue"}),
                   kind="mobile_event", event_id=event["id"])
    assert await row_counts(database_url) == before
    page = await client.get(f"/clients/{c1}/home-visits/new")
    form = {"csrf_token": csrf_token(await page.text()), "date": day.isoformat(), "time": "10:00", "reason": "overdue"}
    refused = await client.post(f"/clients/{c1}/home-visits/new?lang=id", data=form)
    assert refused.status == 409 and "Jadwal bentrok" in await refused.text() and "Kelurahan Cakung Barat" in await refused.text()
    assert await row_counts(database_url) == before
    for hhmm in ("07:00", "12:00"):
        resp = await client.post("/api/sessions", json={"client_id": c1, "mode": "video", "scheduled_at": _at(day, hhmm)})
        assert resp.status == 201, await resp.text()
    # The same time another day is free.
    assert (await client.post("/api/home-visits", json={"client_id": c1, "date": (day + timedelta(days=1)).isoformat(), "time": "10:00",
                                                         "reason": "overdue"})).status == 201


async def test_a_day_is_not_moved_onto_an_invitees_other_appointment(client, office, sign_in):
    await sign_in(client, "kasie")
    day = office_today() + timedelta(days=20)
    later = day + timedelta(days=7)
    c1, c2 = office.clients["c1"].id, office.clients["c2"].id
    event = await _event(client, office, day, "08:00", "12:00")
    assert sorted(event["invited"]) == sorted([c1, c2])
    visit = await (await client.post("/api/home-visits", json={"client_id": c1, "date": later.isoformat(), "time": "09:00", "reason": "overdue"})).json()
    elsewhere = await _event(client, office, later, "13:00", "15:00", kelurahan="Koja")
    assert (await client.post(f"/api/mobile-events/{elsewhere['id']}/invitations", json={"client_id": c2})).status == 201
    # Moved a week on, the day would fall on c1's visit and c2's other day: refused whole, naming both.
    conflicts = await _refused(await client.patch(f"/api/mobile-events/{event['id']}", json={"date": later.isoformat(), "end_time": "14:00"}))
    assert {c["client_id"]: c["with"] for c in conflicts} == {
        c1: {"kind": "session", "session_id": visit["id"], "mode": "home_visit", "scheduled_at": _at(later, "09:00"), "until": _at(later, "10:00")},
        c2: {"kind": "mobile_event", "event_id": elsewhere["id"], "date": later.isoformat(), "start_time": "13:00", "end_time": "15:00",
             "kelurahan": "Koja"},
    }
    unchanged = await (await client.get(f"/api/mobile-events/{event['id']}")).json()
    assert (unchanged["date"], unchanged["end_time"]) == (day.isoformat(), "12:00")
    # pk2 (not on duty) moves no day at all, and learns of no clash (issue 23, item 2).
    await sign_in(client, "pk2")
    refused = await client.patch(f"/api/mobile-events/{event['id']}", json={"date": later.isoformat(), "end_time": "14:00"})
    assert (refused.status, (await refused.json())["error"]) == (403, "not-on-duty")
    await sign_in(client, "kasie")
    # Moved where no one is booked (10:00-13:00 that day), it moves.
    moved = await client.patch(f"/api/mobile-events/{event['id']}", json={"date": later.isoformat(), "start_time": "10:00", "end_time": "13:00"})
    assert moved.status == 200, await moved.text()
    assert (await moved.json())["date"] == later.isoformat()


async def test_twenty_invitations_at_once_to_two_overlapping_days_book_the_client_once(client, office, sign_in, database_url):
    await sign_in(client, "kasie")
    day = office_today() + timedelta(days=20)
    lone = await add_client(database_url, office, "lone", kelurahan="Semper Barat")
    first = await _event(client, office, day, "08:00", "12:00", kelurahan="Koja")
    second = await _event(client, office, day, "09:00", "13:00", kelurahan="Tugu Utara")
    targets = [first["id"], second["id"]] * 10
    responses = await asyncio.gather(*(client.post(f"/api/mobile-events/{e}/invitations", json={"client_id": lone}) for e in targets))
    statuses = sorted(r.status for r in responses)
    # One invitation made (201), its repeats answered 200, every one to the other day refused.
    assert statuses == [200] * 9 + [201] + [409] * 10, statuses
    async with database(database_url) as db:
        rows = list((await db.execute(select(MobileInvitation.event_id).where(MobileInvitation.client_id == lone))).scalars())
    assert len(rows) == 1 and rows[0] in (first["id"], second["id"])
