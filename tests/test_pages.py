"""The PK's day in the server-rendered pages: sign in through the form, read
the caseload (overdue first), open a record, log an office session through the
form, see it in the record, and switch the pages to English."""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta
from html import unescape
from pathlib import Path

import pytest

from server.db.models import Client, ClientCategory, GuidanceSession, Outcome, Program, SessionMode, SessionStatus
from tests.clock import OFFICE_TZ as WIB, hours_ago, office_today
from tests.conftest import PASSWORD
from tests.foundation import database, row_counts


async def add_client_with_history(database_url: str, office, name: str, *, started_days_ago: int, attended_days_ago: list[int]) -> int:
    today = office_today()
    async with database(database_url) as db:
        client = Client(
            office_id=office.id, officer_id=office.staff["pk1"].id, register_number=f"REG-{name}", name=name,
            category=ClientCategory.adult, program=Program.cb, supervision_start=today - timedelta(days=started_days_ago),
            supervision_end=today + timedelta(days=200), reporting_interval_days=14, kelurahan="Koja",
        )
        db.add(client)
        await db.flush()
        for days_ago in attended_days_ago:
            when = datetime.combine(today - timedelta(days=days_ago), time(10), WIB)
            db.add(GuidanceSession(
                office_id=office.id, client_id=client.id, officer_id=office.staff["pk1"].id, mode=SessionMode.office,
                status=SessionStatus.ended, scheduled_at=when, started_at=when, ended_at=when + timedelta(minutes=30),
                duration_seconds=1800, outcome=Outcome.attended, notes="Hadir.",
            ))
        await db.commit()
        return client.id


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html)
    assert match, "the page has a form with a CSRF token"
    return match.group(1)


def caseload_order(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<tr class="state-\w+" data-client-id="(\d+)"', html)]


def text_of(html: str) -> str:
    return unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)))


@pytest.fixture
async def caseload(database_url, office):
    """pk1's caseload: c1 (never came, since 60 days), and four crafted clients."""
    return {
        "never came": office.clients["c1"].id,
        "overdue a little": await add_client_with_history(database_url, office, "Overdue Sedikit", started_days_ago=40, attended_days_ago=[34, 20]),
        "due soon": await add_client_with_history(database_url, office, "Segera Lapor", started_days_ago=40, attended_days_ago=[26, 12]),
        "fine": await add_client_with_history(database_url, office, "Tertib Sekali", started_days_ago=40, attended_days_ago=[29, 15, 1]),
        "not started": await add_client_with_history(database_url, office, "Belum Mulai", started_days_ago=-10, attended_days_ago=[]),
    }


