"""The duty table (tests/duties.py) against the running server: each role, on
a database of its own seeded alike, sends every row over real HTTP and must be
answered as the table says; the router's routes and the table's rows must be
the same set. A role per test keeps the rows' writes apart: what the PK did
before the supervisor's turn is not in the supervisor's database."""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import time
from datetime import datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp
import pytest

from server.app import create_app
from server.db.models import Area, AreaLevel, Client, KendalaKind, Recording, SessionMode, Staff, StaffSession, utcnow
from server.domain.fieldwork import mobile_events
from server.domain.outreach import kendala as kendala_domain
from server.domain.record import sessions as sessions_domain
from server.security import auth, joinpass, portalpass
from server.security.csrf import form_token
from server.settings import Settings
from server.web.pages.portal import _form_token as portal_form_token
from tests.clock import office_today
from tests.conftest import PASSWORD
from tests.duties import EXPECT, ROLES, ROWS, SHORT, STAFF_ROLES, Duty
from tests.fieldwork_support import WIB, add_client
from tests.foundation import add_office_session, database, row_counts
from tests.test_fieldwork_permissions import field_fixtures
from tests.test_letters_as_issued import PNG_OLD

# DUTY_DISCOVER=folder: each role writes what it was answered there (role.json)
# instead of asserting, to review and copy into tests/duties.py.
DISCOVER = os.environ.get("DUTY_DISCOVER")
MESSAGES: dict[str, str] = {}


def router_routes() -> set[tuple[str, str]]:
    """(method, route) of every route the app serves; HEAD is aiohttp's for each GET."""
    app = create_app(Settings(secret_key=secrets.token_urlsafe(48)))
    found = set()
    for route in app.router.routes():
        if route.method == "HEAD":
            continue
        info = route.resource.get_info()
        found.add((route.method, info.get("path") or info.get("formatter") or info.get("prefix")))
    return found


def test_every_route_has_a_row_and_every_row_a_route():
    rows = {(row.method, row.route) for row in ROWS}
    routes = router_routes()
    assert sorted(routes - rows) == [], "routes with no row in tests/duties.py"
    assert sorted(rows - routes) == [], "rows of tests/duties.py for routes the router does not have"


def test_every_row_has_a_cell_for_every_role():
    labels = [row.label for row in ROWS]
    assert len(labels) == len(set(labels)), "labels are unique"
    assert set(EXPECT) == set(labels)
    for label, line in EXPECT.items():
        assert len(line.split("|")) == len(ROLES), label


async def _mint(database_url: str, staff_id: int) -> str:
    """A staff sign-in as POST /api/login makes one (no Argon2 per role and row)."""
    token = secrets.token_urlsafe(32)
    async with database(database_url) as db:
        db.add(StaffSession(staff_id=staff_id, token_hash=hashlib.sha256(token.encode()).hexdigest(), expires_at=utcnow() + timedelta(hours=2)))
        await db.commit()
    return token


