"""The tamper-evident audit trail: an append-only hash chain.

Each entry's ``hash`` is SHA-256 over a canonical JSON encoding of its fields
and the previous entry's hash (see docs/audit.md). Changing, removing or
reordering any entry breaks every hash after it; ``ChainWalker`` names the
first. Entries are appended in **group commits** (``AuditLog``): the entries
that callers hand in while the previous group commits are linked and written
together in one transaction, and each caller's ``record`` returns once the
transaction holding its entry has committed. Every ``audit_sign_every``-th
entry's hash is signed with Ed25519 (``server.audit.signing``) in that same
transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Callable, Iterable

from sqlalchemy import insert, select, text
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import AuditEntry, AuditHead, Staff, utcnow

log = logging.getLogger(__name__)

GENESIS = "0" * 64
FIELDS = ("seq", "at", "actor_id", "actor", "action", "target_type", "target_id", "detail", "prev_hash")

# --- the canonical encoding -------------------------------------------------------
#
# By definition (docs/audit.md) it is json.dumps(fields, sort_keys=True,
# separators=(",", ":"), ensure_ascii=False). Filling the sorted keys into a
# fixed shape gives the same bytes at a third of the cost (the verify of a
# million entries spent more in json.dumps of the whole dict than in SHA-256);
# fields of any other type than the columns hold take the definition itself.
_text = json.encoder.encode_basestring  # a JSON string, non-ASCII kept (ensure_ascii=False)
_json = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode
_SHAPE = '{"action":%s,"actor":%s,"actor_id":%s,"at":%s,"detail":%s,"prev_hash":%s,"seq":%s,"target_id":%s,"target_type":%s}'


def utc_text(at: datetime) -> str:
    """``at`` as the chain encodes it: UTC with microseconds, ``Z``."""
    if at.tzinfo is not timezone.utc:
        at = at.astimezone(timezone.utc)
    if at.microsecond and at.year >= 1000:
        return at.isoformat()[:-6] + "Z"  # the same text as below, faster; isoformat drops a zero fraction
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def by_definition(fields: dict[str, Any]) -> bytes:
    """The canonical encoding as docs/audit.md defines it (``at`` already text)."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def _shaped(seq, at, actor_id, actor, action, target_type, target_id, detail_json: str, prev_hash) -> bytes | None:
    """The canonical bytes with ``detail`` given as its canonical JSON text, or
    None when a field is not of its column's type (then only the definition will do)."""
    if (
        type(seq) is int and (actor_id is None or type(actor_id) is int) and type(at) is str
        and type(actor) is str and type(action) is str and type(target_type) is str and type(prev_hash) is str
    ):
        return (
            _SHAPE % (
                _text(action), _text(actor), "null" if actor_id is None else actor_id, _text(at), detail_json,
                _text(prev_hash), seq, _text(target_id), _text(target_type),
            )
        ).encode()
    return None


def encode(seq, at, actor_id, actor, action, target_type, target_id, detail, prev_hash) -> bytes:
    """The canonical bytes of one entry from its field values (``at`` a datetime or
    already the chain's text, ``detail`` a dict or None)."""
    if isinstance(at, datetime):
        at = utc_text(at)
    target_id = str(target_id if target_id is not None else "")
    detail = detail or {}
    shaped = _shaped(seq, at, actor_id, actor, action, target_type, target_id, _json(detail), prev_hash)
    if shaped is not None:
        return shaped
    return by_definition(dict(zip(FIELDS, (seq, at, actor_id, actor, action, target_type, target_id, detail, prev_hash), strict=True)))


