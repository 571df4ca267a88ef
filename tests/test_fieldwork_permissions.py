"""Who may do what with field work: every role against every new route, as
one table (the roles of tests/test_permissions.py). pk1 owns c1 and is on duty
at the event e1; pk2 owns c2 and c3 and is not on duty. Events belong to the
office; a PK not on duty sees only their own clients in them."""

from __future__ import annotations

import re

from datetime import datetime, timedelta

import pytest

from sqlalchemy import func, select

from server.db.models import Client, GuidanceSession, MobileEvent, MobileEventStatus, Office, Outcome, SessionMode, SessionStatus, Staff
from server.domain.fieldwork import home_visits, mobile_events
from server.domain.fieldwork.mobile_planner import CADENCE_KEY
from server.domain.record import sessions as sessions_domain
from tests.audit_support import audit_entries
from tests.fieldwork_support import WIB, add_client, office_today
from tests.foundation import add_office_session, database, row_counts
from tests.test_permissions import ROLES, USERNAMES
from tests.test_permissions import _fill as _fill_one

TODAY = "{today}"


def _fill(value, ids):
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return _fill_one(value, ids)

ENDPOINTS = [
    ("plan", "GET", "/api/mobile-events/plan?count=2", None),
    ("read cadence", "GET", "/api/mobile-events/cadence", None),
    ("change cadence", "PUT", "/api/mobile-events/cadence", {"anchor": "2026-01-03", "every_days": 14}),
    ("list events", "GET", "/api/mobile-events", None),
    ("read event", "GET", "/api/mobile-events/{e1}", None),
    ("create event", "POST", "/api/mobile-events", {"date": TODAY, "start_time": "08:00", "end_time": "12:00", "kelurahan": "Koja",
                                                     "venue": "Balai Warga", "officer_ids": ["{pk1}"], "topic": ""}),
    ("invite", "POST", "/api/mobile-events/{e1}/invitations", {"client_id": "{c3}"}),
    ("uninvite", "DELETE", "/api/mobile-events/{e1}/invitations/{c3}", None),
    ("roster", "GET", "/api/mobile-events/{e1}/roster", None),
    ("check in", "POST", "/api/mobile-events/{e1}/checkins", {"client_id": "{c2}", "key": "perm-key-0001"}),
    ("undo check-in", "POST", "/api/mobile-events/{e1}/checkins/{k1}/undo", None),
    ("change event", "PATCH", "/api/mobile-events/{e1}", {"topic": "Keterampilan kerja"}),
    ("finish session", "POST", "/api/sessions/{s1}/complete", {"outcome": "attended", "duration_minutes": 20}),
    ("phone fallback", "POST", "/api/sessions/{v1}/phone-fallback", None),
    ("plan visit", "POST", "/api/home-visits", {"client_id": "{c1}", "date": TODAY, "reason": "overdue"}),
    ("visit day list", "GET", "/api/home-visits", None),
    ("areas", "GET", "/api/areas", None),
    ("unmatched clients", "GET", "/api/areas/unmatched", None),
    ("mobile page", "GET", "/mobile-events", None),
    ("planner page", "GET", "/mobile-events/plan", None),
    ("new event page", "GET", "/mobile-events/new", None),
    ("event page", "GET", "/mobile-events/{e1}", None),
    ("roll-call page", "GET", "/mobile-events/{e1}/rollcall", None),
    ("daftar hadir", "GET", "/mobile-events/{e1}/daftar-hadir", None),
    ("visit day page", "GET", "/home-visits", None),
    ("plan visit page", "GET", "/clients/{c1}/home-visits/new", None),
    ("visit report", "GET", "/sessions/{h1}/report", None),
    ("areas page", "GET", "/admin/areas", None),
    ("cancel event", "POST", "/api/mobile-events/{e1}/cancel", None),
]

