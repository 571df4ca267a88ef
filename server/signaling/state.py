"""Where the rooms and the call state live: in this process, or shared with
other processes through Redis when ``BIMBING_REDIS_URL`` is set (docs/deploy.md,
"Several processes"). The handler (ws.py) gets a
:class:`~server.signaling.registry.RoomRegistry` and a
:class:`~server.domain.calls.call_log.CallLog` and never asks which."""

from __future__ import annotations

from typing import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.domain.calls.call_log import CallLog
from server.settings import Settings
from server.signaling.registry import RoomRegistry
from server.signaling.rooms import LocalRoomRegistry
from server.signaling.shared import open_shared


async def open_state(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> tuple[CallLog, RoomRegistry, Callable[[], Awaitable[None]] | None]:
    """The call log and the room registry, started; and what closes them, if anything."""
    if settings.redis_url:
        return await open_shared(sessionmaker, settings)
    return CallLog(sessionmaker, settings), LocalRoomRegistry(), None
