"""The evaluation for the head of office, checked against counts this test
computes on its own from the seeded rows (with the record's ledger,
``attendance`` and ``period_list``, as the measure of wajib lapor), on SQLite
and PostgreSQL."""

from __future__ import annotations

import csv
import io
import random
import re
import statistics
from collections import Counter, defaultdict
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from server.db.models import (
    Area,
    AreaLevel,
    Client,
    ClientCategory,
    Evidence,
    GuidanceSession,
    Kendala,
    MobileEvent,
    MobileEventStatus,
    Outcome,
    Program,
    SessionMode,
    SessionStatus,
    Staff,
    evidence_for,
)
from server.domain.documents.evaluation_figures import place_of_clients
from server.domain.record.ledger import PERIOD_STATUSES, attendance, period_list
from server.domain.record.rules import Rules
from tests.clock import hours_ago, office_today
from tests.foundation import database

TZ = "Asia/Jakarta"
# The strategies the evaluation weighs, in its order (server/domain/documents/evaluation_figures.STRATEGY_MODES).
STRATEGIES = ["video", "mobile", "home_visit"]
WIB = ZoneInfo(TZ)
RULES = Rules(tz=TZ)  # the office's rules: no office of these tests changed them
MONTHS = ["2025-03", "2025-04", "2025-05"]
PREVIOUS = ["2024-12", "2025-01", "2025-02"]
AREA_TREE = {
    "Jakarta Timur": {"Cakung": ["Cakung Barat", "Pulo Gebang"], "Duren Sawit": ["Klender"]},
    "Jakarta Utara": {"Koja": ["Koja", "Tugu Utara"]},
    "Kepulauan Seribu": {"Kepulauan Seribu Utara": ["Pulau Panggang", "Pulau Kelapa"]},
}


def month_end(key: str) -> date:
    y, m = (int(p) for p in key.split("-"))
    return date(y + (m == 12), m % 12 + 1, 1) - timedelta(days=1)


async def seed(database_url: str, office) -> dict:
    """Areas, 30 clients over the kelurahan (one spelled differently, one
    outside the tree), ~15 months of sessions of every mode and outcome, kendala."""
    rng = random.Random(10)
    pk1, pk2 = office.staff["pk1"], office.staff["pk2"]
    async with database(database_url) as db:
        for city, kecs in AREA_TREE.items():
            c = Area(office_id=office.id, level=AreaLevel.city, name=city)
            db.add(c)
            await db.flush()
            for kec, kels in kecs.items():
                k = Area(office_id=office.id, level=AreaLevel.kecamatan, name=kec, parent_id=c.id)
                db.add(k)
                await db.flush()
                for kel in kels:
                    db.add(Area(office_id=office.id, level=AreaLevel.kelurahan, name=kel, parent_id=k.id))
        kelurahan = [kel for kecs in AREA_TREE.values() for kels in kecs.values() for kel in kels]
        clients = []
        for i in range(30):
            kel = kelurahan[i % len(kelurahan)]
            if i == 3:
                kel = "  pulo GEBANG "  # typed by hand: matched case-insensitively
            if i == 4:
                kel = "Antah Berantah"  # not in the tree
            c = Client(
                office_id=office.id, officer_id=(pk1 if i % 3 else pk2).id, register_number=f"EV-{i}", name=f"Klien Eval {i}",
                category=ClientCategory.child if i % 5 == 0 else ClientCategory.adult, program=Program.pb if i % 2 else Program.cb,
                supervision_start=date(2024, 9, 1) + timedelta(days=7 * (i % 8)), supervision_end=date(2025, 4, 15) if i == 7 else date(2026, 3, 1),
                reporting_interval_days=(7, 14, 30)[i % 3], kelurahan=kel,
            )
            db.add(c)
            clients.append(c)
        await db.flush()
        sessions = []
        for c in clients:
            day = c.supervision_start
            while day <= date(2025, 5, 31):
                mode = rng.choice([SessionMode.office, SessionMode.video, SessionMode.mobile, SessionMode.home_visit])
                status = rng.choice([SessionStatus.ended] * 6 + [SessionStatus.cancelled, SessionStatus.interrupted, SessionStatus.scheduled])
                outcome = None if status == SessionStatus.scheduled else rng.choice([Outcome.attended] * 4 + [Outcome.no_show, Outcome.excused, None])
                # Some late in the evening UTC: already the next day (and month) in Jakarta.
                when = datetime.combine(day, time(rng.choice([2, 9, 16, 23]), 30), WIB if rng.random() < 0.7 else ZoneInfo("UTC"))
                s = GuidanceSession(
                    office_id=office.id, client_id=c.id, officer_id=c.officer_id if rng.random() < 0.9 else pk1.id, mode=mode,
                    evidence=Evidence.roll_call if mode == SessionMode.mobile and rng.random() < 0.5 else evidence_for(mode),
                    status=status, scheduled_at=when, started_at=when if status != SessionStatus.scheduled else None,
                    ended_at=when + timedelta(minutes=30) if status in (SessionStatus.ended, SessionStatus.interrupted) else None,
                    duration_seconds=rng.randint(300, 3600), outcome=outcome, notes="" if rng.random() < 0.2 else "Catatan.",
                )
                db.add(s)
                sessions.append(s)
                day += timedelta(days=rng.randint(3, 25))
        kendala = []
        for i, c in enumerate(clients[:20]):
            created = datetime.combine(date(2024, 12, 1) + timedelta(days=9 * i), time(8), WIB)
            status = ("open", "accepted", "declined")[i % 3]
            k = Kendala(client_id=c.id, kind=("work_shift", "transport_cost", "illness", "family")[i % 4], status=status, created_at=created, message="x")
            db.add(k)
            kendala.append(k)
        await db.flush()
        # One accepted kendala moved the meeting (a new session).
        kendala[1].new_session_id = sessions[0].id
        await db.commit()
        # Every client of the office, the fixture's two (supervised from 60 days ago) included.
        clients = list((await db.execute(select(Client).where(Client.office_id == office.id).order_by(Client.id))).scalars())
        return {"clients": clients, "sessions": sessions, "kendala": kendala}