@pytest.mark.clock
async def test_pk_signs_in_reads_the_caseload_and_logs_an_office_session(client, office, caseload, database_url):
    # Not signed in: the caseload sends the PK to the sign-in form and back.
    resp = await client.get("/caseload", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (302, "/login?next=/caseload")
    login_page = await (await client.get("/login?next=/caseload")).text()
    assert "<h1>Masuk</h1>" in login_page and 'value="/caseload"' in login_page

    resp = await client.post("/login", data={"username": "pk1", "password": PASSWORD, "next": "/caseload"}, allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (302, "/caseload")

    # The caseload: who is overdue comes first, the longest overdue at the top.
    page = await (await client.get("/caseload")).text()
    assert caseload_order(page) == [caseload[k] for k in ("never came", "overdue a little", "due soon", "fine", "not started")]
    assert "Terlambat" in page and "Segera" in page and "Tertib" in page
    assert "Klien c2" not in page  # pk2's client is not on pk1's list

    # The record of the client who never came.
    c1 = caseload["never came"]
    record = await (await client.get(f"/clients/{c1}")).text()
    assert "REG-c1" in record and "Belum ada bimbingan." in record
    assert 'class="attendance state-overdue"' in record

    # Log the office session held two hours ago, after the fact, through the form.
    # Not "this morning at 09:00": before 09:00 WIB that is in the future, and refused.
    form_page = await (await client.get(f"/clients/{c1}/sessions/new?mode=office")).text()
    held = hours_ago(2)
    resp = await client.post(
        f"/clients/{c1}/sessions/new",
        data=[
            ("csrf_token", csrf_token(form_page)), ("mode", "office"), ("scheduled_at", held.strftime("%Y-%m-%dT%H:%M")),
            ("duration_minutes", "35"), ("location", "Kantor Bapas"), ("outcome", "attended"),
            ("topics", "legal_awareness"), ("topics", "work_skills"),
            ("notes", "Klien hadir; membahas pekerjaan di bengkel & rencana kursus las."),
        ],
        allow_redirects=False,
    )
    assert resp.status == 302
    session_path = resp.headers["Location"]
    assert re.fullmatch(r"/sessions/\d+", session_path)

    session_page = text_of(await (await client.get(session_path)).text())
    assert "membahas pekerjaan di bengkel & rencana kursus las" in session_page
    assert "Hadir" in session_page and "35 menit" in session_page

    # Back in the record: the session is listed and the client is no longer overdue.
    record = await (await client.get(f"/clients/{c1}")).text()
    assert 'class="attendance state-ok"' in record
    row = re.search(r'<table class="data" id="sessions">.*?</table>', record, re.S).group(0)
    assert "Di kantor" in row and "Hadir" in row and "membahas pekerjaan" in unescape(row)
    assert caseload_order(await (await client.get("/caseload")).text())[0] == caseload["overdue a little"]

    # The API agrees with the page.
    api = await (await client.get(f"/api/clients/{c1}/record")).json()
    assert [(s["mode"], s["outcome"], s["duration_seconds"], s["topics"]) for s in api["sessions"]] == [
        ("office", "attended", 35 * 60, ["legal_awareness", "work_skills"])
    ]
    assert api["sessions"][0]["scheduled_at"] == held.isoformat() == held.strftime("%Y-%m-%dT%H:%M:00+07:00")


async def test_a_session_form_with_a_mistake_comes_back_with_the_error_and_saves_nothing(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    token = csrf_token(await (await client.get(f"/clients/{c1}/sessions/new")).text())
    before = await row_counts(database_url)
    resp = await client.post(
        f"/clients/{c1}/sessions/new",
        data={"csrf_token": token, "mode": "office", "outcome": "attended", "duration_minutes": "lama sekali", "notes": "Catatan yang tidak boleh hilang."},
    )
    assert resp.status == 400
    page = await resp.text()
    assert "duration_minutes" in page
    assert "Catatan yang tidak boleh hilang." in page  # what the PK typed is kept
    assert await row_counts(database_url) == before


@pytest.mark.sqlite_only  # the language of the page text: the same whichever database answers
async def test_the_pages_switch_to_english_and_back(client, office, sign_in):
    await sign_in(client, "pk1")
    c1 = office.clients["c1"].id
    page = await (await client.get(f"/clients/{c1}")).text()
    assert '<html lang="id">' in page and "Daftar klien" in page

    resp = await client.get(f"/lang?to=en&next=/clients/{c1}", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (302, f"/clients/{c1}")
    page = await (await client.get(f"/clients/{c1}")).text()
    assert '<html lang="en">' in page and "Caseload" in page and "No sessions yet." in page and "Overdue" in page

    await client.get("/lang?to=id&next=/caseload")
    assert '<html lang="id">' in await (await client.get("/caseload")).text()


@pytest.mark.sqlite_only  # a redirect's target: the same whichever database answers
async def test_the_language_switch_will_not_redirect_off_site(client):
    resp = await client.get("/lang?to=en&next=//evil.example/", allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (302, "/")


async def test_a_supervisor_sees_every_pks_clients_with_their_officer(client, office, sign_in):
    await sign_in(client, "kasie")
    page = await (await client.get("/caseload")).text()
    assert sorted(caseload_order(page)) == sorted([office.clients["c1"].id, office.clients["c2"].id])
    assert office.staff["pk1"].name in page and office.staff["pk2"].name in page


async def test_an_admin_adds_a_pk_through_the_staff_page(client, office, sign_in):
    await sign_in(client, "admin")
    page = await (await client.get("/admin/staff")).text()
    resp = await client.post(
        "/admin/staff",
        data={"csrf_token": csrf_token(page), "username": "pk.baru", "name": "PK Baru", "role": "pk", "password": "kata sandi panjang"},
        allow_redirects=False,
    )
    assert (resp.status, resp.headers["Location"]) == (302, "/admin/staff")
    assert "pk.baru" in await (await client.get("/admin/staff")).text()
    client.session.cookie_jar.clear()
    assert (await client.post("/api/login", json={"username": "pk.baru", "password": "kata sandi panjang"})).status == 200


@pytest.mark.sqlite_only  # settings from the environment: the same whichever database answers
async def test_admin_reads_the_settings_in_force_without_seeing_secrets(aiohttp_client, settings, office):
    from server.app import create_app
    from tests.conftest import login

    turned = settings.with_(turn_urls=("turn:turn.bapas.example:3478",), turn_secret="s3cret-turn-value")
    http = await aiohttp_client(create_app(turned))
    await login(http, "admin")
    resp = await http.get("/admin/settings")
    assert resp.status == 200
    page = await resp.text()
    assert "turn:turn.bapas.example:3478" in page
    assert "s3cret-turn-value" not in page
    assert settings.secret_key not in page


@pytest.mark.sqlite_only  # settings from the environment: the same whichever database answers
async def test_only_an_admin_opens_the_settings_page(aiohttp_client, settings, office):
    from server.app import create_app
    from tests.conftest import login

    http = await aiohttp_client(create_app(settings))
    resp = await http.get("/admin/settings", allow_redirects=False)
    assert resp.status == 302 and resp.headers["Location"].startswith("/login")
    for username in ("pk1", "kasie"):
        await login(http, username)
        resp = await http.get("/admin/settings", headers={"Accept": "application/json"})
        assert resp.status == 403, username


TEMPLATES = Path(__file__).resolve().parents[1] / "server" / "web" / "templates"
# An attribute that runs script (onclick=, onsubmit=, …) or a javascript: link, an inline
# <script> other than a JSON data block, and a style attribute: the pages' Content-
# Security-Policy ("script-src 'self'; style-src 'self'", server/security/headers.py)
# blocks each one, so a button wired that way does nothing in the browser.
INLINE = {
    "event handler": re.compile(r"<[^>]*\s(on[a-z]+)\s*=", re.IGNORECASE),
    "javascript: URL": re.compile(r"""\b(?:href|src|action)\s*=\s*["']?\s*javascript:""", re.IGNORECASE),
    "inline script": re.compile(r"<script(?![^>]*\bsrc=)(?![^>]*type=\"application/json\")[^>]*>", re.IGNORECASE),
    "style attribute": re.compile(r"<[^>]*\sstyle\s*=", re.IGNORECASE),
}


@pytest.mark.parametrize("template", sorted(str(p.relative_to(TEMPLATES)) for p in TEMPLATES.rglob("*.html")))
def test_no_template_holds_what_the_content_security_policy_blocks(template):
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    found = {what: pattern.findall(text) for what, pattern in INLINE.items()}
    assert not any(found.values()), {k: v for k, v in found.items() if v}


def test_every_print_button_has_its_script():
    # The "Cetak" buttons carry data-print; webclient/print.js wires them (no inline onclick).
    printing = [p for p in TEMPLATES.rglob("*.html") if "data-print" in p.read_text(encoding="utf-8")]
    assert {p.relative_to(TEMPLATES).as_posix() for p in printing} >= {"evaluation/page.html", "letters/letter.html", "tpp/risalah.html", "audit/report.html"}
    for p in printing:
        assert "filename='print.js'" in p.read_text(encoding="utf-8"), p
