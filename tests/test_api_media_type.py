"""A state-changing API call takes application/json, or no body at all
(server/security/csrf.py, layer 3; issue 23, item 7): the calls that read no
body (end, cancel, undo, revoke...) took text/plain, form-encoded and
typeless bodies, against the CSRF module's own statement. What no SQL decides:
SQLite alone (tests/README.md)."""

from __future__ import annotations

import pytest

from tests.foundation import add_office_session, session_row

pytestmark = pytest.mark.sqlite_only

# (content type or None, body): what a cross-site form or a no-cors fetch can send without a preflight.
REFUSED = [
    ("text/plain", b"x"),
    ("text/plain", b""),
    ("application/x-www-form-urlencoded", b"a=1"),
    ("application/x-www-form-urlencoded", b""),
    ("multipart/form-data; boundary=x", b"--x--\r\n"),
    (None, b"x"),  # no Content-Type at all, a body all the same
]


async def _raw_post(client, path: str, content_type: str | None, body: bytes | None):
    """aiohttp's client adds application/octet-stream to a typeless body: skip its
    default to send what a browser's no-cors fetch of a Blob sends (no type)."""
    headers = {"Content-Type": content_type} if content_type else {}
    kwargs = {"skip_auto_headers": ["Content-Type"]} if content_type is None else {}
    return await client.session.request("POST", client.make_url(path), data=body, headers=headers, **kwargs)


@pytest.mark.parametrize("content_type, body", REFUSED)
async def test_a_call_without_a_body_refuses_any_type_but_json_and_changes_nothing(client, office, sign_in, database_url, content_type, body):
    sid = await add_office_session(database_url, office.clients["c1"].id, office.staff["pk1"])
    await sign_in(client, "pk1")
    resp = await _raw_post(client, f"/api/sessions/{sid}/end", content_type, body)
    assert resp.status == 415
    answer = await resp.json()
    assert answer["error"] == "unsupported-media-type" and "application/json" in answer["message"]
    assert (await session_row(database_url, sid)).status.value == "scheduled"


@pytest.mark.parametrize("content_type, body", [(None, None), ("application/json", b""), ("application/json; charset=utf-8", b"")])
async def test_a_call_without_a_body_takes_nothing_or_json(client, office, sign_in, database_url, content_type, body):
    sid = await add_office_session(database_url, office.clients["c1"].id, office.staff["pk1"])
    await sign_in(client, "pk1")
    resp = await _raw_post(client, f"/api/sessions/{sid}/end", content_type, body)
    assert resp.status == 200, await resp.text()
    assert (await session_row(database_url, sid)).status.value == "ended"


@pytest.mark.parametrize("method, path", [("DELETE", "/api/letters/1"), ("POST", "/api/logout"), ("PATCH", "/api/staff/1"), ("PUT", "/api/office/settings")])
async def test_every_state_changing_method_is_held_to_it_signed_in_or_not(client, office, sign_in, method, path):
    for who in (None, "pk1"):
        if who:
            await sign_in(client, who)
        resp = await client.request(method, path, data=b"x", headers={"Content-Type": "text/plain"})
        assert (resp.status, (await resp.json())["error"]) == (415, "unsupported-media-type"), (who, method, path)
    # Signed in still (the refused logout did not sign out).
    assert (await client.get("/api/me")).status == 200


async def test_pages_and_reads_are_not_held_to_it(client, office, sign_in):
    await sign_in(client, "pk1")
    assert (await client.get("/api/me", headers={"Content-Type": "text/plain"})).status == 200
    # A page's form is form-encoded, as ever (its own CSRF token guards it).
    page = await client.post("/logout", data={"csrf_token": "0" * 64}, allow_redirects=False)
    assert (page.status, (await page.json())["error"]) == (403, "csrf")


async def test_a_file_type_is_taken_by_the_partners_report_alone(client, office, sign_in):
    """The one API call whose body is a file (POST /api/referrals/{id}/reports,
    a PDF/JPEG/PNG) takes its types past the check; no other call does. Before
    this the check refused every report with 415 (tests/test_partners.py stores one)."""
    await sign_in(client, "pk1")
    for method, path in (("POST", "/api/clients/1/referrals"), ("POST", "/api/referrals/1/steps"), ("PUT", "/api/clients/1/sentence"),
                         ("POST", "/api/referrals/1/reports/x"), ("POST", "/api/referrals/x/reports")):
        resp = await client.request(method, path, data=b"%PDF-1.4", headers={"Content-Type": "application/pdf"})
        assert (resp.status, (await resp.json())["error"]) == (415, "unsupported-media-type"), path
    # Past the check, the route answers for itself: no referral 99999 here.
    resp = await client.post("/api/referrals/99999/reports", data=b"%PDF-1.4", headers={"Content-Type": "application/pdf"})
    assert (resp.status, (await resp.json())["error"]) == (404, "not-found")