async def seed(database_url: str, office, http: aiohttp.ClientSession, base: str, settings: Settings, role: str) -> dict:
    """What the rows name, the same for every role: tests/test_fieldwork_permissions.py's
    field work (e1 today with pk1 on duty and c1 checked in as k1, c3, s1, v1, h1),
    and for each write a thing of its own (the API's and the form's)."""
    ids = {"c1": office.clients["c1"].id, "c2": office.clients["c2"].id, "pk1": office.staff["pk1"].id, "pk2": office.staff["pk2"].id,
           **await field_fixtures(database_url, office)}
    today = office_today()
    ids["days_ago_5"] = (today - timedelta(days=5)).isoformat()
    for n in range(2, 7):
        ids[f"in_days_{n}"] = (today + timedelta(days=n)).isoformat()
    ids.update(tag=role.replace("_", "-"), today=today.isoformat(), yesterday=(today - timedelta(days=1)).isoformat(), password=PASSWORD,
               saturday=(today + timedelta(days=(5 - today.weekday()) % 7 or 7)).isoformat())
    for key in ("c5", "c6", "c7", "c8", "c9", "c10", "c11", "c12", "c13", "c14"):
        ids[key] = await add_client(database_url, office, key, kelurahan="Semper Barat")
    ids["s_api"] = await add_office_session(database_url, ids["c8"], office.staff["pk1"])
    ids["s_page"] = await add_office_session(database_url, ids["c9"], office.staff["pk1"])
    ids["s_end"] = await add_office_session(database_url, ids["c11"], office.staff["pk1"])
    async with database(database_url) as db:
        pk1 = await db.get(Staff, office.staff["pk1"].id)
        now = datetime.now(WIB)
        for key, client in (("v_api", "c12"), ("v_page", "c13")):
            video = await sessions_domain.create_session(db, pk1, await db.get(Client, ids[client]), mode=SessionMode.video, scheduled_at=now - timedelta(minutes=5))
            ids[key] = video.id
        future = await sessions_domain.create_session(db, pk1, await db.get(Client, ids["c1"]), mode=SessionMode.office,
                                                      scheduled_at=datetime.combine(today + timedelta(days=4), datetime.min.time(), WIB) + timedelta(hours=10))
        ids["s_future"] = future.id
        reported = {key: await kendala_domain.report(db, future, device="duty-table", kind=KendalaKind.illness, message="Demam.")
                    for key in ("kendala_api", "kendala_page")}
        await db.flush()
        ids.update({key: k.id for key, k in reported.items()})
        for key, days in (("e2", 7), ("e2p", 8), ("e3", 9), ("e4", 10)):
            event, _invited, _clashes = await mobile_events.create_event(
                db, pk1, day=today + timedelta(days=days), start_time="08:00", end_time="12:00", kelurahan="Tugu Utara", venue="Balai Warga",
                officer_ids=[pk1.id], topic="", today=today, tz="Asia/Jakarta")
            ids[key] = event.id
        spare = Staff(office_id=office.id, username="spare", name="Staf Cadangan", role=pk1.role, password_hash=pk1.password_hash)
        city = Area(office_id=office.id, level=AreaLevel.city, name="Jakarta Utara")
        db.add_all([spare, city])
        await db.flush()
        kecamatan = Area(office_id=office.id, level=AreaLevel.kecamatan, name="Koja", parent_id=city.id)
        db.add(kecamatan)
        await db.flush()
        kelurahan = Area(office_id=office.id, level=AreaLevel.kelurahan, name="Tugu Utara", parent_id=kecamatan.id)
        db.add(kelurahan)
        # Ready, but with no file: past the gate it is a 409 recording-unreadable.
        recording = Recording(session_id=ids["v1"], party="officer", path=f"duty-{secrets.token_hex(8)}.mp4", status="ready")
        db.add(recording)
        await db.commit()
        ids.update(spare=spare.id, area=kelurahan.id, recording=recording.id)

    # What the server itself makes: letters, links and the client's passes.
    token = await _mint(database_url, office.staff["pk1"].id)
    cookie = {"Cookie": f"{auth.COOKIE}={token}"}
    ids.update(pk1_token=token, kasie=office.staff["kasie"].id)

    async def pk1_json(method: str, path: str, body: dict | None = None) -> dict:
        async with http.request(method, base + path, json=body, headers=cookie) as resp:
            assert resp.status in (200, 201), (path, resp.status, await resp.text())
            return await resp.json()

    # The office's logo, which the letters then carry.
    admin = await _mint(database_url, office.staff["admin"].id)
    logo = aiohttp.FormData()
    logo.add_field("csrf_token", form_token(settings.secret_key, admin))
    logo.add_field("logo", PNG_OLD, filename="logo.png", content_type="image/png")
    async with http.post(base + "/admin/office/logo", data=logo, headers={"Cookie": f"{auth.COOKIE}={admin}"}, allow_redirects=False) as resp:
        assert resp.status == 302, await resp.text()
    for key in ("letter", "letter_api", "letter_page"):
        letter = await pk1_json("POST", f"/api/clients/{ids['c1']}/letters", {"kind": "keterangan"})
        ids[key] = letter["id"]
    ids["letter_code"] = letter["verify_url"].rsplit("/v/", 1)[1]
    portal = await pk1_json("POST", f"/api/clients/{ids['c1']}/portal-link")
    ids["portal_token"] = urlsplit(portal["url"]).path.rsplit("/", 1)[1]
    video = await pk1_json("POST", "/api/sessions", {"client_id": ids["c10"], "mode": "video"})
    ids["join_token"] = urlsplit(video["client_join_url"]).path.rsplit("/", 1)[1]
    # Guest links (issue 22): one of c10's call to open (no row closes it), one of v1 for the revoke row.
    guest = await pk1_json("POST", f"/api/sessions/{video['id']}/guests", {"role": "penjamin", "name": "Penjamin Uji"})
    ids["guest_token"] = urlsplit(guest["join_url"]).path.rsplit("/", 1)[1]
    ids["guest_revoke"] = (await pk1_json("POST", f"/api/sessions/{ids['v1']}/guests", {"role": "pendamping", "name": "Pendamping Uji"}))["id"]
    passes = {}
    for name, path in ((joinpass.COOKIE, f"/j/{ids['join_token']}"), (portalpass.COOKIE, f"/k/{ids['portal_token']}")):
        async with http.get(base + path, allow_redirects=False) as resp:
            assert resp.status == 303 and name in resp.cookies, (path, resp.status)
            passes[name] = resp.cookies[name].value
    ids["passes"] = passes
    # Documents to sign in that video session (issue 22): pending ones, and one the client signed.
    ids["v_doc"] = video["id"]
    for key in ("doc", "doc_edit", "doc_sign", "doc_signed"):
        ids[key] = (await pk1_json("POST", f"/api/sessions/{video['id']}/documents", {"kind": "kontrak_bimbingan"}))["id"]
    signature = {"width": 300, "height": 150, "strokes": [[[10, 10], [60, 40], [120, 20]]]}
    async with http.post(base + f"/api/join/documents/{ids['doc_signed']}/sign", json={"name": "Klien", "revision": 1, "signature": signature},
                         headers={"Cookie": f"{joinpass.COOKIE}={passes[joinpass.COOKIE]}"}) as resp:
        assert resp.status == 201, await resp.text()
    signed = await pk1_json("GET", f"/api/sessions/{video['id']}/documents/{ids['doc_signed']}")
    ids["doc_code"] = signed["verify_url"].rsplit("/v/", 1)[1]
    # A reminder of c14 (pk1's, overdue), whom no row touches: marked by the API, then the form.
    reminders = (await pk1_json("GET", "/api/reminders"))["reminders"]
    ids["reminder"] = next(r["id"] for r in reminders if r["client_id"] == ids["c14"])
    ids["png"] = PNG_OLD
    ids.update(await seed_casework(http, base, ids, pk1_json, await _mint(database_url, office.staff["kasie"].id)))
    return ids


