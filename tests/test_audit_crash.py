"""A process appending to the audit trail is killed (SIGKILL) in the middle of a
group commit, on SQLite and PostgreSQL; what survives is what docs/audit.md
("Group commits, and what a crash keeps") states:

- killed after the group's rows are inserted but before its COMMIT: the whole
  group is gone (none of its callers had been answered), every entry whose
  caller was answered is there, and its signed heads with it;
- killed after the COMMIT but before any caller is answered: the whole group
  is there;

and in both the trail verifies with ``bimbing audit verify``, and the next
process's first entry links to the last one that survived.

The child (tests/audit_writer_child.py) appends through the app's own writer,
``AuditLog``, and stops itself at that moment, printing what it did.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from server.audit.chain import AuditLog
from server.audit.signing import HeadSigner
from server.db.engine import make_engine, make_sessionmaker
from server.db.models import AuditEntry, AuditHead
from tests.test_audit_tamper import run_verify

ROOT = Path(__file__).resolve().parent.parent
SIGN_EVERY = 4
ANSWERED = 10  # heads at 4 and 8
IN_FLIGHT = 25  # seqs 11..35: heads at 12, 16, ... 32 in the same group


async def child_line(proc: asyncio.subprocess.Process, timeout: float = 120) -> str:
    line = await asyncio.wait_for(proc.stdout.readline(), timeout)
    if not line:
        err = await proc.stderr.read()
        raise AssertionError(f"the child ended without a word: {err.decode(errors='replace')}")
    return line.decode().strip()


async def trail_in(database_url: str) -> tuple[list[AuditEntry], list[AuditHead]]:
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as db:
            entries = list((await db.execute(select(AuditEntry).order_by(AuditEntry.seq))).scalars())
            heads = list((await db.execute(select(AuditHead).order_by(AuditHead.seq))).scalars())
            return entries, heads
    finally:
        await engine.dispose()


async def kill_child_at(settings, moment: str) -> tuple[int, str, str]:
    """Run the child until it stops at ``moment``, kill it; its answered (seq, hash) and stop line."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.audit_writer_child",
        settings.database_url, str(settings.audit_signing_key_path), str(SIGN_EVERY), str(ANSWERED), str(IN_FLIGHT), moment,
        cwd=ROOT, stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    try:
        word, seq, hash_ = (await child_line(proc)).split()
        assert word == "answered"
        stopped = await child_line(proc)
        assert stopped.startswith("stopped"), stopped
    finally:
        if proc.returncode is None:
            proc.send_signal(signal.SIGKILL)
        await proc.wait()
    assert proc.returncode == -signal.SIGKILL
    return int(seq), hash_, stopped


async def next_process_appends(settings) -> None:
    """The restarted app's first entry goes on after what survived."""
    engine = make_engine(settings.database_url)
    try:
        log = AuditLog(make_sessionmaker(engine), HeadSigner.load(settings.audit_signing_key_path, create=True), sign_every=SIGN_EVERY)
        await log.record("auth.login", actor="after-restart")
    finally:
        await engine.dispose()


@pytest.mark.slow
async def test_killed_before_the_groups_commit_the_group_is_gone_and_every_answered_entry_stays(settings, tmp_path):
    seq, hash_, stopped = await kill_child_at(settings, "before")
    assert (seq, stopped) == (ANSWERED, f"stopped {ANSWERED + IN_FLIGHT}"), "the group was inserted, in its own transaction, when the child was killed"

    entries, heads = await trail_in(settings.database_url)
    assert [e.seq for e in entries] == list(range(1, ANSWERED + 1))
    assert {e.action for e in entries} == {"test.answered"}
    assert entries[-1].hash == hash_
    assert [h.seq for h in heads] == [4, 8]

    result = run_verify(settings, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Audit trail intact: {ANSWERED} entries (seq 1..{ANSWERED})." in result.stdout
    assert "Signed heads: ok; 2 of 2 verified" in result.stdout

    await next_process_appends(settings)
    entries, _ = await trail_in(settings.database_url)
    assert (entries[-1].seq, entries[-1].prev_hash, entries[-1].action) == (ANSWERED + 1, hash_, "auth.login")
    result = run_verify(settings, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Audit trail intact: {ANSWERED + 1} entries" in result.stdout


@pytest.mark.slow
async def test_killed_after_the_groups_commit_the_whole_group_stays_though_no_caller_heard(settings, tmp_path):
    seq, hash_, stopped = await kill_child_at(settings, "after")
    assert (seq, stopped) == (ANSWERED, "stopped")

    entries, heads = await trail_in(settings.database_url)
    total = ANSWERED + IN_FLIGHT
    assert [e.seq for e in entries] == list(range(1, total + 1))
    assert [e.action for e in entries] == ["test.answered"] * ANSWERED + ["test.in_flight"] * IN_FLIGHT
    assert entries[ANSWERED].prev_hash == hash_
    assert [h.seq for h in heads] == list(range(SIGN_EVERY, total + 1, SIGN_EVERY))

    result = run_verify(settings, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Audit trail intact: {total} entries (seq 1..{total})." in result.stdout

    await next_process_appends(settings)
    entries, _ = await trail_in(settings.database_url)
    assert (entries[-1].seq, entries[-1].prev_hash) == (total + 1, entries[-2].hash)
    assert run_verify(settings, tmp_path).returncode == 0
