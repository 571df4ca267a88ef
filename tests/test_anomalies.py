"""A supervisor reviews the anomalies of a crafted month: short video calls,
interrupted sessions, sessions left without notes past the grace period, notes
changed long after the session, and an overdue client; exactly those, in
order, each linking to the session (and so its events and history)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from server.db.models import Client, ClientCategory, Outcome, Program, SessionMode, SessionStatus
from tests.audit_support import add_session
from tests.clock import OFFICE_TZ, office_date
from tests.foundation import database

pytestmark = pytest.mark.clock

H = timedelta(hours=1)
D = timedelta(days=1)


@pytest.fixture
async def history(database_url, office, other_office, now):
    """The crafted month, placed relative to this test's ``now``."""
    # The server counts wajib lapor in office days (WIB), whatever the test machine's zone.
    office_today = office_date(now)
    c1, c2 = office.clients["c1"], office.clients["c2"]
    async with database(database_url) as db:  # a third client of pk1 who never came
        c3 = Client(
            office_id=office.id, officer_id=office.staff["pk1"].id, register_number="REG-c3", name="Klien c3", category=ClientCategory.adult,
            program=Program.cb, supervision_start=office_today - timedelta(days=60), supervision_end=office_today + timedelta(days=300),
            reporting_interval_days=14, kelurahan="Pulau Pari",
        )
        db.add(c3)
        await db.commit()
    s = {}
    s["A_short_video"] = await add_session(database_url, c1, mode=SessionMode.video, duration_seconds=180, ended_at=now - 10 * D, scheduled_at=now - 10 * D - 3 * 60 * timedelta(seconds=1))
    s["B_fine_video"] = await add_session(database_url, c1, mode=SessionMode.video, duration_seconds=600, scheduled_at=now - 9 * D)
    s["C_short_interrupted_no_notes"] = await add_session(
        database_url, c2, mode=SessionMode.video, status=SessionStatus.interrupted, duration_seconds=120, notes="", outcome=None, ended_at=now - 5 * D, scheduled_at=now - 5 * D - 2 * 60 * timedelta(seconds=1)
    )
    s["D_no_notes"] = await add_session(database_url, c2, mode=SessionMode.office, notes="  ", ended_at=now - 2 * D, scheduled_at=now - 2 * D - H)
    s["E_no_notes_yet"] = await add_session(database_url, c1, mode=SessionMode.office, notes="", ended_at=now - 2 * H, scheduled_at=now - 3 * H)
    f_end = now - 20 * D
    s["F_late_edit"] = await add_session(
        database_url, c2, mode=SessionMode.home_visit, ended_at=f_end, scheduled_at=f_end - H,
        versions=[(f_end + H, "Kunjungan rumah: klien ada di rumah."), (f_end + 9 * D, "Kunjungan rumah: klien TIDAK ada di rumah.")],
    )
    s["G_upcoming"] = await add_session(database_url, c1, mode=SessionMode.video, status=SessionStatus.scheduled, scheduled_at=now + 2 * D, notes="", outcome=None)
    s["H_no_show"] = await add_session(database_url, c1, mode=SessionMode.mobile, outcome=Outcome.no_show, scheduled_at=now - 30 * D)
    # Another office's short call is none of this office's business.
    s["X_other_office"] = await add_session(database_url, other_office.clients["c1"], mode=SessionMode.video, duration_seconds=30)
    labels = {v: k for k, v in s.items()}
    labels.update({("client", c.id): k for k, c in {**office.clients, "c3": c3}.items()})
    labels.update({("staff", st.id): k for k, st in office.staff.items()})
    return labels


def three_in_a_row(office_today: date, periods: int) -> dict:
    """The alert of a client supervised from 60 days ago every 14 days who missed ``periods`` periods from the first."""
    first = office_today - timedelta(days=60)
    return {"alert": f"tiga-kali-berturut-{first.isoformat()}", "first_day": first.isoformat(),
            "last_day": (first + timedelta(days=14 * periods - 1)).isoformat(), "raised_on": (first + timedelta(days=42)).isoformat(), "periods": periods}