def begun_between(c, sessions, first: date, last: date, as_of: date) -> dict[str, int]:
    """The statuses, as of ``as_of``, of the client's periods that began from ``first`` to ``last``."""
    counts = dict.fromkeys(PERIOD_STATUSES, 0)
    for p in period_list(c, sessions, as_of, RULES):
        if first <= p.start <= last:
            counts[p.status] += 1
    return counts


def supervised_between(c, first: date, last: date) -> bool:
    return c.supervision_start <= last and c.supervision_end >= first


def expected(data: dict, months: list[str], clients_filter=lambda c: True, as_of: date = date(2025, 5, 31)) -> dict:
    """The figures, computed here without the code under test (the ledger is
    the measure): the periods begun in each month with their statuses as of the
    range's day, the clients overdue at each month's end."""
    clients = [c for c in data["clients"] if clients_filter(c) and supervised_between(c, date(2024, 12, 1), as_of)]
    ids = {c.id for c in clients}
    sessions = [s for s in data["sessions"] if s.client_id in ids]
    by_client = defaultdict(list)
    for s in sessions:
        by_client[s.client_id].append(s)
    out = {}
    for key in months:
        first = date(int(key[:4]), int(key[5:]), 1)
        last = month_end(key)
        in_month = [s for s in sessions if s.status != SessionStatus.cancelled and first <= (s.started_at or s.scheduled_at).astimezone(WIB).date() <= last]
        held = [s for s in in_month if s.status in (SessionStatus.ended, SessionStatus.interrupted)]
        periods = dict.fromkeys(PERIOD_STATUSES, 0)
        overdue = 0
        for c in clients:
            for status, n in begun_between(c, by_client[c.id], first, last, as_of).items():
                periods[status] += n
            overdue += attendance(c, by_client[c.id], min(last, as_of), RULES).state == "overdue"
        kendala = defaultdict(lambda: {"total": 0, "accepted": 0, "moved": 0, "declined": 0, "unanswered": 0})
        for k in data["kendala"]:
            if k.client_id in ids and first <= k.created_at.astimezone(WIB).date() <= last:
                ended = {"accepted": "moved" if k.new_session_id else "accepted", "declined": "declined"}.get(k.status, "unanswered")
                kendala[k.kind]["total"] += 1
                kendala[k.kind][ended] += 1
        out[key] = {
            "month": key,
            "as_of": min(last, as_of).isoformat(),
            "to_date": as_of < last,
            "sessions_by_mode": {m.value: sum(1 for s in held if s.mode == m) for m in SessionMode},
            "sessions_by_evidence": {e.value: sum(1 for s in held if s.evidence == e) for e in Evidence},
            "periods": periods,
            "periods_due": sum(periods.values()),
            "periods_met": periods["met"],
            "overdue_clients": overdue,
            "kendala_by_type": dict(kendala),
            "no_shows": sum(1 for s in in_month if s.outcome == Outcome.no_show),
        }
    return out