def stored_matches(hash_: str, seq, at, actor_id, actor, action, target_type, target_id, detail, prev_hash) -> bool:
    """Whether an entry's fields hash to ``hash_``; ``detail`` may be the stored
    JSON text (the streamed verify's rows).

    The app stores detail as the chain encodes it (``ChainJSON``), so the text
    is hashed as it is first. That is sound: every other field is a JSON string,
    an integer or null in a fixed shape, so reading the bytes from the front and
    from the back fixes where detail starts and ends, and equal bytes mean equal
    detail text. Text stored otherwise (before ``ChainJSON``, or edited) is
    decoded and encoded as the definition says; text that is not JSON fails."""
    if isinstance(at, datetime):
        at = utc_text(at)
    target_id = str(target_id if target_id is not None else "")
    if isinstance(detail, str):
        shaped = _shaped(seq, at, actor_id, actor, action, target_type, target_id, detail, prev_hash)
        if shaped is not None and hashlib.sha256(shaped).hexdigest() == hash_:
            return True
        try:
            detail = json.loads(detail)
        except ValueError:
            return False
    return hashlib.sha256(encode(seq, at, actor_id, actor, action, target_type, target_id, detail, prev_hash)).hexdigest() == hash_


def canonical(entry: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8, ``at`` as UTC with microseconds.

    Accepts an ``AuditEntry``, a row with those attributes, or a dict."""
    if isinstance(entry, dict):
        return encode(*(entry[k] for k in FIELDS))
    return encode(*(getattr(entry, k) for k in FIELDS))


def entry_hash(entry: Any) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


# --- walking the chain ------------------------------------------------------------


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
        self.feed_values(entry.id, *(getattr(entry, k) for k in FIELDS), entry.hash)

    def feed_values(self, id_, seq, at, actor_id, actor, action, target_type, target_id, detail, prev_hash, hash_) -> None:
        """``feed`` from the column values (the streamed verify's rows: ``detail``
        may be the stored JSON text, see ``stored_matches``)."""
        self.count += 1
        self.last_seq = seq
        if seq in self.watch:
            self.seen[seq] = hash_
        if self.first_break is not None:
            return
        if seq < self.expected_seq:
            self.first_break = Break(seq, id_, "lies before the start of the chain (retention checkpoint)")
        elif seq != self.expected_seq:
            self.first_break = Break(self.expected_seq, None, f"entry {self.expected_seq} is missing (next present is {seq})")
        elif prev_hash != self.prev_hash:
            self.first_break = Break(seq, id_, "does not link to the entry before it (removed or reordered)")
        elif not stored_matches(hash_, seq, at, actor_id, actor, action, target_type, target_id, detail, prev_hash):
            self.first_break = Break(seq, id_, "content does not match its hash (edited)")
        else:
            self.prev_hash = hash_
            self.expected_seq = seq + 1


def walk(entries: Iterable[Any], start_seq: int = 1, start_hash: str = GENESIS) -> Break | None:
    """First break in a chain given in ``seq`` order, or None if intact."""
    walker = ChainWalker(start_seq, start_hash)
    for entry in entries:
        walker.feed(entry)
    return walker.first_break


# --- appending in group commits ---------------------------------------------------

# At most this many entries in one transaction; more waiting go in the next.
MAX_GROUP = 1000
# A group that lost the race for its seqs to another process is linked again on top.
ATTEMPTS = 10
# PostgreSQL: one advisory lock serialises the groups of every process
# (``pg_advisory_xact_lock``, released at commit), so they queue instead of colliding.
PG_LOCK = 0x6175_6469_74  # "audit"


@dataclass(frozen=True)
class Appended:
    """What ``record`` answers: where the entry landed in the chain."""

    seq: int
    hash: str
    at: datetime


@dataclass
class _Pending:
    at: datetime
    actor_id: int | None
    actor: str
    action: str
    target_type: str
    target_id: str
    detail: dict[str, Any]
    done: asyncio.Future = field(repr=False, default=None)  # type: ignore[assignment]


class AuditLog:
    """Appends entries in group commits.

    ``record`` queues its entry and waits: one writer task at a time takes
    every entry queued (up to ``MAX_GROUP``), links them after the last entry in
    the database, inserts them and the heads they reach in one transaction and
    commits; then every caller of the group is answered. While it commits, new
    entries queue for the next group, so a lone caller waits for one commit,
    as before, and many callers share one. The unique ``seq`` (and, on
    PostgreSQL, an advisory lock) keeps several processes on one chain."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], signer=None, sign_every: int = 100, *, max_group: int = MAX_GROUP):
        self._db = sessionmaker
        self._lock = asyncio.Lock()  # one group, or one ``sign_head``, at a time in this process
        self.signer = signer  # server.audit.signing.HeadSigner or None (signing off)
        self.sign_every = max(sign_every, 1)
        self.max_group = max(max_group, 1)
        self._queue: list[_Pending] = []
        self._writer: asyncio.Task | None = None
        # Told the action of each entry appended, after its commit and before its
        # caller is answered (the app counts them for /metrics).
        self.on_append: list[Callable[[str], None]] = []
        self.groups = 0  # transactions committed (the bench's mean group size)

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
    ) -> Appended:
        """Append an entry; returns once it is committed. Raises if its group
        could not be written (nothing of the group is then in the trail)."""
        if isinstance(actor, Staff):
            actor_id, actor_label = actor.id, actor.username
        else:
            actor_id, actor_label = None, actor or "system"
        detail = detail or {}
        _json(detail)  # a detail that is not JSON fails its own caller here, not the group it would join
        item = _Pending(utcnow(), actor_id, actor_label, action, target_type, str(target_id), detail, asyncio.get_running_loop().create_future())
        self._queue.append(item)
        if self._writer is None or self._writer.done():
            self._writer = asyncio.ensure_future(self._write_queue())
        # Shielded: a caller cancelled while it waits (a closed connection) does not
        # take its entry out of a group; the entry is written all the same.
        return await asyncio.shield(item.done)

    async def close(self) -> None:
        """On shutdown: wait until every queued entry is written."""
        while self._writer is not None and not self._writer.done():
            await asyncio.shield(self._writer)

    async def _write_queue(self) -> None:
        while self._queue:
            group, self._queue = self._queue[: self.max_group], self._queue[self.max_group:]
            try:
                async with self._lock:
                    entries = await self._commit(group)
            except BaseException as exc:
                log.exception("appending %d audit entries failed", len(group))
                for item in group:
                    if not item.done.done():
                        item.done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("audit append cancelled"))
                if not isinstance(exc, Exception):
                    raise
                continue
            self.groups += 1
            for item in group:
                for hook in self.on_append:
                    try:
                        hook(item.action)
                    except Exception:  # a counter's failure must not leave the group's callers unanswered
                        log.exception("an audit append hook failed")
            for item, entry in zip(group, entries, strict=True):
                if not item.done.done():
                    item.done.set_result(entry)

    async def _commit(self, group: list[_Pending]) -> list[Appended]:
        for _attempt in range(ATTEMPTS):
            async with self._db() as db:
                try:
                    if db.get_bind().dialect.name == "postgresql":
                        await db.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_LOCK})
                    seq, prev = await _next_link(db)
                    rows, heads = self._link(group, seq, prev)
                    await db.execute(insert(AuditEntry.__table__), rows)
                    db.add_all(heads)
                    await db.commit()
                except IntegrityError:
                    # Another process took these seqs first: link the group again on top of it.
                    await db.rollback()
                    continue
                except OperationalError as exc:
                    # SQLite: another process wrote since this transaction read the head.
                    if "locked" not in str(exc):
                        raise
                    await db.rollback()
                    continue
                return [Appended(row["seq"], row["hash"], row["at"]) for row in rows]
        raise RuntimeError(f"audit append failed after {ATTEMPTS} attempts")

    def _link(self, group: list[_Pending], seq: int, prev: str) -> tuple[list[dict[str, Any]], list[AuditHead]]:
        """The group's rows chained from ``(seq, prev)``, and the signed heads they reach."""
        rows, heads = [], []
        for item in group:
            h = hashlib.sha256(encode(seq, item.at, item.actor_id, item.actor, item.action, item.target_type, item.target_id, item.detail, prev)).hexdigest()
            rows.append({
                "seq": seq, "at": item.at, "actor_id": item.actor_id, "actor": item.actor, "action": item.action,
                "target_type": item.target_type, "target_id": item.target_id, "detail": item.detail, "prev_hash": prev, "hash": h,
            })
            if self.signer is not None and seq % self.sign_every == 0:
                heads.append(self.signer.sign("head", seq, h, utcnow()))
            seq, prev = seq + 1, h
        return rows, heads

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
