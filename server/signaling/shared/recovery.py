"""When processes stop: the reaper of dead processes' parties, and which
sessions start-up recovery may take as cut by a restart.

A process that dies (crash, SIGKILL, lost machine) leaves its holders in Redis.
Its liveness key ``proc:<id>`` expires within ``PROCESS_TTL``; every process then
runs :class:`ProcessReaper`, and the first to claim ``reap:<id>`` logs the dead
process's parties as dropped and tells the parties they were with, as the dead
process would have done.

Start-up recovery (``CallLog.recover``: ``server_restarted``, resume grace,
``interrupted``) is for sessions a stop cut. With several processes a session
nobody holds is not necessarily that: :func:`recoverable_sessions` keeps only
the sessions that no live process holds (docs/deploy.md, "A process dies").
"""

from __future__ import annotations

import asyncio
import logging
from typing import Awaitable, Callable

from redis.exceptions import RedisError

from server.db.ids import id_from_text
from server.signaling import protocol as p
from server.signaling.shared.bus import PROCESS_TTL
from server.signaling.shared.keys import HEX32, Holder, process_rooms_key
from server.signaling.shared.rooms import SharedRoomRegistry

log = logging.getLogger(__name__)


async def live_processes(rooms: SharedRoomRegistry) -> set[str]:
    """The other processes whose liveness key is still there."""
    bus = rooms.rbus
    alive = set()
    for pid in await bus.redis.smembers(bus.key("procs")):
        if HEX32.match(pid) and pid != bus.process_id and await bus.alive(pid):
            alive.add(pid)
    return alive


async def recoverable_sessions(rooms: SharedRoomRegistry, session_ids: list[int]) -> set[int]:
    """Only sessions that no live process holds; their places are forgotten.
    When other processes are up, a session nobody holds is not a restart's
    doing: leave it alone; the reaper logs the parties of a process that died."""
    others = await live_processes(rooms)
    cut = set()
    for sid in session_ids:
        holders = await rooms.holders(sid)
        if not others or (holders and not any([await rooms.rbus.alive(h.proc) for h in holders])):
            cut.add(sid)
            await rooms.forget_places(sid)
    return cut


class ProcessReaper:
    """Every ``PROCESS_TTL / 2`` seconds, the parties of processes that died."""

    def __init__(self, rooms: SharedRoomRegistry, on_dropped: Callable[[int, Holder], Awaitable[None]] | None = None):
        self.rooms = rooms
        self.rbus = rooms.rbus
        self.redis = rooms.rbus.redis
        # Logs a party whose process died (set by the wiring to CallLog.party_gone).
        self.on_dropped = on_dropped
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._reap_forever(), name="rooms-reaper")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(PROCESS_TTL / 2)
            try:
                await self.reap()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.rbus.up:
                    log.warning("reaping the rooms of dead processes failed: %s", exc)
            except Exception:
                log.exception("reaping the rooms of dead processes failed")

    async def reap(self) -> None:
        """Log as dropped every party held by a process whose liveness key expired,
        and tell the other party, as that process would have done."""
        for pid in await self.redis.smembers(self.rbus.key("procs")):
            if not HEX32.match(pid):
                await self.redis.srem(self.rbus.key("procs"), pid)
                continue
            if await self.rbus.alive(pid):
                continue
            # One reaper per dead process.
            if not await self.redis.set(self.rbus.key("reap", pid), self.rbus.process_id, nx=True, ex=60):
                continue
            rooms_key = process_rooms_key(self.rbus, pid)
            for raw_sid in await self.redis.smembers(rooms_key):
                session_id = id_from_text(raw_sid)
                if session_id is not None:
                    await self._reap_room(session_id, pid)
            await self.redis.delete(rooms_key)
            await self.redis.srem(self.rbus.key("procs"), pid)

    async def _reap_room(self, session_id: int, pid: str) -> None:
        rooms = self.rooms
        async with rooms.exclusive(session_id):
            places = await rooms.places(session_id)
            dropped: list[tuple[Holder, Holder | None]] = []
            for role, other in (("officer", "client"), ("client", "officer")):
                holder = places.get(role)
                if holder is not None and holder.proc == pid:
                    await rooms.remove_holder(session_id, "places", role)
                    dropped.append((holder, places.get(other)))
            for device, holder in (await rooms.waiting(session_id)).items():
                if holder.proc == pid:
                    await rooms.remove_holder(session_id, "waiting", device)
                    dropped.append((holder, places.get("officer")))
            for holder, other in dropped:
                if self.on_dropped is not None:
                    await self.on_dropped(session_id, holder)
                if other is not None and other.proc != pid:
                    device = None if holder.role == "officer" else holder.device
                    await rooms.tell_holder(session_id, other, p.PeerLeft(role=holder.role, reason="dropped", device=device))