async def seed_casework(http: aiohttp.ClientSession, base: str, ids: dict, pk1_json, kasie_token: str) -> dict:
    """Issues 20-22's things, made over the API as their owners make them: a
    partner (a placement) and its site links, referrals and a partner's report,
    c1's community-service sentence and hours, violations (one waiting for a
    sidang), sittings (one closed, with its risalah), an assessment and a
    case plan with a goal; the call code's version."""
    kasie = {"Cookie": f"{auth.COOKIE}={kasie_token}"}

    async def kasie_json(method: str, path: str, body: dict | None = None) -> dict:
        async with http.request(method, base + path, json=body, headers=kasie) as resp:
            assert resp.status in (200, 201), (path, resp.status, await resp.text())
            return await resp.json()

    got: dict = {}
    c1, pk1, pk2 = ids["c1"], ids["pk1"], ids["pk2"]
    today = office_today()
    partner = await kasie_json("POST", "/api/partners", {"name": "Masjid Al-Ikhlas", "kind": "tempat_kerja_sosial", "contact": "021 555 1234",
                                                        "address": "Jl. Raya", "kelurahan": "Tugu Utara"})
    got["partner"] = partner["id"]
    for key in ("site_link_api", "site_link_page", "site_link_open"):
        link = await pk1_json("POST", f"/api/partners/{partner['id']}/site-links", {"name": "Pak Darto", "days": 30})
        got[key] = link["id"]
    got["site_token"] = urlsplit(link["url"]).path.rsplit("/", 1)[1]
    for key in ("referral", "referral_api", "referral_page"):
        got[key] = (await pk1_json("POST", f"/api/clients/{c1}/referrals", {"partner_id": partner["id"], "purpose": "Pelatihan las"}))["id"]
    async with http.post(base + f"/api/referrals/{got['referral']}/reports", data=PNG_OLD,
                         headers={"Cookie": f"{auth.COOKIE}={ids['pk1_token']}", "Content-Type": "image/png"}) as resp:
        assert resp.status == 201, await resp.text()
        got["report"] = (await resp.json())["id"]
    await pk1_json("PUT", f"/api/clients/{c1}/sentence", {"kind": "pidana_kerja_sosial", "hours_ordered": 120, "placement": partner["id"],
                                                         "site_supervisor": "Pak Darto", "max_hours_per_day": 8})
    for key, days in (("hours_approve", 2), ("hours_reject", 3), ("hours_page", 4)):
        entry = await pk1_json("POST", f"/api/clients/{c1}/service-hours", {"date": (today - timedelta(days=days)).isoformat(), "hours": 1, "task": "Menyapu"})
        got[key] = entry["id"]
    violation = {"kind": "pindah_alamat", "date": (today - timedelta(days=1)).isoformat(), "what_happened": "Pindah tanpa izin.", "evidence": "reported"}
    for key in ("violation", "violation_api", "violation_page", "violation_tpp"):
        got[key] = (await pk1_json("POST", f"/api/clients/{c1}/violations", violation))["id"]
    for step in ("teguran_1", "teguran_2", "bap", "sidang_tpp"):
        await pk1_json("POST", f"/api/violations/{got['violation_tpp']}/steps", {"to": step, "note": ""})
    case = {"client_id": c1, "kind": "perubahan_tahap", "subject": "Usul ke tahap lanjutan."}
    for key in ("sitting", "sitting_api", "sitting_page"):
        sitting = await kasie_json("POST", "/api/tpp-sittings", {"date": today.isoformat(), "member_ids": [ids["kasie"], pk1, pk2], "agenda": [case]})
        got[key], got[key.replace("sitting", "case")] = sitting["id"], sitting["cases"][0]["id"]
    await kasie_json("POST", f"/api/tpp-sittings/{got['sitting']}/cases/{got['case']}/decision", {"decision": "disetujui", "reasons": "Kooperatif."})
    await kasie_json("POST", f"/api/tpp-sittings/{got['sitting']}/close", {})
    # c1's, and c4's, whose session s1 the progress is rated at.
    for client in (c1, (await pk1_json("GET", f"/api/sessions/{ids['s1']}"))["client_id"]):
        await pk1_json("POST", f"/api/clients/{client}/assessments", {"date": (today - timedelta(days=2)).isoformat(), "category": "sedang", "needs": ["pekerjaan"]})
        plan = await pk1_json("PUT", f"/api/clients/{client}/plan", {"goals": [{"need": "pekerjaan", "text": "Mendapat pekerjaan"}], "agreement": "setuju"})
    got["goal"] = plan["goals"][0]["id"]
    got["alert"] = "tiga-kali-berturut-2000-01-03"
    async with http.get(base + "/sw.js") as resp:
        got["code_version"] = re.search(r"/static/v/(\w+)/", await resp.text())[1]
    return got


