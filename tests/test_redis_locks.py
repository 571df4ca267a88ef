"""A room's or call's lock in Redis outlives a dead holder by seconds, not half a
minute, and a live holder keeps it for as long as its step runs.

Found by a CI run (tests/test_scaleout.py): the process holding the client's
socket was killed while it held the call's lock (a heartbeat's step, every half
second), the lock's fixed 30 s expiry outlasted the other process's 20 s wait,
and the phone that rejoined through that process was refused. The holder's
watch thread now renews its locks every second (server/signaling/shared/watch.py)
to expire ``LOCK_TTL`` after: here a real process takes a call's lock, keeps it
past ``LOCK_TTL``, and is killed with it held."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import time
from pathlib import Path

import pytest

from server.signaling.shared.keys import StayedLocked, lock, release
from server.signaling.shared.watch import LOCK_TTL
from tests.services import redis_bus, require_redis

pytestmark = [pytest.mark.slow, pytest.mark.redis]

ROOT = Path(__file__).resolve().parent.parent

HOLDER = """
import asyncio, sys
from server.signaling.shared.bus import RedisBus
from server.signaling.shared.keys import lock

async def main(url, prefix, name):
    bus = RedisBus(url, prefix)
    await bus.start()
    await lock(bus, name)
    print("held", flush=True)
    await asyncio.Event().wait()

asyncio.run(main(*sys.argv[1:]))
"""


@pytest.fixture
async def bus():
    async with redis_bus() as bus:
        yield bus


async def test_a_lock_is_kept_while_its_holder_lives_and_freed_soon_after_it_dies(bus):
    name = bus.key("call", 7) + ":lock"
    holder = await asyncio.create_subprocess_exec(
        sys.executable, "-c", HOLDER, require_redis(), bus.prefix, name,
        stdout=asyncio.subprocess.PIPE, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert await asyncio.wait_for(holder.stdout.readline(), 30) == b"held\n"
        token = await bus.redis.get(name)
        assert token

        # Alive: the lock stays its own past LOCK_TTL (renewed, not expired), and nobody else gets it.
        taken_at = time.monotonic()
        while time.monotonic() - taken_at < LOCK_TTL + 1.5:
            assert await bus.redis.get(name) == token, "the live holder lost its lock"
            await asyncio.sleep(0.25)
        attempt = bus.redis.lock(name, timeout=LOCK_TTL, blocking_timeout=0.5)
        assert not await attempt.acquire()

        # Killed with the lock held: free again within LOCK_TTL, well within LOCK_WAIT.
        holder.send_signal(signal.SIGKILL)
        await holder.wait()
        killed_at = time.monotonic()
        try:
            mine = await lock(bus, name)
        except StayedLocked:
            pytest.fail(f"the dead holder's lock was still taken {time.monotonic() - killed_at:.1f} s after it died")
        freed_after = time.monotonic() - killed_at
        assert freed_after <= LOCK_TTL + 3.0, freed_after  # the 30 s expiry before: StayedLocked after 20 s
        # ...and this process's own lock is renewed by its own watch, then released cleanly.
        assert bus.held_locks.get(name) == await bus.redis.get(name)
        await release(bus, mine)
        assert name not in bus.held_locks and await bus.redis.get(name) is None
    finally:
        if holder.returncode is None:
            holder.kill()
            await holder.wait()
