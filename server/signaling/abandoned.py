"""A live session that everyone left ends (issue 18: "a video session whose two
sides dropped without ending stays 'Berlangsung' for ever").

Every process runs :class:`AbandonedSweep`. Each round it asks the call log for
the ``active`` video sessions of which nothing was logged or stamped for
``BIMBING_ABANDONED_MINUTES`` (the database: it survives restarts and is shared
by every process), then asks the room registry to end each one only if nobody
holds a place in its room, on any process (the registry: it alone knows who is
connected now; a quiet call logs nothing yet is not abandoned). Ending runs
under the room's lock, so no join slips in between the check and the end, and
the call log re-checks under the session's row lock, so two processes
sweeping at once end it once. Then the room is closed as for any end
(``session-ended`` to whoever came in just after, recordings stopped).

A round comes every quarter of the limit, at most a minute apart: a session is
ended between the limit and the limit plus a round after its last party left.
While Redis cannot be reached nobody can tell who is connected, so no round
runs.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from server.domain.calls.call_log import CallLog
from server.settings import Settings
from server.signaling.registry import RoomRegistry

log = logging.getLogger(__name__)

MAX_ROUND_SECONDS = 60.0
MIN_ROUND_SECONDS = 0.2


def round_seconds(settings: Settings) -> float:
    return min(MAX_ROUND_SECONDS, max(MIN_ROUND_SECONDS, settings.abandoned_minutes * 60 / 4))


class AbandonedSweep:
    def __init__(self, calls: CallLog, rooms: RoomRegistry, settings: Settings):
        self.calls = calls
        self.rooms = rooms
        self.every = round_seconds(settings)
        self._task: asyncio.Task | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._sweep_forever(), name="abandoned-sweep")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None

    async def _sweep_forever(self) -> None:
        while True:
            await asyncio.sleep(self.every)
            try:
                await self.sweep()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                # The bus says so once per outage; the next round tries again.
                log.info("abandoned sessions not swept this round: %s", exc)
            except Exception:
                log.exception("sweeping abandoned sessions failed")

    async def sweep(self) -> list[int]:
        """One round: the sessions it ended."""
        if not self.rooms.available():
            return []
        ended = []
        for session_id in await self.calls.idle_sessions():

            async def end(sid: int = session_id) -> bool:
                return await self.calls.end_abandoned(sid)

            try:
                if await self.rooms.end_if_empty(session_id, end):
                    ended.append(session_id)
                    await self.rooms.session_ended(session_id)
            except (RedisError, OSError):
                raise
            except Exception:
                # One session's failure must not keep the others open; it is tried next round.
                log.exception("ending abandoned session %s failed", session_id)
        return ended
