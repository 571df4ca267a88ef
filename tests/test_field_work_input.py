"""Bad input to the field-work routes: a 4xx with a clear message (Bahasa
Indonesia on pages) and nothing written."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.fieldwork_support import event_body, office_today
from tests.foundation import row_counts
from tests.test_pages import csrf_token, text_of

YESTERDAY = (office_today() - timedelta(days=1)).isoformat()


@pytest.mark.parametrize(
    "changes, code",
    [
        ({"date": YESTERDAY}, "date-past"),
        ({"date": "2026-02-30"}, "invalid-body"),
        ({"start_time": "12:00", "end_time": "08:00"}, "invalid-body"),
        ({"start_time": "8am"}, "invalid-body"),
        ({"officer_ids": []}, "invalid-body"),
        ({"officer_ids": [999999]}, "invalid-body"),
        ({"kelurahan": ""}, "invalid-body"),
        ({"venue": "x" * 201}, "invalid-body"),
        ({"surprise": 1}, "invalid-body"),
    ],
)
async def test_bad_events_are_refused_and_nothing_is_written(client, office, sign_in, database_url, changes, code):
    await sign_in(client, "pk1")
    before = await row_counts(database_url)
    resp = await client.post("/api/mobile-events", json=event_body(office, **changes))
    assert resp.status == 400, await resp.text()
    assert (await resp.json())["error"] == code
    assert await row_counts(database_url) == before


@pytest.mark.parametrize(
    "body",
    [
        {"client_id": "1"},
        {"client_id": 1, "key": "short"},
        {"client_id": 1, "key": "has spaces in it"},
        {"client_id": 1, "key": "k" * 65},
        {},
    ],
)
async def test_bad_checkins_are_refused_and_nothing_is_written(client, office, sign_in, database_url, body):
    await sign_in(client, "pk1")
    event = await (await client.post("/api/mobile-events", json=event_body(office))).json()
    before = await row_counts(database_url)
    resp = await client.post(f"/api/mobile-events/{event['id']}/checkins", json=body)
    assert resp.status == 400 and (await resp.json())["error"] == "invalid-body"
    assert await row_counts(database_url) == before


async def test_a_key_reused_for_another_client_is_a_conflict(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    event = await (await client.post("/api/mobile-events", json=event_body(office))).json()
    assert (await client.post(f"/api/mobile-events/{event['id']}/checkins", json={"client_id": office.clients["c1"].id, "key": "same-key-123"})).status == 201
    before = await row_counts(database_url)
    resp = await client.post(f"/api/mobile-events/{event['id']}/checkins", json={"client_id": office.clients["c2"].id, "key": "same-key-123"})
    assert resp.status == 409 and (await resp.json())["error"] == "key-reused"
    assert await row_counts(database_url) == before


@pytest.mark.parametrize(
    "form, message",
    [
        ({"date": YESTERDAY, "start_time": "08:00", "end_time": "12:00", "kelurahan": "Koja", "venue": "Balai"}, "Tanggal sudah lewat"),
        ({"date": "{today}", "start_time": "12:00", "end_time": "08:00", "kelurahan": "Koja", "venue": "Balai"}, "Periksa kembali isian berikut: end_time"),
        ({"date": "{today}", "start_time": "08:00", "end_time": "12:00", "kelurahan": "Koja", "venue": ""}, "Periksa kembali isian berikut: venue"),
        ({"date": "kemarin", "start_time": "08:00", "end_time": "12:00", "kelurahan": "Koja", "venue": "Balai"}, "Periksa kembali isian berikut: date"),
    ],
)
async def test_the_event_form_says_what_is_wrong_in_indonesian(client, office, sign_in, database_url, form, message):
    await sign_in(client, "pk1")
    page = await (await client.get("/mobile-events/new")).text()
    data = {k: v.replace("{today}", office_today().isoformat()) for k, v in form.items()}
    before = await row_counts(database_url)
    resp = await client.post("/mobile-events/new", data=dict(data, csrf_token=csrf_token(page), officer_ids=str(office.staff["pk1"].id)))
    assert resp.status == 400
    assert message in text_of(await resp.text())
    assert await row_counts(database_url) == before


@pytest.mark.parametrize(
    "form, message",
    [
        ({"date": YESTERDAY, "reason": "overdue"}, "Tanggal sudah lewat"),
        ({"date": "{today}", "reason": "bosan"}, "Periksa kembali isian berikut: reason"),
        ({"date": "31-12-2026", "reason": "overdue"}, "Periksa kembali isian berikut: date"),
    ],
)
async def test_the_visit_form_says_what_is_wrong_in_indonesian(client, office, sign_in, database_url, form, message):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    page = await (await client.get(f"/clients/{c1}/home-visits/new")).text()
    data = {k: v.replace("{today}", office_today().isoformat()) for k, v in form.items()}
    before = await row_counts(database_url)
    resp = await client.post(f"/clients/{c1}/home-visits/new", data=dict(data, csrf_token=csrf_token(page)))
    assert resp.status == 400
    assert message in text_of(await resp.text())
    assert await row_counts(database_url) == before


async def test_the_cadence_form_and_the_invitation_form_refuse_in_indonesian(client, office, sign_in, database_url):
    await sign_in(client, "kasie")
    page = await (await client.get("/mobile-events/plan")).text()
    resp = await client.post("/mobile-events/cadence", data={"csrf_token": csrf_token(page), "anchor": "2026-12-18", "every_days": "14"})
    assert resp.status == 400 and "Periksa kembali isian berikut: anchor" in text_of(await resp.text())
    assert (await (await client.get("/api/mobile-events/cadence")).json())["anchor"] == "2026-01-03"
    event = await (await client.post("/api/mobile-events", json=event_body(office))).json()
    page = await (await client.get(f"/mobile-events/{event['id']}")).text()
    before = await row_counts(database_url)
    resp = await client.post(f"/mobile-events/{event['id']}/invitations", data={"csrf_token": csrf_token(page), "register_number": "TIDAK-ADA"})
    assert resp.status == 400 and "Tidak ada klien dengan nomor register itu." in text_of(await resp.text())
    assert await row_counts(database_url) == before