def fill(value, ids: dict):
    """A row's path or body with the seeded ids; a body value that is one
    placeholder keeps the id's type (JSON numbers stay numbers)."""
    if isinstance(value, str):
        whole = re.fullmatch(r"\{(\w+)\}", value)
        if whole and whole[1] in ids:
            return ids[whole[1]]
        return re.sub(r"\{(\w+)\}", lambda m: str(ids[m[1]]), value)
    if isinstance(value, list):
        return [fill(v, ids) for v in value]
    if isinstance(value, dict):
        return {fill(k, ids): fill(v, ids) for k, v in value.items()}
    return value


async def answer(resp: aiohttp.ClientResponse) -> str:
    """The cell for an answer: ok, login, or STATUS code (short forms of tests/duties.py)."""
    location = resp.headers.get("Location", "")
    if resp.status in (301, 302, 303) and urlsplit(location).path == "/login":
        return "login"
    if resp.status < 400:
        return "ok"
    text = await resp.text()
    code = "-"
    if resp.content_type == "application/json":
        code = json.loads(text).get("error", "-")
    elif resp.content_type == "text/html" and (found := re.search(r'id="refusal"[^>]*data-error="([\w-]+)"', text)):
        code = found[1]
    assert "Traceback" not in text
    if DISCOVER:
        MESSAGES[str(resp.url)] = text[:300]
    cell = f"{resp.status} {code}"
    return next((short for short, long in SHORT.items() if long == cell), cell)


