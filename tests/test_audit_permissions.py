"""Who sees what in the audit views, as a table: a supervisor or admin sees the
whole office, a PK only their own (also in the CSV: a PK cannot export the
office), a supervisor of another office sees nothing of this one, and anyone
without a staff session (anonymous, or a client holding a join pass) gets 401."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest

from server.db.models import SessionMode, SessionStatus
from server.security import joinpass
from tests.audit_support import add_session
from tests.clock import OFFICE_TZ

VIEWS = ("sessions", "csv", "anomalies", "officers", "clients", "trail", "verify")


@pytest.fixture
async def offices(database_url, office, other_office, now):
    """One interrupted session per client in both offices (so each is also an anomaly), three days ago."""
    ids = {}
    for label, o, key in (("s1", office, "c1"), ("s2", office, "c2"), ("x1", other_office, "c1")):
        ids[label] = await add_session(database_url, o.clients[key], mode=SessionMode.video, status=SessionStatus.interrupted, duration_seconds=900, scheduled_at=now - timedelta(days=3))
    names = {v: k for k, v in ids.items()}
    names.update({("staff", s.id): ("x_" if o is other_office else "") + k for o in (office, other_office) for k, s in o.staff.items()})
    names.update({("client", c.id): ("x" if o is other_office else "") + k for o in (office, other_office) for k, c in o.clients.items()})
    return ids, names


async def look(http, view: str, names, query: str = ""):
    """(status, what this viewer can see) for one audit view."""
    url = {
        "sessions": "/api/audit/sessions?per_page=200",
        "csv": "/api/audit/sessions?format=csv",
        "anomalies": "/api/audit/anomalies",
        "officers": "/api/audit/officers",
        "clients": "/api/audit/clients",
        "trail": "/api/audit/trail",
        "verify": "/api/audit/verify",
    }[view]
    if query:
        url += ("&" if "?" in url else "?") + query.lstrip("?")
    resp = await http.get(url)
    if resp.status != 200:
        return resp.status, None
    if view == "csv":
        rows = list(csv.DictReader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
        return 200, {names[int(r["id"])] for r in rows}
    data = await resp.json()
    if view == "sessions":
        return 200, {names[r["id"]] for r in data["sessions"]}
    if view == "anomalies":
        return 200, {names[a["session_id"]] if a["session_id"] else names[("client", a["client_id"])] for a in data["anomalies"]}
    if view == "officers":
        return 200, {names[("staff", o["officer_id"])] for o in data["officers"]}
    if view == "clients":
        return 200, {names[("client", c["client_id"])] for c in data["clients"]}
    if view == "trail":
        return 200, {e["actor"] for e in data["entries"]}
    return 200, data["ok"]


OFFICE_WIDE = {
    "sessions": (200, {"s1", "s2"}),
    "csv": (200, {"s1", "s2"}),
    # Each seeded client missed four periods in a row before its session: a three-misses alert each.
    "anomalies": (200, {"s1", "s2", "c1", "c2"}),
    "officers": (200, {"pk1", "pk2"}),
    "clients": (200, {"c1", "c2"}),
    "verify": (200, True),
}

TABLE = {
    "kasie": OFFICE_WIDE,
    "admin": OFFICE_WIDE,
    "pk1": {
        "sessions": (200, {"s1"}),
        "csv": (200, {"s1"}),
        "anomalies": (200, {"s1", "c1"}),
        "officers": (200, {"pk1"}),
        "clients": (200, {"c1"}),
        "trail": (403, None),
        "verify": (403, None),
    },
    "pk2": {
        "sessions": (200, {"s2"}),
        "csv": (200, {"s2"}),
        "anomalies": (200, {"s2", "c2"}),
        "officers": (200, {"pk2"}),
        "clients": (200, {"c2"}),
        "trail": (403, None),
        "verify": (403, None),
    },
    # The other office's supervisor: its own session x1, its client xc2 who is overdue, and both clients' three-misses alerts.
    "x_kasie": {
        "sessions": (200, {"x1"}),
        "csv": (200, {"x1"}),
        "anomalies": (200, {"x1", "xc1", "xc2"}),
        "officers": (200, {"x_pk1", "x_pk2"}),
        "clients": (200, {"xc1", "xc2"}),
        "verify": (200, True),
    },
}


@pytest.mark.parametrize("viewer", list(TABLE))
async def test_each_viewer_sees_exactly_their_part_of_the_log(client, offices, sign_in, viewer):
    _ids, names = offices
    await sign_in(client, viewer)
    for view, expected in TABLE[viewer].items():
        assert await look(client, view, names) == expected, f"{viewer} / {view}"


@pytest.mark.parametrize("viewer", ["kasie", "x_kasie"])
async def test_the_trail_lists_only_the_viewers_office(client, offices, sign_in, viewer):
    _ids, names = offices
    for who in ("pk1", "x_pk1"):  # each signs in once, leaving an auth.login entry
        await sign_in(client, who)
    await sign_in(client, viewer)
    status, actors = await look(client, "trail", names)
    assert status == 200
    mine, theirs = ("pk1", "x_pk1") if viewer == "kasie" else ("x_pk1", "pk1")
    assert mine in actors and viewer in actors
    assert theirs not in actors and ("x_kasie" if viewer == "kasie" else "kasie") not in actors


@pytest.mark.parametrize(
    "viewer, query",
    [
        ("pk1", "?officer_id={pk2}"),  # another PK's sessions by officer
        ("pk1", "?client_id={c2}"),  # another PK's client
        ("x_kasie", "?officer_id={pk1}"),  # another office's PK
        ("x_kasie", "?client_id={c1}"),
    ],
)
async def test_filtering_for_someone_elses_sessions_gives_nothing(client, office, offices, sign_in, viewer, query):
    _ids, names = offices
    await sign_in(client, viewer)
    q = query.format(pk2=office.staff["pk2"].id, pk1=office.staff["pk1"].id, c1=office.clients["c1"].id, c2=office.clients["c2"].id)
    for view in ("sessions", "csv", "anomalies"):
        status, seen = await look(client, view, names, q)
        assert status == 200 and seen == set(), f"{viewer} {view}{q}: {seen}"


async def test_nobody_without_a_staff_session_gets_anything(client, database_url, office, offices, settings, now):
    """Anonymous callers and a client's join pass (a real, valid one) get 401 on every view."""
    ids, names = offices
    grant = joinpass.ClientPass(session_id=ids["s1"], link_version=1, device="d" * 16, expires=now + timedelta(hours=2))
    for cookies in ({}, {joinpass.COOKIE: joinpass.encode(settings.secret_key, grant)}):
        client.session.cookie_jar.clear()
        client.session.cookie_jar.update_cookies(cookies)
        for view in VIEWS:
            assert await look(client, view, names) == (401, None), (cookies.keys(), view)


