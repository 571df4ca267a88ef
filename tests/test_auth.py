"""Staff sign-in: rate limits, sign-out, the cookie's flags, proxies, and the
security headers on pages."""

from __future__ import annotations

import re

import pytest
from argon2 import PasswordHasher
from sqlalchemy import select, update

from server.app import create_app
from server.db.engine import make_engine, make_sessionmaker
from server.db.models import Staff
from server.security.auth import COOKIE
from server.security.passwords import Passwords
from server.settings import ConfigError, Settings
from tests.conftest import PASSWORD


def cookie_attributes(resp, name: str = COOKIE) -> dict[str, str]:
    """The Set-Cookie attributes for ``name``, lower-cased keys ('' for flags)."""
    for header in resp.headers.getall("Set-Cookie", []):
        parts = [p.strip() for p in header.split(";")]
        if parts[0].split("=", 1)[0] == name:
            attrs = {}
            for part in parts[1:]:
                key, _, value = part.partition("=")
                attrs[key.lower()] = value
            attrs["value"] = parts[0].split("=", 1)[1]
            return attrs
    raise AssertionError(f"no Set-Cookie for {name}: {resp.headers.getall('Set-Cookie', [])}")


async def app_client(aiohttp_client, settings, **changes):
    return await aiohttp_client(create_app(settings.with_(**changes)))


async def test_after_too_many_failures_sign_in_is_paused_even_with_the_right_password(aiohttp_client, settings, office):
    http = await app_client(aiohttp_client, settings, login_max_failures=3)
    statuses = []
    for _ in range(3):
        resp = await http.post("/api/login", json={"username": "pk1", "password": "salah sekali"})
        statuses.append(resp.status)
    resp = await http.post("/api/login", json={"username": "pk1", "password": PASSWORD})
    statuses.append(resp.status)
    assert statuses == [401, 401, 401, 429]
    answer = await resp.json()
    assert answer["error"] == "too-many-attempts"
    assert re.search(r"try again in \d+ seconds", answer["message"])
    assert 0 < answer["retry_after"] <= settings.login_window_seconds + 1
    # The login form says so too, in Bahasa Indonesia by default.
    form = await http.post("/login", data={"username": "pk1", "password": PASSWORD}, allow_redirects=False)
    assert form.status == 429
    assert "Terlalu banyak" in await form.text()


async def test_a_wrong_password_and_an_unknown_user_get_the_same_answer(client, office):
    wrong = await client.post("/api/login", json={"username": "pk1", "password": "salah sekali"})
    unknown = await client.post("/api/login", json={"username": "siapa", "password": "salah sekali"})
    assert (wrong.status, await wrong.json()) == (unknown.status, await unknown.json()) == (
        401,
        {"error": "invalid-credentials", "message": "Wrong username or password."},
    )


@pytest.mark.parametrize(
    "trust_proxy, second_address, second_user_status",
    [
        (True, "203.0.113.7", 200),  # another browser behind the proxy is not held back
        (True, "198.51.100.1", 429),  # the same browser is, whatever username it tries
        (False, "203.0.113.7", 429),  # without a trusted proxy the header means nothing
    ],
)
async def test_the_address_rate_limit_counts_the_browser_behind_a_trusted_proxy(aiohttp_client, settings, office, trust_proxy, second_address, second_user_status):
    http = await app_client(aiohttp_client, settings, login_max_failures=2, trust_proxy=trust_proxy)
    guesser = {"X-Forwarded-For": "10.0.0.1, 198.51.100.1"}  # the proxy appends the real address last
    for user in ("pk2", "kasie"):
        assert (await http.post("/api/login", json={"username": user, "password": "tebakan"}, headers=guesser)).status == 401
    resp = await http.post("/api/login", json={"username": "pk1", "password": PASSWORD}, headers={"X-Forwarded-For": second_address})
    assert resp.status == second_user_status


async def test_signing_out_ends_the_session_for_good(client, office, sign_in):
    await sign_in(client, "pk1")
    token = cookie_value = {c.key: c.value for c in client.session.cookie_jar}[COOKIE]
    resp = await client.post("/api/logout")
    assert resp.status == 200
    assert cookie_attributes(resp)["value"] in ("", '""')  # the browser is told to forget it
    client.session.cookie_jar.clear()
    # A copy of the old cookie is worth nothing.
    replay = await client.get("/api/me", headers={"Cookie": f"{COOKIE}={token}"})
    assert replay.status == 401
    assert cookie_value == token


