"""The tamper-evident audit trail: an append-only hash chain.

Each entry's ``hash`` is SHA-256 over a canonical JSON encoding of its fields
and the previous entry's hash (see docs/audit.md). Changing, removing or
reordering any entry breaks every hash after it; ``ChainWalker`` names the
first. Every ``audit_sign_every`` entries the head is signed with Ed25519
(``server.audit.signing``) in the same transaction as the entry itself.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import AuditEntry, AuditHead, Staff, utcnow

GENESIS = "0" * 64
FIELDS = ("seq", "at", "actor_id", "actor", "action", "target_type", "target_id", "detail", "prev_hash")


def canonical(entry: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, ``at`` as UTC with microseconds.

    Accepts an ``AuditEntry``, a row with those attributes, or a dict."""
    if isinstance(entry, dict):
        fields = {k: entry[k] for k in FIELDS}
    else:
        fields = {k: getattr(entry, k) for k in FIELDS}
    at = fields["at"]
    if isinstance(at, datetime):
        fields["at"] = at.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    fields["target_id"] = str(fields["target_id"] if fields["target_id"] is not None else "")
    fields["detail"] = fields["detail"] or {}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def entry_hash(entry: Any) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


@dataclass(frozen=True)
class Break:
    seq: int
    entry_id: int | None
    reason: str


class ChainWalker:
    """Feed entries in ``seq`` order; remembers the first break and the hash
    seen at each ``watch`` seq (the signed heads), so one pass checks both."""

    def __init__(self, start_seq: int = 1, start_hash: str = GENESIS, watch: Iterable[int] = ()):
        self.expected_seq = start_seq
        self.prev_hash = start_hash
        self.first_break: Break | None = None
        self.count = 0
        self.last_seq = start_seq - 1
        self.watch = set(watch)
        self.seen: dict[int, str] = {}

    def feed(self, entry: Any) -> None:
        self.count += 1
        self.last_seq = entry.seq
        if entry.seq in self.watch:
            self.seen[entry.seq] = entry.hash
        if self.first_break is not None:
            return
        if entry.seq < self.expected_seq:
            self.first_break = Break(entry.seq, entry.id, "lies before the start of the chain (retention checkpoint)")
        elif entry.seq != self.expected_seq:
            self.first_break = Break(self.expected_seq, None, f"entry {self.expected_seq} is missing (next present is {entry.seq})")
        elif entry.prev_hash != self.prev_hash:
            self.first_break = Break(entry.seq, entry.id, "does not link to the entry before it (removed or reordered)")
        elif entry_hash(entry) != entry.hash:
            self.first_break = Break(entry.seq, entry.id, "content does not match its hash (edited)")
        else:
            self.prev_hash = entry.hash
            self.expected_seq = entry.seq + 1


def walk(entries: Iterable[Any], start_seq: int = 1, start_hash: str = GENESIS) -> Break | None:
    """First break in a chain given in ``seq`` order, or None if intact."""
    walker = ChainWalker(start_seq, start_hash)
    for entry in entries:
        walker.feed(entry)
    return walker.first_break


class AuditLog:
    """Appends entries one at a time; the lock keeps this process's chain linear,
    the unique ``seq`` keeps several processes honest (a loser retries)."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], signer=None, sign_every: int = 100):
        self._db = sessionmaker
        self._lock = asyncio.Lock()
        self.signer = signer  # server.audit.signing.HeadSigner or None (signing off)
        self.sign_every = max(sign_every, 1)
        # Told the action of each entry appended (the app counts them for /metrics).
        self.on_append: list[Callable[[str], None]] = []

    @classmethod
    def from_settings(cls, sessionmaker: async_sessionmaker[AsyncSession], settings) -> "AuditLog":
        from server.audit.signing import HeadSigner

        return cls(sessionmaker, HeadSigner.from_settings(settings), settings.audit_sign_every)

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
                    seq, prev = await _next_link(db)
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
                    if self.signer is not None and seq % self.sign_every == 0:
                        db.add(self.signer.sign("head", seq, entry.hash, utcnow()))
                    try:
                        await db.commit()
                    except IntegrityError:
                        await db.rollback()
                        continue
                    for hook in self.on_append:
                        hook(action)
                    return entry
            raise RuntimeError("audit append failed after retries")

    async def sign_head(self) -> AuditHead | None:
        """Sign the current head now (``bimbing audit sign``, before a backup or an export).
        None when the chain is empty or already signed at its head."""
        if self.signer is None:
            raise RuntimeError("no audit signing key is configured (BIMBING_AUDIT_SIGNING_KEY)")
        async with self._lock:
            async with self._db() as db:
                last = (await db.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1))).first()
                if last is None:
                    return None
                done = await db.scalar(select(AuditHead.id).where(AuditHead.seq == last[0], AuditHead.kind == "head").limit(1))
                if done is not None:
                    return None
                head = self.signer.sign("head", last[0], last[1], utcnow())
                db.add(head)
                await db.commit()
                return head


async def _next_link(db: AsyncSession) -> tuple[int, str]:
    """The seq and prev_hash of the next entry: after the last entry, or after
    the retention checkpoint when every entry before it has been deleted."""
    last = (await db.execute(select(AuditEntry.seq, AuditEntry.hash).order_by(AuditEntry.seq.desc()).limit(1))).first()
    if last:
        return last[0] + 1, last[1]
    checkpoint = (
        await db.execute(select(AuditHead.seq, AuditHead.hash).where(AuditHead.kind == "checkpoint").order_by(AuditHead.seq.desc()).limit(1))
    ).first()
    if checkpoint:
        return checkpoint[0] + 1, checkpoint[1]
    return 1, GENESIS
