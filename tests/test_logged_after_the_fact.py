"""A session logged after the fact never ends after the moment it was entered
(issue 18: "an office session logged at 19:00 with 30 minutes is stored as
ended at 19:30, in the future"). Given no start time it ended when it was
entered; given a start whose end would come later, the entry is refused (409
``ends-in-future``, in Bahasa Indonesia on the page) and nothing is written.
Every path that logs a session after the fact: ``POST /api/sessions`` and its
page form, ``POST /api/sessions/{id}/complete`` and its page form, a phone
call carrying on a failed video call, and a home visit's report."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from tests.clock import OFFICE_TZ, office_now, office_today, utc_now
from tests.foundation import row_counts
from tests.test_pages import csrf_token, text_of

THIRTY_MINUTES = timedelta(minutes=30)


def at(value: str) -> datetime:
    return datetime.fromisoformat(value)


def entered_between(session: dict, before: datetime, after: datetime, length: timedelta) -> None:
    """It ended when it was entered (to the second the log keeps) and started ``length`` before."""
    ended, started = at(session["ended_at"]), at(session["started_at"])
    assert before <= ended <= after, (session["ended_at"], before, after)
    assert ended - started == length
    assert session["status"] == "ended" and session["duration_seconds"] == length.total_seconds()


def wib(moment: datetime) -> str:
    return moment.astimezone(OFFICE_TZ).isoformat()


@pytest.mark.parametrize("mode", ["office", "home_visit", "mobile", "phone"])
async def test_a_session_logged_with_no_start_ended_when_it_was_entered(client, office, sign_in, mode):
    await sign_in(client, "pk1")
    before = utc_now()
    resp = await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": mode, "outcome": "attended", "duration_minutes": 30, "notes": "Hadir."})
    after = datetime.now(timezone.utc)
    assert resp.status == 201, await resp.text()
    session = await resp.json()
    entered_between(session, before, after, THIRTY_MINUTES)
    # Its time is when it started: the record and the ledger date it there.
    assert session["scheduled_at"] == session["started_at"]


async def test_a_start_whose_end_is_still_to_come_is_refused_and_nothing_is_written(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    started = utc_now() - timedelta(minutes=10)
    before = await row_counts(database_url)
    resp = await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "office", "scheduled_at": wib(started), "outcome": "attended", "duration_minutes": 30})
    assert resp.status == 409
    body = await resp.json()
    assert body["error"] == "ends-in-future" and "after the moment it is entered" in body["message"]
    assert await row_counts(database_url) == before


async def test_a_start_whose_end_has_passed_is_kept_as_given(client, office, sign_in):
    await sign_in(client, "pk1")
    started = utc_now() - timedelta(hours=2)
    resp = await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "office", "scheduled_at": wib(started), "outcome": "attended", "duration_minutes": 30})
    assert resp.status == 201, await resp.text()
    session = await resp.json()
    assert (at(session["started_at"]), at(session["ended_at"]), at(session["scheduled_at"])) == (started, started + THIRTY_MINUTES, started)


async def test_finishing_a_session_planned_minutes_ago_does_not_end_it_in_the_future(client, office, sign_in):
    await sign_in(client, "pk1")
    planned = utc_now() - timedelta(minutes=5)
    scheduled = await (await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "office", "scheduled_at": wib(planned)})).json()
    assert scheduled["status"] == "scheduled"
    before = utc_now()
    resp = await client.post(f"/api/sessions/{scheduled['id']}/complete", json={"outcome": "attended", "duration_minutes": 30})
    after = datetime.now(timezone.utc)
    assert resp.status == 200, await resp.text()
    entered_between(await resp.json(), before, after, THIRTY_MINUTES)


async def test_finishing_a_session_whose_planned_end_has_passed_keeps_its_planned_start(client, office, sign_in):
    await sign_in(client, "pk1")
    planned = utc_now() - timedelta(hours=2)
    scheduled = await (await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "office", "scheduled_at": wib(planned)})).json()
    done = await (await client.post(f"/api/sessions/{scheduled['id']}/complete", json={"outcome": "attended", "duration_minutes": 30})).json()
    assert (at(done["started_at"]), at(done["ended_at"])) == (planned, planned + THIRTY_MINUTES)


async def test_a_phone_call_carrying_on_a_video_call_ends_when_it_is_reported(client, office, sign_in):
    await sign_in(client, "pk1")
    video = await (await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "video"})).json()
    phone = await client.post(f"/api/sessions/{video['id']}/phone-fallback")
    assert phone.status == 201, await phone.text()
    phone_id = (await phone.json())["id"]
    before = utc_now()
    done = await client.post(f"/api/sessions/{phone_id}/complete", json={"outcome": "attended", "duration_minutes": 18})
    after = datetime.now(timezone.utc)
    assert done.status == 200, await done.text()
    entered_between(await done.json(), before, after, timedelta(minutes=18))


@pytest.mark.clock
async def test_a_home_visit_reported_on_its_page_before_its_length_has_passed_ends_when_reported(client, office, sign_in):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    # Planned for this very minute (today, so the plan is allowed), reported at once.
    now = office_now()
    form_page = await (await client.get(f"/clients/{c1}/home-visits/new")).text()
    resp = await client.post(f"/clients/{c1}/home-visits/new", data={
        "csrf_token": csrf_token(form_page), "date": office_today().isoformat(), "time": now.strftime("%H:%M"), "reason": "address_check"},
        allow_redirects=False)
    assert resp.status == 302, await resp.text()
    visit_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    page = await (await client.get(f"/sessions/{visit_id}")).text()
    before = utc_now()
    resp = await client.post(f"/sessions/{visit_id}/complete", data=[
        ("csrf_token", csrf_token(page)), ("outcome", "attended"), ("duration_minutes", "35"), ("client_present", "yes"), ("met_with", "client")],
        allow_redirects=False)
    after = datetime.now(timezone.utc)
    assert resp.status == 302, await resp.text()
    entered_between(await (await client.get(f"/api/sessions/{visit_id}")).json(), before, after, timedelta(minutes=35))


async def test_the_session_form_logs_a_session_with_no_time_as_ended_when_entered(client, office, sign_in):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    form_page = await (await client.get(f"/clients/{c1}/sessions/new?mode=office")).text()
    before = utc_now()
    resp = await client.post(f"/clients/{c1}/sessions/new", data={
        "csrf_token": csrf_token(form_page), "mode": "office", "scheduled_at": "", "duration_minutes": "30", "outcome": "attended", "notes": "Hadir."},
        allow_redirects=False)
    after = datetime.now(timezone.utc)
    assert resp.status == 302, await resp.text()
    session_id = int(resp.headers["Location"].rsplit("/", 1)[1])
    entered_between(await (await client.get(f"/api/sessions/{session_id}")).json(), before, after, THIRTY_MINUTES)


async def test_the_session_form_refuses_an_end_still_to_come_in_indonesian_and_keeps_the_input(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    form_page = await (await client.get(f"/clients/{c1}/sessions/new?mode=office")).text()
    started = (office_now() - timedelta(minutes=10)).strftime("%Y-%m-%dT%H:%M")
    before = await row_counts(database_url)
    resp = await client.post(f"/clients/{c1}/sessions/new", data={
        "csrf_token": csrf_token(form_page), "mode": "office", "scheduled_at": started, "duration_minutes": "30", "outcome": "attended",
        "notes": "Catatan yang tidak boleh hilang."})
    assert resp.status == 409
    page = await resp.text()
    assert "Sesi ini akan berakhir sesudah saat dicatat" in text_of(page)
    assert "Catatan yang tidak boleh hilang." in page and f'value="{started}"' in page
    assert await row_counts(database_url) == before
