"""The client's link: opened once, exchanged for a join pass cookie, gone from
the address bar; refused with a friendly page when expired, tampered, revoked,
too early or for a closed session."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from http.cookies import SimpleCookie

import pytest
from sqlalchemy import select

from server.db.engine import make_engine, make_sessionmaker
from server.db.models import AuditEntry
from server.security import joinpass, tokens


async def _video_session(client, sign_in, office) -> dict:
    await sign_in(client, "pk1")
    resp = await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "video"})
    assert resp.status == 201
    return await resp.json()


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


async def test_opening_the_link_sets_the_pass_and_hides_the_token(client, sign_in, office, settings):
    session = await _video_session(client, sign_in, office)
    client.session.cookie_jar.clear()  # the phone is not the PK's browser

    resp = await client.get(_path(session["client_join_url"]), allow_redirects=False)
    assert resp.status == 303
    assert resp.headers["Location"] == "/join"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    cookie = SimpleCookie(resp.headers["Set-Cookie"])[joinpass.COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    assert not cookie["secure"]  # plain-HTTP test server; Secure is set under HTTPS
    assert 0 < int(cookie["max-age"]) <= settings.join_expires_after_hours * 3600 + 60

    grant = joinpass.decode(settings.secret_key, cookie.value)
    assert (grant.session_id, grant.link_version) == (session["id"], 1)
    assert len(grant.device) == 16

    # Opening it again in the same browser keeps the device.
    resp = await client.get(_path(session["client_join_url"]), allow_redirects=False)
    again = joinpass.decode(settings.secret_key, SimpleCookie(resp.headers["Set-Cookie"])[joinpass.COOKIE].value)
    assert again.device == grant.device

    await sign_in(client, "pk1")
    record = await (await client.get(f"/api/sessions/{session['id']}")).json()
    opened = [e for e in record["events"] if e["kind"] == "link_opened"]
    assert [e["detail"]["device"] for e in opened] == [grant.device, grant.device]
    assert opened[0]["actor"] == "client"

    engine = make_engine(settings.database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            actions = (await db.execute(select(AuditEntry.action).where(AuditEntry.target_id == str(session["id"])))).scalars().all()
    finally:
        await engine.dispose()
    assert actions.count("link.open") == 2


async def _revoked(client, session, settings):
    resp = await client.delete(f"/api/sessions/{session['id']}/link")
    assert resp.status == 200
    return _path(session["client_join_url"])


async def _reissued(client, session, settings):
    resp = await client.post(f"/api/sessions/{session['id']}/link")
    assert resp.status == 200
    assert (await resp.json())["client_join_url"] != session["client_join_url"]
    return _path(session["client_join_url"])


async def _tampered(client, session, settings):
    token = session["client_join_url"].rsplit("/", 1)[1]
    body, sig = token.split(".")
    flipped = sig[:-2] + ("A" if sig[-2] != "A" else "B") + sig[-1]
    return f"/j/{body}.{flipped}"


async def _garbage(client, session, settings):
    return "/j/not-a-token"


async def _expired(client, session, settings):
    now = datetime.now(timezone.utc)
    return "/j/" + tokens.issue(settings.secret_key, session["id"], 1, now - timedelta(hours=3), now - timedelta(seconds=1))


async def _too_early(client, session, settings):
    now = datetime.now(timezone.utc)
    return "/j/" + tokens.issue(settings.secret_key, session["id"], 1, now + timedelta(hours=2), now + timedelta(hours=5))


async def _ended(client, session, settings):
    resp = await client.post(f"/api/sessions/{session['id']}/end")
    assert resp.status == 200
    return _path(session["client_join_url"])


async def _other_secret(client, session, settings):
    now = datetime.now(timezone.utc)
    return "/j/" + tokens.issue("another-secret-" * 4, session["id"], 1, now - timedelta(hours=1), now + timedelta(hours=1))


# name, link, status, error code[, mark: clock for a window that depends on now]
REFUSALS = [
    ("revoked", _revoked, 410, "link-revoked"),
    ("reissued", _reissued, 410, "link-revoked"),
    ("tampered", _tampered, 404, "invalid-token"),
    ("garbage", _garbage, 404, "invalid-token"),
    ("signed with another key", _other_secret, 404, "invalid-token"),
    ("expired", _expired, 410, "link-expired", pytest.mark.clock),
    ("too early", _too_early, 403, "link-not-open", pytest.mark.clock),
    ("session ended", _ended, 410, "session-closed"),
]


@pytest.mark.parametrize("make_path, status, code", [pytest.param(m, s, c, id=n, marks=marks) for n, m, s, c, *marks in REFUSALS])
async def test_a_bad_link_gets_a_friendly_page_and_no_pass(client, sign_in, office, settings, make_path, status, code):
    session = await _video_session(client, sign_in, office)
    path = await make_path(client, session, settings)
    client.session.cookie_jar.clear()
    resp = await client.get(path, allow_redirects=False)
    assert resp.status == status
    assert joinpass.COOKIE not in resp.cookies
    html = await resp.text()
    assert f'data-error-code="{code}"' in html
    assert "PK" in html  # Bahasa Indonesia by default: "Minta tautan ... PK Anda"
    assert resp.headers["Cache-Control"] == "no-store"


async def test_the_error_page_speaks_english_when_asked(client, office):
    resp = await client.get("/j/not-a-token?lang=en", allow_redirects=False)
    assert resp.status == 404
    assert "This link is not valid" in await resp.text()


@pytest.mark.clock
async def test_a_join_pass_cannot_be_forged_or_kept_past_its_window(settings):
    now = datetime.now(timezone.utc)
    grant = joinpass.ClientPass(7, 1, "0123456789abcdef", now + timedelta(minutes=5))
    value = joinpass.encode(settings.secret_key, grant)
    assert joinpass.decode(settings.secret_key, value) == joinpass.ClientPass(7, 1, "0123456789abcdef", grant.expires.replace(microsecond=0))
    hostile = {
        "empty": "",
        "no dot": value.replace(".", ""),
        "other key": joinpass.encode("x" * 48, grant),
        "flipped payload": ("A" if value[0] != "A" else "B") + value[1:],
        "join token in its place": tokens.issue(settings.secret_key, 7, 1, now, now + timedelta(hours=1)),
        "huge": "a" * 5000 + "." + "b",
    }
    for name, bad in hostile.items():
        with pytest.raises(joinpass.PassError) as info:
            joinpass.decode(settings.secret_key, bad)
        assert info.value.code == "unauthorized", name
    with pytest.raises(joinpass.PassError) as info:
        joinpass.decode(settings.secret_key, value, now=now + timedelta(minutes=6))
    assert info.value.code == "link-expired"


async def test_a_flood_of_link_opens_from_one_address_is_paused(aiohttp_client, settings, office):
    """Each opening is logged, so one address may open links only so often."""
    from server.app import create_app

    limit = settings.join_opens_per_window
    http = await aiohttp_client(create_app(settings))
    statuses = []
    for _ in range(limit + 1):
        resp = await http.get("/j/not-a-token", allow_redirects=False)
        statuses.append(resp.status)
    assert statuses[:limit] == [404] * limit
    assert statuses[-1] == 429
    assert 'data-error-code="too-many"' in await resp.text()
