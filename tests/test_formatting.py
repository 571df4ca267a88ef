"""Indonesian pages read as Indonesian: numbers, dates and durations written
by Babel for the page's locale, and no catalogue key, English catalogue
sentence or validator's raw message left on a page rendered in ``id``."""

from __future__ import annotations

import json
import re
from datetime import date, datetime, time, timedelta
from html.parser import HTMLParser
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from server.db.models import GuidanceSession, Kendala, Outcome, SessionEvent, SessionMode, SessionStatus
from server.web import format as fmt
from server.web.i18n import CATALOGUE_DIR
from tests.foundation import database
from tests.test_pages import csrf_token

# Page text and number formats: nothing here depends on which database answers.
pytestmark = pytest.mark.sqlite_only

WIB = ZoneInfo("Asia/Jakarta")
ROOT = Path(__file__).resolve().parent.parent


def test_numbers_dates_and_durations_in_indonesian_and_english():
    assert fmt.minutes(1800, "id") == "30,0 menit"
    assert fmt.minutes(1830, "en", "min") == "30.5 min"
    assert fmt.number(1234567, "id") == "1.234.567"
    assert fmt.number(1234567, "en") == "1,234,567"
    assert fmt.number(2.25, "id", 1) in ("2,2", "2,3")  # banker's or half-up: both are Indonesian
    assert fmt.long_date(date(2026, 12, 2), "id") == "2 Desember 2026"
    assert fmt.long_date(date(2026, 12, 2), "en") == "2 December 2026"
    # A moment late on 1 December in UTC is already 2 December in Jakarta.
    assert fmt.long_date(datetime(2026, 12, 1, 20, 0, tzinfo=ZoneInfo("UTC")), "id", tz="Asia/Jakarta") == "2 Desember 2026"
    assert fmt.span(2081, "id") == "87 hari"
    assert fmt.span(2081, "en") == "87 days"
    assert fmt.span(5, "id") == "5 jam"
    assert fmt.span(30, "id") == "1 hari"
    assert fmt.percent(0.873, "id") == "87%"
    assert fmt.percent(None, "id") == "—"
    assert fmt.month_name(date(2026, 8, 1), "id") == "Agustus 2026"
    assert fmt.days(3, "id") == "3 hari"


def test_every_audit_action_the_server_records_has_a_label():
    ids = json.loads((CATALOGUE_DIR / "id.json").read_text(encoding="utf-8"))
    actions = set()
    for path in (ROOT / "server").rglob("*.py"):
        actions |= set(re.findall(r"""\.record\(\s*"([a-z_]+\.[a-z_]+)\"""", path.read_text(encoding="utf-8")))
    assert actions, "the scan found the audit actions"
    assert sorted(a for a in actions if "action." + a not in ids) == []


class _Text(HTMLParser):
    """The text a reader sees: text nodes and the attributes read aloud or shown."""

    def __init__(self):
        super().__init__()
        self.parts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        for name, value in attrs:
            if name in ("title", "aria-label", "placeholder", "alt") and value:
                self.parts.append(value)
            if tag == "input" and name == "value" and value and dict(attrs).get("type") in ("submit", "button"):
                self.parts.append(value)

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.parts.append(data.strip())


def visible_text(html: str) -> list[str]:
    parser = _Text()
    parser.feed(html)
    return parser.parts


# What pydantic says in English; a page must have turned it into the catalogue's words.
RAW_VALIDATOR = re.compile(r"Field required|Input should|String should|should be a valid|Value error|Extra inputs are not permitted|validation error")


def leaks(html: str) -> list[str]:
    ids = json.loads((CATALOGUE_DIR / "id.json").read_text(encoding="utf-8"))
    ens = json.loads((CATALOGUE_DIR / "en.json").read_text(encoding="utf-8"))
    keys = {k for k in ids if "." in k}
    # English sentences: several words, not the same in Indonesian (names such as "Bimbing" are).
    english = {v for k, v in ens.items() if len(v.split()) >= 3 and v != ids.get(k) and "{" not in v}
    found = []
    for part in visible_text(html):
        words = set(re.findall(r"[a-z_]+(?:\.[a-z_]+)+", part))
        found += [f"key {w!r}" for w in words & keys]
        found += [f"english {e!r}" for e in english if e in part]
        if RAW_VALIDATOR.search(part):
            found.append(f"validator {part!r}")
    return found


async def seed_history(database_url: str, office) -> int:
    """A session a week ago with notes, events by both parties, an ended call
    without notes long ago, and an open kendala: what the pages show."""
    today = datetime.now(WIB).date()
    c1 = office.clients["c1"]
    pk1 = office.staff["pk1"]
    async with database(database_url) as db:
        when = datetime.combine(today - timedelta(days=7), time(10), WIB)
        s = GuidanceSession(
            office_id=office.id, client_id=c1.id, officer_id=pk1.id, mode=SessionMode.video, status=SessionStatus.ended,
            scheduled_at=when, started_at=when, ended_at=when + timedelta(minutes=30), duration_seconds=1830,
            outcome=Outcome.attended, notes="Hadir.",
        )
        old = datetime.combine(today - timedelta(days=40), time(10), WIB)
        bare = GuidanceSession(
            office_id=office.id, client_id=c1.id, officer_id=pk1.id, mode=SessionMode.office, status=SessionStatus.ended,
            scheduled_at=old, started_at=old, ended_at=old + timedelta(minutes=20), duration_seconds=1200, outcome=Outcome.attended,
        )
        db.add_all([s, bare])
        await db.flush()
        db.add_all([
            SessionEvent(session_id=s.id, kind="officer_joined", at=when, actor="officer"),
            SessionEvent(session_id=s.id, kind="client_waiting", at=when, actor="client"),
            SessionEvent(session_id=s.id, kind="ended", at=when + timedelta(minutes=30), actor="system"),
            Kendala(client_id=c1.id, session_id=s.id, kind="work_shift", message="Shift malam."),
        ])
        await db.commit()
        return s.id


