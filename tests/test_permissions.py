"""Who may do what: every role against every foundation endpoint, as one table.

Roles: nobody signed in, the two PKs of the office (pk1 owns client c1 and its
session s1, pk2 owns c2), the office's supervisor (kasie) and admin, and the
supervisor of another office. A PK reaching for another PK's client gets a 404:
the client's existence is not disclosed.
"""

from __future__ import annotations

import re

from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from server.db.models import Client, GuidanceSession, SessionMode, SessionStatus, Staff, StaffSession, utcnow
from server.security.auth import COOKIE
from tests.foundation import CLIENT_BODY, add_office_session, database, row_counts

ROLES = ["anonymous", "pk1", "pk2", "kasie", "admin", "other_office"]
USERNAMES = {"pk1": "pk1", "pk2": "pk2", "kasie": "kasie", "admin": "admin", "other_office": "x_kasie"}

NEW_CLIENT = {**CLIENT_BODY, "phone": "+62 812 1111 2222"}
OFFICE_SESSION = {"mode": "office", "scheduled_at": "2026-01-10T09:00:00+07:00", "outcome": "attended", "duration_minutes": 30, "notes": "Hadir."}
NEW_STAFF = {"username": "pk.baru", "name": "PK Baru", "role": "pk", "password": "kata sandi panjang"}

# (label, method, path, JSON body) in the order they are tried; {c1}, {s1}... are filled in.
ENDPOINTS = [
    ("me", "GET", "/api/me", None),
    ("list clients", "GET", "/api/clients", None),
    ("read own-office client", "GET", "/api/clients/{c1}", None),
    ("read record", "GET", "/api/clients/{c1}/record", None),
    ("read missing client", "GET", "/api/clients/999999", None),
    ("add client for pk1", "POST", "/api/clients", dict(NEW_CLIENT, officer_id="{pk1}")),
    ("read session", "GET", "/api/sessions/{s1}", None),
    ("edit notes", "PATCH", "/api/sessions/{s1}", {"notes": "Catatan tambahan."}),
    ("notes history", "GET", "/api/sessions/{s1}/history", None),
    ("log session", "POST", "/api/sessions", dict(OFFICE_SESSION, client_id="{c1}")),
    ("start video session", "POST", "/api/sessions", {"mode": "video", "client_id": "{c1}"}),
    ("reissue join link", "POST", "/api/sessions/{v1}/link", None),
    ("revoke join link", "DELETE", "/api/sessions/{v1}/link", None),
    ("end session", "POST", "/api/sessions/{s1}/end", None),
    ("list staff", "GET", "/api/staff", None),
    ("add staff", "POST", "/api/staff", NEW_STAFF),
    ("rename staff", "PATCH", "/api/staff/{pk2}", {"name": "Nama Baru"}),
    ("caseload page", "GET", "/caseload", None),
    ("new client page", "GET", "/clients/new", None),
    ("client page", "GET", "/clients/{c1}", None),
    ("log session page", "GET", "/clients/{c1}/sessions/new", None),
    ("session page", "GET", "/sessions/{s1}", None),
    ("staff admin page", "GET", "/admin/staff", None),
    ("health", "GET", "/healthz", None),
    ("login page", "GET", "/login", None),
]

ENDPOINTS_BY_LABEL = {endpoint[0]: endpoint for endpoint in ENDPOINTS}

#                       anonymous pk1  pk2  kasie admin other_office
EXPECTED = {
    "me":                      (401, 200, 200, 200, 200, 200),
    "list clients":            (401, 200, 200, 200, 200, 200),
    "read own-office client":  (401, 200, 404, 200, 200, 404),
    "read record":             (401, 200, 404, 200, 200, 404),
    "read missing client":     (401, 404, 404, 404, 404, 404),
    "add client for pk1":      (401, 201, 403, 201, 201, 400),
    "read session":            (401, 200, 404, 200, 200, 404),
    # Admins manage staff and settings and do not run guidance (DESIGN.md; docs/api.md).
    "edit notes":              (401, 200, 404, 200, 403, 404),
    "notes history":           (401, 200, 404, 200, 200, 404),
    "log session":             (401, 201, 404, 201, 403, 404),
    "start video session":     (401, 201, 404, 201, 403, 404),
    "reissue join link":       (401, 200, 404, 200, 403, 404),
    "revoke join link":        (401, 200, 404, 200, 403, 404),
    "end session":             (401, 200, 404, 200, 403, 404),
    "list staff":              (401, 200, 200, 200, 200, 200),
    "add staff":               (401, 403, 403, 403, 201, 403),
    "rename staff":            (401, 403, 403, 403, 200, 403),
    "caseload page":           (302, 200, 200, 200, 200, 200),
    "new client page":         (302, 200, 200, 200, 200, 200),
    "client page":             (302, 200, 404, 200, 200, 404),
    "log session page":        (302, 200, 404, 200, 403, 404),
    "session page":            (302, 200, 404, 200, 200, 404),
    "staff admin page":        (302, 403, 403, 403, 200, 403),
    "health":                  (200, 200, 200, 200, 200, 200),
    "login page":              (200, 200, 200, 200, 200, 200),
}


