"""The planner: days on the office's cadence (Saturdays, every 14 days from an
anchor), across a month end and a year end in WIB, with a kelurahan each
ranked by clients due or overdue and the time since the last visit."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from server.domain.fieldwork.mobile_planner import Cadence, cadence_dates
from tests.fieldwork_support import add_client, office_today
from tests.foundation import row_counts

ANCHOR = date(2026, 12, 19)  # a Saturday


@pytest.mark.parametrize(
    "start, expected",
    [
        # across the year end: Saturday 2026-12-19 + 14 = 2027-01-02
        (date(2026, 12, 20), [date(2027, 1, 2), date(2027, 1, 16), date(2027, 1, 30)]),
        # across a month end (January → February)
        (date(2027, 1, 17), [date(2027, 1, 30), date(2027, 2, 13), date(2027, 2, 27)]),
        # a cadence day itself is the first proposal; days before the anchor fall on the cadence too
        (date(2026, 12, 19), [date(2026, 12, 19), date(2027, 1, 2), date(2027, 1, 16)]),
        (date(2026, 11, 30), [date(2026, 12, 5), date(2026, 12, 19), date(2027, 1, 2)]),
    ],
)
def test_planner_dates_are_saturdays_on_the_cadence(start, expected):
    days = cadence_dates(Cadence(ANCHOR, 14), start, 3)
    assert days == expected
    assert all(d.weekday() == 5 and (d - ANCHOR).days % 14 == 0 for d in days)


async def test_the_plan_ranks_kelurahan_and_says_why(client, office, sign_in, database_url):
    # Cakung Barat: c1, c2 (never attended: overdue). Pulau Pari: three overdue clients.
    for key in ("p1", "p2", "p3"):
        await add_client(database_url, office, key, kelurahan="Pulau Pari", started_days_ago=45)
    await add_client(database_url, office, "new", kelurahan="Pulo Gebang", started_days_ago=-10)
    await sign_in(client, "kasie")
    resp = await client.put("/api/mobile-events/cadence", json={"anchor": ANCHOR.isoformat(), "every_days": 14})
    assert resp.status == 200
    start = office_today()
    data = await (await client.get(f"/api/mobile-events/plan?from={start.isoformat()}&count=3")).json()
    proposals = data["proposals"]
    # Pulo Gebang's only client has not started: nobody due there, and the
    # kelurahan with more clients overdue comes first.
    assert [p["kelurahan"] for p in proposals] == ["Pulau Pari", "Cakung Barat", "Pulo Gebang"]
    assert [p["expected"] for p in proposals[:2]] == [3, 2]
    assert proposals[0]["overdue"] == 3 and "3 klien terlambat" in proposals[0]["reason"] and "belum pernah" in proposals[0]["reason"]
    days = [date.fromisoformat(p["date"]) for p in proposals]
    assert all(d.weekday() == 5 and (d - ANCHOR).days % 14 == 0 and d >= start for d in days)
    assert days == [days[0] + timedelta(days=14 * i) for i in range(3)]
    # Confirmed into an event, Pulau Pari has had its turn: its Saturday is taken, the
    # others come first, and Pulau Pari comes back only after them.
    body = {"date": proposals[0]["date"], "start_time": "08:00", "end_time": "12:00", "kelurahan": "Pulau Pari",
            "venue": "Balai Warga Pulau Pari", "officer_ids": [office.staff["pk1"].id], "topic": ""}
    assert (await client.post("/api/mobile-events", json=body)).status == 201
    again = await (await client.get(f"/api/mobile-events/plan?from={start.isoformat()}&count=3")).json()
    assert [(p["date"], p["kelurahan"]) for p in again["proposals"]] == [
        (days[1].isoformat(), "Cakung Barat"), (days[2].isoformat(), "Pulo Gebang"), ((days[2] + timedelta(days=14)).isoformat(), "Pulau Pari")]


@pytest.mark.parametrize(
    "role, body, status",
    [
        ("pk1", {"anchor": "2026-12-19", "every_days": 14}, 403),
        ("kasie", {"anchor": "2026-12-18", "every_days": 14}, 400),  # a Friday
        ("kasie", {"anchor": "2026-12-19", "every_days": 10}, 400),  # not whole weeks
        ("kasie", {"anchor": "19-12-2026", "every_days": 14}, 400),
    ],
)
async def test_the_cadence_is_changed_only_by_a_supervisor_and_only_to_saturdays(client, office, sign_in, database_url, role, body, status):
    await sign_in(client, role)
    before = await row_counts(database_url)
    resp = await client.put("/api/mobile-events/cadence", json=body)
    assert resp.status == status
    assert await row_counts(database_url) == before
    assert (await (await client.get("/api/mobile-events/cadence")).json())["anchor"] == "2026-01-03"


@pytest.mark.parametrize("query", ["from=2026-13-01&count=2", "count=0", "count=abc", "count=500"])
async def test_bad_plan_queries_are_400(client, office, sign_in, query):
    await sign_in(client, "kasie")
    resp = await client.get(f"/api/mobile-events/plan?{query}")
    assert resp.status == 400
    assert set(await resp.json()) >= {"error", "message"}


async def test_the_planner_answers_every_saturday_asked_coming_back_in_turn(client, office, sign_in, database_url):
    # One kelurahan with clients (Cakung Barat: c1, c2): four Saturdays asked, four answered.
    await sign_in(client, "kasie")
    assert (await client.put("/api/mobile-events/cadence", json={"anchor": ANCHOR.isoformat(), "every_days": 14})).status == 200
    start = office_today()
    proposals = (await (await client.get(f"/api/mobile-events/plan?from={start.isoformat()}&count=4")).json())["proposals"]
    assert [p["kelurahan"] for p in proposals] == ["Cakung Barat"] * 4
    days = [date.fromisoformat(p["date"]) for p in proposals]
    assert days == [days[0] + timedelta(days=14 * i) for i in range(4)] and days[0] >= start
    # Two kelurahan (Pulau Pari: one client overdue, Cakung Barat: two): they take turns, the neediest first.
    await add_client(database_url, office, "p1", kelurahan="Pulau Pari", started_days_ago=45)
    proposals = (await (await client.get(f"/api/mobile-events/plan?from={start.isoformat()}&count=5")).json())["proposals"]
    assert [(p["date"], p["kelurahan"]) for p in proposals] == [
        ((days[0] + timedelta(days=14 * i)).isoformat(), ["Cakung Barat", "Pulau Pari"][i % 2]) for i in range(5)]
    assert "giliran berikutnya" not in proposals[1]["reason"] and "giliran berikutnya setelah" in proposals[2]["reason"]
    # Pulau Pari planned on the second Saturday: its turn is taken there, and the rotation goes on around it.
    body = {"date": days[1].isoformat(), "start_time": "08:00", "end_time": "12:00", "kelurahan": "Pulau Pari",
            "venue": "Balai Warga Pulau Pari", "officer_ids": [office.staff["pk1"].id], "topic": ""}
    assert (await client.post("/api/mobile-events", json=body)).status == 201
    proposals = (await (await client.get(f"/api/mobile-events/plan?from={start.isoformat()}&count=4")).json())["proposals"]
    assert [(p["date"], p["kelurahan"]) for p in proposals] == [
        (days[0].isoformat(), "Cakung Barat"), (days[2].isoformat(), "Cakung Barat"), (days[3].isoformat(), "Pulau Pari"),
        ((days[3] + timedelta(days=14)).isoformat(), "Cakung Barat")]