async def test_a_pk_never_reaches_the_integrity_page_and_pages_are_scoped(client, offices, sign_in):
    await sign_in(client, "pk1")
    resp = await client.get("/audit/integrity")
    assert resp.status == 403
    resp = await client.get("/audit")
    html = await resp.text()
    ids, _names = offices
    assert resp.status == 200
    assert f'data-session-id="{ids["s1"]}"' in html and f'data-session-id="{ids["s2"]}"' not in html


@pytest.mark.clock
async def test_the_supervisor_reads_every_audit_page_and_a_pk_only_their_own_reports(client, office, offices, sign_in, now):
    ids, _names = offices
    pk1, pk2 = office.staff["pk1"].id, office.staff["pk2"].id
    c1, c2 = office.clients["c1"].id, office.clients["c2"].id
    month = (now - timedelta(days=3)).astimezone(OFFICE_TZ).strftime("%Y-%m")  # the month of s1 and s2
    await sign_in(client, "kasie")
    home = await client.get("/")
    assert str(home.url).endswith("/audit")  # a supervisor lands on the audit log
    for path in ("/audit", "/audit?sort=duration&page=1", "/audit/anomalies", f"/audit/officers?month={month}", "/audit/integrity",
                 f"/audit/reports/client/{c1}?month={month}", f"/audit/reports/officer/{pk2}?month={month}"):
        resp = await client.get(path)
        assert resp.status == 200, (path, await resp.text())
    report = await (await client.get(f"/audit/reports/client/{c1}?month={month}")).text()
    assert "audit-print.css" in report and f'data-session-id="{ids["s1"]}"' in report and f'data-session-id="{ids["s2"]}"' not in report
    integrity = await (await client.get("/audit/integrity")).text()
    assert 'data-ok="true"' in integrity

    await sign_in(client, "pk1")
    assert (await client.get(f"/audit/reports/officer/{pk1}?month={month}")).status == 200
    assert (await client.get(f"/audit/reports/officer/{pk2}?month={month}")).status == 404
    assert (await client.get(f"/audit/reports/client/{c2}?month={month}")).status == 404
    assert (await client.get(f"/audit/reports/client/{c1}?month=2026-13")).status == 400