async def send(http: aiohttp.ClientSession, base: str, row: Duty, ids: dict, cookies: dict[str, str], settings: Settings) -> str:
    url = base + fill(row.target, ids)
    headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in cookies.items())} if cookies else {}
    kwargs: dict = {"headers": headers, "allow_redirects": False}
    body = fill(row.body, ids) if row.body is not None else None
    if row.send == "json" and body is not None:
        kwargs["json"] = body
    elif row.send in ("form", "portal"):
        form = {k: v if isinstance(v, str) else ",".join(map(str, v)) if isinstance(v, list) else str(v) for k, v in (body or {}).items()}
        staff_token = cookies.get(auth.COOKIE)
        if row.send == "form" and staff_token:
            form["csrf_token"] = form_token(settings.secret_key, staff_token)
        if row.send == "portal":
            form["portal_token"] = portal_form_token(settings.secret_key, cookies.get(portalpass.COOKIE, ""))
        kwargs["data"] = form
    elif row.send == "multipart":
        data = aiohttp.FormData()
        if auth.COOKIE in cookies:
            data.add_field("csrf_token", form_token(settings.secret_key, cookies[auth.COOKIE]))
        for field in row.body or {}:
            data.add_field(field, PNG_OLD, filename=f"{field}.png", content_type="image/png")
        kwargs["data"] = data
    elif row.send == "png":
        kwargs["data"] = PNG_OLD
        headers["Content-Type"] = "image/png"
    async with http.request(row.method, url, **kwargs) as resp:
        return await answer(resp)


def expected_column(role: str) -> dict[str, str]:
    column = ROLES.index(role)
    return {label: line.split("|")[column].strip() for label, line in EXPECT.items()}


# Every role on SQLite; on PostgreSQL the two whose refusals the SQL scoping
# decides (another PK: the officer filter; another office: the office filter).
# The other cells come from checks in Python (require_guidance, require_role,
# the duty rules) that no database changes, and the table costs a server and
# ~140 requests a role; tests/test_permissions.py and the field-work and audit
# tables hold the scoped queries on both databases.
POSTGRES_ROLES = ("other_pk", "other_office")
CASES = [pytest.param("sqlite", role, id=f"sqlite-{role}") for role in ROLES] + [
    pytest.param("postgres", role, id=f"postgres-{role}", marks=pytest.mark.postgres) for role in POSTGRES_ROLES]


@pytest.mark.parametrize("database_url, role", CASES, indirect=["database_url"])
async def test_the_duty_table(client, office, other_office, database_url, settings, role):
    base = str(client.make_url("")).rstrip("/")
    started = time.perf_counter()
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        ids = await seed(database_url, office, http, base, settings, role)
        timing = {"seed": time.perf_counter() - started}
        staff = {**office.staff, **{f"x_{k}": v for k, v in other_office.staff.items()}}
        cookies: dict[str, str] = {}
        if role == "client":
            cookies = {joinpass.COOKIE: ids["passes"][joinpass.COOKIE]}
        elif role == "portal":
            cookies = {portalpass.COOKIE: ids["passes"][portalpass.COOKIE]}
        elif role in STAFF_ROLES:
            me = staff[STAFF_ROLES[role]].id
            ids["me"] = me
            cookies = {auth.COOKIE: await _mint(database_url, me)}
        ids.setdefault("me", ids["pk1"])
        ids["role"] = role
        seen = {}
        for row in ROWS:
            use = cookies
            if row.fresh and auth.COOKIE in cookies:
                use = {auth.COOKIE: await _mint(database_url, ids["me"])}
            before = time.perf_counter()
            seen[row.label] = await send(http, base, row, ids, use, settings)
            timing[row.label] = time.perf_counter() - before
    if DISCOVER:
        Path(DISCOVER).mkdir(parents=True, exist_ok=True)
        (Path(DISCOVER) / f"{role}.json").write_text(json.dumps(seen, indent=1))
        (Path(DISCOVER) / f"{role}.messages.json").write_text(json.dumps({**MESSAGES, "_seconds": timing}, indent=1))
        return
    expected = expected_column(role)
    wrong = {label: f"expected {expected[label]!r}, answered {seen[label]!r}" for label in seen if seen[label] != expected.get(label)}
    assert wrong == {}