#                       anonymous pk1  pk2  kasie admin other_office
EXPECTED = {
    "plan":                    (401, 200, 200, 200, 200, 200),
    "read cadence":            (401, 200, 200, 200, 200, 200),
    "change cadence":          (401, 403, 403, 200, 200, 200),
    "list events":             (401, 200, 200, 200, 200, 200),
    "read event":              (401, 200, 200, 200, 200, 404),
    # A PK plans a day with themself alone on duty; pk2 naming pk1 is the Kasie's act (issue 23, item 2).
    "create event":            (401, 201, 403, 201, 403, 400),
    "invite":                  (401, 201, 201, 201, 403, 404),
    "uninvite":                (401, 200, 200, 200, 403, 404),
    "roster":                  (401, 200, 403, 200, 403, 404),
    "check in":                (401, 201, 403, 201, 403, 404),
    "undo check-in":           (401, 200, 403, 200, 403, 404),
    # Only the PKs on duty (pk1) or a supervisor change or cancel a day (issue 23, item 2).
    "change event":            (401, 200, 403, 200, 403, 404),
    # An admin runs no guidance: 403 no-guidance-role (issue 23, item 1).
    "finish session":          (401, 200, 404, 200, 403, 404),
    "phone fallback":          (401, 201, 404, 201, 403, 404),
    "plan visit":              (401, 201, 404, 201, 403, 404),
    "visit day list":          (401, 200, 200, 200, 200, 200),
    "areas":                   (401, 200, 200, 200, 200, 200),
    "unmatched clients":       (401, 403, 403, 200, 200, 200),
    "mobile page":             (302, 200, 200, 200, 200, 200),
    "planner page":            (302, 200, 200, 200, 200, 200),
    "new event page":          (302, 200, 200, 200, 200, 200),
    "event page":              (302, 200, 200, 200, 200, 404),
    "roll-call page":          (302, 200, 403, 200, 403, 404),
    "daftar hadir":            (302, 200, 200, 200, 200, 404),
    "visit day page":          (302, 200, 200, 200, 200, 200),
    "plan visit page":         (302, 200, 404, 200, 403, 404),
    "visit report":            (302, 200, 404, 200, 200, 404),
    "areas page":              (302, 403, 403, 200, 200, 200),
    "cancel event":            (401, 200, 403, 200, 403, 404),
}


async def field_fixtures(database_url: str, office) -> dict[str, int]:
    """The event e1 today, 13:00-17:00 (pk1 on duty, c1 and c2 invited, c1 checked
    in as k1), c3 (pk2's, elsewhere), an office session s1 (an hour ago) and a video
    session v1 (five minutes ago) of c4 (pk1's, elsewhere: were they c1's, they would
    clash with e1 at some hours), a planned home visit h1 of c1 at 09:00 (before e1)."""
    c3 = await add_client(database_url, office, "c3", pk="pk2", kelurahan="Koja")
    c4 = await add_client(database_url, office, "c4", pk="pk1", kelurahan="Semper Barat")
    s1 = await add_office_session(database_url, c4, office.staff["pk1"])
    today = office_today()
    async with database(database_url) as db:
        pk1 = await db.get(Staff, office.staff["pk1"].id)
        c1 = await db.get(Client, office.clients["c1"].id)
        event, _invited, _conflicts = await mobile_events.create_event(
            db, pk1, day=today, start_time="13:00", end_time="17:00", kelurahan="Cakung Barat", venue="Kantor Kelurahan",
            officer_ids=[pk1.id], topic="", today=today, tz="Asia/Jakarta")
        k1, _ = await mobile_events.check_in(db, pk1, event, c1, key="fixture-key-01", today=today, tz="Asia/Jakarta")
        v1 = await sessions_domain.create_session(db, pk1, await db.get(Client, c4), mode=SessionMode.video,
                                                  scheduled_at=datetime.now(WIB) - timedelta(minutes=5))
        h1 = await home_visits.plan_visit(db, pk1, c1, day=today, at=None, reason="overdue", note="", today=today, tz="Asia/Jakarta")
        await db.commit()
        return {"e1": event.id, "k1": k1.id, "v1": v1.id, "h1": h1.id, "s1": s1, "c3": c3}


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_against_each_field_work_route(client, office, other_office, sign_in, database_url, role):
    ids = {"c1": office.clients["c1"].id, "c2": office.clients["c2"].id, "pk1": office.staff["pk1"].id, "pk2": office.staff["pk2"].id,
           "today": office_today().isoformat(), **await field_fixtures(database_url, office)}
    if role != "anonymous":
        await sign_in(client, USERNAMES[role])
    column = ROLES.index(role)
    seen = {}
    for label, method, path, body in ENDPOINTS:
        resp = await client.request(method, _fill(path, ids), json=_fill(body, ids), allow_redirects=False)
        seen[label] = resp.status
        if resp.status >= 400 and path.startswith("/api/"):
            data = await resp.json()
            assert set(data) >= {"error", "message"} and "Traceback" not in data["message"], (label, data)
        elif resp.status >= 400:  # a page's refusal is a page in the layout with its code and a way back (issue 18)
            html = await resp.text()
            assert resp.content_type == "text/html" and re.search(r'id="refusal"[^>]*data-error="[\w-]+"', html) and 'id="refusal-back"' in html, (label, html[:200])
            assert "Traceback" not in html, label
        if resp.status == 302:
            assert resp.headers["Location"].startswith("/login"), (label, resp.headers["Location"])
    assert seen == {label: statuses[column] for label, statuses in EXPECTED.items()}
    # Each change the table allowed is in the database, and each it refused left nothing.
    done = {label for label, status in seen.items() if label in WRITES and 200 <= status < 300}
    caller_office = other_office.id if role == "other_office" else office.id
    assert await field_changes_made(database_url, office, caller_office, ids) == done