async def test_signing_out_through_the_page_form(client, office, sign_in):
    await sign_in(client, "pk1")
    token = {c.key: c.value for c in client.session.cookie_jar}[COOKIE]
    page = await (await client.get("/caseload")).text()
    csrf = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)
    resp = await client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (302, "/login")
    client.session.cookie_jar.clear()
    assert (await client.get("/api/me", headers={"Cookie": f"{COOKIE}={token}"})).status == 401


@pytest.mark.parametrize(
    "trust_proxy, headers, secure",
    [
        (False, {}, False),  # the plain-HTTP localhost demo still works
        (True, {"X-Forwarded-Proto": "https"}, True),  # behind a TLS-terminating proxy
        (True, {"X-Forwarded-Proto": "http"}, False),
        (False, {"X-Forwarded-Proto": "https"}, False),  # nobody vouches for the header
    ],
)
async def test_the_session_cookie_flags(aiohttp_client, settings, office, trust_proxy, headers, secure):
    http = await app_client(aiohttp_client, settings, trust_proxy=trust_proxy)
    resp = await http.post("/api/login", json={"username": "pk1", "password": PASSWORD}, headers=headers)
    assert resp.status == 200
    attrs = cookie_attributes(resp)
    assert "httponly" in attrs
    assert attrs["samesite"] == "Lax"
    assert attrs["path"] == "/"
    assert int(attrs["max-age"]) == settings.staff_session_hours * 3600
    assert ("secure" in attrs) is secure
    assert len(attrs["value"]) >= 40  # 32 random bytes, URL-safe base64


async def test_a_deactivated_staff_member_is_signed_out_everywhere(client, office, sign_in, aiohttp_client, settings):
    await sign_in(client, "pk2")
    admin = await aiohttp_client(create_app(settings))
    await sign_in(admin, "admin")
    assert (await admin.patch(f"/api/staff/{office.staff['pk2'].id}", json={"active": False})).status == 200
    assert (await client.get("/api/me")).status == 401
    again = await client.post("/api/login", json={"username": "pk2", "password": PASSWORD})
    assert again.status == 401


async def test_an_admin_cannot_lock_themself_out(client, office, sign_in):
    await sign_in(client, "admin")
    resp = await client.patch(f"/api/staff/{office.staff['admin'].id}", json={"active": False})
    assert resp.status == 409
    assert (await resp.json())["error"] == "self-lockout"
    # Refused, and still active: the admin is still signed in and listed as active.
    assert (await client.get("/api/me")).status == 200
    staff = {s["username"]: s for s in (await (await client.get("/api/staff")).json())["staff"]}
    assert staff["admin"]["active"] is True


@pytest.mark.parametrize(
    "next_value, location",
    [
        ("/clients/new", "/clients/new"),
        ("//evil.example/steal", "/caseload"),
        ("https://evil.example/", "/caseload"),
        ("/\\evil.example", "/caseload"),
        ("", "/caseload"),
    ],
)
async def test_the_login_form_only_sends_you_on_within_the_site(client, office, next_value, location):
    resp = await client.post("/login", data={"username": "pk1", "password": PASSWORD, "next": next_value}, allow_redirects=False)
    assert resp.status == 302
    assert resp.headers["Location"] == location


