"""Mobile counseling: a day in a kelurahan, its invitations, the roll call
(idempotent under concurrent retries), its undo and the summary; on SQLite and
PostgreSQL, through the real app."""

from __future__ import annotations

import asyncio
import re
from datetime import date, datetime, timedelta, timezone

import pytest

from server.db.models import MobileEvent
from server.domain.fieldwork import mobile_events as events_domain
from tests.clock import office_now
from tests.fieldwork_support import WIB, add_client, event_body, event_sessions, office_today
from tests.foundation import database, row_counts


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
    assert [s.client_id for s in await event_sessions(database_url, event["id"])] == [office.clients["c2"].id]


async def test_events_in_a_range_and_a_cancelled_event_takes_no_checkins(client, office, sign_in):
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


# --- issue 18: absence is a fact only once the day is over; walk-ins counted apart -------------

async def _move_to(database_url: str, event_id: int, day) -> None:
    """Put an event on another date, as if it had been held then (the API refuses past dates)."""
    async with database(database_url) as db:
        (await db.get(MobileEvent, event_id)).date = day
        await db.commit()


def _field(html: str, name: str) -> str | None:
    """The text of ``<dd data-field="name">`` on a page, None when the page has none."""
    found = re.search(rf'data-field="{name}"[^>]*>([^<]*)<', html)
    return found.group(1).strip() if found else None


async def test_a_day_ahead_awaits_its_invitees_and_has_no_absentees(client, office, sign_in):
    await sign_in(client, "pk1")  # on duty: sees everyone invited
    ahead = office_today() + timedelta(days=13)
    event = await (await client.post("/api/mobile-events", json=event_body(office, date=ahead.isoformat()))).json()
    invited = sorted(event["invited"])
    assert invited == sorted([office.clients["c1"].id, office.clients["c2"].id])
    data = await (await client.get(f"/api/mobile-events/{event['id']}")).json()
    assert data["over"] is False and "absent" not in data and sorted(data["awaited"]) == invited
    assert data["summary"] == {"invited": 2, "invited_present": 0, "walk_ins": 0, "present": 0, "awaited": 2}
    assert (await (await client.get(f"/api/mobile-events/{event['id']}/roster")).json())["event"]["over"] is False
    for lang, absent_word in (("id", "Tidak hadir"), ("en", "Absent")):
        page = await (await client.get(f"/mobile-events/{event['id']}?lang={lang}")).text()
        assert _field(page, "awaited") == "2" and _field(page, "absent") is None
        assert absent_word not in page and 'id="absent-list"' not in page
        sheet = await (await client.get(f"/mobile-events/{event['id']}/daftar-hadir?lang={lang}")).text()
        assert sheet.count('data-state="awaited"') == 2 and 'data-state="absent"' not in sheet and absent_word not in sheet
    assert "Diundang, belum hadir" in await (await client.get(f"/mobile-events/{event['id']}/daftar-hadir?lang=id")).text()


