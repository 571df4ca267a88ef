"""The client's own link (tautan klien), issue #9 part 3: a personal, revocable
link to the client's schedule, wajib lapor, PK and office, and their kendala
with the PK's answers, reachable days ahead of an appointment."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from server.app import create_app
from server.db.models import (
    GuidanceSession,
    Office,
    Outcome,
    SessionMode,
    SessionStatus,
    utcnow,
)
from server.domain.office.profile import update_profile
from tests.audit_support import audit_entries
from tests.foundation import database

WIB = ZoneInfo("Asia/Jakarta")


def wib(moment) -> str:
    return moment.astimezone(WIB).isoformat(timespec="seconds")


async def _phone(aiohttp_client, app_client):
    """A second browser on the same server: its own cookies."""
    return await aiohttp_client(app_client.server, cookie_jar=aiohttp.CookieJar(unsafe=True))


async def _set_office(database_url: str, office_id: int) -> None:
    async with database(database_url) as db:
        office = await db.get(Office, office_id)
        update_profile(office, address="Jl. Bekasi Timur Raya No. 5, Jakarta Timur", phone="021-8190000")
        await db.commit()


async def _issue(client, client_id) -> str:
    resp = await client.post(f"/api/clients/{client_id}/portal-link")
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert body["url"].startswith("http") and "/k/" in body["url"]
    return urlsplit(body["url"]).path


async def test_the_client_opens_their_link_and_sees_schedule_duty_pk_and_office_only(client, aiohttp_client, office, sign_in, database_url):
    c1 = office.clients["c1"]
    await _set_office(database_url, c1.office_id)
    await sign_in(client, "pk1")
    ahead = utcnow() + timedelta(days=5)
    await client.post("/api/sessions", json={"client_id": c1.id, "mode": "office", "scheduled_at": wib(ahead), "location": "Kantor Bapas"})
    await client.post("/api/sessions", json={"client_id": c1.id, "mode": "office", "scheduled_at": wib(utcnow() - timedelta(days=3)), "outcome": "attended", "duration_minutes": 30, "notes": "Catatan rahasia PK"})
    path = await _issue(client, c1.id)

    phone = await _phone(aiohttp_client, client)
    opened = await phone.get(path, allow_redirects=False)
    assert opened.status == 303 and opened.headers["Location"] == "/klien"
    assert opened.headers["Cache-Control"] == "no-store"
    page = await phone.get("/klien")
    assert page.status == 200
    assert page.headers["Cache-Control"] == "no-store"
    html = await page.text()
    assert ahead.astimezone(WIB).strftime("%d-%m-%Y") in html
    assert "Anda wajib lapor setiap 14 hari" in html
    assert office.staff["pk1"].name in html
    assert "Jl. Bekasi Timur Raya No. 5" in html and "021-8190000" in html and "Bapas Uji" in html
    # No notes, no outcomes, nobody else.
    assert "Catatan rahasia" not in html
    assert office.clients["c2"].name not in html
    assert [e.target_id for e in await audit_entries(database_url, "portal.open")] == [str(c1.id)]


async def test_a_kendala_a_week_ahead_and_the_pks_answer_when_coming_back(client, aiohttp_client, office, sign_in, database_url):
    c1 = office.clients["c1"]
    await sign_in(client, "pk1")
    week = utcnow() + timedelta(days=7)
    sid = (await (await client.post("/api/sessions", json={"client_id": c1.id, "mode": "video", "scheduled_at": wib(week)})).json())["id"]
    path = await _issue(client, c1.id)
    phone = await _phone(aiohttp_client, client)
    await phone.get(path)
    html = await (await phone.get("/klien")).text()
    token = re.search(r'name="portal_token" value="([0-9a-f]+)"', html).group(1)
    # No join button a week ahead: the window is not open.
    assert f'id="join-{sid}"' not in html

    forged = await phone.post("/klien/kendala", data={"portal_token": "0" * 64, "session_id": str(sid), "kind": "work_shift", "message": "x"}, allow_redirects=False)
    assert forged.status == 403
    sent = await phone.post("/klien/kendala", data={"portal_token": token, "session_id": str(sid), "kind": "work_shift", "message": "Saya masuk shift malam minggu depan.", "requested_at": (week + timedelta(days=2)).astimezone(WIB).strftime("%Y-%m-%dT%H:%M")}, allow_redirects=False)
    assert sent.status == 303, await sent.text()
    # Another client's appointment is not theirs to report on.
    other = (await (await client.post("/api/sessions", json={"client_id": c1.id, "mode": "office", "scheduled_at": wib(utcnow() - timedelta(days=1))})).json())["id"]
    stale = await phone.post("/klien/kendala", data={"portal_token": token, "session_id": str(other), "kind": "illness"}, allow_redirects=False)
    assert stale.status == 404

    kendala = (await (await client.get(f"/api/clients/{c1.id}/kendala")).json())["kendala"]
    assert [(k["session_id"], k["kind"]) for k in kendala] == [(sid, "work_shift")]
    answered = await client.post(f"/api/kendala/{kendala[0]['id']}/answer", json={"status": "declined", "reply": "Tetap hari itu, kita pindah ke jam 16.00."})
    assert answered.status == 200, await answered.text()

    again = await (await phone.get("/klien")).text()
    assert "Tetap hari itu, kita pindah ke jam 16.00." in again


async def test_the_join_button_appears_when_the_video_window_opens(client, aiohttp_client, office, sign_in):
    c1 = office.clients["c1"]
    await sign_in(client, "pk1")
    soon = (await (await client.post("/api/sessions", json={"client_id": c1.id, "mode": "video", "scheduled_at": wib(utcnow() + timedelta(minutes=20))})).json())["id"]
    path = await _issue(client, c1.id)
    phone = await _phone(aiohttp_client, client)
    await phone.get(path)
    html = await (await phone.get("/klien")).text()
    join = re.search(rf'id="join-{soon}" href="([^"]+)"', html).group(1)
    opened = await phone.get(urlsplit(join).path, allow_redirects=False)
    assert opened.status == 303 and opened.headers["Location"] == "/join"


async def test_revoking_or_reissuing_ends_the_old_link_with_410(client, aiohttp_client, office, sign_in):
    c1 = office.clients["c1"]
    await sign_in(client, "pk1")
    first = await _issue(client, c1.id)
    phone = await _phone(aiohttp_client, client)
    await phone.get(first)
    assert (await phone.get("/klien")).status == 200
    second = await _issue(client, c1.id)
    assert second != first
    assert (await phone.get(first, allow_redirects=False)).status == 410
    assert (await phone.get("/klien")).status == 410  # the cookie of the old link too
    assert (await phone.get(second, allow_redirects=False)).status == 303
    assert (await client.delete(f"/api/clients/{c1.id}/portal-link")).status == 200
    gone = await phone.get(second, allow_redirects=False)
    assert gone.status == 410 and "dicabut" in await gone.text()
    assert (await phone.get("/k/1-" + "0" * 32, allow_redirects=False)).status == 404
    # No link has these ids; each answered 500 ("²" passed isdigit(); PostgreSQL refused the large one).
    for head in ("%C2%B2", "99999999999"):
        assert (await phone.get(f"/k/{head}-" + "0" * 32, allow_redirects=False)).status == 404, head


async def test_only_the_clients_officers_may_issue_and_the_record_shares_it(client, office, sign_in):
    c1 = office.clients["c1"]
    assert (await client.post(f"/api/clients/{c1.id}/portal-link")).status == 401
    await sign_in(client, "pk2")
    assert (await client.post(f"/api/clients/{c1.id}/portal-link")).status == 404
    assert (await client.delete(f"/api/clients/{c1.id}/portal-link")).status == 404
    await sign_in(client, "pk1")
    html = await (await client.get(f"/clients/{c1.id}")).text()
    # pk2's refused issue made no link: the record offers none yet.
    assert 'id="portal-url"' not in html and (await client.get(f"/clients/{c1.id}/portal-link/qr.svg")).status == 404
    token = re.search(r'name="csrf_token" value="([0-9a-f]+)"', html).group(1)
    made = await client.post(f"/clients/{c1.id}/portal-link", data={"csrf_token": token}, allow_redirects=False)
    assert made.status == 302
    html = await (await client.get(f"/clients/{c1.id}")).text()
    assert 'id="portal-url"' in html and "https://wa.me/6281200000000?text=" in html
    qr = await client.get(f"/clients/{c1.id}/portal-link/qr.svg")
    assert qr.status == 200 and qr.content_type == "image/svg+xml"
    assert (await client.post(f"/clients/{c1.id}/portal-link/revoke", data={"csrf_token": token}, allow_redirects=False)).status == 302
    assert (await client.get(f"/clients/{c1.id}/portal-link/qr.svg")).status == 404


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_openings_are_rate_limited_as_join_links(aiohttp_client, settings, office, sign_in):
    http = await aiohttp_client(create_app(settings.with_(join_opens_per_window=2)))
    await sign_in(http, "pk1")
    path = await _issue(http, office.clients["c1"].id)
    assert [(await http.get(path, allow_redirects=False)).status for _ in range(3)] == [303, 303, 429]


async def test_no_past_outcomes_or_notes_on_the_page(client, aiohttp_client, office, sign_in, database_url):
    c1 = office.clients["c1"]
    async with database(database_url) as db:
        when = utcnow() - timedelta(days=2)
        db.add(GuidanceSession(office_id=c1.office_id, client_id=c1.id, officer_id=c1.officer_id, mode=SessionMode.office, status=SessionStatus.ended,
                               scheduled_at=when, started_at=when, ended_at=when, outcome=Outcome.no_show, notes="Klien mabuk saat datang"))
        await db.commit()
    await sign_in(client, "pk1")
    path = await _issue(client, c1.id)
    phone = await _phone(aiohttp_client, client)
    await phone.get(path)
    html = await (await phone.get("/klien")).text()
    assert "mabuk" not in html and "Tidak hadir" not in html


@pytest.mark.clock
async def test_the_page_lists_the_mobile_counseling_days_the_client_is_invited_to(client, aiohttp_client, office, sign_in):
    c1 = office.clients["c1"]
    day = (utcnow().astimezone(WIB) + timedelta(days=9)).date()
    await sign_in(client, "kasie")
    body = {"date": day.isoformat(), "start_time": "08:00", "end_time": "12:00", "kelurahan": "Cakung Barat",
            "venue": "Balai Warga RW 05", "officer_ids": [office.staff["pk1"].id], "topic": "Kesadaran hukum", "client_note": "Bawa KTP."}
    event = await (await client.post("/api/mobile-events", json=body)).json()
    assert c1.id in event["invited"]
    await sign_in(client, "pk1")
    path = await _issue(client, c1.id)
    phone = await _phone(aiohttp_client, client)
    await phone.get(path)
    html = await (await phone.get("/klien")).text()
    section = html.split('id="mobile-days"', 1)[1].split("</section>", 1)[0]
    assert day.strftime("%d-%m-%Y") in section and "08:00" in section and "Balai Warga RW 05" in section and "Bawa KTP." in section
    # Uninvited, the day leaves the page.
    await sign_in(client, "kasie")
    assert (await client.delete(f"/api/mobile-events/{event['id']}/invitations/{c1.id}")).status in (200, 204)
    assert 'id="mobile-days"' not in await (await phone.get("/klien")).text()
