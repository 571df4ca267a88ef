"""Group commits for the call log's frequent, small writes (docs/signaling.md §6,
"What a crash can lose").

Every call step used to load the session (with its client, officer and every
event) and commit on its own: a heartbeat, a join, a waiting client each cost
two SELECTs, an INSERT or UPDATE and a commit inside the event loop that relays
every other call's messages (bench/README.md, "Signaling that stays fast").
Here they are plain statements gathered into one transaction:

- :meth:`WriteBatcher.event` appends an event (and, for ``admitted``, makes a
  scheduled session active) and **waits for the commit** of the batch that holds
  it: nothing acknowledged is lost, the steps of one session stay in order (its
  handler awaits each), and many rooms share one commit.
  An event is written at once when no commit is under way, else with every
  other event that arrived meanwhile, in the next commit, which starts as soon
  as that one ends (a group commit: no wait when idle, batches under load).
- :meth:`WriteBatcher.heartbeat` only records the stamp and returns: the stamps
  are written within ``max_delay`` seconds (``BIMBING_WRITE_FLUSH_MS``), with
  the next events if sooner, and on shutdown. A crash loses at
  most that much of a heartbeat's progress: the interval it bounds is cut back
  by at most ``heartbeat_seconds + max_delay``.

Heartbeats alone are flushed when the first has waited ``max_delay``; they go
with any events sooner. Until issue 24 events were gathered for 20 ms first:
two of a client's three join steps waited that out, 40 ms of the 66 ms the
server added between a join link and a connected call (bench/join_to_connected.py). An event for a session that is no longer
open (ended, or not a video session) is not written, and its caller is told.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import GuidanceSession, SessionEvent, SessionMode, SessionStatus
from server.domain.record.sessions import OPEN_STATUSES

log = logging.getLogger(__name__)

MAX_DELAY = 1.0
MAX_BATCH = 500


@dataclass
class _Event:
    session_id: int
    kind: str
    actor: str
    at: datetime
    detail: dict[str, Any]
    activate: bool
    done: asyncio.Future = field(repr=False, default=None)  # type: ignore[assignment]


class WriteBatcher:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], *, max_delay: float = MAX_DELAY, max_batch: int = MAX_BATCH):
        self._db = sessionmaker
        self.max_delay = max_delay
        self.max_batch = max_batch
        self._events: list[_Event] = []
        self._heartbeats: dict[int, datetime] = {}
        self._timer: asyncio.TimerHandle | None = None
        self._flushing = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        # A flush task is started and has not yet seen the queue empty: events
        # arriving now are taken by its loop, without a task or timer of their own.
        self._busy = False
        self.closed = False

    # ---- what callers use -----------------------------------------------------

    async def event(self, session_id: int, kind: str, actor: str, at: datetime, *, activate: bool = False, **detail: Any) -> bool:
        """Append an event; with ``activate`` a scheduled session becomes active
        with ``started_at = at``. Returns once committed: False if the session
        was not an open video session (nothing written)."""
        item = _Event(session_id, kind, actor, at, detail, activate, asyncio.get_running_loop().create_future())
        self._events.append(item)
        if self.closed:
            # A handler still finishing after shutdown began: written at once.
            await self.flush()
        else:
            self._schedule()
        # Shielded: a handler cancelled at shutdown must not drop a write half-way.
        return await asyncio.shield(item.done)

    def heartbeat(self, session_id: int, at: datetime) -> None:
        """Stamp ``last_heartbeat_at`` (written within ``max_delay``; never moves it back)."""
        if self.closed:
            return
        self._heartbeats[session_id] = at
        self._schedule()

    def pending(self) -> int:
        return len(self._events) + len(self._heartbeats)

    async def flush(self) -> None:
        """Write whatever is pending now (and wait for a flush under way)."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        async with self._flushing:
            while self._events or self._heartbeats:
                events, self._events = self._events[: self.max_batch], self._events[self.max_batch:]
                heartbeats, self._heartbeats = self._heartbeats, {}
                await self._write(events, heartbeats)

    async def close(self) -> None:
        """On shutdown: write everything still pending; later events are written at once."""
        await self.flush()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        await self.flush()
        self.closed = True

    # ---- batching ------------------------------------------------------------------

    def _schedule(self) -> None:
        if self._events:
            if not self._busy:
                self._start_flush()
            return
        if self._busy:
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + self.max_delay
        if self._timer is None or self._timer.when() > due:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(due, self._start_flush)

    def _start_flush(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        self._timer = None
        self._busy = True
        task = asyncio.ensure_future(self._flush_task())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _flush_task(self) -> None:
        try:
            await self.flush()
        finally:
            # No await between flush's last look at the queue and this: nothing slips past.
            self._busy = False
            if (self._events or self._heartbeats) and not self.closed:
                self._schedule()

    async def _write(self, events: list[_Event], heartbeats: dict[int, datetime]) -> None:
        try:
            written = await self._commit(events, heartbeats)
        except BaseException as exc:
            log.exception("writing %d call events and %d heartbeats failed", len(events), len(heartbeats))
            for item in events:
                if not item.done.done():
                    item.done.set_exception(exc if isinstance(exc, Exception) else RuntimeError("cancelled"))
            if not isinstance(exc, Exception):
                raise
            return
        for item in events:
            if not item.done.done():
                item.done.set_result(item.session_id in written)

    async def _commit(self, events: list[_Event], heartbeats: dict[int, datetime]) -> set[int]:
        """One transaction: the events of open video sessions, their activation, the heartbeats."""
        async with self._db() as db:
            open_ids: set[int] = set()
            if events:
                ids = {item.session_id for item in events}
                open_ids = set(
                    (
                        await db.execute(
                            select(GuidanceSession.id).where(
                                GuidanceSession.id.in_(ids),
                                GuidanceSession.mode == SessionMode.video,
                                GuidanceSession.status.in_(OPEN_STATUSES),
                            )
                        )
                    ).scalars()
                )
                rows = [
                    {"session_id": e.session_id, "kind": e.kind, "actor": e.actor, "at": e.at, "detail": e.detail}
                    for e in events
                    if e.session_id in open_ids
                ]
                if rows:
                    await db.execute(insert(SessionEvent), rows)
                # One statement for every activation in the batch (executemany), not one
                # round trip each: at 20 joins in flight a batch held up to 17 admits.
                # The first admit of a session wins: a later one finds it active already.
                first_admit: dict[int, datetime] = {}
                for e in events:
                    if e.activate and e.session_id in open_ids:
                        first_admit.setdefault(e.session_id, e.at)
                if first_admit:
                    t = GuidanceSession.__table__
                    activate = (
                        t.update()
                        .where(t.c.id == bindparam("sid"), t.c.status == SessionStatus.scheduled)
                        .values(status=SessionStatus.active, started_at=bindparam("at"))
                    )
                    await db.execute(activate, [{"sid": sid, "at": at} for sid, at in first_admit.items()])
            if heartbeats:
                t = GuidanceSession.__table__
                stamp = (
                    t.update()
                    .where(
                        t.c.id == bindparam("sid"),
                        # One comparison per status, not IN: an IN list is an "expanding"
                        # parameter, which executemany refuses (two calls' stamps in one batch).
                        or_(*(t.c.status == status for status in OPEN_STATUSES)),
                        # Never back: a step may have stamped a later moment meanwhile.
                        or_(t.c.last_heartbeat_at.is_(None), t.c.last_heartbeat_at < bindparam("at")),
                    )
                    .values(last_heartbeat_at=bindparam("at"))
                )
                await db.execute(stamp, [{"sid": sid, "at": at} for sid, at in heartbeats.items()])
            await db.commit()
            return open_ids