async def test_the_month_by_month_figures_match_counts_made_independently(client, office, sign_in, database_url):
    data = await seed(database_url, office)
    await sign_in(client, "kasie")
    resp = await client.get("/api/reports/evaluation?from=2025-03&to=2025-05")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    want = expected(data, MONTHS)
    assert [m["month"] for m in body["months"]] == MONTHS
    for got in body["months"]:
        assert got == want[got["month"]], got["month"]
    assert sum(sum(m["sessions_by_mode"].values()) for m in body["months"]) > 50  # the seed is not trivially empty
    assert any(m["overdue_clients"] for m in body["months"]) and any(m["kendala_by_type"] for m in body["months"])
    assert all(m["periods"][s] for s in ("met", "excused", "missed") for m in [{"periods": {k: sum(x["periods"][k] for x in body["months"]) for k in PERIOD_STATUSES}}])
    # A range in the past is counted to its last day; the headline adds up the months.
    assert body["as_of"] == "2025-05-31" and body["headline"]["as_of"] == "2025-05-31"
    assert body["headline"]["periods"] == {k: sum(m["periods"][k] for m in body["months"]) for k in PERIOD_STATUSES}
    # Change against the previous three months.
    before = expected(data, PREVIOUS)
    assert body["previous"]["sessions_held"] == sum(sum(m["sessions_by_mode"].values()) for m in before.values())
    assert body["previous"]["overdue_clients"] == before["2025-02"]["overdue_clients"]
    assert body["headline"]["no_shows"] == sum(m["no_shows"] for m in want.values())


async def test_areas_group_clients_by_kelurahan_in_the_tree(client, office, sign_in, database_url):
    data = await seed(database_url, office)
    await sign_in(client, "kasie")
    body = await (await client.get("/api/reports/evaluation?from=2025-03&to=2025-05")).json()
    areas = {(a["city"], a["kecamatan"], a["kelurahan"]): a for a in body["areas"]}
    tree = {kel.casefold(): (city, kec, kel) for city, kecs in AREA_TREE.items() for kec, kels in kecs.items() for kel in kels}
    counts, overdue, periods = Counter(), Counter(), defaultdict(Counter)
    by_client = defaultdict(list)
    for s in data["sessions"]:
        by_client[s.client_id].append(s)
    for c in data["clients"]:
        if not supervised_between(c, date(2025, 3, 1), date(2025, 5, 31)):
            continue  # the areas are about the clients supervised in the range
        place = tree.get(c.kelurahan.strip().casefold(), (None, None, c.kelurahan.strip()))
        counts[place] += 1
        overdue[place] += attendance(c, by_client[c.id], date(2025, 5, 31), RULES).state == "overdue"
        periods[place].update(begun_between(c, by_client[c.id], date(2025, 3, 1), date(2025, 5, 31), date(2025, 5, 31)))
    assert set(areas) == set(counts)
    assert ("Jakarta Timur", "Cakung", "Pulo Gebang") in areas and ("Kepulauan Seribu", "Kepulauan Seribu Utara", "Pulau Kelapa") in areas
    assert (None, None, "Antah Berantah") in areas
    for place, a in areas.items():
        assert a["clients"] == counts[place], place
        assert a["overdue"] == overdue[place], place
        assert a["periods"] == {k: periods[place][k] for k in PERIOD_STATUSES}, place
        due = sum(periods[place].values())
        assert a["rate"] == (round(periods[place]["met"] / due, 3) if due else None), place
        # The seed has mobile sessions but no mobile-counseling day: no kelurahan had one.
        assert a["last_mobile_day"] is None, place
    # The areas add up to the office.
    assert sum(a["overdue"] for a in body["areas"]) == body["headline"]["overdue_clients"]
    assert {k: sum(a["periods"][k] for a in body["areas"]) for k in PERIOD_STATUSES} == body["headline"]["periods"]
    # Sorted by need: the most overdue first.
    assert [a["overdue"] for a in body["areas"]] == sorted((a["overdue"] for a in body["areas"]), reverse=True)

    # A filter by kecamatan keeps only its kelurahan, and the months follow.
    cakung = await (await client.get("/api/reports/evaluation?from=2025-03&to=2025-05&kecamatan=cakung")).json()
    assert {a["kelurahan"] for a in cakung["areas"]} == {"Cakung Barat", "Pulo Gebang"}
    in_cakung = lambda c: tree.get(c.kelurahan.strip().casefold(), (None, None, None))[1] == "Cakung"  # noqa: E731
    want = expected(data, MONTHS, in_cakung)
    assert [m for m in cakung["months"]] == [want[k] for k in MONTHS]


