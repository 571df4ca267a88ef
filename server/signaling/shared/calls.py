"""The call's live state in Redis, for several ``bimbing serve`` processes.

:class:`~server.domain.calls.call_log.CallLog` keeps, per session, each party's last ICE
state and when the open connected interval began (``CallState``); with the
officer's and the client's ``media-state`` reaching different processes, that
state must be one. :class:`SharedCallLog` is CallLog with that state in the
hash ``call:<id>`` under the lock ``call:<id>:lock`` (shared/keys.py), read and
written in CallLog's one seam, ``_locked``. The log itself stays in the database.
"""

from __future__ import annotations

import json
import logging
from contextlib import asynccontextmanager
from datetime import datetime
from typing import AsyncIterator

from redis.exceptions import RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.domain.calls.call_log import CallLog, CallState
from server.settings import Settings
from server.signaling.shared.bus import RedisBus
from server.signaling.shared.keys import ICE_STATES, KEY_TTL, call_key, lock, release
from server.signaling.shared.recovery import recoverable_sessions
from server.signaling.shared.rooms import SharedRoomRegistry

log = logging.getLogger(__name__)


def _load_state(raw: dict[str, str]) -> CallState:
    state = CallState()
    for role in ("officer", "client"):
        value = raw.get(f"media_{role}")
        if value in ICE_STATES:
            state.media[role] = value
    since = raw.get("open_since")
    if since:
        try:
            parsed = datetime.fromisoformat(since)
            state.open_since = parsed if parsed.tzinfo is not None else None
        except ValueError:
            log.warning("ignoring an invalid open_since read from Redis")
    try:
        flow = json.loads(raw.get("flow") or "{}")
        state.flow = flow if isinstance(flow, dict) else {}
    except ValueError:
        log.warning("ignoring an invalid media flow read from Redis")
    state.ever_connected = raw.get("ever_connected") == "1"
    state.awaiting_resume = raw.get("awaiting_resume") == "1"
    return state


def _dump_state(state: CallState) -> dict[str, str]:
    return {
        "media_officer": state.media["officer"],
        "media_client": state.media["client"],
        "open_since": state.open_since.isoformat() if state.open_since else "",
        "flow": json.dumps(state.flow, separators=(",", ":")),
        "ever_connected": "1" if state.ever_connected else "0",
        "awaiting_resume": "1" if state.awaiting_resume else "0",
    }


class SharedCallLog(CallLog):
    """CallLog whose per-session state lives in Redis, so that the duration is
    right when the officer's and the client's ``media-state`` reach different
    processes."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, bus: RedisBus, rooms: SharedRoomRegistry):
        super().__init__(sessionmaker, settings)
        self.rbus = bus
        self.rooms = rooms

    def _key(self, session_id: int) -> str:
        return call_key(self.rbus, session_id)

    @asynccontextmanager
    async def _locked(self, session_id: int, *, create: bool = True) -> AsyncIterator[CallState | None]:
        # The local state is the local lock and the heartbeat throttle; the rest is in Redis.
        local = self._state(session_id)
        async with local.lock:
            held = await lock(self.rbus, self._key(session_id) + ":lock")
            try:
                raw = await self.rbus.redis.hgetall(self._key(session_id))
                if not raw and not create:
                    yield None
                    return
                state = _load_state(raw)
                state.heartbeat_written = local.heartbeat_written
                yield state
                local.heartbeat_written = state.heartbeat_written
                async with self.rbus.redis.pipeline(transaction=True) as pipe:
                    await pipe.hset(self._key(session_id), mapping=_dump_state(state)).expire(self._key(session_id), KEY_TTL).execute()
            finally:
                await release(self.rbus, held)

    async def discard(self, session_id: int) -> None:
        self.forget(session_id)
        try:
            await self.rbus.redis.delete(self._key(session_id))
        except RedisError as exc:
            log.warning("cannot delete the call state of session %s: %s", session_id, exc)

    async def _recoverable(self, session_ids: list[int]) -> set[int]:
        """Only sessions that no live process holds. When other processes are up,
        a session nobody holds is not a restart's doing: leave it alone; the
        reaper logs the parties of a process that died."""
        return await recoverable_sessions(self.rooms, session_ids)

    async def places_lost(self, session_id: int, roles: list[str]) -> None:
        """After an outage: the sockets of these roles were closed as ``unavailable``
        and their interval closed in the database; the shared state says so too."""
        async with self._locked(session_id, create=False) as state:
            if state is None:
                return
            for role in roles:
                state.media[role] = "closed"
                state.flow.pop(role, None)
            state.open_since = None

    async def checkpoint(self) -> None:
        if not self.rbus.up:
            # Every socket was closed and its interval closed in the log when Redis went away.
            return
        ids = []
        for sid in list(self._states):
            async with self._locked(sid, create=False) as state:
                if state is not None and state.open_since is not None:
                    ids.append(sid)
        await self._stamp_heartbeats(ids)