# The table's changes, each read back from the database (``changes_made``).
WRITES = {"add client for pk1", "edit notes", "log session", "start video session", "reissue join link", "revoke join link",
          "end session", "add staff", "rename staff"}


async def changes_made(database_url: str, ids: dict[str, int]) -> set[str]:
    """Which of WRITES the database shows, against the state the fixtures made."""
    async with database(database_url) as db:
        s1 = await db.get(GuidanceSession, ids["s1"])
        v1 = await db.get(GuidanceSession, ids["v1"])
        pk2 = await db.get(Staff, ids["pk2"])
        c1_sessions = (await db.execute(select(GuidanceSession).where(GuidanceSession.client_id == ids["c1"]))).scalars().all()
        new_client = await db.scalar(select(func.count()).select_from(Client).where(Client.register_number == NEW_CLIENT["register_number"]))
        new_staff = await db.scalar(select(func.count()).select_from(Staff).where(Staff.username == NEW_STAFF["username"]))
    logged = [s for s in c1_sessions if s.mode == SessionMode.office and s.id != ids["s1"]]
    started = [s for s in c1_sessions if s.mode == SessionMode.video and s.id != ids["v1"]]
    # The link is reissued, then revoked: each raises the session's link version by one.
    return {label for label, made in (
        ("add client for pk1", new_client == 1),
        ("edit notes", s1.notes == ENDPOINTS_BY_LABEL["edit notes"][3]["notes"]),
        ("log session", len(logged) == 1 and logged[0].outcome is not None),
        ("start video session", len(started) == 1),
        ("reissue join link", v1.link_version >= 2),
        ("revoke join link", v1.link_version >= 3),
        ("end session", s1.status == SessionStatus.ended),
        ("add staff", new_staff == 1),
        ("rename staff", pk2.name == "Nama Baru"),
    ) if made}


def _fill(value, ids: dict[str, int]):
    if isinstance(value, str) and value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
        return ids[value[1:-1]]
    if isinstance(value, str):
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    return value


@pytest.fixture
async def s1(database_url, office) -> int:
    return await add_office_session(database_url, office.clients["c1"].id, office.staff["pk1"])


@pytest.fixture
async def v1(database_url, office) -> int:
    """A scheduled video session of pk1's client c1 (its join link can be reissued)."""
    async with database(database_url) as db:
        from datetime import datetime, timezone

        from server.domain.record import sessions as sessions_domain

        actor = await db.get(Staff, office.staff["pk1"].id)
        c1 = await db.get(Client, office.clients["c1"].id)
        session = await sessions_domain.create_session(db, actor, c1, mode=SessionMode.video, scheduled_at=datetime.now(timezone.utc))
        await db.commit()
        return session.id


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_against_each_endpoint(client, office, other_office, s1, v1, sign_in, database_url, role):
    ids = {"c1": office.clients["c1"].id, "c2": office.clients["c2"].id, "s1": s1, "v1": v1, "pk1": office.staff["pk1"].id, "pk2": office.staff["pk2"].id}
    if role != "anonymous":
        await sign_in(client, USERNAMES[role])
    column = ROLES.index(role)
    seen, errors = {}, {}
    for label, method, path, body in ENDPOINTS:
        resp = await client.request(method, _fill(path, ids), json=_fill(body, ids), allow_redirects=False)
        seen[label] = resp.status
        if resp.status >= 400 and path.startswith("/api/"):
            # Every API refusal has the one error shape and no stack trace.
            data = await resp.json()
            errors[label] = data
            assert set(data) >= {"error", "message"} and "Traceback" not in data["message"], (label, data)
        elif resp.status >= 400:
            # A page's refusal is a page in the layout with its code and a way back (issue 18), no stack trace.
            html = await resp.text()
            errors[label] = html
            assert resp.content_type == "text/html" and re.search(r'id="refusal"[^>]*data-error="[\w-]+"', html) and 'id="refusal-back"' in html, (label, html[:200])
            assert "Traceback" not in html, label
        if resp.status == 302:
            assert resp.headers["Location"].startswith("/login"), (label, resp.headers["Location"])
    expected = {label: statuses[column] for label, statuses in EXPECTED.items()}
    assert seen == expected
    # Each change the table allowed is in the database, and each it refused left nothing.
    done = {label for label, status in seen.items() if label in WRITES and 200 <= status < 300}
    assert await changes_made(database_url, ids) == done


@pytest.mark.parametrize(
    "role, visible",
    [
        ("pk1", ["REG-c1"]),
        ("pk2", ["REG-c2"]),
        ("kasie", ["REG-c1", "REG-c2"]),
        ("admin", ["REG-c1", "REG-c2"]),
        ("other_office", ["x_REG-c1", "x_REG-c2"]),
    ],
)
async def test_each_role_sees_only_its_caseload(client, office, other_office, sign_in, role, visible):
    await sign_in(client, USERNAMES[role])
    data = await (await client.get("/api/clients")).json()
    assert sorted(c["register_number"] for c in data["clients"]) == visible
    page = await (await client.get("/caseload")).text()
    for number in ["REG-c1", "REG-c2", "x_REG-c1", "x_REG-c2"]:
        assert (f">{number} ·" in page) == (number in visible), number