async def test_once_the_day_is_over_the_invitees_who_did_not_come_are_absent(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    event = await (await client.post("/api/mobile-events", json=event_body(office, date=(office_today() + timedelta(days=13)).isoformat()))).json()
    c1, c2 = office.clients["c1"].id, office.clients["c2"].id
    # Held two days ago (over at any hour); c1's check-in reaches the server late, as a phone
    # that was offline at the venue sends it (within the 3 days allowed, across a midnight too).
    await _move_to(database_url, event["id"], office_today() - timedelta(days=2))
    assert (await client.post(f"/api/mobile-events/{event['id']}/checkins", json={"client_id": c1, "key": "k-over-000001"})).status == 201
    data = await (await client.get(f"/api/mobile-events/{event['id']}")).json()
    assert data["over"] is True and "awaited" not in data and data["absent"] == [c2]
    assert data["summary"] == {"invited": 2, "invited_present": 1, "walk_ins": 0, "present": 1, "absent": 1}
    page = await (await client.get(f"/mobile-events/{event['id']}")).text()
    assert _field(page, "absent") == "1" and _field(page, "awaited") is None and 'id="absent-list"' in page
    sheet = await (await client.get(f"/mobile-events/{event['id']}/daftar-hadir")).text()
    assert sheet.count('data-state="absent"') == 1 and sheet.count('data-state="present"') == 1 and "Tidak hadir" in sheet
    # A cancelled day had no absentees, whenever it was to be.
    assert (await client.post(f"/api/mobile-events/{event['id']}/cancel")).status == 200
    data = await (await client.get(f"/api/mobile-events/{event['id']}")).json()
    assert "absent" not in data and "awaited" not in data and "absent" not in data["summary"]


async def _hold_until(database_url: str, event_id: int, ends) -> None:
    """Make an event's day end at ``ends`` (office time): its date and end time,
    whatever day that is (the API plans only days ahead, and refuses an end at
    or before the start)."""
    async with database(database_url) as db:
        event = await db.get(MobileEvent, event_id)
        event.date, event.start_time, event.end_time = ends.date(), "00:00", ends.strftime("%H:%M")
        await db.commit()


@pytest.mark.clock
async def test_a_day_is_over_at_its_end_time_in_office_time(client, office, sign_in, database_url):
    # Two days, one that ended two minutes ago and one that ends two minutes from
    # now, on whatever dates those minutes fall (just after midnight the first is
    # yesterday's): the server reads the end on the day's own date, office time.
    now = office_now()
    await sign_in(client, "pk1")
    ahead = (office_today() + timedelta(days=5)).isoformat()
    done = await (await client.post("/api/mobile-events", json=event_body(office, date=ahead))).json()
    going = await (await client.post("/api/mobile-events", json=event_body(office, date=ahead, start_time="13:00", end_time="14:00"))).json()
    assert sorted(done["invited"]) == sorted(going["invited"]) == sorted([office.clients["c1"].id, office.clients["c2"].id])
    await _hold_until(database_url, done["id"], now - timedelta(minutes=2))
    await _hold_until(database_url, going["id"], now + timedelta(minutes=3))
    done, going = [await (await client.get(f"/api/mobile-events/{e['id']}")).json() for e in (done, going)]
    assert (done["over"], done["summary"].get("absent"), "awaited" in done) == (True, 2, False)
    assert (going["over"], going["summary"].get("awaited"), "absent" in going) == (False, 2, False)


def test_over_means_the_end_time_on_the_date_in_the_office_time_zone():
    event = MobileEvent(date=date(2030, 6, 8), start_time="08:00", end_time="12:00")
    tz = "Asia/Jakarta"
    assert not events_domain.is_over(event, datetime(2030, 6, 8, 11, 59, 59, 999999, tzinfo=WIB), tz)
    assert events_domain.is_over(event, datetime(2030, 6, 8, 12, 0, tzinfo=WIB), tz)
    # 12:00 WIB is 05:00 UTC: the same instants, said in UTC.
    assert not events_domain.is_over(event, datetime(2030, 6, 8, 4, 59, 59, tzinfo=timezone.utc), tz)
    assert events_domain.is_over(event, datetime(2030, 6, 8, 5, 0, tzinfo=timezone.utc), tz)
    # The day before (in UTC the same date as the event until 17:00) is never over.
    assert not events_domain.is_over(event, datetime(2030, 6, 7, 23, 0, tzinfo=timezone.utc), tz)


@pytest.mark.clock
async def test_walk_ins_are_counted_apart_from_the_invited(client, office, sign_in, database_url):
    walker = await add_client(database_url, office, "walker", kelurahan="Koja")
    await sign_in(client, "pk1")
    event = await (await client.post("/api/mobile-events", json=event_body(office))).json()
    c1, c2 = office.clients["c1"].id, office.clients["c2"].id
    for client_id, key in ((c1, "k-walk-000001"), (walker, "k-walk-000002")):
        assert (await client.post(f"/api/mobile-events/{event['id']}/checkins", json={"client_id": client_id, "key": key})).status == 201
    data = await (await client.get(f"/api/mobile-events/{event['id']}")).json()
    assert data["checked_in"] == [c1, walker] and data["walk_ins"] == [walker]
    # Whether c2 is still awaited or already absent depends on the hour; the rest does not.
    counts = {k: v for k, v in data["summary"].items() if k not in ("awaited", "absent")}
    assert counts == {"invited": 2, "invited_present": 1, "walk_ins": 1, "present": 2}
    assert data["summary"].get("awaited", data["summary"].get("absent")) == 1 and data.get("awaited", data.get("absent")) == [c2]
    for path in (f"/mobile-events/{event['id']}", f"/mobile-events/{event['id']}/daftar-hadir"):
        assert "1 dari 2 diundang hadir · 1 datang tanpa undangan" in await (await client.get(path + "?lang=id")).text()
        assert "1 of 2 invited present · 1 came without an invitation" in await (await client.get(path + "?lang=en")).text()
    page = await (await client.get(f"/mobile-events/{event['id']}?lang=id")).text()
    assert (_field(page, "invited"), _field(page, "attended"), _field(page, "walk-ins")) == ("2", "1", "1")
