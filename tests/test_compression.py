"""What is sent gzip-compressed (server/web/compression.py): the browser code,
and the join page only while no staff member is signed in (BREACH: no secret
may be compressed beside reflected input)."""

from __future__ import annotations

import pytest

from tests.test_call_pages import start_video_session

# Compression of answers: nothing here depends on which database answers.
pytestmark = pytest.mark.sqlite_only

GZIP = {"Accept-Encoding": "gzip, deflate, br"}


@pytest.mark.parametrize("path", ["/static/join.js", "/static/call.css", "/static/signaling.js"])
async def test_browser_code_is_sent_compressed(client, path):
    resp = await client.get(path, headers=GZIP, auto_decompress=False)
    assert resp.status == 200 and resp.headers.get("Content-Encoding") == "gzip"
    assert len(await resp.read()) < 0.6 * (await (await client.get(path)).read()).__len__()


async def test_a_file_that_is_not_text_is_sent_as_it_is(client):
    resp = await client.get("/static/notify.wav", headers=GZIP, auto_decompress=False)
    assert resp.status == 200 and "Content-Encoding" not in resp.headers


async def test_the_join_page_is_compressed_for_the_client_but_not_for_signed_in_staff(client, sign_in, office):
    session = await start_video_session(client, sign_in, office)
    token_path = "/j/" + session["client_join_url"].rsplit("/j/", 1)[1]
    # a PK trying the link in their own browser: CSRF token in the page, so no compression
    assert (await client.get(token_path, allow_redirects=False)).status == 303
    staff_view = await client.get("/join", headers=GZIP, auto_decompress=False)
    assert staff_view.status == 200 and "Content-Encoding" not in staff_view.headers
    assert b"csrf_token" in await staff_view.read()
    # the client's phone: nobody signed in
    client.session.cookie_jar.clear()
    assert (await client.get(token_path, allow_redirects=False)).status == 303
    phone_view = await client.get("/join", headers=GZIP, auto_decompress=False)
    assert phone_view.status == 200 and phone_view.headers.get("Content-Encoding") == "gzip"
    # other pages never are
    login = await client.get("/login", headers=GZIP, auto_decompress=False)
    assert login.status == 200 and "Content-Encoding" not in login.headers
