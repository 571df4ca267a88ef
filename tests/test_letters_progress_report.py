"""The laporan perkembangan klien is a registered letter (issue 20): the PK
issues the report of a period from its page; it is numbered like every letter,
carries a QR code to /v/{code}, and prints what it said on the day it was
issued (stages, wajib lapor by period, assessments, goals with their ratings,
the PK's summary) whatever the plan or the ratings say later."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest

from tests.audit_support import audit_entries
from tests.clock import office_today
from tests.test_guidance import as_user, session_at
from tests.test_letters import Anonymous
from tests.test_pages import csrf_token

pytestmark = pytest.mark.clock


async def _plan_with_a_rating(http, client_id: int) -> int:
    today = office_today().isoformat()
    assert (await http.post(f"/api/clients/{client_id}/assessments", json={"date": today, "category": "sedang", "needs": ["pekerjaan"]})).status == 201
    resp = await http.put(f"/api/clients/{client_id}/plan", json={"goals": [{"need": "pekerjaan", "text": "Mendapat pekerjaan tetap", "steps": []}],
                                                                  "agreement": "setuju"})
    assert resp.status == 201, await resp.text()
    goal_id = (await resp.json())["goals"][0]["id"]
    status, answer = await session_at(http, client_id, 3, "office", [{"goal_id": goal_id, "rating": "maju", "note": "Sudah melamar"}])
    assert status == 201, answer
    return goal_id


async def test_the_pk_issues_the_progress_report_as_a_letter_that_keeps_what_it_printed(client, aiohttp_client, office, sign_in, database_url):
    c1 = office.clients["c1"].id
    today = office_today()
    await sign_in(client, "pk1")
    goal_id = await _plan_with_a_rating(client, c1)

    # From the report's page: the form carries the period shown and the PK's summary.
    first = today - timedelta(days=30)
    page = await (await client.get(f"/clients/{c1}/perkembangan?from={first.isoformat()}&to={today.isoformat()}")).text()
    assert 'id="issue-progress-report"' in page
    resp = await client.post(f"/clients/{c1}/letters", data={"csrf_token": csrf_token(page), "kind": "perkembangan", "from": first.isoformat(),
                                                            "to": today.isoformat(), "summary": "Klien aktif mencari kerja."}, allow_redirects=False)
    assert resp.status == 302, await resp.text()
    letter_url = resp.headers["Location"]
    letters = (await (await client.get(f"/api/clients/{c1}/letters")).json())["letters"]
    [letter] = [x for x in letters if x["kind"] == "perkembangan"]
    assert letter["print_url"] == letter_url and "/LPK/" in letter["number"]
    assert letter["period"] == {"from": first.isoformat(), "to": today.isoformat()}
    [entry] = await audit_entries(database_url, "letter.issue")
    assert entry.detail["kind"] == "perkembangan" and entry.detail["period"] == [first.isoformat(), today.isoformat()]

    issued = unescape(await (await client.get(letter_url)).text())
    assert letter["number"] in issued and "<svg" in issued and 'class="kop"' in issued
    assert "Klien aktif mencari kerja." in issued and "Mendapat pekerjaan tetap" in issued and 'data-rating="maju"' in issued
    assert re.search(r'id="report-periods-summary" data-due="\d+"', issued)

    # Anyone holding it checks it at its QR code's link.
    status, html = await Anonymous(client).get("/v/" + letter["verify_url"].rsplit("/v/", 1)[1])
    assert status == 200 and 'data-status="valid"' in html and "Laporan Perkembangan Klien" in unescape(html)

    # Later the plan is reworded and the goal reached: the issued report still says what it said.
    resp = await client.put(f"/api/clients/{c1}/plan", json={"goals": [{"id": goal_id, "need": "pekerjaan", "text": "Bekerja di bengkel", "steps": []}],
                                                             "agreement": "setuju"})
    assert resp.status == 200, await resp.text()  # the draft, changed in place
    status, _ = await session_at(client, c1, 1, "phone", [{"goal_id": goal_id, "rating": "tercapai"}])
    assert status == 201
    again = unescape(await (await client.get(letter_url)).text())
    assert "Mendapat pekerjaan tetap" in again and "Bekerja di bengkel" not in again and 'data-rating="tercapai"' not in again
    live = unescape(await (await client.get(f"/clients/{c1}/perkembangan")).text())
    assert "Bekerja di bengkel" in live  # the preview shows today's plan


async def test_a_progress_report_refuses_a_period_it_cannot_state(client, aiohttp_client, office, sign_in):
    c1 = office.clients["c1"].id
    today = office_today()
    await sign_in(client, "pk1")
    for body in ({"to": (today + timedelta(days=1)).isoformat()}, {"from": today.isoformat(), "to": (today - timedelta(days=1)).isoformat()},
                 {"from": "kemarin"}, {"summary": "x" * 4001}):
        resp = await client.post(f"/api/clients/{c1}/letters", json={"kind": "perkembangan", **body})
        assert (resp.status, (await resp.json())["error"]) == (400, "invalid-body"), body
    # The period and summary belong to a progress report alone.
    resp = await client.post(f"/api/clients/{c1}/letters", json={"kind": "keterangan", "summary": "x"})
    assert resp.status == 400
    assert (await (await client.get(f"/api/clients/{c1}/letters")).json())["letters"] == []
    # Without a period: from the supervision's start to today; an admin issues none.
    made = await client.post(f"/api/clients/{c1}/letters", json={"kind": "perkembangan"})
    assert made.status == 201, await made.text()
    letter = (await (await client.get(f"/api/clients/{c1}/letters")).json())["letters"][0]
    assert letter["period"] == {"from": office.clients["c1"].supervision_start.isoformat(), "to": today.isoformat()}
    admin = await as_user(aiohttp_client, client, sign_in, "admin")
    assert (await admin.post(f"/api/clients/{c1}/letters", json={"kind": "perkembangan"})).status == 403
