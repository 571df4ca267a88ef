"""Mobile counseling: a day in a kelurahan, its invitations, the roll call
(idempotent under concurrent retries), its undo and the summary; on SQLite and
PostgreSQL, through the real app."""

from __future__ import annotations

import asyncio

from tests.fieldwork_support import add_client, event_body, event_sessions, office_today
from tests.foundation import row_counts


async def test_invitations_are_the_office_clients_of_the_kelurahan_due_first(client, office, other_office, sign_in, database_url):
    overdue = await add_client(database_url, office, "late", pk="pk2", kelurahan="cakung barat", started_days_ago=90)
    elsewhere = await add_client(database_url, office, "far", kelurahan="Pulau Pari")
    finished = await add_client(database_url, office, "done", started_days_ago=400, ends_in_days=-5)
    await sign_in(client, "kasie")
    resp = await client.post("/api/mobile-events", json=event_body(office, officer_ids=[office.staff["pk1"].id, office.staff["pk2"].id]))
    assert resp.status == 201, await resp.text()
    data = await resp.json()
    c1, c2 = office.clients["c1"].id, office.clients["c2"].id
    # The office's clients of Cakung Barat under supervision, in any case; not the other
    # office's clients of the same kelurahan, not elsewhere, not finished ones.
    assert sorted(data["invited"]) == sorted([c1, c2, overdue])
    assert elsewhere not in data["invited"] and finished not in data["invited"]
    assert not set(data["invited"]) & {c.id for c in other_office.clients.values()}
    # Never attended and started long ago: every one is overdue, the most overdue first.
    assert data["invited"][0] == overdue
    got = await (await client.get(f"/api/mobile-events/{data['id']}")).json()
    assert got["invited"] == data["invited"] and got["checked_in"] == []
    # A PK not on duty sees only their own invited clients.
    await sign_in(client, "pk1")


async def test_a_pk_adds_and_removes_an_invitation(client, office, sign_in, database_url):
    extra = await add_client(database_url, office, "extra", kelurahan="Pulo Gebang")
    await sign_in(client, "pk1")
    event = await (await client.post("/api/mobile-events", json=event_body(office))).json()
    resp = await client.post(f"/api/mobile-events/{event['id']}/invitations", json={"client_id": extra})
    assert resp.status == 201
    assert (await client.post(f"/api/mobile-events/{event['id']}/invitations", json={"client_id": extra})).status == 200
    assert extra in (await (await client.get(f"/api/mobile-events/{event['id']}")).json())["invited"]
    resp = await client.delete(f"/api/mobile-events/{event['id']}/invitations/{extra}")
    assert resp.status == 200
    assert extra not in (await (await client.get(f"/api/mobile-events/{event['id']}")).json())["invited"]
    # A client who does not exist is not found, not an error (the API fuzz found a 500).
    for resp in (await client.post(f"/api/mobile-events/{event['id']}/invitations", json={"client_id": 2**31 - 1}),
                 await client.delete(f"/api/mobile-events/{event['id']}/invitations/{2**31 - 1}")):
        assert resp.status == 404, await resp.text()