async def test_officers_and_a_pk_sees_only_their_own_caseload(client, office, sign_in, database_url):
    data = await seed(database_url, office)
    await sign_in(client, "kasie")
    body = await (await client.get("/api/reports/evaluation?from=2025-03&to=2025-05")).json()
    officers = {o["officer_id"]: o for o in body["officers"]}
    assert set(officers) == {office.staff["pk1"].id, office.staff["pk2"].id}
    first, last = date(2025, 3, 1), date(2025, 5, 31)
    for oid, o in officers.items():
        held = [s for s in data["sessions"] if s.officer_id == oid and s.status in (SessionStatus.ended, SessionStatus.interrupted)
                and first <= (s.started_at or s.scheduled_at).astimezone(WIB).date() <= last]
        assert o["sessions_held"] == len(held)
        assert o["median_duration_seconds"] == statistics.median([s.duration_seconds for s in held])
        assert o["sessions_without_notes"] == sum(1 for s in held if s.notes == "")
        mine = [c for c in data["clients"] if c.officer_id == oid]
        assert o["caseload"] == sum(1 for c in mine if c.supervision_start <= last and c.supervision_end >= first)
        assert o["open_kendala"] == sum(1 for k in data["kendala"] if k.status == "open" and any(c.id == k.client_id for c in mine))
        assert o["open_kendala"] == 0 or o["kendala_waiting_days_max"] > 100  # made in 2024-25: long waiting

    # The PKs add up to the office.
    assert sum(o["sessions_held"] for o in body["officers"]) == body["headline"]["sessions_held"]
    assert sum(o["clients_overdue"] for o in body["officers"]) == body["headline"]["overdue_clients"]
    assert sum(o["caseload"] for o in body["officers"]) == sum(a["clients"] for a in body["areas"])

    await sign_in(client, "pk2")
    own = await (await client.get("/api/reports/evaluation?from=2025-03&to=2025-05")).json()
    pk2 = office.staff["pk2"].id
    mine = {c.id for c in data["clients"] if c.officer_id == pk2}
    # Their own row first; a colleague appears only for sessions they held with pk2's clients.
    assert own["officers"][0]["officer_id"] == pk2 or all(o["caseload"] == 0 for o in own["officers"] if o["officer_id"] != pk2)
    for o in own["officers"]:
        if o["officer_id"] != pk2:
            assert o["caseload"] == 0 and o["clients_overdue"] == 0
            assert o["sessions_held"] == sum(1 for s in data["sessions"] if s.client_id in mine and s.officer_id == o["officer_id"]
                                             and s.status in (SessionStatus.ended, SessionStatus.interrupted)
                                             and first <= (s.started_at or s.scheduled_at).astimezone(WIB).date() <= last)
    assert sum(o["sessions_held"] for o in own["officers"]) == own["headline"]["sessions_held"]
    want = expected(data, MONTHS, lambda c: c.officer_id == pk2)
    assert own["months"] == [want[k] for k in MONTHS]
    assert sum(a["clients"] for a in own["areas"]) == sum(1 for c in data["clients"] if c.officer_id == pk2 and supervised_between(c, first, last))


async def test_strategies_hide_figures_under_five_clients_and_the_csv_is_guarded(client, office, sign_in, database_url):
    await seed(database_url, office)
    first_visit = date(2025, 3, 10)
    async with database(database_url) as db:
        # A name a spreadsheet would run as a formula.
        c = Client(office_id=office.id, officer_id=office.staff["pk1"].id, register_number="EV-X", name="x", category=ClientCategory.adult,
                   program=Program.pb, supervision_start=date(2025, 1, 1), supervision_end=date(2026, 1, 1), reporting_interval_days=14, kelurahan="=HYPERLINK(\"x\")")
        db.add(c)
        # Five clients (the fewest shown) who attended nothing until a first home
        # visit on 10 March 2025, then every five days (the last on 29 May, in the
        # period begun on 27 May): 0 before, 1 after, to the digit.
        for i in range(5):
            visited = Client(office_id=office.id, officer_id=office.staff["pk1"].id, register_number=f"EV-HV{i}", name=f"Klien Kunjungan {i}",
                             category=ClientCategory.adult, program=Program.cmb, supervision_start=date(2024, 10, 1), supervision_end=date(2026, 3, 1),
                             reporting_interval_days=14, kelurahan="Koja")
            db.add(visited)
            await db.flush()
            day = first_visit
            while day <= date(2025, 5, 31):
                mode = SessionMode.home_visit if day == first_visit else SessionMode.office
                when = datetime.combine(day, time(10), WIB)
                db.add(GuidanceSession(office_id=office.id, client_id=visited.id, officer_id=visited.officer_id, mode=mode, evidence=evidence_for(mode),
                                       status=SessionStatus.ended, scheduled_at=when, started_at=when, ended_at=when + timedelta(minutes=30),
                                       duration_seconds=1800, outcome=Outcome.attended, notes="Catatan."))
                day += timedelta(days=5)
        await db.commit()
    await sign_in(client, "kasie")
    body = await (await client.get("/api/reports/evaluation?from=2025-03&to=2025-05")).json()
    # Every strategy has its row, hidden or not; the whole office has enough clients to show some.
    assert [s["mode"] for s in body["strategies"]] == STRATEGIES
    for s in body["strategies"]:
        assert s["hidden"] == (s["clients"] < 5)
        if s["hidden"]:
            assert s["rate_before"] is None and s["rate_after"] is None
        else:
            assert 0 <= s["rate_before"] <= 1 and 0 <= s["rate_after"] <= 1, s
    assert any(not s["hidden"] for s in body["strategies"]), body["strategies"]
    visits = await (await client.get("/api/reports/evaluation?from=2025-03&to=2025-05&program=CMB")).json()
    assert [(s["mode"], s["clients"], s["hidden"], s["rate_before"], s["rate_after"]) for s in visits["strategies"]] == [
        ("video", 0, True, None, None), ("mobile", 0, True, None, None), ("home_visit", 5, False, 0.0, 1.0)]
    # Only one child client in Pulau Kelapa: too few clients for any strategy figure.
    few = await (await client.get("/api/reports/evaluation?from=2025-03&to=2025-05&kelurahan=Pulau%20Kelapa&category=child")).json()
    assert [(s["mode"], s["hidden"], s["rate_before"], s["rate_after"]) for s in few["strategies"]] == [(mode, True, None, None) for mode in STRATEGIES]

    resp = await client.get("/api/reports/evaluation?from=2025-03&to=2025-05&format=csv&table=areas&lang=id")
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("text/csv")
    raw = await resp.read()
    assert raw.startswith("\ufeff".encode()) and b"\r\n" in raw
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8").lstrip("\ufeff"))))
    assert rows[0][:3] == ["Kota", "Kecamatan", "Kelurahan"]
    assert any(r[2] == "'=HYPERLINK(\"x\")" for r in rows[1:])
    for table in ("months", "officers", "strategies"):
        r = await client.get(f"/api/reports/evaluation?from=2025-03&to=2025-05&format=csv&table={table}")
        assert r.status == 200 and (await r.read()).startswith("\ufeff".encode())


