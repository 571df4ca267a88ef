"""Someone with write access to the database alters the audit trail with plain
SQL; ``bimbing audit verify`` (the real program) and ``GET /api/audit/verify``
both notice and name the first broken entry, on SQLite and PostgreSQL. An
untouched trail verifies."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import text

from server.audit.chain import AuditLog, entry_hash
from server.audit.signing import HeadSigner
from server.db.engine import make_engine, make_sessionmaker
from tests.audit_support import audit_entries

BIMBING = Path(sys.executable).with_name("bimbing")
ENTRIES = 12
SIGN_EVERY = 4  # heads at seq 4, 8 and 12


def run_verify(settings, tmp_path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BIMBING_")}
    env.update(
        BIMBING_DATABASE_URL=settings.database_url,
        BIMBING_AUDIT_SIGNING_KEY=str(settings.audit_signing_key_path),
        BIMBING_DATA_DIR=str(tmp_path / "cli-data"),
    )
    command = [str(BIMBING)] if BIMBING.exists() else [sys.executable, "-m", "server"]
    return subprocess.run(command + ["audit", "verify"], capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
async def trail(settings, office):
    """Twelve entries of a PK's work, the head signed every four."""
    engine = make_engine(settings.database_url)
    try:
        log = AuditLog(make_sessionmaker(engine), HeadSigner.load(settings.audit_signing_key_path, create=True), sign_every=SIGN_EVERY)
        pk = office.staff["pk1"]
        for i in range(1, ENTRIES + 1):
            await log.record("session.notes_change", actor=pk, target_type="session", target_id=i, detail={"note": f"Catatan bimbingan ke-{i}: klien hadir."})
    finally:
        await engine.dispose()
    return settings


async def sql(settings, *statements: str, **params) -> None:
    engine = make_engine(settings.database_url)
    try:
        async with engine.begin() as conn:
            for statement in statements:
                await conn.execute(text(statement), params)
    finally:
        await engine.dispose()


def detail_literal(settings, value: dict) -> str:
    # The column is JSON: a string on SQLite, a json value on PostgreSQL.
    return "'" + json.dumps(value) + "'" + ("" if settings.is_sqlite else "::json")


async def edit_a_note(settings):
    await sql(settings, f"UPDATE audit_entry SET detail = {detail_literal(settings, {'note': 'Klien tidak hadir.'})} WHERE seq = 5")


async def edit_an_action(settings):
    await sql(settings, "UPDATE audit_entry SET action = 'session.view' WHERE seq = 6")


async def edit_a_time(settings):
    # Shaped as each backend stores it; the chain hashes the instant (docs/audit.md).
    await sql(settings, "UPDATE audit_entry SET at = '2026-01-01 00:00:00.000001' WHERE seq = 7")


async def delete_a_row(settings):
    await sql(settings, "DELETE FROM audit_entry WHERE seq = 5")


async def reorder_two_rows(settings):
    await sql(settings, "UPDATE audit_entry SET seq = -1 WHERE seq = 5", "UPDATE audit_entry SET seq = 5 WHERE seq = 6", "UPDATE audit_entry SET seq = 6 WHERE seq = -1")


async def edit_a_signed_heads_hash(settings):
    await sql(settings, "UPDATE audit_head SET hash = :h WHERE seq = 8", h="f" * 64)


async def edit_a_signed_heads_signature(settings):
    await sql(settings, "UPDATE audit_head SET signature = :s WHERE seq = 8", s="00" * 64)


async def rewrite_the_chain_after_an_edit(settings):
    """The careful attacker: edits entry 5 and recomputes every hash after it,
    so the chain links up again; only the signed head at 8 can tell."""
    await edit_a_note(settings)
    entries = await audit_entries(settings.database_url)
    prev = None
    for e in entries:
        if prev is not None:
            e.prev_hash = prev
        if e.seq >= 5:
            e.hash = entry_hash(e)
            await sql(settings, "UPDATE audit_entry SET prev_hash = :p, hash = :h WHERE seq = :s", p=e.prev_hash, h=e.hash, s=e.seq)
        prev = e.hash


async def truncate_past_a_signed_head(settings):
    await sql(settings, "DELETE FROM audit_entry WHERE seq >= 7")


TAMPERING = [
    (edit_a_note, 5),
    (edit_an_action, 6),
    (edit_a_time, 7),
    (delete_a_row, 5),
    (reorder_two_rows, 5),
    (edit_a_signed_heads_hash, 8),
    (edit_a_signed_heads_signature, 8),
    (rewrite_the_chain_after_an_edit, 8),
    (truncate_past_a_signed_head, 8),
]


async def test_an_untouched_trail_verifies(trail, tmp_path, client, sign_in):
    result = run_verify(trail, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Audit trail intact: {ENTRIES} entries" in result.stdout
    assert "Signed heads: ok; 3 of 3 verified" in result.stdout
    await sign_in(client, "kasie")
    report = await (await client.get("/api/audit/verify")).json()
    assert report["ok"] is True and report["first_broken"] is None
    assert report["signed_heads"]["status"] == "ok" and report["signed_heads"]["last_signed_seq"] == 12


@pytest.mark.parametrize("tamper, broken_seq", TAMPERING, ids=[t.__name__ for t, _ in TAMPERING])
async def test_tampering_in_the_database_is_named_by_the_cli_and_the_api(trail, tmp_path, client, sign_in, tamper, broken_seq):
    await tamper(trail)

    result = run_verify(trail, tmp_path)
    assert result.returncode != 0, result.stdout
    first_line = result.stdout.splitlines()[0]
    assert first_line.startswith(f"Audit trail BROKEN at entry seq={broken_seq}"), result.stdout

    await sign_in(client, "kasie")
    report = await (await client.get("/api/audit/verify")).json()
    assert report["ok"] is False
    assert report["first_broken"]["seq"] == broken_seq
    assert report["summary"].splitlines()[0] == first_line


async def test_the_unsigned_tail_is_reported_so_truncating_it_is_a_known_gap(trail, tmp_path):
    """Entries after the last signed head can be cut off without a trace; verify
    says how many there are so an operator can sign more often (docs/audit.md)."""
    engine = make_engine(trail.database_url)
    try:
        log = AuditLog(make_sessionmaker(engine), HeadSigner.load(trail.audit_signing_key_path, create=True), sign_every=SIGN_EVERY)
        await log.record("auth.logout", actor="system")
    finally:
        await engine.dispose()
    result = run_verify(trail, tmp_path)
    assert result.returncode == 0
    assert "last signed seq=12, 1 entries after it unsigned" in result.stdout
