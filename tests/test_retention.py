"""The office removes what it no longer keeps: sessions and audit entries older
than the retention settings go, the removal is itself audited, and the
shortened trail still verifies from a signed checkpoint (docs/audit.md) — while
cutting more off its front, or forging the checkpoint, is caught."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select, text

from server.audit.chain import GENESIS, AuditLog, entry_hash
from server.audit.retention import RetentionRefused, apply_retention
from server.audit.signing import HeadSigner
from server.audit.verify import verify_database
from server.db.engine import make_engine, make_sessionmaker
from server.db.models import AuditEntry, AuditHead, GuidanceSession, NoteVersion, SessionEvent, SessionStatus
from tests.audit_support import add_session, audit_entries
from tests.foundation import database

BIMBING = Path(sys.executable).with_name("bimbing")


def bimbing(settings, tmp_path, *args: str, **env_extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIMBING_")}
    env.update(
        BIMBING_DATABASE_URL=settings.database_url,
        BIMBING_AUDIT_SIGNING_KEY=str(settings.audit_signing_key_path),
        BIMBING_DATA_DIR=str(tmp_path / "cli-data"),
        **env_extra,
    )
    command = [str(BIMBING)] if BIMBING.exists() else [sys.executable, "-m", "server"]
    return subprocess.run(command + list(args), capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
async def aged(settings, office, now):
    """Five audit entries from 400 days ago, then three from today (head signed
    every four); a session that ended 400 days ago, one from last week, and one
    scheduled 400 days ago that never happened (still open: kept)."""
    old = now - timedelta(days=400)
    async with database(settings.database_url) as db:
        prev = GENESIS
        for seq in range(1, 6):
            e = AuditEntry(seq=seq, at=old + timedelta(minutes=seq), actor_id=None, actor="system", action="auth.login_failed", target_type="", target_id="", detail={"n": seq}, prev_hash=prev)
            e.hash = entry_hash(e)
            prev = e.hash
            db.add(e)
        await db.commit()
    engine = make_engine(settings.database_url)
    try:
        log = AuditLog(make_sessionmaker(engine), HeadSigner.load(settings.audit_signing_key_path, create=True), sign_every=4)
        await log.sign_head()  # head at seq 5, which retention will remove
        for i in range(3):
            await log.record("session.end", actor=office.staff["pk1"], target_type="session", target_id=i)
    finally:
        await engine.dispose()
    c1 = office.clients["c1"]
    sessions = {
        "old": await add_session(settings.database_url, c1, scheduled_at=old, versions=[(old + timedelta(hours=2), "Catatan lama")]),
        "recent": await add_session(settings.database_url, c1, scheduled_at=now - timedelta(days=7)),
        "never_held": await add_session(settings.database_url, c1, status=SessionStatus.scheduled, scheduled_at=old, outcome=None),
    }
    return sessions


async def counts(database_url: str) -> dict:
    async with database(database_url) as db:
        return {
            "sessions": set((await db.execute(select(GuidanceSession.id))).scalars()),
            "events": await db.scalar(select(func.count()).select_from(SessionEvent)),
            "versions": await db.scalar(select(func.count()).select_from(NoteVersion)),
            "seqs": list((await db.execute(select(AuditEntry.seq).order_by(AuditEntry.seq))).scalars()),
            "heads": [(h.kind, h.seq) for h in (await db.execute(select(AuditHead).order_by(AuditHead.seq))).scalars()],
        }


async def test_retention_removes_old_sessions_and_audit_entries_and_the_trail_still_verifies(settings, aged, tmp_path):
    before = await counts(settings.database_url)
    assert before["seqs"] == [1, 2, 3, 4, 5, 6, 7, 8]
    assert before["heads"] == [("head", 5), ("head", 8)]

    dry = bimbing(settings, tmp_path, "audit", "retention", "--dry-run", BIMBING_AUDIT_RETENTION_DAYS="365", BIMBING_SESSION_RETENTION_DAYS="365")
    assert dry.returncode == 0, dry.stderr
    assert "Would remove 1 sessions (2 events, 1 note versions) and 5 audit entries" in dry.stdout
    assert await counts(settings.database_url) == before

    run = bimbing(settings, tmp_path, "audit", "retention", BIMBING_AUDIT_RETENTION_DAYS="365", BIMBING_SESSION_RETENTION_DAYS="365")
    assert run.returncode == 0, run.stderr
    assert "Removed 1 sessions (2 events, 1 note versions) and 5 audit entries; the chain now starts after the signed checkpoint at seq=5." in run.stdout

    after = await counts(settings.database_url)
    assert after["sessions"] == {aged["recent"], aged["never_held"]}
    assert after["events"] == before["events"] - 2 and after["versions"] == before["versions"] - 1
    assert after["seqs"] == [6, 7, 8, 9]  # 9: the retention run itself
    assert after["heads"] == [("checkpoint", 5), ("head", 8)]
    (run_entry,) = await audit_entries(settings.database_url, "retention.run")
    assert (run_entry.seq, run_entry.actor, run_entry.detail["sessions_removed"], run_entry.detail["audit_entries_removed"], run_entry.detail["checkpoint_seq"]) == (9, "cli", 1, 5, 5)

    verified = bimbing(settings, tmp_path, "audit", "verify")
    assert verified.returncode == 0, verified.stdout
    assert "Audit trail intact: 4 entries (seq 6..9)." in verified.stdout
    assert "Retention checkpoint: entries up to seq=5 removed; signature valid." in verified.stdout


@pytest.mark.parametrize(
    "attack, named_seq",
    [
        ("DELETE FROM audit_entry WHERE seq = 6", 6),  # cutting more off the front, passing it off as retention
        ("UPDATE audit_head SET hash = '" + "a" * 64 + "' WHERE kind = 'checkpoint'", 6),  # forging the new genesis
        ("UPDATE audit_head SET seq = 6 WHERE kind = 'checkpoint'", 6),  # moving it to hide entry 6's removal
    ],
)
async def test_tampering_with_the_shortened_trail_is_caught(settings, aged, tmp_path, attack, named_seq):
    engine = make_engine(settings.database_url)
    try:
        sm = make_sessionmaker(engine)
        settings = settings.with_(audit_retention_days=365, session_retention_days=365)
        await apply_retention(sm, settings, AuditLog.from_settings(sm, settings))
        async with engine.begin() as conn:
            await conn.execute(text(attack))
    finally:
        await engine.dispose()
    result = bimbing(settings, tmp_path, "audit", "verify")
    assert result.returncode == 1
    assert result.stdout.startswith(f"Audit trail BROKEN at entry seq={named_seq}"), result.stdout


async def test_retention_refuses_to_prune_a_trail_that_does_not_verify(settings, aged):
    """Deleting tampered entries would destroy the evidence of the tampering."""
    async with database(settings.database_url) as db:
        await db.execute(text("UPDATE audit_entry SET action = 'auth.login' WHERE seq = 2"))
        await db.commit()
    before = await counts(settings.database_url)
    engine = make_engine(settings.database_url)
    try:
        sm = make_sessionmaker(engine)
        strict = settings.with_(audit_retention_days=365, session_retention_days=365)
        with pytest.raises(RetentionRefused, match="seq=2"):
            await apply_retention(sm, strict, AuditLog.from_settings(sm, strict))
    finally:
        await engine.dispose()
    assert await counts(settings.database_url) == before
    assert (await verify_database(settings)).first_problem.seq == 2


@pytest.mark.clock
async def test_new_entries_after_every_entry_was_removed_link_to_the_checkpoint(settings, office, now):
    """A quiet installation: retention removes the whole trail; the next entry
    continues from the checkpoint, not from a fresh genesis."""
    engine = make_engine(settings.database_url)
    try:
        sm = make_sessionmaker(engine)
        log = AuditLog.from_settings(sm, settings)
        await log.record("auth.login", actor=office.staff["kasie"])
        later = settings.with_(audit_retention_days=1)
        await apply_retention(sm, later, log, now=now + timedelta(days=3))
    finally:
        await engine.dispose()
    report = await verify_database(settings)
    assert report.ok and report.start_seq == 2 and report.last_seq == 2
    assert [e.action for e in await audit_entries(settings.database_url)] == ["retention.run"]