@pytest.mark.parametrize("query", ["from=2025-13&to=2025-14", "from=2025-05&to=2025-03", "from=2020-01&to=2025-01", "from=x", "format=pdf", "officer_id=abc", "table=secrets", "bogus=1"])
async def test_bad_queries_are_400(client, office, sign_in, query):
    await sign_in(client, "kasie")
    resp = await client.get("/api/reports/evaluation?" + query)
    assert resp.status == 400, query
    assert (await resp.json())["error"] == "invalid-query"


async def test_the_evaluations_packed_ledger_agrees_with_the_records(database_url, office):
    """The evaluation builds each client's ledger from packed sessions, the record
    from rows: the same periods and the same standing on every day asked."""
    from server.domain.documents.evaluation import _ledger
    from server.domain.record.session_digest import LocalDays, day_number, digest_for

    data = await seed(database_url, office)
    by_client = defaultdict(list)
    for s in data["sessions"]:
        by_client[s.client_id].append(s)
    days = (date(2024, 8, 1), date(2024, 12, 31), date(2025, 3, 31), date(2025, 4, 15), date(2025, 5, 31), date(2026, 6, 1))
    async with database(database_url) as db:
        packed = await digest_for(db).sessions(db, LocalDays.over(TZ, days[0], days[-1]), office.id, ((c.id, c.sessions_revision) for c in data["clients"]))
    checked = Counter()
    for c in data["clients"]:
        for as_of in days:
            ledger = _ledger(c, packed[c.id], day_number(as_of), RULES.min_report_seconds)
            att = attendance(c, by_client[c.id], as_of, RULES)
            assert ledger.counts(day_number(as_of)) == att.periods, (c.id, as_of)
            assert ledger.overdue_on(day_number(as_of)) == (att.state == "overdue"), (c.id, as_of)
            checked[att.state] += 1
            checked.update(k for k, n in att.periods.items() if n)
    # The seed reaches every status and every standing the ledger knows.
    assert set(checked) >= {"met", "excused", "missed", "open", "ok", "overdue", "not_started", "completed"}, checked


def test_place_of_clients_matches_by_name_ignoring_case_and_spaces():
    city = Area(id=1, office_id=1, level=AreaLevel.city, name="Kepulauan Seribu", parent_id=None)
    kec = Area(id=2, office_id=1, level=AreaLevel.kecamatan, name="Kepulauan Seribu Selatan", parent_id=1)
    kel = Area(id=3, office_id=1, level=AreaLevel.kelurahan, name="Pulau Tidung", parent_id=2)
    c1 = Client(id=10, kelurahan=" pulau TIDUNG")
    c2 = Client(id=11, kelurahan="Lain")
    places = place_of_clients([city, kec, kel], [c1, c2])
    assert (places[10].city, places[10].kecamatan, places[10].kelurahan) == ("Kepulauan Seribu", "Kepulauan Seribu Selatan", "Pulau Tidung")
    assert (places[11].city, places[11].kecamatan, places[11].kelurahan) == (None, None, "Lain")