async def test_an_admin_runs_no_guidance_and_leaves_nothing_behind(client, office, sign_in, database_url):
    """Issue 23, item 1: the admin ended a PK's live video call (phone fallback),
    completed sessions, planned home visits, and issued portal links and letters
    signed in the admin's own name."""
    ids = await field_fixtures(database_url, office)
    c1 = office.clients["c1"].id
    await sign_in(client, "admin")
    before = await row_counts(database_url)
    acts = [
        ("POST", f"/api/sessions/{ids['v1']}/phone-fallback", None),
        ("POST", f"/api/sessions/{ids['s1']}/complete", {"outcome": "attended", "duration_minutes": 20}),
        ("POST", "/api/home-visits", {"client_id": c1, "date": (office_today() + timedelta(days=2)).isoformat(), "reason": "overdue"}),
        ("POST", f"/api/clients/{c1}/portal-link", None),
        ("DELETE", f"/api/clients/{c1}/portal-link", None),
        ("POST", f"/api/clients/{c1}/letters", {"kind": "keterangan"}),
        ("POST", f"/api/mobile-events/{ids['e1']}/checkins", {"client_id": office.clients["c2"].id}),
    ]
    for method, path, body in acts:
        resp = await client.request(method, path, json=body)
        assert (resp.status, (await resp.json())["error"]) == (403, "no-guidance-role"), path
    assert await row_counts(database_url) == before
    async with database(database_url) as db:
        from server.db.models import GuidanceSession

        assert (await db.get(GuidanceSession, ids["v1"])).status in sessions_domain.OPEN_STATUSES
    # Reading stays the admin's: the office's records are theirs to see.
    assert (await client.get(f"/api/clients/{c1}/record")).status == 200


async def test_a_pk_cannot_put_themselves_on_duty_at_a_day(client, office, sign_in, database_url):
    """Issue 23, item 2: pk2 PATCHed their own id into a day's officer_ids, then
    read its whole roster and checked in, or undid, other PKs' clients."""
    ids = await field_fixtures(database_url, office)
    e1, pk1, pk2 = ids["e1"], office.staff["pk1"].id, office.staff["pk2"].id
    await sign_in(client, "pk2")
    resp = await client.patch(f"/api/mobile-events/{e1}", json={"officer_ids": [pk1, pk2]})
    assert (resp.status, (await resp.json())["error"]) == (403, "not-on-duty")
    for method, path, body in (("GET", f"/api/mobile-events/{e1}/roster", None),
                               ("POST", f"/api/mobile-events/{e1}/checkins", {"client_id": office.clients["c1"].id}),
                               ("POST", f"/api/mobile-events/{e1}/checkins/{ids['k1']}/undo", None),
                               ("POST", f"/api/mobile-events/{e1}/cancel", None)):
        resp = await client.request(method, path, json=body)
        assert (resp.status, (await resp.json())["error"]) == (403, "not-on-duty"), path
    # The PK on duty runs the day but does not assign duty either.
    await sign_in(client, "pk1")
    resp = await client.patch(f"/api/mobile-events/{e1}", json={"officer_ids": [pk1, pk2]})
    assert (resp.status, (await resp.json())["error"]) == (403, "duty-by-supervisor")
    assert (await client.patch(f"/api/mobile-events/{e1}", json={"topic": "Kesadaran hukum", "officer_ids": [pk1]})).status == 200
    async with database(database_url) as db:
        from server.db.models import MobileEvent

        assert (await db.get(MobileEvent, e1)).officer_ids == [pk1]
    # The Kasie assigns duty; then pk2 takes the roll call.
    await sign_in(client, "kasie")
    assert (await client.patch(f"/api/mobile-events/{e1}", json={"officer_ids": [pk1, pk2]})).status == 200
    await sign_in(client, "pk2")
    assert (await client.get(f"/api/mobile-events/{e1}/roster")).status == 200