# The table's changes, each read back (``field_changes_made``).
WRITES = {"change cadence", "create event", "invite", "uninvite", "check in", "undo check-in", "change event", "finish session",
          "phone fallback", "plan visit", "cancel event"}


async def field_changes_made(database_url: str, office, caller_office: int, ids: dict) -> set[str]:
    """Which of WRITES the database shows, against what ``field_fixtures`` made
    (the cadence is the caller's own office's; the rest is ``office``'s). An
    invitation is added, then removed: the audit trail tells each apart."""
    async with database(database_url) as db:
        settings = (await db.get(Office, caller_office)).settings
        e1 = await db.get(MobileEvent, ids["e1"])
        k1 = await db.get(GuidanceSession, ids["k1"])
        s1 = await db.get(GuidanceSession, ids["s1"])
        events_in_koja = await db.scalar(select(func.count()).select_from(MobileEvent).where(MobileEvent.office_id == office.id, MobileEvent.kelurahan == "Koja"))
        sessions = (await db.execute(select(GuidanceSession).where(GuidanceSession.office_id == office.id))).scalars().all()
    invited = {entry.detail["client_id"] for entry in await audit_entries(database_url, "mobile.invite")}
    uninvited = {entry.detail["client_id"] for entry in await audit_entries(database_url, "mobile.uninvite")}
    c1, c2 = office.clients["c1"].id, office.clients["c2"].id
    return {label for label, made in (
        ("change cadence", settings.get(CADENCE_KEY, {}).get("anchor") == "2026-01-03"),
        ("create event", events_in_koja == 1),
        ("invite", invited == {ids["c3"]}),
        ("uninvite", uninvited == {ids["c3"]}),
        ("check in", any(s.client_id == c2 and s.mode == SessionMode.mobile for s in sessions)),
        ("undo check-in", k1.status == SessionStatus.cancelled),
        ("change event", e1.topic == "Keterampilan kerja"),
        ("finish session", s1.status == SessionStatus.ended and s1.outcome == Outcome.attended),
        ("phone fallback", any(s.follows_session_id == ids["v1"] and s.mode == SessionMode.phone for s in sessions)),
        ("plan visit", sum(s.client_id == c1 and s.mode == SessionMode.home_visit for s in sessions) == 2),
        ("cancel event", e1.status == MobileEventStatus.cancelled),
    ) if made}


async def test_a_pk_not_on_duty_sees_only_their_own_invited_clients(client, office, sign_in, database_url):
    ids = await field_fixtures(database_url, office)
    await sign_in(client, "pk2")
    data = await (await client.get(f"/api/mobile-events/{ids['e1']}")).json()
    assert data["invited"] == [office.clients["c2"].id] and data["checked_in"] == []
    page = await (await client.get(f"/mobile-events/{ids['e1']}")).text()
    assert "Klien c2" in page and "Klien c1" not in page
    await sign_in(client, "pk1")  # on duty: everyone invited
    data = await (await client.get(f"/api/mobile-events/{ids['e1']}")).json()
    assert sorted(data["invited"]) == sorted([office.clients["c1"].id, office.clients["c2"].id])


PAGE_FORMS = [
    ("/sessions/{s1}/complete", {"outcome": "attended", "duration_minutes": "20"}),
    ("/sessions/{v1}/phone-fallback", {}),
    ("/clients/{c1}/home-visits/new", {"date": "{today}", "reason": "overdue"}),
    ("/mobile-events/new", {"date": "{today}", "start_time": "08:00", "end_time": "12:00", "kelurahan": "Koja", "venue": "Balai", "officer_ids": "{pk1}"}),
    ("/mobile-events/cadence", {"anchor": "2026-01-03", "every_days": "14"}),
    ("/mobile-events/{e1}/invitations", {"register_number": "REG-c3"}),
    ("/mobile-events/{e1}/invitations/{c2}/remove", {}),
    ("/mobile-events/{e1}/cancel", {}),
    ("/admin/areas/clients/{c3}", {"area_id": "1"}),
]


@pytest.mark.parametrize("path, form", PAGE_FORMS)
async def test_every_field_work_form_needs_its_csrf_token(client, office, sign_in, database_url, path, form):
    ids = {"c1": office.clients["c1"].id, "c2": office.clients["c2"].id, "pk1": office.staff["pk1"].id, "today": office_today().isoformat(),
           **await field_fixtures(database_url, office)}
    await sign_in(client, "kasie")
    before = await row_counts(database_url)
    data = {k: str(_fill(v, ids)) for k, v in form.items()}
    resp = await client.post(_fill(path, ids), data=dict(data, csrf_token="0" * 64), allow_redirects=False)
    assert resp.status == 403 and (await resp.json())["error"] == "csrf"
    assert await row_counts(database_url) == before
    async with database(database_url) as db:
        event = await db.get(MobileEvent, ids["e1"])
        assert event.status.value == "planned"
        assert (await db.get(GuidanceSession, ids["s1"])).status.value == "scheduled"