async def test_the_page_draws_charts_with_tables_links_and_the_caveat_under_150_kb(client, office, sign_in, database_url):
    await seed(database_url, office)
    await sign_in(client, "kasie")
    resp = await client.get("/evaluation?from=2025-03&to=2025-05")
    assert resp.status == 200, await resp.text()
    html = await resp.text()
    assert len(html.encode()) < 150 * 1024
    # Server-drawn, no chart library: the one script is the print button's.
    assert html.count("<svg") >= 5 and re.findall(r'<script[^>]*src="([^"?]+)', html) == ["/static/print.js"] and html.count("<script") == 1
    for table in ("table-months", "table-periods", "table-kendala", "table-areas", "table-strategies", "table-officers"):
        assert f'id="{table}"' in html, table
    assert "bukan bukti sebab-akibat" in html
    # Figures link to what is behind them: sessions in the audit log, clients in a list.
    assert 'href="/audit?date_from=2025-03-01&amp;date_to=2025-03-31&amp;mode=video"' in html
    assert "/evaluation/clients?" in html and "format=csv&amp;table=areas" in html
    # Indonesian numbers and month names.
    assert "Mar 2025" in html or "Maret 2025" in html
    # The clients behind the overdue figure of May are exactly those overdue then.
    body = await (await client.get("/api/reports/evaluation?from=2025-05&to=2025-05")).json()
    listed = await (await client.get("/evaluation/clients?from=2025-03&to=2025-05&on=2025-05-31&overdue=1")).text()
    assert listed.count('data-client-id="') == body["months"][0]["overdue_clients"]
    # Strategies resting on fewer than 5 clients say so instead of a figure.
    few = await (await client.get("/evaluation?from=2025-03&to=2025-05&kelurahan=Pulau%20Kelapa&category=child")).text()
    assert few.count('data-hidden="true"') == 3 and "Kurang dari 5 klien" in few
    # A PK reaches the page for their own caseload; English when chosen.
    await sign_in(client, "pk1")
    own = await client.get("/evaluation?from=2025-03&to=2025-05&lang=en")
    assert own.status == 200 and "not proof of cause" in await own.text()


@pytest.mark.parametrize("zone", [TZ, "America/Bogota", "Europe/Amsterdam"])
async def test_the_sql_and_the_python_reads_agree(database_url, office, zone):
    """Reading in SQL and session by session in Python pack the same sessions. In
    SQL a zone with a fixed offset (Jakarta ahead of UTC, Bogotá behind) is counted
    by its offset, one with daylight saving (Amsterdam) by the zone itself on
    PostgreSQL; SQLite has no zone rules, so there the read the evaluation uses
    (``read_sessions``) must be the Python one."""
    from server.domain.record import session_digest

    await seed(database_url, office)
    async with database(database_url) as db:
        dialect = db.get_bind().dialect.name
        local = session_digest.LocalDays.over(zone, date(2024, 12, 1), date(2025, 5, 31))
        assert (local.offset is None) == (zone == "Europe/Amsterdam")
        where = [Client.office_id == office.id]
        if local.offset is None and dialect == "sqlite":
            read = await session_digest.read_sessions(db, local, where)
        else:
            read = await session_digest._read_in_sql(db, dialect, local, where)
        in_python = await session_digest._read_in_python(db, local, where)
    assert read.keys() == in_python.keys() and sum(len(p.codes) for p in read.values()) > 100
    for cid, a in read.items():
        b = in_python[cid]
        assert sorted(zip(a.codes, a.scheduled, a.officers, a.durations)) == sorted(zip(b.codes, b.scheduled, b.officers, b.durations))
        assert sorted(zip(a.bare, a.bare_scheduled, a.bare_officers)) == sorted(zip(b.bare, b.bare_scheduled, b.bare_officers))
        assert a.revision == b.revision
    assert sum(len(p.bare) for p in read.values()) > 0


