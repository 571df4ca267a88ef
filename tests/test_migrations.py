"""The Alembic migrations build exactly the schema the models describe, on
SQLite and on PostgreSQL, and can be taken down and up again."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect, select, text
from sqlalchemy.exc import IntegrityError

from server.db.engine import make_engine
from server.db.migrate import downgrade, upgrade
from server.db.models import Base, GuidanceSession, Letter
from tests.conftest import BACKENDS, empty_database, migrate, seed_office


@pytest.fixture(params=BACKENDS)
async def database_url(request, tmp_path):
    """The migrations are what is under test here: each test migrates an empty
    database to head itself, where the rest of the suite copies a migrated template."""
    async with empty_database(request.param, tmp_path) as url:
        await migrate(url)
        yield url


def _differences(connection) -> list:
    context = MigrationContext.configure(connection, opts={"compare_type": True, "compare_server_default": False})
    return compare_metadata(context, Base.metadata)


def _tables(connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def test_upgrade_from_empty_gives_the_schema_of_the_models(database_url):
    # The database_url fixture starts from an empty database and runs upgrade to head.
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
            assert await conn.run_sync(_tables) == set(Base.metadata.tables) | {"alembic_version"}
    finally:
        await engine.dispose()


async def test_downgrade_to_base_then_upgrade_again(database_url):
    engine = make_engine(database_url)
    try:
        await downgrade(engine, "base")
        async with engine.connect() as conn:
            assert await conn.run_sync(_tables) <= {"alembic_version"}
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
            assert await conn.run_sync(_tables) == set(Base.metadata.tables) | {"alembic_version"}
    finally:
        await engine.dispose()


async def test_upgrading_twice_changes_nothing(database_url):
    engine = make_engine(database_url)
    try:
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


def _session_indexes(connection) -> set[str]:
    return {i["name"] for i in inspect(connection).get_indexes("guidance_session")}


async def test_0007_adds_the_evaluation_indexes_and_takes_them_away(database_url):
    evaluation_indexes = {"ix_session_client_evaluation", "ix_session_without_notes"}
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert evaluation_indexes <= await conn.run_sync(_session_indexes)
        await downgrade(engine, "0006")
        async with engine.connect() as conn:
            left = await conn.run_sync(_session_indexes)
            assert not evaluation_indexes & left and "ix_session_client_scheduled" in left
        await upgrade(engine)
        async with engine.connect() as conn:
            assert evaluation_indexes <= await conn.run_sync(_session_indexes)
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def _session_triggers(conn) -> set[str]:
    if conn.dialect.name == "postgresql":
        sql = "SELECT tgname FROM pg_trigger WHERE tgrelid = 'guidance_session'::regclass AND NOT tgisinternal"
    else:
        sql = "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'guidance_session'"
    return {row[0] for row in await conn.exec_driver_sql(sql)}


def _client_columns(connection) -> set[str]:
    return {c["name"] for c in inspect(connection).get_columns("client")}


async def test_0008_adds_the_sessions_revision_and_its_triggers_and_takes_them_away(database_url):
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await _session_triggers(conn)
            assert "sessions_revision" in await conn.run_sync(_client_columns)
        await downgrade(engine, "0007")
        async with engine.connect() as conn:
            assert not await _session_triggers(conn)
            assert "sessions_revision" not in await conn.run_sync(_client_columns)
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await _session_triggers(conn)
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


def _letter_columns(connection) -> set[str]:
    return {c["name"] for c in inspect(connection).get_columns("letter")}


async def test_0010_adds_the_printed_facts_of_letters_and_takes_them_away(database_url):
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert "printed" in await conn.run_sync(_letter_columns)
        await downgrade(engine, "0009")
        async with engine.connect() as conn:
            assert "printed" not in await conn.run_sync(_letter_columns)
        await upgrade(engine)
        async with engine.connect() as conn:
            assert "printed" in await conn.run_sync(_letter_columns)
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_0014_adds_the_signed_revocation_of_letters_and_takes_it_away(database_url):
    engine = make_engine(database_url)
    signed = {"revocation_key_id", "revocation_signature"}
    try:
        async with engine.connect() as conn:
            assert signed <= await conn.run_sync(_letter_columns)
        await downgrade(engine, "0011")
        async with engine.connect() as conn:
            columns = await conn.run_sync(_letter_columns)
            assert not signed & columns and {"revoked_at", "printed"} <= columns
        await upgrade(engine)
        async with engine.connect() as conn:
            assert signed <= await conn.run_sync(_letter_columns)
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


async def test_0010_gives_older_letters_the_letterhead_they_printed_from_the_audit_trail(database_url):
    engine = make_engine(database_url)
    try:
        await downgrade(engine, "0009")
        # As at 0009: an office whose profile changed after its first letter (the tables
        # of offices, staff and clients are the same at 0009 as now).
        office = await seed_office(database_url)
        async with engine.begin() as conn:
            profile = {"address": "Jl. Baru No. 1", "phone": "021-2222", "email": "baru@bapas.go.id", "logo_path": "office/logo-b.png"}
            await conn.execute(text("UPDATE office SET settings = :s WHERE id = :id"), {"s": json.dumps({"profile": profile}), "id": office.id})
            trail = [  # (at, action, detail): one change before the first letter, three after it
                (_utc(2025, 1, 1), "office.profile", {"address": {"old": "Jl. Sangat Lama", "new": "Jl. Lama No. 9"}}),
                (_utc(2025, 2, 1), "office.profile", {"address": {"old": "Jl. Lama No. 9", "new": "Jl. Antara"}, "phone": {"old": "021-1111", "new": "021-2222"}}),
                (_utc(2025, 2, 2), "office.logo", {"logo_path": "office/logo-b.png", "previous": "office/logo-a.png"}),
                (_utc(2025, 3, 1), "office.profile", {"address": {"old": "Jl. Antara", "new": "Jl. Baru No. 1"}, "email": {"old": "", "new": "baru@bapas.go.id"}}),
            ]
            for seq, (at, action, detail) in enumerate(trail, start=1):
                await conn.execute(
                    text("INSERT INTO audit_entry (seq, at, actor_id, actor, action, target_type, target_id, detail, prev_hash, hash) "
                         "VALUES (:seq, :at, NULL, 'admin', :action, 'office', :target, :detail, :prev, :hash)"),
                    {"seq": seq, "at": at, "action": action, "target": str(office.id), "detail": json.dumps(detail), "prev": f"{seq - 1:064d}", "hash": f"{seq:064d}"},
                )
            for seq, issued_at in ((1, _utc(2025, 1, 20)), (2, _utc(2025, 4, 1))):
                await conn.execute(
                    text("INSERT INTO letter (office_id, client_id, kind, year, seq, number, issued_on, issued_at, signer_name, signer_nip, signer_title, "
                         "office_name, client_initials, code, key_id, signature) VALUES (:office, :client, 'keterangan', 2025, :seq, :number, "
                         ":day, :at, 'Pk1', '', 'officer', 'Bapas Uji', 'K. C.', :code, 'k', 'ab')"),
                    {"office": office.id, "client": office.clients["c1"].id, "seq": seq, "number": f"X-{seq:04d}/SK/2025", "day": issued_at.date(),
                     "at": issued_at, "code": f"kode-lama-{seq}"},
                )
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = (await conn.execute(select(Letter.number, Letter.signer_title, Letter.printed).order_by(Letter.seq))).all()
        assert [tuple(r) for r in rows] == [
            ("X-0001/SK/2025", "officer", {"version": 1, "backfilled": "audit_trail", "office": {
                "address": "Jl. Lama No. 9", "phone": "021-1111", "email": "", "logo_path": "office/logo-a.png"}}),
            ("X-0002/SK/2025", "officer", {"version": 1, "backfilled": "audit_trail", "office": profile}),
        ]
    finally:
        await engine.dispose()


async def test_0009_dates_the_entry_of_sessions_logged_before_it(database_url):
    """Rows from before 0009 get when their outcome was first saved (the history),
    else when the row was made; a session with no outcome gets nothing."""
    engine = make_engine(database_url)
    try:
        await downgrade(engine, "0008")
        office = await seed_office(database_url)
        c1 = office.clients["c1"]
        async with engine.begin() as conn:
            for sid, outcome, created in ((1, "attended", _utc(2025, 5, 1, 9)), (2, "no_show", _utc(2025, 5, 2, 9)), (3, None, _utc(2025, 5, 3, 9))):
                await conn.execute(
                    text("INSERT INTO guidance_session (id, office_id, client_id, officer_id, mode, evidence, status, scheduled_at, duration_seconds, notes, "
                         "outcome, topics, record, location, met_with, findings, follow_up, visit_reason, link_version, created_at) VALUES "
                         "(:id, :office, :client, :officer, 'office', 'reported', 'ended', :at, 0, '', :outcome, '[]', false, '', '[]', '', '', '', 1, :at)"),
                    {"id": sid, "office": office.id, "client": c1.id, "officer": c1.officer_id, "at": created, "outcome": outcome},
                )
            # The first version that recorded what happened came a week later; a plain note before it does not count.
            for at, outcome in ((_utc(2025, 5, 4, 9), None), (_utc(2025, 5, 8, 9), "attended"), (_utc(2025, 5, 9, 9), "attended")):
                await conn.execute(text("INSERT INTO note_version (session_id, notes, outcome, topics, created_at) VALUES (1, 'x', :outcome, '[]', :at)"),
                                   {"outcome": outcome, "at": at})
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = dict((await conn.execute(select(GuidanceSession.id, GuidanceSession.outcome_entered_at).order_by(GuidanceSession.id))).all())
        assert rows == {1: _utc(2025, 5, 8, 9), 2: _utc(2025, 5, 2, 9), 3: None}
        await downgrade(engine, "0008")
        async with engine.connect() as conn:
            assert "outcome_entered_at" not in await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("guidance_session")})
        await upgrade(engine)
    finally:
        await engine.dispose()


async def test_0013_cuts_gateway_credentials_out_of_last_error_and_neutralises_waiting_texts(database_url):
    """Rows written before 0013 may hold the gateway's key (aiohttp's message
    carried the URL whole) and the full text of a reminder still to be sent."""
    engine = make_engine(database_url)
    try:
        await downgrade(engine, "0011")
        office = await seed_office(database_url)
        c1 = office.clients["c1"]
        leaked = "TooManyRedirects: 302, message='', url=URL('http://u:pw@gw.example:8080/send?key=s3cr3t')"
        async with engine.begin() as conn:
            for key, state, error in (("a", "failed", leaked), ("b", "pending", "HTTP 500"), ("c", "sent", "")):
                await conn.execute(
                    text("INSERT INTO notify_outbox (key, client_id, kind, phone, text, state, attempts, last_error, next_attempt_at, created_at) "
                         "VALUES (:key, :client, 'overdue', '6281200000000', 'Yth. Klien c1, Anda sudah terlambat wajib lapor 9 hari.', :state, 1, :error, :at, :at)"),
                    {"key": key, "client": c1.id, "state": state, "error": error, "at": _utc(2026, 1, 5, 1)},
                )
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = {r.key: (r.last_error, r.text) for r in (await conn.execute(text("SELECT key, last_error, text FROM notify_outbox"))).all()}
        assert rows["a"][0] == "TooManyRedirects: 302, message='', url=URL('http://gw.example:8080/send')"
        assert rows["b"] == ("HTTP 500", "Anda punya jadwal di Bapas; buka tautan Anda.")
        assert "terlambat" in rows["a"][1] and "terlambat" in rows["c"][1]  # not waiting: kept as sent (retention removes them)
    finally:
        await engine.dispose()


async def test_0017_adds_the_partners_and_sentences_tables_and_takes_them_away(database_url):
    tables = {"partner", "referral", "referral_step", "referral_report", "sentence", "service_hours", "site_link"}
    engine = make_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert tables <= await conn.run_sync(_tables)
            indexes = await conn.run_sync(lambda c: {i["name"]: i["unique"] for i in inspect(c).get_indexes("service_hours")})
            assert indexes.get("uq_service_hours_client_day") in (True, 1)
        await downgrade(engine, "0011")
        async with engine.connect() as conn:
            assert not tables & await conn.run_sync(_tables)
        await upgrade(engine)
        async with engine.connect() as conn:
            assert tables <= await conn.run_sync(_tables)
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


def _casework_state(connection) -> tuple[set[str], bool]:
    found = set(inspect(connection).get_table_names()) & {"violation", "violation_step", "alert_decision", "tpp_sitting", "tpp_case"}
    client_id = next(c for c in inspect(connection).get_columns("letter") if c["name"] == "client_id")
    return found, client_id["nullable"]


async def test_0016_adds_violations_and_sittings_and_takes_them_away_with_their_risalah(database_url):
    from alembic.script import ScriptDirectory

    from server.db.migrate import alembic_config

    # The revision before 0016, whatever the chain it was merged into.
    before = ScriptDirectory.from_config(alembic_config()).get_revision("0016").down_revision
    office = await seed_office(database_url)
    engine = make_engine(database_url)
    try:
        async with engine.begin() as conn:
            assert await conn.run_sync(_casework_state) == ({"violation", "violation_step", "alert_decision", "tpp_sitting", "tpp_case"}, True)
            # A risalah: a letter about no single client.
            await conn.execute(text(
                "INSERT INTO letter (office_id, client_id, kind, year, seq, number, issued_on, issued_at, signer_name, signer_nip, signer_title, "
                "office_name, client_initials, code, key_id, signature) VALUES (:o, NULL, 'risalah_tpp', 2020, 1, 'X-0001/RTPP/I/2020', '2020-01-06', "
                ":at, 'Kasie', '', 'section_head', 'Bapas Uji', '', 'code-risalah', 'k', 's')"), {"o": office.id, "at": datetime(2020, 1, 6, tzinfo=timezone.utc)})
        await downgrade(engine, before)
        async with engine.connect() as conn:
            assert await conn.run_sync(_casework_state) == (set(), False)
            assert (await conn.execute(text("SELECT count(*) FROM letter"))).scalar() == 0
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_0012_keeps_one_standing_check_in_per_client_and_day_and_takes_the_index_away(database_url):
    """Doubles from before 0012 (parallel check-ins, issue 23): the first stays, the
    later ones are taken back with an event naming the first; then the index refuses
    a new double, and a check-in taken back leaves room for a new one."""
    engine = make_engine(database_url)
    try:
        await downgrade(engine, "0011")
        office = await seed_office(database_url)
        c1, pk1 = office.clients["c1"], office.staff["pk1"]
        at = _utc(2025, 6, 14, 2)
        session_row = ("INSERT INTO guidance_session (id, office_id, client_id, officer_id, mode, evidence, status, scheduled_at, started_at, ended_at, "
                       "duration_seconds, notes, outcome, topics, record, location, met_with, findings, follow_up, visit_reason, notify_client, "
                       "mobile_event_id, checkin_key, link_version, created_at) VALUES (:id, :office, :client, :officer, 'mobile', 'roll_call', :status, "
                       ":at, :at, :at, 0, '', 'attended', '[]', :no, '', '[]', '', '', '', :no, 1, :key, 1, :at)")
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO mobile_event (id, office_id, date, start_time, end_time, kelurahan, venue, topic, client_note, officer_ids, status, created_at) "
                                    "VALUES (1, :office, :day, '08:00', '12:00', 'Cakung Barat', 'Balai', '', '', '[]', 'planned', :at)"),
                               {"office": office.id, "day": at.date(), "at": at})
            for sid, status, key in ((11, "ended", None), (12, "ended", None), (13, "ended", "k-13"), (14, "cancelled", None)):
                await conn.execute(text(session_row), {"id": sid, "office": office.id, "client": c1.id, "officer": pk1.id, "status": status, "at": at, "key": key, "no": False})
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = (await conn.execute(select(GuidanceSession.id, GuidanceSession.status).order_by(GuidanceSession.id))).all()
            assert [(i, s.value) for i, s in rows] == [(11, "ended"), (12, "cancelled"), (13, "cancelled"), (14, "cancelled")]
            events = (await conn.execute(text("SELECT session_id, kind, actor, detail FROM session_event ORDER BY session_id"))).all()
            assert [(e[0], e[1], e[2], json.loads(e[3]) if isinstance(e[3], str) else e[3]) for e in events] == [
                (12, "checkin_undone", "system", {"by": "migration 0012", "duplicate_of": 11}),
                (13, "checkin_undone", "system", {"by": "migration 0012", "duplicate_of": 11}),
            ]
            assert "uq_session_event_client_checkin" in await conn.run_sync(_session_indexes)
            assert await conn.run_sync(_differences) == []
        with pytest.raises(IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(text(session_row), {"id": 15, "office": office.id, "client": c1.id, "officer": pk1.id, "status": "ended", "at": at, "key": None, "no": False})
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE guidance_session SET status = 'cancelled' WHERE id = 11"))
            await conn.execute(text(session_row), {"id": 15, "office": office.id, "client": c1.id, "officer": pk1.id, "status": "ended", "at": at, "key": None, "no": False})
        await downgrade(engine, "0011")
        async with engine.connect() as conn:
            assert "uq_session_event_client_checkin" not in await conn.run_sync(_session_indexes)
    finally:
        await engine.dispose()


async def test_0015_adds_stages_assessments_plans_and_progress_and_takes_them_away(database_url):
    """Clients made before 0015 keep no stages through it (their one interval
    counts on; 0018 gives them theirs); the guidance tables come and go with the migration."""
    engine = make_engine(database_url)
    guidance_tables = {"assessment", "plan_goal", "case_plan", "goal_progress"}
    try:
        await downgrade(engine, "0011")
        async with engine.connect() as conn:
            assert not guidance_tables & await conn.run_sync(_tables)
            assert "stage_plan" not in await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("client")})
        office = await seed_office(database_url)
        await upgrade(engine, "0015")
        async with engine.connect() as conn:
            assert (await conn.execute(text("SELECT count(*) FROM client WHERE stage_plan IS NOT NULL"))).scalar() == 0
        await upgrade(engine)
        async with engine.connect() as conn:
            assert guidance_tables <= await conn.run_sync(_tables)
            assert (await conn.execute(text("SELECT count(*) FROM client"))).scalar() == len(office.clients)
            assert await conn.run_sync(_differences) == []
    finally:
        await engine.dispose()


def _kept_client(office_id: int, officer_id: int, start, end, interval: int):
    from server.db.models import Client, ClientCategory, Program

    return Client(office_id=office_id, officer_id=officer_id, register_number="REG-lama", name="Klien Lama", category=ClientCategory.adult, program=Program.pb,
                  supervision_start=start, supervision_end=end, reporting_interval_days=interval, kelurahan="Cakung Barat", phone="")


@pytest.mark.clock
async def test_0018_gives_clients_made_before_stages_their_stages_without_cutting_a_past_period_again(client, office, sign_in, database_url):
    """A client kept on one interval before stages is in a stage after 0018,
    shown by the record; every period begun by the migration's day stays the
    period it was (same days, same status), and the stages still ahead take
    the office's intervals (here 21, 45, 63), so the periods after follow them."""
    from datetime import timedelta

    from alembic.script import ScriptDirectory

    from server.db.migrate import alembic_config
    from server.db.models import Client, Office
    from server.domain.record.ledger import period_list
    from server.domain.record.rules import rules_of
    from tests.clock import office_today
    from tests.foundation import database

    before = ScriptDirectory.from_config(alembic_config()).get_revision("0018").down_revision
    engine = make_engine(database_url)
    today = office_today()
    start, end = today - timedelta(days=200), today + timedelta(days=160)  # 361 days: thirds begin on days 0, 120 and 240
    try:
        await downgrade(engine, before)
        async with database(database_url) as db:
            o = await db.get(Office, office.id)
            o.settings = {**(o.settings or {}), "guidance": {"stage_intervals": {"awal": 21, "lanjutan": 45, "akhir": 63}}}
            kept = _kept_client(office.id, office.staff["pk1"].id, start, end, 14)
            db.add(kept)
            await db.commit()
            kept_id = kept.id
            rules = rules_of(o, "Asia/Jakarta")
            periods_before = period_list(kept, [], today, rules)
        await upgrade(engine)
        async with database(database_url) as db:
            kept = await db.get(Client, kept_id)
            # Begun stages on the client's own 14 days, from a boundary of its periods (day 126, the first on or after day 120).
            assert [(s["stage"], s["start"], s["interval_days"]) for s in kept.stage_plan] == [
                ("awal", start.isoformat(), 14), ("lanjutan", (start + timedelta(days=126)).isoformat(), 14),
                ("akhir", (start + timedelta(days=240)).isoformat(), 63)]
            assert period_list(kept, [], today, rules) == periods_before
            # Asked as of the supervision's end (a pure question of the ledger): the akhir stage's periods are 63 days long.
            last = [p for p in period_list(kept, [], end, rules) if p.start >= start + timedelta(days=240)]
            assert [(p.end - p.start).days + 1 for p in last] == [63, 58]
            # The seeded clients (60 days in of 361, on 14 days) are still in their first stage; the rest lies ahead on the office's intervals.
            c1 = await db.get(Client, office.clients["c1"].id)
            c1_start = c1.supervision_start
            assert [(s["stage"], s["start"], s["interval_days"]) for s in c1.stage_plan] == [
                ("awal", c1_start.isoformat(), 14), ("lanjutan", (c1_start + timedelta(days=120)).isoformat(), 45),
                ("akhir", (c1_start + timedelta(days=240)).isoformat(), 63)]
        await sign_in(client, "pk1")
        record = await (await client.get(f"/api/clients/{kept_id}/record")).json()
        assert record["stage"]["stage"] == "lanjutan" and [s["stage"] for s in record["stages"]] == ["awal", "lanjutan", "akhir"]
        assert [(p["start"], p["end"], p["status"]) for p in record["periods"]] == [(p.start.isoformat(), p.end.isoformat(), p.status) for p in periods_before]
        async with engine.connect() as conn:
            assert await conn.run_sync(_differences) == []
        await downgrade(engine, before)
        async with engine.connect() as conn:
            assert "goal_id" not in await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("referral")})
            assert not {"verdict_date", "start_date"} & await conn.run_sync(lambda c: {col["name"] for col in inspect(c).get_columns("sentence")})
        await upgrade(engine)
    finally:
        await engine.dispose()