PAGES = {
    "pk1": ["/evaluation", "/letters/{l}", "/caseload", "/clients/{c1}", "/sessions/{s}", "/clients/{c1}/sessions/new", "/clients/new", "/audit/officers", "/audit/reports/client/{c1}"],
    "kasie": ["/evaluation/clients", "/caseload", "/audit", "/audit/anomalies", "/audit/officers", "/audit/integrity", "/audit/reports/officer/{pk1}", "/clients/{c1}", "/sessions/{s}", "/evaluation"],
    "admin": ["/caseload", "/admin/staff", "/admin/settings", "/admin/office", "/audit/integrity", "/evaluation"],
}


async def test_indonesian_pages_carry_no_key_no_english_sentence_and_no_raw_validator_message(client, office, sign_in, database_url):
    s = await seed_history(database_url, office)
    await sign_in(client, "pk1")
    letter = await (await client.post(f"/api/clients/{office.clients['c1'].id}/letters", json={"kind": "keterangan"})).json()
    ids = {"c1": office.clients["c1"].id, "pk1": office.staff["pk1"].id, "s": s, "l": letter["id"]}
    problems = {}
    for username, paths in PAGES.items():
        await sign_in(client, username)
        for path in paths:
            url = path.format(**ids)
            resp = await client.get(url)
            assert resp.status == 200, (username, url, resp.status)
            found = leaks(await resp.text())
            if found:
                problems[f"{username} {url}"] = found
    # Forms sent back with mistakes: the messages come from the catalogue.
    await sign_in(client, "admin")
    token = csrf_token(await (await client.get("/admin/staff")).text())
    resp = await client.post("/admin/staff", data={"csrf_token": token, "username": "", "name": "", "role": "pk", "password": "x"})
    assert resp.status == 400
    page = await resp.text()
    assert "Wajib diisi." in page or "Paling sedikit" in page
    problems.update({"admin staff form": f} for f in [leaks(page)] if f)
    await sign_in(client, "pk1")
    token = csrf_token(await (await client.get(f"/clients/{ids['c1']}/sessions/new")).text())
    resp = await client.post(f"/clients/{ids['c1']}/sessions/new", data={"csrf_token": token, "mode": "office", "duration_minutes": "lama"})
    assert resp.status == 400
    page = await resp.text()
    assert "Harus berupa bilangan bulat." in page
    problems.update({"session form": f} for f in [leaks(page)] if f)
    # The public verification page, valid and unknown.
    code = letter["verify_url"].rsplit("/v/", 1)[1]
    for url in (f"/v/{code}", "/v/unknown"):
        found = leaks(await (await client.get(url)).text())
        if found:
            problems[url] = found
    assert problems == {}


async def test_the_pages_write_numbers_and_durations_the_indonesian_way_and_english_when_chosen(client, office, sign_in, database_url):
    await seed_history(database_url, office)
    await sign_in(client, "kasie")
    month = datetime.now(WIB).date().strftime("%Y-%m")
    officers = await (await client.get("/audit/officers")).text()
    # The median of this month's calls; the one a week ago may fall in last month.
    assert re.search(r"\d+,\d menit", officers), "a decimal comma on the officers' page"
    anomalies = await (await client.get("/audit/anomalies?date_from=" + (datetime.now(WIB).date() - timedelta(days=60)).isoformat())).text()
    assert re.search(r"\b(39|40|41) hari tanpa catatan", anomalies), "a long wait reads in days"
    assert " jam tanpa catatan" not in anomalies
    integrity = await (await client.get("/audit/integrity")).text()
    assert "Audit trail" not in integrity and "Signed heads" not in integrity
    assert 'data-action="auth.login">Masuk<' in integrity and "petugas " in integrity
    report = await (await client.get(f"/audit/reports/officer/{office.staff['pk1'].id}?month={month}")).text()
    assert re.search(r"\d{1,2} (Januari|Februari|Maret|April|Mei|Juni|Juli|Agustus|September|Oktober|November|Desember) \d{4}", report)
    en = await (await client.get("/audit/anomalies?lang=en&date_from=" + (datetime.now(WIB).date() - timedelta(days=60)).isoformat())).text()
    assert re.search(r"\b(39|40|41) days without notes", en)


async def test_the_csv_headers_follow_the_chosen_language(client, office, sign_in):
    await sign_in(client, "kasie")
    plain = (await (await client.get("/api/audit/sessions?format=csv")).text()).lstrip("\ufeff").splitlines()[0]
    assert plain.startswith("id,scheduled_at,")
    indo = (await (await client.get("/api/audit/sessions?format=csv&lang=id")).text()).lstrip("\ufeff").splitlines()[0]
    assert indo.startswith("ID sesi,Jadwal,") and "Nama klien" in indo
    eng = (await (await client.get("/api/audit/sessions?format=csv&lang=en")).text()).lstrip("\ufeff").splitlines()[0]
    assert eng.startswith("Session ID,Scheduled,")
    bad = await client.get("/api/audit/sessions?format=csv&lang=fr")
    assert bad.status == 400
