"""Every count-then-write is a constraint or a lock (issue 23).

Each test sends twenty requests at once (tests/races.py) to a real ``bimbing
serve`` on each database and checks that the database holds exactly what one
sequence of the same requests would leave, and that every request got the
answer it would have got in that sequence (never a 500). One server per
database for the module; each test works in an office of its own.
"""

from __future__ import annotations

import secrets
from datetime import timedelta

import aiohttp
import pytest
from sqlalchemy import func, select

from server.db.models import AuditEntry, GuidanceSession, Kendala, Letter, MobileInvitation, PortalLink, ReminderMark, SessionEvent, SessionStatus, Staff
from server.db.models import Client as ClientRow
from tests.clock import office_today, utc_now
from tests.conftest import BACKENDS, _apart, _create_pg_database, _drop_pg_database, seed_office, sqlite_copy
from tests.fieldwork_support import add_client, event_body
from tests.foundation import CLIENT_BODY, database
from tests.races import PARALLEL, STAFF_PARALLEL, Call, RaceServer, statuses
from tests.services import require_postgres


@pytest.fixture(scope="module", params=BACKENDS)
def live(request, tmp_path_factory):
    """A server on a copy of the migrated template, for the whole module."""
    root = tmp_path_factory.mktemp(f"races-{request.param}")
    name = None
    if request.param == "sqlite":
        url = sqlite_copy(request.getfixturevalue("sqlite_template"), root / "bimbing.db")
    else:
        url, name = _apart(_create_pg_database(require_postgres(), template=request.getfixturevalue("postgres_template")))
    server = RaceServer(root, request.param, url)
    try:
        server.start()
        yield server
    finally:
        if hasattr(server, "proc"):
            server.stop()
        if name:
            _apart(_drop_pg_database(require_postgres(), name))
    assert not server.tracebacks(), server.tracebacks()


@pytest.fixture
async def office(live):
    """An office of this test's own (staff kasie, admin, pk1, pk2; clients c1 of pk1, c2 of pk2)."""
    prefix = f"r{secrets.token_hex(4)}_"
    return await seed_office(live.database_url, name=f"Bapas {prefix}", prefix=prefix)


async def staff_cookies(live, office, who: str) -> dict[str, str]:
    return await live.sign_in(office.staff[who].username)


async def count(live, query) -> int:
    async with database(live.database_url) as db:
        return await db.scalar(query)


async def audited(live, action: str, target_id) -> int:
    return await count(live, select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action, AuditEntry.target_id == str(target_id)))


async def mobile_day(live, office) -> int:
    """Today's mobile-counseling day in Cakung Barat with pk1 on duty (c1 and c2 invited)."""
    kasie = await staff_cookies(live, office, "kasie")
    made = await live.call(Call("POST", "/api/mobile-events", event_body(office), kasie))
    assert made.status == 201, made.body
    return made.body["id"]


# --- roll call -----------------------------------------------------------------


async def test_twenty_check_ins_of_one_client_at_once_make_one_session(live, office):
    """Issue 23, item 3: ten at once without a key made nine "attended" sessions."""
    event_id = await mobile_day(live, office)
    pk1 = await staff_cookies(live, office, "pk1")
    c1 = office.clients["c1"].id
    answers = await live.at_once([Call("POST", f"/api/mobile-events/{event_id}/checkins", {"client_id": c1}, pk1)] * PARALLEL)
    assert statuses(answers) == [200] * (PARALLEL - 1) + [201], answers
    assert len({a.body["session_id"] for a in answers}) == 1
    checked_in = select(func.count()).select_from(GuidanceSession).where(GuidanceSession.mobile_event_id == event_id, GuidanceSession.client_id == c1)
    assert await count(live, checked_in) == 1
    assert await audited(live, "mobile.checkin", answers[0].body["session_id"]) == 1


async def test_one_key_sent_at_once_for_twenty_clients_checks_in_one_and_refuses_the_rest(live, office):
    """Issue 23, item 4: the losers got 200 with the first client's session. A key
    is bound to its check-in: another client with it is 409 ``key-reused``."""
    event_id = await mobile_day(live, office)
    pk1 = await staff_cookies(live, office, "pk1")
    clients = [office.clients["c1"].id, office.clients["c2"].id]
    clients += [await add_client(live.database_url, office, f"{office.id}-{n}") for n in range(PARALLEL - 2)]
    key = f"dev-{secrets.token_hex(8)}"
    answers = await live.at_once([Call("POST", f"/api/mobile-events/{event_id}/checkins", {"client_id": c, "key": key}, pk1) for c in clients])
    assert statuses(answers) == [201] + [409] * (PARALLEL - 1), answers
    assert {a.code for a in answers if a.status == 409} == {"key-reused"}
    winner = next(a for a in answers if a.status == 201)
    async with database(live.database_url) as db:
        sessions = list((await db.execute(select(GuidanceSession).where(GuidanceSession.mobile_event_id == event_id))).scalars())
    assert [(s.id, s.client_id, s.checkin_key) for s in sessions] == [(winner.body["session_id"], winner.body["client_id"], key)]
    # The same key for the same client stays a harmless retry.
    again = await live.call(Call("POST", f"/api/mobile-events/{event_id}/checkins", {"client_id": winner.body["client_id"], "key": key}, pk1))
    assert (again.status, again.body["session_id"]) == (200, winner.body["session_id"])