async def test_an_areas_last_mobile_day_counts_the_offices_mobile_counseling_days(client, office, sign_in, database_url):
    """A day the office went to a kelurahan counts even before anyone's roll call
    is entered; a day after the range, or a cancelled one, does not."""
    await seed(database_url, office)
    await sign_in(client, "kasie")

    async def last_day(kelurahan: str):
        body = await (await client.get("/api/reports/evaluation?from=2025-03&to=2025-05")).json()
        return {a["kelurahan"]: a["last_mobile_day"] for a in body["areas"]}[kelurahan]

    # Clients of Pulo Gebang came to mobile sessions, but the office held no day there yet.
    before = await last_day("Pulo Gebang")
    assert before is None
    async with database(database_url) as db:
        for day, status in ((date(2025, 5, 24), MobileEventStatus.planned), (date(2025, 5, 31), MobileEventStatus.cancelled), (date(2025, 6, 14), MobileEventStatus.planned)):
            db.add(MobileEvent(office_id=office.id, date=day, start_time="08:00", end_time="12:00", kelurahan="Pulo Gebang", status=status))
        await db.commit()
    assert await last_day("Pulo Gebang") == "2025-05-24"


async def test_a_month_holds_the_sessions_of_its_last_evening_and_first_morning_in_the_office_zone(client, office, sign_in, database_url):
    """Months and days are the office's (Asia/Jakarta, UTC+7), and a session's
    moment is when it started: 23:30 WIB on 31 March is March (16:30 UTC), 05:00
    WIB on 1 March is March (still 28 February in UTC), 00:00 WIB on 1 April is
    April, and a session scheduled on 31 March that started after midnight is April."""
    pk1 = office.staff["pk1"]
    async with database(database_url) as db:
        c = Client(office_id=office.id, officer_id=pk1.id, register_number="EV-TZ", name="Klien Batas", category=ClientCategory.adult,
                   program=Program.asimilasi, supervision_start=date(2025, 1, 1), supervision_end=date(2026, 1, 1),
                   reporting_interval_days=30, kelurahan="Koja")
        db.add(c)
        await db.flush()

        def held(mode: SessionMode, scheduled: datetime, started: datetime | None = None, outcome: Outcome = Outcome.attended) -> GuidanceSession:
            started = started or scheduled
            return GuidanceSession(office_id=office.id, client_id=c.id, officer_id=pk1.id, mode=mode, evidence=evidence_for(mode),
                                   status=SessionStatus.ended, scheduled_at=scheduled, started_at=started, ended_at=started + timedelta(minutes=30),
                                   duration_seconds=1800, outcome=outcome, notes="Catatan.")

        db.add_all([
            held(SessionMode.office, datetime(2025, 2, 28, 23, 30, tzinfo=WIB)),  # February: the previous period
            held(SessionMode.mobile, datetime(2025, 3, 1, 5, 0, tzinfo=WIB)),  # 2025-02-28 22:00 UTC
            held(SessionMode.office, datetime(2025, 3, 31, 23, 30, tzinfo=WIB)),  # 2025-03-31 16:30 UTC
            held(SessionMode.video, datetime(2025, 3, 31, 22, 0, tzinfo=WIB), started=datetime(2025, 4, 1, 0, 10, tzinfo=WIB)),
            held(SessionMode.home_visit, datetime(2025, 3, 31, 17, 0, tzinfo=ZoneInfo("UTC")), outcome=Outcome.no_show),  # 00:00 WIB, 1 April
        ])
        await db.commit()
    await sign_in(client, "kasie")
    resp = await client.get("/api/reports/evaluation?from=2025-03&to=2025-04&program=Asimilasi")
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    march, april = body["months"]
    held_by_mode = {m["month"]: {k: v for k, v in m["sessions_by_mode"].items() if v} for m in body["months"]}
    assert held_by_mode == {"2025-03": {"office": 1, "mobile": 1}, "2025-04": {"video": 1, "home_visit": 1}}
    assert (march["no_shows"], april["no_shows"]) == (0, 1)
    assert body["previous"]["sessions_held"] == 1
    # Periods of 30 days from 1 January: 2 Mar–31 Mar is met by 31 March 23:30 WIB,
    # 1 Apr–30 Apr by the session that started at 00:10 WIB on 1 April.
    assert (march["periods_due"], march["periods_met"], april["periods_due"], april["periods_met"]) == (1, 1, 1, 1)
    assert (march["overdue_clients"], april["overdue_clients"]) == (0, 0)
    # A mobile session of the client's is not a mobile-counseling day of its kelurahan.
    assert [a["last_mobile_day"] for a in body["areas"]] == [None]