def expected(office_today: date) -> list[tuple]:
    """The anomalies of the crafted month, in the order the server lists them."""
    return [
        # Supervised from 60 days ago, every 14 days, never came: overdue since the first period ended.
        ("overdue_client", None, "c3", "pk1", {"overdue_days": 47, "next_due": (office_today - timedelta(days=47)).isoformat(), "last_attended": None}),
        # Three periods in a row missed (c1 came back in the fourth; c3 never did), not yet answered by the PK.
        ("tiga-kali-berturut", None, "c1", "pk1", three_in_a_row(office_today, 3)),
        ("tiga-kali-berturut", None, "c3", "pk1", three_in_a_row(office_today, 4)),
        ("short_video", "A_short_video", "c1", "pk1", {"duration_seconds": 180, "minimum_seconds": 300}),
        ("short_video", "C_short_interrupted_no_notes", "c2", "pk2", {"duration_seconds": 120, "minimum_seconds": 300}),
        ("interrupted", "C_short_interrupted_no_notes", "c2", "pk2", {}),
        ("missing_notes", "C_short_interrupted_no_notes", "c2", "pk2", {"hours_since_end": 120}),
        ("missing_notes", "D_no_notes", "c2", "pk2", {"hours_since_end": 48}),
        ("late_edit", "F_late_edit", "c2", "pk2", {"days_after_session": 9, "late_changes": 1}),
    ]


def readable(a: dict, labels: dict) -> tuple:
    # The proposed violation is the alert's own wording (tests/test_violations.py reads it).
    detail = {k: v for k, v in a["detail"].items() if k not in ("version_id", "author_id", "proposed_violation")}
    return (a["kind"], labels.get(a["session_id"]), labels[("client", a["client_id"])], labels[("staff", a["officer_id"])], detail)


async def test_the_crafted_month_yields_exactly_the_expected_anomalies(client, history, sign_in, now):
    await sign_in(client, "kasie")
    resp = await client.get(f"/api/audit/anomalies?date_from={office_date(now - 45 * D)}&date_to={office_date(now + 5 * D)}")
    assert resp.status == 200
    found = (await resp.json())["anomalies"]
    assert [readable(a, history) for a in found] == expected(office_date(now))


async def test_each_anomaly_links_to_its_session_events_and_history(client, history, sign_in):
    await sign_in(client, "kasie")
    found = (await (await client.get("/api/audit/anomalies")).json())["anomalies"]
    late = next(a for a in found if a["kind"] == "late_edit")
    assert late["links"]["session"] == f"/sessions/{late['session_id']}"
    events = await (await client.get(late["links"]["events"])).json()
    assert [e["kind"] for e in events["events"]] == ["created", "ended"]
    versions = (await (await client.get(late["links"]["history"])).json())["versions"]
    assert versions[-1]["id"] == late["detail"]["version_id"]
    assert versions[-1]["notes"] == "Kunjungan rumah: klien TIDAK ada di rumah."
    overdue = next(a for a in found if a["kind"] == "overdue_client")
    assert overdue["links"] == {"client": f"/clients/{overdue['client_id']}"}


async def test_a_pk_reviews_only_their_own_anomalies_and_the_page_lists_them_in_order(client, history, sign_in, now):
    await sign_in(client, "pk1")
    found = (await (await client.get("/api/audit/anomalies")).json())["anomalies"]
    assert [readable(a, history) for a in found] == [e for e in expected(office_date(now)) if e[3] == "pk1"]
    await sign_in(client, "kasie")
    html = await (await client.get("/audit/anomalies")).text()
    kinds = [chunk.split('"', 1)[0] for chunk in html.split('<tr data-kind="')[1:]]
    assert kinds == [e[0] for e in expected(office_date(now))]


async def test_the_thresholds_come_from_the_settings(aiohttp_client, settings, history, sign_in):
    from server.app import create_app

    strict = await aiohttp_client(create_app(settings.with_(min_video_minutes=11, notes_grace_hours=200, late_edit_days=10)))
    await sign_in(strict, "kasie")
    found = (await (await strict.get("/api/audit/anomalies")).json())["anomalies"]
    assert [(a["kind"], history.get(a["session_id"])) for a in found] == [
        ("overdue_client", None),
        ("tiga-kali-berturut", None),
        ("tiga-kali-berturut", None),
        ("short_video", "A_short_video"),
        ("short_video", "B_fine_video"),
        ("short_video", "C_short_interrupted_no_notes"),
        ("interrupted", "C_short_interrupted_no_notes"),
    ]


async def test_attendance_per_client_gives_the_last_and_next_session_and_overdue_days(client, office, history, sign_in, now):
    await sign_in(client, "kasie")
    rows = {history[("client", r["client_id"])]: r for r in (await (await client.get("/api/audit/clients")).json())["clients"]}
    assert sorted(rows) == ["c1", "c2", "c3"]
    assert rows["c1"]["last_session_at"] == (now - 3 * H).astimezone(OFFICE_TZ).isoformat()  # E, the latest held
    assert rows["c1"]["next_session_at"] == (now + 2 * D).astimezone(OFFICE_TZ).isoformat()  # G, still scheduled
    assert (rows["c3"]["attendance"]["state"], rows["c3"]["attendance"]["overdue_days"], rows["c3"]["last_session_at"]) == ("overdue", 47, None)
    assert rows["c2"]["attendance"]["state"] in ("ok", "due")
