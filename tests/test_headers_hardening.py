"""Smaller findings of the security review (issue #12, finding 4), one table each:
headers on every kind of answer (streamed CSV included), no version in
``Server``, ``no-store`` on staff pages, no server path in the missing-recording
answer, no join token written into the error page."""

from __future__ import annotations

import pytest

from server.db.models import Recording
from tests.foundation import add_office_session, database

# Headers and error pages: nothing here depends on which database answers.
pytestmark = pytest.mark.sqlite_only

SECURITY_HEADERS = ("Content-Security-Policy", "X-Frame-Options", "Referrer-Policy", "X-Content-Type-Options")

# (who, path) of answers that carry personal data or come from the app.
ANSWERS = [
    ("pk1", "/caseload"),
    ("pk1", "/clients/{c1}"),
    ("pk1", "/sessions/{s1}"),
    ("kasie", "/audit"),
    ("kasie", "/api/audit/sessions?format=csv"),  # streamed: prepared inside its handler
    ("kasie", "/api/audit/sessions"),
    ("admin", "/admin/staff"),
    (None, "/login"),
    (None, "/j/not-a-token"),
    (None, "/no-such-page"),
    (None, "/api/me"),
]


@pytest.mark.parametrize("who, path", ANSWERS)
async def test_every_answer_carries_the_security_headers_and_is_not_cached(client, office, sign_in, database_url, who, path):
    s1 = await add_office_session(database_url, office.clients["c1"].id, office.staff["pk1"])
    if who:
        await sign_in(client, who)
    resp = await client.get(path.format(c1=office.clients["c1"].id, s1=s1), allow_redirects=False)
    await resp.read()
    missing = [h for h in SECURITY_HEADERS if h not in resp.headers]
    assert missing == [], (resp.status, dict(resp.headers))
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["Server"] == "Bimbing"


async def test_static_files_may_be_cached_and_name_no_version(client, office):
    resp = await client.get("/static/console.js")
    assert resp.status == 200
    assert "no-store" not in resp.headers.get("Cache-Control", "")
    assert resp.headers["Server"] == "Bimbing"


@pytest.mark.parametrize("token", ["not-a-token", "eyJzIjoxfQ.c2VjcmV0LXBhcnQtb2YtdGhlLWxpbms", "x" * 40])
async def test_the_join_link_error_page_does_not_write_the_token_into_the_page(client, office, token):
    resp = await client.get(f"/j/{token}", allow_redirects=False)
    assert resp.status in (404, 410)
    page = await resp.text()
    assert token not in page
    assert 'href="?lang=en"' in page  # the language switch still works, in place


async def test_a_missing_recording_file_answers_409_without_the_servers_path(client, office, sign_in, database_url, settings):
    s1 = await add_office_session(database_url, office.clients["c1"].id, office.staff["pk1"])
    async with database(database_url) as db:
        rec = Recording(session_id=s1, party="officer", path="0123456789abcdef.bimrec", status="ready")
        db.add(rec)
        await db.commit()
        rec_id = rec.id
    await sign_in(client, "pk1")
    resp = await client.get(f"/recordings/{rec_id}")
    body = await resp.text()
    assert resp.status == 409
    assert (await resp.json())["error"] == "recording-unreadable"
    assert str(settings.recordings_dir) not in body and "0123456789abcdef" not in body and "/" not in (await resp.json())["message"]