async def test_twenty_undos_of_one_check_in_at_once_take_it_back_once(live, office):
    event_id = await mobile_day(live, office)
    pk1 = await staff_cookies(live, office, "pk1")
    done = await live.call(Call("POST", f"/api/mobile-events/{event_id}/checkins", {"client_id": office.clients["c1"].id}, pk1))
    session_id = done.body["session_id"]
    answers = await live.at_once([Call("POST", f"/api/mobile-events/{event_id}/checkins/{session_id}/undo", None, pk1)] * PARALLEL)
    assert statuses(answers) == [200] + [409] * (PARALLEL - 1), answers
    assert {a.code for a in answers if a.status == 409} == {"already-undone"}
    undone = select(func.count()).select_from(SessionEvent).where(SessionEvent.session_id == session_id, SessionEvent.kind == "checkin_undone")
    assert await count(live, undone) == 1
    assert await audited(live, "mobile.checkin_undo", session_id) == 1


async def test_twenty_invitations_of_one_client_at_once_invite_once(live, office):
    event_id = await mobile_day(live, office)
    kasie = await staff_cookies(live, office, "kasie")
    extra = await add_client(live.database_url, office, f"{office.id}-far", kelurahan="Pulo Gebang")
    answers = await live.at_once([Call("POST", f"/api/mobile-events/{event_id}/invitations", {"client_id": extra}, kasie)] * PARALLEL)
    assert statuses(answers) == [200] * (PARALLEL - 1) + [201], answers
    rows = select(func.count()).select_from(MobileInvitation).where(MobileInvitation.event_id == event_id, MobileInvitation.client_id == extra)
    assert await count(live, rows) == 1


# --- kendala ---------------------------------------------------------------------


async def _client_pass(live, office) -> tuple[int, dict[str, str]]:
    """A video session of c1 in half an hour, and the join pass its link gives the client."""
    pk1 = await staff_cookies(live, office, "pk1")
    made = await live.call(Call("POST", "/api/sessions", {"client_id": office.clients["c1"].id, "mode": "video",
                                                           "scheduled_at": (utc_now() + timedelta(minutes=30)).isoformat()}, pk1))
    assert made.status == 201, made.body
    path = "/j/" + made.body["client_join_url"].split("/j/", 1)[1]
    async with aiohttp.ClientSession(live.base) as phone:
        async with phone.get(path, allow_redirects=False) as resp:
            assert resp.status == 303, await resp.text()
            return made.body["id"], {name: morsel.value for name, morsel in resp.cookies.items()}


async def test_twenty_kendala_at_once_store_five(live, office):
    """Issue 23, item 10: twelve parallel posts all passed the limit of five an hour."""
    session_id, phone = await _client_pass(live, office)
    answers = await live.at_once([Call("POST", "/api/join/kendala", {"kind": "work_shift"}, phone)] * PARALLEL)
    assert statuses(answers) == [201] * 5 + [429] * (PARALLEL - 5), answers
    assert {a.code for a in answers if a.status == 429} == {"too-many-reports"}
    assert await count(live, select(func.count()).select_from(Kendala).where(Kendala.session_id == session_id)) == 5


async def test_twenty_answers_to_one_kendala_at_once_answer_it_once(live, office):
    """Accepting with a new time makes a new session: twice at once made two."""
    session_id, phone = await _client_pass(live, office)
    reported = await live.call(Call("POST", "/api/join/kendala", {"kind": "illness", "message": "Demam"}, phone))
    assert reported.status == 201, reported.body
    pk1 = await staff_cookies(live, office, "pk1")
    body = {"status": "accepted", "reply": "Baik", "new_scheduled_at": (utc_now() + timedelta(days=2)).isoformat()}
    answers = await live.at_once([Call("POST", f"/api/kendala/{reported.body['id']}/answer", body, pk1)] * PARALLEL)
    assert statuses(answers) == [200] + [409] * (PARALLEL - 1), answers
    assert {a.code for a in answers if a.status == 409} == {"kendala-answered"}
    c1 = office.clients["c1"].id
    video = select(func.count()).select_from(GuidanceSession).where(GuidanceSession.client_id == c1, GuidanceSession.status == SessionStatus.scheduled)
    assert await count(live, video) == 1  # the new one; the old one is cancelled
    assert await audited(live, "kendala.answer", reported.body["id"]) == 1


