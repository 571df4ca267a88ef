"""The audit trail appended in group commits (server/audit/chain.py, docs/audit.md
"Group commits, and what a crash keeps"), on SQLite and PostgreSQL: callers at
once share one transaction and each is answered only once its entry is
committed; two writers on one database (two processes) never fork the chain;
and the canonical encoding the chain hashes is byte for byte the one
docs/audit.md defines."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings as hsettings, strategies as st
from sqlalchemy import func, select

from server.audit.chain import FIELDS, GENESIS, AuditLog, by_definition, encode, stored_matches, utc_text
from server.audit.signing import HeadSigner
from server.audit.verify import verify
from server.db.engine import make_engine, make_sessionmaker
from server.db.models import AuditEntry, AuditHead


@pytest.fixture
async def sessions(settings):
    engine = make_engine(settings.database_url)
    yield make_sessionmaker(engine)
    await engine.dispose()


def audit_log(sessions, settings, **kwargs) -> AuditLog:
    return AuditLog(sessions, HeadSigner.load(settings.audit_signing_key_path, create=True), sign_every=5, **kwargs)


async def committed_seqs(database_url: str) -> list[int]:
    """What another connection sees: only committed rows."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            return list((await db.execute(select(AuditEntry.seq).order_by(AuditEntry.seq))).scalars())
    finally:
        await engine.dispose()


async def test_callers_at_once_share_one_commit_and_each_hears_back_only_once_it_is_committed(settings, sessions):
    log = audit_log(sessions, settings)
    seen_when_answered: dict[int, list[int]] = {}

    async def officer_views_a_record(i: int):
        appended = await log.record("record.view", actor="pk1", target_type="client", target_id=i, detail={"ip": "10.0.0.1"})
        seen_when_answered[appended.seq] = await committed_seqs(settings.database_url)
        return appended

    answers = await asyncio.gather(*(officer_views_a_record(i) for i in range(30)))

    assert [a.seq for a in answers] == list(range(1, 31)), "in the order the callers came"
    assert log.groups == 1, "thirty callers at once: one transaction"
    for seq, seen in seen_when_answered.items():
        assert seq in seen, f"entry {seq} was answered before another connection could see it"

    # The next group goes on from the last: one chain, its heads signed every 5.
    later = await asyncio.gather(*(log.record("auth.logout", actor="pk1") for _ in range(7)))
    assert [a.seq for a in later] == list(range(31, 38)) and log.groups == 2
    async with sessions() as db:
        rows = list((await db.execute(select(AuditEntry).order_by(AuditEntry.seq))).scalars())
        heads = list((await db.scalars(select(AuditHead.seq).order_by(AuditHead.seq))))
        report = await verify(db, settings)
    assert rows[30].prev_hash == answers[-1].hash and rows[-1].hash == later[-1].hash
    assert heads == [5, 10, 15, 20, 25, 30, 35]
    assert report.ok and report.entries == 37 and report.heads_ok == 7


async def test_a_group_is_bounded_and_a_caller_with_a_detail_that_is_not_json_fails_alone(settings, sessions):
    log = audit_log(sessions, settings, max_group=10)
    bad = asyncio.ensure_future(log.record("session.end", actor="pk1", detail={"when": datetime.now(timezone.utc)}))
    good = [asyncio.ensure_future(log.record("session.end", actor="pk1", target_id=i)) for i in range(25)]
    with pytest.raises(TypeError):
        await bad
    assert [a.seq for a in await asyncio.gather(*good)] == list(range(1, 26))
    assert log.groups == 3, "25 entries at most 10 a transaction"
    async with sessions() as db:
        assert await db.scalar(select(func.count()).select_from(AuditEntry)) == 25
        assert (await verify(db, settings)).ok


