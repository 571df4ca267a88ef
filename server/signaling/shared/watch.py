"""Whether Redis answers, judged from a thread of its own.

The event loop cannot judge that by itself: a reply that Redis sent at once is
read only when the loop comes round to it, so a loop running seconds behind saw
its own command time out and took Redis for gone (issue 24: with two processes
at 1,000 rooms each loop fell ~9 s behind, every PUBLISH and liveness refresh
"timed out", and each process closed every socket it held as ``unavailable``).

:class:`RedisWatch` runs one plain (blocking) Redis connection in a daemon
thread: every ``BEAT_EVERY`` seconds (every half second while Redis is down) it
refreshes this process's liveness key, with the socket timeout enforced by the
kernel, not by the loop. Its verdict reaches the loop through
``call_soon_threadsafe``; a late loop learns it late, but it is still the truth
about Redis, not about the loop.

The liveness key says that the *process* works, so the thread refreshes it only
while the loop still turns (``ticked`` within ``LOOP_STALLED`` seconds): a loop
wedged for good stops the refreshes and the other processes take its places
over ``PROCESS_TTL`` later, as for a process that died.

The same beat renews the room and call locks the process holds (keys.py:
``lock``): a lock expires ``LOCK_TTL`` after its last renewal, so one held by a
process that died is free again within seconds, while a step that a late loop
makes slow keeps its lock as long as it runs. With a fixed 30 s expiry instead,
a process killed while it held a call's lock (a heartbeat's step, every half
second) left the call locked past ``LOCK_WAIT``: the phone that rejoined
through the other process waited 20 s and was refused ``unavailable`` (a CI
run, tests/test_scaleout.py).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from typing import Callable, Mapping

import redis
from redis.backoff import NoBackoff
from redis.exceptions import RedisError
from redis.retry import Retry

log = logging.getLogger(__name__)

# A process that has not refreshed its key for this long is dead.
PROCESS_TTL = 10
# Once a second: the beat also renews the locks held (below), whose expiry after a
# holder's death is what a rejoining phone may wait out.
BEAT_EVERY = 1.0
DOWN_BEAT_EVERY = 0.5
# A Redis that does not answer within this long (wall clock) counts as down.
COMMAND_TIMEOUT = 5.0
# A loop that has not turned for this long is wedged, not late.
LOOP_STALLED = 30.0
TICK_EVERY = 0.5
# A held lock is renewed at every beat to expire this long after (seconds): four
# beats in a row may miss before a live holder loses it, and a Redis that does not
# answer for this long counts as down (COMMAND_TIMEOUT), its steps failing anyway.
LOCK_TTL = COMMAND_TIMEOUT
# Renew a lock only while it is still the holder's (redis-py's lock keeps its token as the value).
RENEW_SCRIPT = """
if redis.call("get", KEYS[1]) == ARGV[1] then
  return redis.call("pexpire", KEYS[1], ARGV[2])
end
return 0
"""

# Called on the loop with None (Redis answered) or the exception it raised, and
# the number of outages the bus had counted when the check began.
Report = Callable[[BaseException | None, int], None]


class RedisWatch:
    def __init__(self, url: str, process_key: str, procs_key: str, process_id: str, outages: Callable[[], int], up: Callable[[], bool],
                 held_locks: Mapping[str, str] | None = None):
        self.url, self.process_key, self.procs_key, self.process_id = url, process_key, procs_key, process_id
        self._outages, self._up = outages, up
        # Lock name -> token, of the locks the loop holds now (written by the loop only).
        self.held_locks = held_locks if held_locks is not None else {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._ticker: asyncio.Task | None = None
        # time.monotonic() of the loop's last turn (written by the loop, read by the thread).
        self.ticked = time.monotonic()
        # Checks that Redis answered (for tests and /metrics-style inspection).
        self.answered = 0

    def start(self, report: Report) -> None:
        loop = asyncio.get_running_loop()
        self._ticker = asyncio.create_task(self._tick(), name="redis-watch-tick")
        self._thread = threading.Thread(target=self._run, args=(loop, report), name="redis-watch", daemon=True)
        self._thread.start()

    async def stop(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.cancel()
            await asyncio.gather(self._ticker, return_exceptions=True)
        if self._thread is not None:
            # At most one check's timeout: the thread waits on the event between checks.
            await asyncio.to_thread(self._thread.join, COMMAND_TIMEOUT * 2 + 1)

    async def _tick(self) -> None:
        while True:
            self.ticked = time.monotonic()
            await asyncio.sleep(TICK_EVERY)

    def _run(self, loop: asyncio.AbstractEventLoop, report: Report) -> None:
        # No retries: one check that fails is the verdict, the next one comes soon.
        client = redis.Redis.from_url(
            self.url, decode_responses=True, socket_timeout=COMMAND_TIMEOUT,
            socket_connect_timeout=COMMAND_TIMEOUT, retry=Retry(NoBackoff(), 0),
        )
        try:
            while not self._stop.wait(BEAT_EVERY if self._up() else DOWN_BEAT_EVERY):
                outages = self._outages()
                try:
                    if time.monotonic() - self.ticked < LOOP_STALLED:
                        pipe = client.pipeline(transaction=False)
                        pipe.set(self.process_key, "1", ex=PROCESS_TTL).sadd(self.procs_key, self.process_id)
                        # A copy: the loop may take or release one meanwhile (a copy is one step under the GIL).
                        for name, token in self.held_locks.copy().items():
                            pipe.eval(RENEW_SCRIPT, 1, name, token, int(LOCK_TTL * 1000))
                        pipe.execute()
                    else:
                        client.ping()
                    failure: BaseException | None = None
                    self.answered += 1
                except (RedisError, OSError) as exc:
                    failure = exc
                try:
                    loop.call_soon_threadsafe(report, failure, outages)
                except RuntimeError:  # the loop is closed: the process is stopping
                    return
        finally:
            client.close()