# --- letters ---------------------------------------------------------------------


async def test_twenty_letters_at_once_take_the_numbers_one_to_twenty(live, office):
    """Letter numbers per office and year never repeat, and none is skipped or refused."""
    pk1 = await staff_cookies(live, office, "pk1")
    c1 = office.clients["c1"].id
    answers = await live.at_once([Call("POST", f"/api/clients/{c1}/letters", {"kind": "keterangan"}, pk1)] * PARALLEL)
    assert statuses(answers) == [201] * PARALLEL, answers
    async with database(live.database_url) as db:
        seqs = list((await db.execute(select(Letter.seq).where(Letter.office_id == office.id, Letter.year == office_today().year).order_by(Letter.seq))).scalars())
    assert seqs == list(range(1, PARALLEL + 1))
    assert len({a.body["number"] for a in answers}) == PARALLEL


async def test_twenty_revocations_of_one_letter_at_once_revoke_it_once(live, office):
    pk1 = await staff_cookies(live, office, "pk1")
    made = await live.call(Call("POST", f"/api/clients/{office.clients['c1'].id}/letters", {"kind": "keterangan"}, pk1))
    answers = await live.at_once([Call("DELETE", f"/api/letters/{made.body['id']}", None, pk1)] * PARALLEL)
    assert statuses(answers) == [200] * PARALLEL, answers
    assert await audited(live, "letter.revoke", made.body["id"]) == 1


# --- reminders, portal links, records ------------------------------------------------


async def test_twenty_marks_of_one_reminder_at_once_mark_it_once(live, office):
    """c1 has had no session in sixty days: overdue, so today's list has its reminder."""
    pk1 = await staff_cookies(live, office, "pk1")
    day = office_today().isoformat()
    listed = await live.call(Call("GET", f"/api/reminders?date={day}", None, pk1))
    reminder = next(r for r in listed.body["reminders"] if r["client_id"] == office.clients["c1"].id and r["kind"] == "overdue")
    answers = await live.at_once([Call("POST", f"/api/reminders/{reminder['id']}/sent?date={day}", None, pk1)] * PARALLEL)
    assert statuses(answers) == [200] * PARALLEL, answers
    assert {a.body["state"] for a in answers} == {"sent"}
    assert await count(live, select(func.count()).select_from(ReminderMark).where(ReminderMark.key == reminder["id"])) == 1
    assert await audited(live, "reminder.sent", office.clients["c1"].id) == 1


async def test_twenty_portal_links_issued_at_once_leave_one_live(live, office):
    """Each issue revokes the client's previous link: one live link is what a sequence leaves."""
    pk1 = await staff_cookies(live, office, "pk1")
    c1 = office.clients["c1"].id
    answers = await live.at_once([Call("POST", f"/api/clients/{c1}/portal-link", None, pk1)] * PARALLEL)
    assert statuses(answers) == [201] * PARALLEL, answers
    live_links = select(func.count()).select_from(PortalLink).where(PortalLink.client_id == c1, PortalLink.revoked_at.is_(None))
    assert await count(live, live_links) == 1
    assert await count(live, select(func.count()).select_from(PortalLink).where(PortalLink.client_id == c1)) == PARALLEL


async def test_twenty_clients_with_one_register_number_at_once_make_one(live, office):
    pk1 = await staff_cookies(live, office, "pk1")
    body = {**CLIENT_BODY, "register_number": f"PAS.{office.id}.RACE"}
    answers = await live.at_once([Call("POST", "/api/clients", body, pk1)] * PARALLEL)
    assert statuses(answers) == [201] + [409] * (PARALLEL - 1), answers
    assert {a.code for a in answers if a.status == 409} == {"duplicate-register-number"}
    rows = select(func.count()).select_from(ClientRow).where(ClientRow.office_id == office.id, ClientRow.register_number == body["register_number"])
    assert await count(live, rows) == 1


async def test_staff_accounts_with_one_username_at_once_make_one(live, office):
    """Four, not twenty: each request first hashes its password (tests/races.py)."""
    admin = await staff_cookies(live, office, "admin")
    body = {"username": f"{office.staff['pk1'].username}.baru", "name": "PK Baru", "role": "pk", "password": "correct horse battery"}
    answers = await live.at_once([Call("POST", "/api/staff", body, admin)] * STAFF_PARALLEL)
    assert statuses(answers) == [201] + [409] * (STAFF_PARALLEL - 1), answers
    assert {a.code for a in answers if a.status == 409} == {"username-taken"}
    assert await count(live, select(func.count()).select_from(Staff).where(Staff.username == body["username"])) == 1