async def test_two_writers_on_one_database_never_fork_the_chain(settings):
    """Two processes' AuditLogs, each on its own engine (own connections),
    appending at the same time: one chain, no seq twice, every link intact."""
    engines = [make_engine(settings.database_url) for _ in range(2)]
    try:
        logs = [audit_log(make_sessionmaker(e), settings) for e in engines]

        async def writer(n: int, log: AuditLog):
            for round_ in range(4):
                await asyncio.gather(*(log.record("auth.login", actor=f"writer{n}", detail={"round": round_, "i": i}) for i in range(10)))

        await asyncio.gather(writer(0, logs[0]), writer(1, logs[1]))
        async with make_sessionmaker(engines[0])() as db:
            report = await verify(db, settings)
            actors = list((await db.execute(select(AuditEntry.actor).order_by(AuditEntry.seq))).scalars())
    finally:
        for e in engines:
            await e.dispose()
    assert report.ok, report.summary()
    assert report.entries == 80 and report.last_seq == 80 and report.heads_ok == 16
    assert actors.count("writer0") == actors.count("writer1") == 40


async def test_shutdown_waits_for_the_group_under_way(settings, sessions):
    log = audit_log(sessions, settings)
    pending = [asyncio.ensure_future(log.record("auth.logout", actor="pk1")) for _ in range(5)]
    await asyncio.sleep(0)  # the callers have queued their entries; nobody awaits them now
    await log.close()
    assert await committed_seqs(settings.database_url) == [1, 2, 3, 4, 5]
    await asyncio.gather(*pending)


# --- the canonical encoding -----------------------------------------------------------

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
entries = st.fixed_dictionaries({
    "seq": st.integers(1, 2**40),
    "at": st.datetimes(min_value=datetime(1000, 1, 1), max_value=datetime(9999, 1, 1), timezones=st.just(timezone.utc) | st.just(timezone(timedelta(hours=7)))),
    "actor_id": st.none() | st.integers(1, 2**31),
    "actor": st.text(max_size=20),
    "action": st.text(max_size=20),
    "target_type": st.text(max_size=10),
    "target_id": st.text(max_size=10) | st.integers(0, 10**6),
    "detail": st.none() | st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    "prev_hash": st.just(GENESIS) | st.text(alphabet="0123456789abcdef", min_size=64, max_size=64),
})


def as_defined(e: dict) -> bytes:
    """docs/audit.md's words, literally."""
    fields = {k: e[k] for k in FIELDS}
    fields["at"] = e["at"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fields["target_id"] = str(e["target_id"] if e["target_id"] is not None else "")
    fields["detail"] = e["detail"] or {}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@pytest.mark.sqlite_only
@hsettings(max_examples=300, deadline=None)
@given(entries)
def test_the_encoding_hashed_is_the_one_docs_audit_md_defines(e):
    assert encode(*(e[k] for k in FIELDS)) == as_defined(e)
    assert utc_text(e["at"]) == e["at"].astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    h = hashlib.sha256(as_defined(e)).hexdigest()
    fields = [e[k] for k in FIELDS]
    stored_as_the_app_writes = json.dumps(e["detail"] or {}, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    stored_before = json.dumps(e["detail"])  # the default separators, ASCII escapes, keys unsorted
    for text in (stored_as_the_app_writes, stored_before):
        fields[7] = text
        assert stored_matches(h, *fields)
    # A key longer than any generated, so the edit always changes the detail.
    fields[7] = stored_as_the_app_writes[:-1] + ',"added later":1}' if stored_as_the_app_writes != "{}" else '{"added later":1}'
    assert not stored_matches(h, *fields)


@pytest.mark.sqlite_only
def test_stored_detail_that_is_no_json_or_a_field_of_another_type_is_a_mismatch_not_a_crash():
    e = {"seq": 3, "at": datetime(2026, 11, 2, 2, 0, 0, 123456, tzinfo=timezone.utc), "actor_id": 7, "actor": "pk1",
         "action": "record.view", "target_type": "client", "target_id": "12", "detail": {"ip": "10.0.0.1"}, "prev_hash": GENESIS}
    h = hashlib.sha256(as_defined(e)).hexdigest()
    fields = [e[k] for k in FIELDS]
    fields[7] = '{"ip":"10.0.0.1"'
    assert not stored_matches(h, *fields)
    fields[7] = '{"ip":"10.0.0.1"}'
    fields[3] = 7  # SQLite lets an integer sit in a text column: hashed as the definition says, not equal
    assert not stored_matches(h, *fields)
    assert by_definition({"actor": 7}) == b'{"actor":7}'
