"""Ids and dates from outside go through one parser each (issue 23, items 6
and 8): an id through ``server.db.ids.id_from_text`` (a row id fits PostgreSQL's
32-bit column, or there is no such row), a date in a query through
``server.web.dates.day_from_text`` (YYYY-MM-DD in the years 1900-2999, as the
audit's). Outside them: a 404 or a 400 that says why (in Bahasa Indonesia on
pages), never a 500."""

from __future__ import annotations

import ast
import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.foundation import row_counts

ROOT = Path(__file__).resolve().parent.parent

BAD_DATES = [
    ("/api/home-visits?date=0001-01-01", "date"),
    ("/api/home-visits?date=9999-12-31", "date"),
    ("/api/mobile-events/plan?from=9999-12-25", "from"),
    ("/api/mobile-events/plan?from=0001-01-01", "from"),
    ("/api/mobile-events?from=0001-01-01", "from"),
    ("/api/mobile-events?to=9999-12-31", "to"),
    ("/api/reminders?date=9999-12-31", "date"),
    ("/api/reminders?date=0001-01-01", "date"),
    ("/api/reminders?date=2026-W49-1", "date"),  # Python reads ISO weeks too; the office writes days
    ("/api/reminders?date=20261206", "date"),
]
BAD_PAGES = [
    "/home-visits?date=0001-01-01",
    "/mobile-events/plan?from=9999-12-25",
    "/reminders?date=9999-12-31",
    "/evaluation/clients?on=0001-01-01",
]
EDGES = ["/api/home-visits?date=1900-01-01", "/api/home-visits?date=2999-12-31", "/api/mobile-events/plan?from=2999-12-25",
         "/api/reminders?date=2999-12-31", "/api/reminders?date=1900-01-01", "/api/mobile-events?from=1900-01-01&to=1900-12-31"]


async def test_a_date_query_outside_the_years_is_a_400_naming_it(client, office, sign_in):
    await sign_in(client, "pk1")
    for path, name in BAD_DATES:
        resp = await client.get(path)
        answer = await resp.json()
        assert (resp.status, answer["error"]) == (400, "invalid-query"), (path, answer)
        assert answer["message"].startswith(f"{name}:") and "1900-2999" in answer["message"], (path, answer)
    for path in EDGES:
        assert (await client.get(path)).status == 200, path


async def test_a_page_with_such_a_date_says_why_in_bahasa_indonesia(client, office, sign_in):
    await sign_in(client, "kasie")
    for path in BAD_PAGES:
        resp = await client.get(path)
        html = await resp.text()
        assert resp.status == 400 and resp.content_type == "text/html", (path, resp.status)
        assert re.search(r'id="refusal"[^>]*data-error="invalid-query"', html), path
        assert "tidak valid: tulis sebagai TTTT-BB-HH, tahun 1900 sampai 2999" in html, path


async def test_a_days_date_in_a_body_is_held_to_the_same_years(client, office, sign_in, database_url):
    await sign_in(client, "kasie")
    before = await row_counts(database_url)
    day = {"start_time": "08:00", "end_time": "12:00", "kelurahan": "Koja", "venue": "Balai", "officer_ids": [office.staff["pk1"].id]}
    for resp in (await client.post("/api/mobile-events", json={**day, "date": "9999-12-31"}),
                 await client.put("/api/mobile-events/cadence", json={"anchor": "0001-01-01", "every_days": 14}),
                 await client.post("/api/home-visits", json={"client_id": office.clients["c1"].id, "date": "9999-12-31", "reason": "overdue"})):
        assert (resp.status, (await resp.json())["error"]) == (400, "invalid-body")
    assert await row_counts(database_url) == before


@pytest.mark.parametrize("reminder", ["overdue-c123456789012-2026-12-06", "morning_of-123456789012-1765000000",
                                      "overdue-c2147483648-2026-12-06", "day_before-0-1765000000"])
async def test_a_reminder_id_beyond_any_row_is_not_found(client, office, sign_in, reminder):
    """12 digits answered 500 on PostgreSQL (its id columns hold 32 bits)."""
    await sign_in(client, "pk1")
    resp = await client.post(f"/api/reminders/{reminder}/sent")
    assert (resp.status, (await resp.json())["error"]) == (404, "not-found")
    page = await client.post(f"/reminders/{reminder}/sent", data={"csrf_token": await _csrf(client)}, allow_redirects=False)
    assert page.status == 404 and 'data-error="not-found"' in await page.text()


async def test_the_portal_form_refuses_a_session_id_beyond_any_row(client, office, sign_in, settings):
    from server.security import portalpass
    from server.web.pages.portal import _form_token

    await sign_in(client, "pk1")
    link = await (await client.post(f"/api/clients/{office.clients['c1'].id}/portal-link")).json()
    client.session.cookie_jar.clear()
    opened = await client.get(urlsplit(link["url"]).path, allow_redirects=False)
    cookie = opened.cookies[portalpass.COOKIE].value
    resp = await client.post("/klien/kendala", data={"session_id": "123456789012", "kind": "illness", "message": "Demam.", "requested_at": "",
                                                     "portal_token": _form_token(settings.secret_key, cookie)}, allow_redirects=False)
    assert resp.status == 400


async def _csrf(client) -> str:
    page = await (await client.get("/reminders")).text()
    return re.search(r'name="csrf_token" value="([0-9a-f]+)"', page).group(1)


# Where an id or a date from outside could still be read by hand: each call of
# int() or fromisoformat() on a request's text, outside the one parsers.
PARSERS = {"server/web/dates.py", "server/web/validation.py"}
READ_BY_HAND_ALLOWED = {
    ("server/web/api/mobile_events.py", "int(raw_count)"),  # a count of 1-3 ASCII digits, checked just above
    ("server/web/pages/portal.py", "datetime.fromisoformat(form['requested_at'])"),  # a time of day the client asks for, not a query date
    ("server/domain/documents/reports.py", "datetime.fromisoformat(raw)"),  # the audit cursor's own timestamp, compared, never a day
}
FROM_OUTSIDE = re.compile(r"match_info|query|form|post\(|raw")


def test_no_route_reads_an_id_or_a_date_by_hand():
    found = set()
    for path in sorted((ROOT / "server" / "web").rglob("*.py")) + sorted((ROOT / "server" / "domain").rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        if rel in PARSERS:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else node.func.attr if isinstance(node.func, ast.Attribute) else ""
            if name in ("int", "fromisoformat") and FROM_OUTSIDE.search(ast.unparse(node.args[0])):
                found.add((rel, ast.unparse(node)))
    assert found - READ_BY_HAND_ALLOWED == set(), "use server.db.ids.id_from_text / server.web.dates.day_from_text"
