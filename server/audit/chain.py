"""The tamper-evident audit trail: an append-only hash chain.

Each entry's ``hash`` is SHA-256 over a canonical JSON encoding of its fields
and the previous entry's hash (see docs/audit.md). Changing, removing or
reordering any entry breaks every hash after it; ``verify`` names the first.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import AuditEntry, Staff, utcnow

GENESIS = "0" * 64


def canonical(entry: AuditEntry | dict[str, Any]) -> bytes:
    if isinstance(entry, AuditEntry):
        fields = {
            "seq": entry.seq,
            "at": entry.at,
            "actor_id": entry.actor_id,
            "actor": entry.actor,
            "action": entry.action,
            "target_type": entry.target_type,
            "target_id": entry.target_id,
            "detail": entry.detail,
            "prev_hash": entry.prev_hash,
        }
    else:
        fields = dict(entry)
    at = fields["at"]
    if isinstance(at, datetime):
        fields["at"] = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: AuditEntry | dict[str, Any]) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


@dataclass(frozen=True)
class Break:
    seq: int
    entry_id: int | None
    reason: str


def walk(entries: Iterable[AuditEntry]) -> Break | None:
    """First break in a chain given in ``seq`` order, or None if intact."""
    prev_hash = GENESIS
    expected_seq = None
    for entry in entries:
        if expected_seq is not None and entry.seq != expected_seq:
            return Break(expected_seq, entry.id, f"entry {expected_seq} is missing (next present is {entry.seq})")
        if entry.prev_hash != prev_hash:
            return Break(entry.seq, entry.id, "does not link to the entry before it (removed or reordered)")
        if entry_hash(entry) != entry.hash:
            return Break(entry.seq, entry.id, "content does not match its hash (edited)")
        prev_hash = entry.hash
        expected_seq = entry.seq + 1
    return None


class AuditLog:
    """Appends entries one at a time; the lock keeps this process's chain linear,
    the unique ``seq`` keeps several processes honest (a loser retries)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession]):
        self._db = sessionmaker
        self._lock = asyncio.Lock()

    async def record(
        self,
        action: str,
        *,
        actor: Staff | str | None = None,
        target_type: str = "",
        target_id: Any = "",
        detail: dict[str, Any] | None = None,
    ) -> AuditEntry:
        if isinstance(actor, Staff):
            actor_id, actor_label = actor.id, actor.username
        else:
            actor_id, actor_label = None, actor or "system"
        async with self._lock:
            for _attempt in range(5):
                async with self._db() as db:
                    last = (
                        await db.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1))
                    ).first()
                    seq, prev = (last[0] + 1, last[1]) if last else (1, GENESIS)
                    entry = AuditEntry(
                        seq=seq,
                        at=utcnow(),
                        actor_id=actor_id,
                        actor=actor_label,
                        action=action,
                        target_type=target_type,
                        target_id=str(target_id),
                        detail=detail or {},
                        prev_hash=prev,
                    )
                    entry.hash = entry_hash(entry)
                    db.add(entry)
                    try:
                        await db.commit()
                    except IntegrityError:
                        await db.rollback()
                        continue
                    return entry
            raise RuntimeError("audit append failed after retries")