@pytest.mark.sqlite_only  # headers: the same whichever database answers
@pytest.mark.parametrize("path", ["/login", "/caseload", "/clients/{c1}"])
async def test_pages_carry_the_security_headers(client, office, sign_in, path):
    await sign_in(client, "pk1")
    resp = await client.get(path.format(c1=office.clients["c1"].id))
    assert resp.status == 200
    csp = resp.headers["Content-Security-Policy"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert directives["object-src"] == "'none'"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert resp.headers["X-Frame-Options"] == "DENY"
    assert resp.headers["Referrer-Policy"] == "no-referrer"
    # No inline script or style for the policy to have to allow.
    html = await resp.text()
    assert not re.search(r"<script(?![^>]*\b(src|type=\"application/json\"))[^>]*>", html)
    assert "<style" not in html and " style=" not in html


async def test_api_answers_are_not_cached(client, office, sign_in):
    await sign_in(client, "pk1")
    resp = await client.get("/api/me")
    assert resp.headers["Cache-Control"] == "no-store"
    assert resp.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(
    "change",
    [
        {"active": False},
        {"role": "supervisor"},
        {"password": "kata sandi baru sekali"},
    ],
)
async def test_a_change_to_the_account_ends_its_sign_ins_for_good(client, office, sign_in, aiohttp_client, settings, change):
    """Issue #12: sign-ins survived deactivation (and came back on reactivation),
    and password or role changes."""
    await sign_in(client, "pk2")
    token = {c.key: c.value for c in client.session.cookie_jar}[COOKIE]
    admin = await aiohttp_client(create_app(settings))
    await sign_in(admin, "admin")
    pk2 = office.staff["pk2"].id
    assert (await admin.patch(f"/api/staff/{pk2}", json=change)).status == 200
    if change == {"active": False}:
        assert (await admin.patch(f"/api/staff/{pk2}", json={"active": True})).status == 200
    assert (await client.get("/api/me", headers={"Cookie": f"{COOKIE}={token}"})).status == 401


async def test_a_rename_keeps_the_sign_in(client, office, sign_in, aiohttp_client, settings):
    await sign_in(client, "pk2")
    admin = await aiohttp_client(create_app(settings))
    await sign_in(admin, "admin")
    renamed = await admin.patch(f"/api/staff/{office.staff['pk2'].id}", json={"name": "Nama Baru", "role": "pk"})
    assert renamed.status == 200 and (await renamed.json())["name"] == "Nama Baru"
    me = await client.get("/api/me")
    assert me.status == 200 and (await me.json())["name"] == "Nama Baru"


async def test_a_password_hashed_by_an_earlier_release_is_hashed_again_at_sign_in(client, settings, office, database_url):
    # Earlier releases hashed in argon2-cffi's default four lanes; a sign-in
    # with the right password moves the account to the current parameters.
    old = PasswordHasher(parallelism=4).hash(PASSWORD)
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            await db.execute(update(Staff).where(Staff.username == "pk1").values(password_hash=old))
            await db.commit()
        assert (await client.post("/api/login", json={"username": "pk1", "password": PASSWORD})).status == 200
        async with make_sessionmaker(engine)() as db:
            stored = (await db.execute(select(Staff.password_hash).where(Staff.username == "pk1"))).scalar_one()
    finally:
        await engine.dispose()
    assert stored != old and ",p=1$" in stored
    assert PasswordHasher().verify(stored, PASSWORD)
    assert not Passwords.from_settings(settings).needs_rehash(stored)


# ---- the costs of a hash ----------------------------------------------------------
# The suite signs in at Argon2id's least costs (tests/conftest.py, FAST_PASSWORDS);
# what a deployment hashes with is proven here.

PRODUCTION_ENV = {"BIMBING_ENV": "production", "BIMBING_SECRET_KEY": "k" * 48, "BIMBING_PUBLIC_URL": "https://bimbing.example",
                  "BIMBING_RECORDING_KEY": "A" * 43 + "=", "BIMBING_AUDIT_SIGNING_KEY": "/dev/null"}


def test_a_deployment_hashes_at_rfc_9106_costs_and_production_refuses_less_than_owasps_floor():
    assert (Settings().password_time_cost, Settings().password_memory_kib) == (3, 65536)
    defaults = Settings.from_env(PRODUCTION_ENV)
    assert (defaults.password_time_cost, defaults.password_memory_kib) == (3, 65536)
    assert "$m=65536,t=3,p=1$" in Passwords.from_settings(defaults).hash(PASSWORD)
    for weak in ({"BIMBING_PASSWORD_TIME_COST": "1"}, {"BIMBING_PASSWORD_MEMORY_KIB": "8"}, {"BIMBING_PASSWORD_MEMORY_KIB": str(19 * 1024 - 1)}):
        with pytest.raises(ConfigError, match="below what production accepts"):
            Settings.from_env(PRODUCTION_ENV | weak)
    # OWASP's floor itself is accepted; outside production only Argon2's own minimum holds.
    floor = Settings.from_env(PRODUCTION_ENV | {"BIMBING_PASSWORD_TIME_COST": "2", "BIMBING_PASSWORD_MEMORY_KIB": str(19 * 1024)})
    assert (floor.password_time_cost, floor.password_memory_kib) == (2, 19 * 1024)
    with pytest.raises(ConfigError, match="at least 8"):
        Settings.from_env({"BIMBING_SECRET_KEY": "k" * 48, "BIMBING_PASSWORD_MEMORY_KIB": "7"})


async def test_a_hash_at_other_costs_is_redone_at_the_deployments_costs_at_sign_in(aiohttp_client, settings, office, database_url):
    """The suite's own accounts carry hashes at the least costs: a server at the
    default costs moves such an account to them at its first sign-in."""
    http = await app_client(aiohttp_client, settings, password_time_cost=3, password_memory_kib=65536)
    assert (await http.post("/api/login", json={"username": "pk1", "password": PASSWORD})).status == 200
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            stored = (await db.execute(select(Staff.password_hash).where(Staff.username == "pk1"))).scalar_one()
    finally:
        await engine.dispose()
    assert "$m=65536,t=3,p=1$" in stored and Passwords().verify(stored, PASSWORD)
