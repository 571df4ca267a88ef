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
  Events are gathered for at most ``EVENT_DELAY`` (20 ms).
- :meth:`WriteBatcher.heartbeat` only records the stamp and returns: the stamps
  are written within ``max_delay`` seconds (``BIMBING_WRITE_FLUSH_MS``), with
  the next events if sooner, and on shutdown. A crash loses at
  most that much of a heartbeat's progress: the interval it bounds is cut back
  by at most ``heartbeat_seconds + max_delay``.

A batch is flushed when its first event has waited ``EVENT_DELAY`` or its first
heartbeat ``max_delay``, or at once when it holds ``max_batch`` events. An event for a session that is no longer
open (ended, or not a video session) is not written, and its caller is told.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.db.models import GuidanceSession, SessionEvent, SessionMode, SessionStatus
from server.domain.record.sessions import OPEN_STATUSES

log = logging.getLogger(__name__)

MAX_DELAY = 1.0
# Events are awaited by their step: gathered only this long, whatever max_delay is.
EVENT_DELAY = 0.02
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
        if len(self._events) >= self.max_batch:
            self._start_flush()
            return
        loop = asyncio.get_running_loop()
        due = loop.time() + (min(EVENT_DELAY, self.max_delay) if self._events else self.max_delay)
        if self._timer is None or self._timer.when() > due:
            if self._timer is not None:
                self._timer.cancel()
            self._timer = loop.call_at(due, self._start_flush)

    def _start_flush(self) -> None:
        self._timer = None
        task = asyncio.ensure_future(self.flush())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

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
                for e in events:
                    if e.activate and e.session_id in open_ids:
                        await db.execute(
                            update(GuidanceSession)
                            .where(GuidanceSession.id == e.session_id, GuidanceSession.status == SessionStatus.scheduled)
                            .values(status=SessionStatus.active, started_at=e.at)
                            .execution_options(synchronize_session=False)
                        )
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