async def test_a_pk_sees_only_themself_in_the_staff_list(client, office, sign_in):
    await sign_in(client, "pk1")
    data = await (await client.get("/api/staff")).json()
    assert [s["username"] for s in data["staff"]] == ["pk1"]


async def test_pk_cannot_move_own_client_to_another_pks_caseload(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    before = await row_counts(database_url)
    resp = await client.post("/api/clients", json=dict(NEW_CLIENT, officer_id=office.staff["pk2"].id))
    assert resp.status == 403
    assert (await resp.json())["error"] == "forbidden"
    assert await row_counts(database_url) == before


async def _session_cookie(client) -> str:
    cookies = {c.key: c.value for c in client.session.cookie_jar}
    return cookies[COOKIE]


@pytest.mark.parametrize("tamper", ["flip last character", "truncate", "append", "other staff's token shape", "empty"])
async def test_a_tampered_cookie_signs_nobody_in(client, office, sign_in, tamper):
    await sign_in(client, "kasie")
    token = await _session_cookie(client)
    forged = {
        "flip last character": token[:-1] + ("A" if token[-1] != "A" else "B"),
        "truncate": token[:-4],
        "append": token + "x",
        "other staff's token shape": "A" * len(token),
        "empty": "",
    }[tamper]
    client.session.cookie_jar.clear()
    resp = await client.get("/api/me", headers={"Cookie": f"{COOKIE}={forged}"})
    assert resp.status == 401
    assert (await resp.json())["error"] == "unauthenticated"
    page = await client.get("/caseload", headers={"Cookie": f"{COOKIE}={forged}"}, allow_redirects=False)
    assert page.status == 302 and page.headers["Location"].startswith("/login")


@pytest.mark.clock
async def test_an_expired_session_cookie_is_refused(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    assert (await client.get("/api/me")).status == 200
    async with database(database_url) as db:
        await db.execute(update(StaffSession).values(expires_at=utcnow() - timedelta(minutes=1)))
        await db.commit()
    resp = await client.get("/api/me")
    assert resp.status == 401
    assert (await resp.json())["error"] == "unauthenticated"


async def _form_token(client, path: str) -> str:
    import re

    html = await (await client.get(path)).text()
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "the form carries a CSRF token"
    return match.group(1)


@pytest.mark.parametrize("token", ["missing", "wrong", "from another session"])
async def test_a_form_post_without_the_right_csrf_token_is_refused(client, office, sign_in, database_url, aiohttp_client, token):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    form = {"mode": "office", "outcome": "attended", "duration_minutes": "20", "notes": "Hadir.", "scheduled_at": "2026-01-10T09:00"}
    if token == "wrong":
        form["csrf_token"] = "0" * 64
    elif token == "from another session":
        # A valid token of a different sign-in (the same PK in another browser).
        form["csrf_token"] = await _form_token(client, f"/clients/{c1}/sessions/new")
        await client.post("/logout", data={"csrf_token": form["csrf_token"]}, allow_redirects=False)
        await sign_in(client, "pk1")
    before = await row_counts(database_url)
    resp = await client.post(f"/clients/{c1}/sessions/new", data=form, allow_redirects=False)
    assert resp.status == 403
    assert (await resp.json())["error"] == "csrf"
    assert await row_counts(database_url) == before


async def test_a_form_post_with_its_csrf_token_goes_through(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    token = await _form_token(client, f"/clients/{c1}/sessions/new")
    form = {"csrf_token": token, "mode": "office", "outcome": "attended", "duration_minutes": "20", "notes": "Hadir.", "scheduled_at": "2026-01-10T09:00"}
    resp = await client.post(f"/clients/{c1}/sessions/new", data=form, allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/sessions/")
    logged = await (await client.get("/api" + resp.headers["Location"])).json()
    assert (logged["client_id"], logged["mode"], logged["outcome"], logged["notes"]) == (c1, "office", "attended", "Hadir.")


@pytest.mark.parametrize(
    "headers, status",
    [
        ({"Origin": "https://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Sec-Fetch-Site": "cross-site"}, 403),
        ({"Sec-Fetch-Site": "same-site"}, 403),
        ({"Sec-Fetch-Site": "cross-site", "Origin": "{own}"}, 403),
        ({"Sec-Fetch-Site": "same-origin", "Origin": "{own}"}, 201),
        ({"Origin": "{own}"}, 201),
        ({}, 201),
    ],
)
async def test_json_posts_from_another_site_are_refused(client, office, sign_in, database_url, headers, status):
    await sign_in(client, "pk1")
    own = f"http://{client.server.host}:{client.server.port}"
    headers = {k: v.replace("{own}", own) for k, v in headers.items()}
    before = await row_counts(database_url)
    resp = await client.post("/api/sessions", json=dict(OFFICE_SESSION, client_id=office.clients["c1"].id), headers=headers)
    assert resp.status == status, await resp.text()
    if status == 403:
        assert (await resp.json())["error"] == "cross-site"
        assert await row_counts(database_url) == before