async def test_concurrent_retries_of_one_checkin_make_one_session(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    event = await (await client.post("/api/mobile-events", json=event_body(office))).json()
    c2 = office.clients["c2"].id  # pk2's client: the PK on duty checks in everyone invited
    body = {"client_id": c2, "key": "dev-4f1c2a9e-0001"}
    responses = await asyncio.gather(*(client.post(f"/api/mobile-events/{event['id']}/checkins", json=body) for _ in range(6)))
    statuses = sorted(r.status for r in responses)
    ids = {(await r.json())["session_id"] for r in responses}
    assert statuses == [200, 200, 200, 200, 200, 201]
    assert len(ids) == 1
    sessions = await event_sessions(database_url, event["id"])
    assert [(s.client_id, s.mode.value, s.evidence.value, s.outcome.value, s.status.value, s.checked_in_by_id, s.officer_id) for s in sessions] == [
        (c2, "mobile", "roll_call", "attended", "ended", office.staff["pk1"].id, office.staff["pk2"].id)
    ]
    # Later retries write nothing either.
    before = await row_counts(database_url)
    again = await client.post(f"/api/mobile-events/{event['id']}/checkins", json=body)
    assert again.status == 200 and (await again.json())["session_id"] in ids
    assert await row_counts(database_url) == before
    got = await (await client.get(f"/api/mobile-events/{event['id']}")).json()
    assert got["checked_in"] == [c2]


async def test_a_checkin_is_undone_the_same_day_and_kept_in_history(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    event = await (await client.post("/api/mobile-events", json=event_body(office))).json()
    c1 = office.clients["c1"].id
    done = await (await client.post(f"/api/mobile-events/{event['id']}/checkins", json={"client_id": c1, "key": "k-undo-000001"})).json()
    resp = await client.post(f"/api/mobile-events/{event['id']}/checkins/{done['session_id']}/undo")
    assert resp.status == 200
    assert (await client.post(f"/api/mobile-events/{event['id']}/checkins/{done['session_id']}/undo")).status == 409
    session = await (await client.get(f"/api/sessions/{done['session_id']}")).json()
    assert session["status"] == "cancelled"
    assert [e["kind"] for e in session["events"]] == ["created", "checked_in", "ended", "checkin_undone"]
    assert (await (await client.get(f"/api/mobile-events/{event['id']}")).json())["checked_in"] == []
    # Checked in again with a new key: a new session, the undone one stays.
    again = await client.post(f"/api/mobile-events/{event['id']}/checkins", json={"client_id": c1, "key": "k-undo-000002"})
    assert again.status == 201
    assert [s.status.value for s in await event_sessions(database_url, event["id"])] == ["cancelled", "ended"]


async def test_only_the_pks_on_duty_and_supervisors_take_the_roll_call(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    event = await (await client.post("/api/mobile-events", json=event_body(office))).json()
    await sign_in(client, "pk2")
    before = await row_counts(database_url)
    resp = await client.post(f"/api/mobile-events/{event['id']}/checkins", json={"client_id": office.clients["c2"].id})
    assert resp.status == 403
    assert (await client.get(f"/api/mobile-events/{event['id']}/roster")).status == 403
    assert await row_counts(database_url) == before
    await sign_in(client, "kasie")
    assert (await client.post(f"/api/mobile-events/{event['id']}/checkins", json={"client_id": office.clients["c2"].id})).status == 201


async def test_events_in_a_range_and_a_cancelled_event_takes_no_checkins(client, office, sign_in):
    from datetime import timedelta

    await sign_in(client, "kasie")
    today = office_today()
    later = await (await client.post("/api/mobile-events", json=event_body(office, date=(today + timedelta(days=10)).isoformat()))).json()
    now = await (await client.post("/api/mobile-events", json=event_body(office))).json()
    listed = await (await client.get(f"/api/mobile-events?from={today.isoformat()}&to={(today + timedelta(days=5)).isoformat()}")).json()
    assert [e["id"] for e in listed["events"]] == [now["id"]]
    listed = await (await client.get(f"/api/mobile-events?from={today.isoformat()}&to={(today + timedelta(days=10)).isoformat()}")).json()
    assert [e["id"] for e in listed["events"]] == [now["id"], later["id"]]
    assert (await client.post(f"/api/mobile-events/{now['id']}/cancel")).status == 200
    resp = await client.post(f"/api/mobile-events/{now['id']}/checkins", json={"client_id": office.clients["c1"].id})
    assert resp.status == 409 and (await resp.json())["error"] == "event-cancelled"
    # A check-in before the day is refused too.
    resp = await client.post(f"/api/mobile-events/{later['id']}/checkins", json={"client_id": office.clients["c1"].id})
    assert resp.status == 409 and (await resp.json())["error"] == "not-event-day"