async def test_the_evaluation_reads_sessions_from_its_indexes_alone_on_sqlite(tmp_path, sqlite_template):
    """The cause of the evaluation's speed (bench/evaluation.py): on SQLite every
    statement reads guidance_session through an index holding all it needs (no
    table rows), and the per-client pass, the big one, needs no sort. SQLite only:
    PostgreSQL chooses its plan by the table's statistics, and bench/ measures it."""
    from sqlalchemy import event

    from server.domain.documents.evaluation import evaluate
    from server.domain.documents.evaluation_figures import EvaluationFilter
    from tests.conftest import seed_office, sqlite_copy

    database_url = sqlite_copy(sqlite_template, tmp_path / "plans.db")
    office = await seed_office(database_url)
    await seed(database_url, office)
    statements: list[tuple[str, Any]] = []
    async with database(database_url) as db:
        kasie = await db.get(Staff, office.staff["kasie"].id)
        engine = db.get_bind()

        def capture(conn, cursor, statement, parameters, context, executemany):
            statements.append((statement, parameters))

        event.listen(engine, "before_cursor_execute", capture)
        try:
            await evaluate(db, kasie, EvaluationFilter(date(2025, 3, 1), date(2025, 5, 31)), TZ, date(2025, 6, 2))
        finally:
            event.remove(engine, "before_cursor_execute", capture)
        plans = {}
        for statement, parameters in statements:
            if "guidance_session" in statement:
                rows = await (await db.connection()).exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
                plans[statement] = [r[3] for r in rows]
    # The goals rated at sessions (issue 20: by need, stage and mode) read their few sessions by key, never a scan.
    rated = {statement: plan for statement, plan in plans.items() if "FROM goal_progress" in statement}
    assert len(rated) == 1 and all(not step.startswith("SCAN guidance_session") for plan in rated.values() for step in plan), rated
    plans = {statement: plan for statement, plan in plans.items() if statement not in rated}
    assert len(plans) == 2, list(plans)  # every session per client, and those without notes
    for statement, plan in plans.items():
        reads = [step for step in plan if " guidance_session " in f" {step} "]
        assert reads and all("COVERING INDEX ix_session_client_evaluation" in s or "INDEX ix_session_without_notes" in s for s in reads), (statement, plan)
    per_client = next(plan for statement, plan in plans.items() if "group_concat" in statement and "instr" in statement)
    assert not any("TEMP B-TREE" in step for step in per_client), per_client


# --- nothing in the future as fact (issue "One truth") ------------------------------


def _month_after(day: date) -> date:
    return date(day.year + (day.month == 12), day.month % 12 + 1, 1)


@pytest.mark.clock
async def test_the_current_month_is_counted_as_of_today_and_a_later_month_is_refused(client, office, sign_in):
    # On 6 December the page stated the end of December as fact ("Terlambat lapor di akhir periode").
    today = office_today()
    this, later = today.strftime("%Y-%m"), _month_after(today).strftime("%Y-%m")
    last_day = _month_after(today) - timedelta(days=1)
    await sign_in(client, "kasie")
    # From the month the seeded clients began (60 days ago), so that every period of theirs is in the range.
    began = (today - timedelta(days=60)).strftime("%Y-%m")
    for query in (f"from={this}&to={this}", "", f"from={began}&to={this}"):
        body = await (await client.get("/api/reports/evaluation?" + query)).json()
        assert body["as_of"] == today.isoformat(), query
        current = body["months"][-1]
        assert (current["month"], current["as_of"], current["to_date"]) == (this, today.isoformat(), today < last_day), query
        assert body["headline"]["as_of"] == today.isoformat()
        # The seeded clients report every 14 days and never came: overdue today.
        assert body["headline"]["overdue_clients"] == 2
    # Their periods, each counted once, none after today: four ended and missed, the fifth open.
    assert body["headline"]["periods"] == {"met": 0, "excused": 0, "missed": 8, "open": 2}
    refused = await client.get(f"/api/reports/evaluation?from={this}&to={later}")
    assert refused.status == 400
    assert (await refused.json())["error"] == "future-period"
    page = await client.get(f"/evaluation?from={this}&to={this}")
    html = await page.text()
    assert page.status == 200
    assert ('id="eval-as-of"' in html) == (today < last_day)


@pytest.mark.clock
async def test_the_clients_behind_a_figure_are_as_of_today_never_a_later_day(client, office, sign_in):
    # "Keadaan pada 31 Desember 2026" listed as Terlambat clients who were Tertib that day.
    today = office_today()
    await sign_in(client, "pk1")
    resp = await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "office", "scheduled_at": hours_ago(0.2).isoformat(),
                                                  "outcome": "attended", "duration_minutes": 5})
    assert resp.status == 201, await resp.text()
    record = await (await client.get(f"/api/clients/{office.clients['c1'].id}/record")).json()
    assert record["attendance"]["state"] in ("ok", "due")
    await sign_in(client, "kasie")
    this = today.strftime("%Y-%m")
    far = (today + timedelta(days=60)).isoformat()
    html = await (await client.get(f"/evaluation/clients?from={this}&to={this}&on={far}&overdue=1")).text()
    assert f'data-client-id="{office.clients["c2"].id}"' in html
    assert f'data-client-id="{office.clients["c1"].id}"' not in html
    assert f'data-on="{today.isoformat()}"' in html
