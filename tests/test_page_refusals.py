"""A page that refuses says why in the layout and offers a way back (issue 18:
a refused Surat Keterangan Selesai showed a bare text/plain 409). One table of
refusals across the staff pages: each answers its status with an HTML page in
base.html, never text/plain or JSON, with a link back; the API keeps JSON."""

from __future__ import annotations

import re
from html import unescape

import pytest

from tests.foundation import add_office_session
from tests.test_pages import csrf_token

# (who, method, path, form, status, what shows the way back): "refusal" is the
# refusal page's own link back; a form's id is the page shown again with its form.
REFUSALS = [
    ("pk2", "GET", "/clients/{c1}", None, 404, "refusal"),  # another PK's client
    ("pk1", "GET", "/admin/staff", None, 403, "refusal"),
    ("pk1", "GET", "/admin/settings", None, 403, "refusal"),
    ("pk1", "GET", "/admin/office", None, 403, "refusal"),
    ("pk1", "GET", "/admin/areas", None, 403, "refusal"),
    ("pk1", "GET", "/audit/integrity", None, 403, "refusal"),
    ("kasie", "GET", "/audit?format=csv", None, 400, "refusal"),
    ("kasie", "GET", "/audit?mode=perahu", None, 400, "refusal"),
    ("kasie", "GET", "/evaluation/clients?on=kemarin", None, 400, "refusal"),
    ("kasie", "GET", "/letters/999999", None, 404, "refusal"),
    ("kasie", "GET", "/sessions/999999", None, 404, "refusal"),
    ("kasie", "GET", "/audit/reports/officer/999999", None, 404, "refusal"),
    ("kasie", "GET", "/mobile-events/999999", None, 404, "refusal"),
    ("kasie", "GET", "/halaman-yang-tidak-ada", None, 404, "refusal"),
    ("kasie", "GET", "/sessions/{office_session}/report", None, 404, "refusal"),  # a visit report of an office session
    ("pk1", "GET", "/office/logo", None, 404, "refusal"),  # no logo yet
    ("pk1", "GET", "/clients/{c1}/portal-link/qr.svg", None, 404, "refusal"),  # no link yet
    ("pk2", "POST", "/letters/{letter}/revoke", {}, 404, "refusal"),  # a letter about another PK's client
    ("kasie", "POST", "/admin/areas/clients/{c1}", {"area_id": "bukan-angka"}, 400, "refusal"),
    ("kasie", "POST", "/clients/{c1}/letters", {"kind": "selesai"}, 409, "letter-form"),  # supervision has not ended
    ("kasie", "POST", "/clients/{c1}/letters", {"kind": "pujian"}, 400, "letter-form"),
    ("kasie", "POST", "/letters/999999/revoke", {}, 404, "refusal"),
]


@pytest.fixture
async def things(client, office, sign_in, database_url):
    """A letter about pk1's client and an office session, to refuse things about."""
    await sign_in(client, "pk1")
    letter = await (await client.post(f"/api/clients/{office.clients['c1'].id}/letters", json={"kind": "keterangan"})).json()
    session_id = await add_office_session(database_url, office.clients["c1"].id, office.staff["pk1"])
    client.session.cookie_jar.clear()
    return {"c1": office.clients["c1"].id, "letter": letter["id"], "office_session": session_id}


async def test_every_page_refusal_is_a_page_in_the_layout_with_a_way_back(client, office, sign_in, things):
    seen = []
    for who, method, path, form, status, back in REFUSALS:
        await sign_in(client, who)
        url = path.format(**things)
        if form is not None:
            form = {"csrf_token": csrf_token(await (await client.get("/caseload")).text()), **form}
        resp = await client.request(method, url, data=form, allow_redirects=False)
        html = await resp.text()
        seen.append((method, path, resp.status, resp.content_type))
        assert resp.status == status, (method, url, html[:300])
        assert resp.content_type == "text/html", (method, url, resp.content_type, html[:300])
        assert 'class="topbar"' in html and "<main" in html, (method, url)  # base.html
        if back == "refusal":
            match = re.search(r'<section[^>]*id="refusal"[^>]*data-status="(\d+)"', html)
            assert match and match.group(1) == str(status), (method, url)
            message = re.search(r'id="refusal-message">([^<]+)<', html)
            assert message and message.group(1).strip(), (method, url)
            assert re.search(r'<a class="button" href="/[^"]*" id="refusal-back">', html), (method, url)
        else:
            assert f'id="{back}"' in html and re.search(r'id="letter-error">[^<]+<', html), (method, url)
    assert len(seen) == len(REFUSALS)


async def test_the_way_back_is_the_page_the_reader_came_from_on_this_site_only(client, office, sign_in, things):
    await sign_in(client, "kasie")
    came_from = f"/clients/{things['c1']}"
    resp = await client.get("/letters/999999", headers={"Referer": str(client.make_url(came_from))})
    assert re.search(r'href="([^"]+)" id="refusal-back"', await resp.text()).group(1) == came_from
    for hostile in ("https://evil.example/clients/1", "http://evil.example//caseload", "javascript:alert(1)"):
        resp = await client.get("/letters/999999", headers={"Referer": hostile})
        assert re.search(r'href="([^"]+)" id="refusal-back"', await resp.text()).group(1) == "/", hostile


async def test_refusals_speak_the_pages_language_and_the_api_keeps_json(client, office, sign_in, things):
    await sign_in(client, "pk2")
    indonesian = unescape(await (await client.get(f"/clients/{things['c1']}")).text())
    english = unescape(await (await client.get(f"/clients/{things['c1']}?lang=en")).text())
    assert "Halaman atau data yang dicari tidak ada." in indonesian
    assert "The page or record you asked for does not exist." in english
    api = await client.get(f"/api/clients/{things['c1']}")
    assert api.status == 404 and (await api.json())["error"] == "not-found"
    # A page asked for JSON answers JSON, as before.
    asked = await client.get(f"/clients/{things['c1']}", headers={"Accept": "application/json"})
    assert asked.status == 404 and (await asked.json())["error"] == "not-found"
