"""Rooms and the call lifecycle shared by several processes through Redis.

With ``BIMBING_REDIS_URL`` set, the officer may sit on one ``bimbing serve``
process and the client on another (no sticky sessions). What one process alone
kept in memory moves to Redis; the log stays in the database. One module per
concern, each readable on its own:

* ``bus.py``: Redis pub/sub as a :class:`~server.signaling.bus.Bus` (notices
  when Redis goes away and comes back);
* ``watch.py``: this process's liveness key and the verdict on Redis, from a
  thread of its own (a late event loop is not a dead Redis);
* ``keys.py``: key names, lifetimes, the stored holder and envelope, the locks,
  the relay's one Lua script;
* ``rooms.py``: :class:`SharedRoomRegistry`, the room registry's rules
  (:class:`~server.signaling.registry.RoomRegistry`) over places in Redis;
* ``calls.py``: :class:`SharedCallLog`, CallLog with its per-call state in Redis;
* ``recovery.py``: the reaper of dead processes' parties, and which sessions
  start-up recovery may take as cut by a restart.

:func:`open_shared` below wires them together.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.settings import Settings
from server.signaling.shared.bus import RedisBus
from server.signaling.shared.calls import SharedCallLog
from server.signaling.shared.keys import Holder
from server.signaling.shared.recovery import ProcessReaper
from server.signaling.shared.rooms import SharedRoomRegistry

__all__ = ["SharedCallLog", "SharedRoomRegistry", "open_shared"]


async def open_shared(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings):
    """The shared registry and call log, started; returns them and their closer."""
    assert settings.redis_url
    bus = RedisBus(settings.redis_url, settings.redis_prefix)
    await bus.start()
    rooms = SharedRoomRegistry(bus)
    calls = SharedCallLog(sessionmaker, settings, bus, rooms)

    async def dropped(session_id: int, holder: Holder) -> None:
        admitted = holder.role == "officer" or holder.admitted
        await calls.party_gone(session_id, holder.role, "dropped", device=holder.device, admitted=admitted)

    reaper = ProcessReaper(rooms, on_dropped=dropped)
    rooms.on_places_lost = calls.places_lost
    await reaper.start()

    async def close() -> None:
        await reaper.stop()
        await bus.close()

    return calls, rooms, close
