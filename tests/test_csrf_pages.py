"""Every state-changing page route needs its CSRF token, whatever the content
type (issue #12, finding 2: a text/plain POST to /sessions/{id}/notes without a
token wiped the notes)."""

from __future__ import annotations

import pytest

from tests.foundation import add_office_session, session_row

# Refused before any SQL runs: nothing here depends on which database answers.
pytestmark = pytest.mark.sqlite_only

# (content type, body) a cross-site page can send without a preflight, and a few it cannot.
HOSTILE = [
    ("text/plain", b"notes="),
    ("text/plain;charset=UTF-8", b""),
    ("application/json", b'{"notes": ""}'),
    ("application/octet-stream", b"\x00"),
    (None, b""),
    ("application/x-www-form-urlencoded", b"notes="),
    ("multipart/form-data; boundary=x", b"--x\r\nContent-Disposition: form-data; name=\"notes\"\r\n\r\n\r\n--x--\r\n"),
]


@pytest.mark.parametrize("content_type, body", HOSTILE)
async def test_a_page_post_without_its_token_is_refused_whatever_the_content_type(client, office, sign_in, database_url, content_type, body):
    sid = await add_office_session(database_url, office.clients["c1"].id, office.staff["pk1"], notes="Catatan yang tidak boleh hilang.")
    await sign_in(client, "pk1")
    headers = {"Content-Type": content_type} if content_type else {}
    resp = await client.post(f"/sessions/{sid}/notes", data=body, headers=headers, allow_redirects=False)
    assert resp.status == 403
    assert (await resp.json())["error"] == "csrf"
    assert (await session_row(database_url, sid)).notes == "Catatan yang tidak boleh hilang."


@pytest.mark.parametrize("header, status", [("0" * 64, 403), (None, 302)])
async def test_a_page_post_that_is_not_a_form_may_carry_the_token_in_a_header(client, office, sign_in, header, status):
    await sign_in(client, "pk1")
    if header is None:
        import re

        page = await (await client.get("/caseload")).text()
        header = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    resp = await client.post("/logout", data=b"", headers={"Content-Type": "text/plain", "X-CSRF-Token": header}, allow_redirects=False)
    assert resp.status == status
