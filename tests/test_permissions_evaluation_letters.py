"""Who may read the evaluation, issue, read and revoke letters, and edit the
office profile: every role against each route of issue #10, as one table
(the shape of tests/test_permissions.py). A PK reaching for another PK's
client or letter gets a 404; the verification page is public."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from server.db.models import Letter
from tests.foundation import database
from tests.test_permissions import ROLES, USERNAMES, _fill

ENDPOINTS = [
    ("evaluation api", "GET", "/api/reports/evaluation", None),
    ("evaluation csv", "GET", "/api/reports/evaluation?format=csv&table=officers", None),
    ("evaluation page", "GET", "/evaluation", None),
    ("clients behind", "GET", "/evaluation/clients", None),
    ("issue letter", "POST", "/api/clients/{c1}/letters", {"kind": "keterangan"}),
    ("list letters", "GET", "/api/clients/{c1}/letters", None),
    ("letter page", "GET", "/letters/{letter}", None),
    ("revoke letter", "DELETE", "/api/letters/{letter}", None),
    ("verify page", "GET", "/v/{code}", None),
    ("office profile page", "GET", "/admin/office", None),
]

#                       anonymous pk1  pk2  kasie admin other_office
EXPECTED = {
    "evaluation api":      (401, 200, 200, 200, 200, 200),
    "evaluation csv":      (401, 200, 200, 200, 200, 200),
    "evaluation page":     (302, 200, 200, 200, 200, 200),
    "clients behind":      (302, 200, 200, 200, 200, 200),
    # Letters are documents of guidance: an admin issues and revokes none (issue 23, item 1).
    "issue letter":        (401, 201, 404, 201, 403, 404),
    "list letters":        (401, 200, 404, 200, 200, 404),
    "letter page":         (302, 200, 404, 200, 200, 404),
    "revoke letter":       (401, 200, 404, 200, 403, 404),
    "verify page":         (200, 200, 200, 200, 200, 200),
    "office profile page": (302, 403, 403, 403, 200, 403),
}


@pytest.mark.parametrize("role", ROLES)
async def test_each_role_against_each_route(client, office, other_office, sign_in, database_url, role):
    await sign_in(client, "pk1")
    letter = await (await client.post(f"/api/clients/{office.clients['c1'].id}/letters", json={"kind": "keterangan"})).json()
    client.session.cookie_jar.clear()
    ids = {"c1": office.clients["c1"].id, "letter": letter["id"], "code": letter["verify_url"].rsplit("/v/", 1)[1]}
    if role != "anonymous":
        await sign_in(client, USERNAMES[role])
    column = ROLES.index(role)
    seen = {}
    for label, method, path, body in ENDPOINTS:
        resp = await client.request(method, _fill(path, ids), json=_fill(body, ids), allow_redirects=False)
        seen[label] = resp.status
        if resp.status >= 400 and path.startswith("/api/"):
            data = await resp.json()
            assert set(data) >= {"error", "message"}, (label, data)
        elif resp.status >= 400:  # a page's refusal is a page in the layout, with a way back
            html = await resp.text()
            assert resp.content_type == "text/html" and 'class="topbar"' in html and 'id="refusal-back"' in html, (label, html[:200])
        if resp.status == 302:
            assert resp.headers["Location"].startswith("/login"), (label, resp.headers["Location"])
    assert seen == {label: statuses[column] for label, statuses in EXPECTED.items()}
    # The letter issued here is stored where allowed and the first one revoked where allowed; refused, neither.
    async with database(database_url) as db:
        letters = (await db.execute(select(Letter).where(Letter.client_id == ids["c1"]).order_by(Letter.id))).scalars().all()
    assert (len(letters), letters[0].revoked_at is not None) == (1 + (seen["issue letter"] == 201), seen["revoke letter"] == 200)


async def test_another_office_sees_none_of_this_offices_figures(client, office, other_office, sign_in, database_url):
    await sign_in(client, "x_kasie")
    body = await (await client.get("/api/reports/evaluation")).json()
    officers = {o["officer_id"] for o in body["officers"]}
    assert officers.isdisjoint({office.staff["pk1"].id, office.staff["pk2"].id})
    assert sum(a["clients"] for a in body["areas"]) == 2  # its own two clients
