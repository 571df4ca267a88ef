"""The call pages: the client's join page reached through the link, the
officer's console with its sharing tools, and who may open which."""

from __future__ import annotations

import json
import re
from urllib.parse import unquote

import pytest

from server.web.pages.call import whatsapp_number


async def start_video_session(http, sign_in, office, pk="pk1", client="c1") -> dict:
    await sign_in(http, pk)
    resp = await http.post("/api/sessions", json={"client_id": office.clients[client].id, "mode": "video"})
    assert resp.status == 201, await resp.text()
    return await resp.json()


def page_data(html: str, block_id: str) -> dict:
    match = re.search(rf'<script type="application/json" id="{block_id}">(.*?)</script>', html, re.S)
    assert match, f"no #{block_id} data block"
    return json.loads(match.group(1))


@pytest.mark.parametrize(
    "phone, expected",
    [
        ("0812-3456-7890", "6281234567890"),
        ("+62 812 0000 0000", "6281200000000"),
        ("81234567890", "6281234567890"),
        ("62 21 8590 1234", "622185901234"),
        ("", None),
        ("12345", None),
        ("+1 415 555 0100", None),
    ],
)
def test_whatsapp_number_is_normalised_to_62(phone, expected):
    assert whatsapp_number(phone) == expected


async def test_client_who_opens_the_link_gets_the_join_page_without_the_token_in_the_address(client, sign_in, office):
    session = await start_video_session(client, sign_in, office)
    client.session.cookie_jar.clear()  # the client's phone: nobody signed in
    token_path = "/j/" + session["client_join_url"].rsplit("/j/", 1)[1]
    resp = await client.get(token_path, allow_redirects=False)
    assert (resp.status, resp.headers.get("Location")) == (303, "/join"), await resp.text()
    page = await client.get("/join")
    assert page.status == 200
    html = await page.text()
    data = page_data(html, "join-data")
    assert data["session_id"] == session["id"]
    assert data["officer_name"] == office.staff["pk1"].name
    assert data["strings"]["join.waiting_text"].startswith("PK sudah diberi tahu")
    # the lean, versioned call code (server/web/callcode.py); no inline script (CSP)
    assert re.search(r'<script type="module" src="/static/v/[0-9a-f]+/join.js">', html) and "<script>" not in html
    english = await client.get("/join?lang=en")
    assert "The PK has been told" in page_data(await english.text(), "join-data")["strings"]["join.waiting_text"]


async def test_join_page_without_a_pass_asks_to_open_the_link_again(client):
    resp = await client.get("/join")
    assert resp.status == 403
    html = await resp.text()
    assert "Buka lagi tautan dari PK" in html
    assert "join.js" not in html


async def test_console_shows_link_whatsapp_qr_and_the_clients_record(client, sign_in, office):
    session = await start_video_session(client, sign_in, office)
    resp = await client.get(f"/sessions/{session['id']}/call")
    assert resp.status == 200
    html = await resp.text()
    data = page_data(html, "console-data")
    assert data["join_url"] == session["client_join_url"]
    assert f'value="{session["client_join_url"]}"' in html
    share = re.search(r'id="wa-share" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    assert share.startswith("https://wa.me/?text=")
    message = unquote(share.split("text=", 1)[1])
    assert message.startswith("Halo Klien c1") and message.endswith(session["client_join_url"])
    direct = re.search(r'id="wa-direct" href="([^"]+)"', html).group(1)
    assert direct.startswith("https://wa.me/6281200000000?text=")
    assert "REG-c1" in html  # the record summary beside the call
    qr = await client.get(f"/sessions/{session['id']}/qr.svg")
    assert qr.status == 200 and qr.content_type == "image/svg+xml"
    assert qr.headers["Cache-Control"] == "no-store"
    assert b"<svg" in await qr.read()


@pytest.mark.parametrize(
    "who, status",
    [("pk2", 404), ("admin", 403), ("kasie", 200), (None, 302)],
)
async def test_only_the_owning_pk_or_a_supervisor_opens_the_console(client, sign_in, office, who, status):
    session = await start_video_session(client, sign_in, office)
    await client.post("/api/logout")
    client.session.cookie_jar.clear()
    if who:
        await sign_in(client, who)
    for path in (f"/sessions/{session['id']}/call", f"/sessions/{session['id']}/qr.svg"):
        resp = await client.get(path, allow_redirects=False)
        assert resp.status == status, (path, await resp.text())
        if status == 302:
            assert resp.headers["Location"].startswith("/login")


async def test_console_of_an_ended_session_leads_to_the_session_page(client, sign_in, office):
    session = await start_video_session(client, sign_in, office)
    assert (await client.post(f"/api/sessions/{session['id']}/end")).status == 200
    resp = await client.get(f"/sessions/{session['id']}/call", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"] == f"/sessions/{session['id']}"
