"""A process whose own event loop runs late does not take Redis for down.

Issue 24: with two processes at 1,000 rooms each loop fell ~9 s behind; Redis
answered at once, but the replies were read only after the 5 s timeout, so
each process counted Redis as down and closed every socket it held. Here the
real Redis answers throughout while this test's loop stands still, three times
for longer than the timeout; the bus must stay up, not run ``on_down`` (the
registry's closing of every socket), and still carry a frame afterwards. A
Redis that is really gone is detected still: tests/test_scaleout_redis_down.py."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest
import redis as sync_redis
import redis.asyncio as redis

from server.signaling.shared.bus import COMMAND_TIMEOUT
from tests.peers import until
from tests.services import redis_bus, require_redis

pytestmark = [pytest.mark.slow, pytest.mark.redis]

STALLS = 3
STALL = COMMAND_TIMEOUT + 2


@pytest.fixture
async def bus():
    async with redis_bus() as bus:
        yield bus


async def test_a_loop_standing_still_longer_than_the_timeout_keeps_redis_up(bus):
    downs: list[float] = []

    async def down() -> None:
        downs.append(time.monotonic())

    bus.on_down.append(down)
    frames: asyncio.Queue[str] = asyncio.Queue()

    async def deliver(frame: str) -> None:
        frames.put_nowait(frame)

    unsubscribe = await bus.subscribe(7, "officer", deliver)
    stalled: list[float] = []

    def stall() -> None:
        started = time.monotonic()
        time.sleep(STALL)
        stalled.append(time.monotonic() - started)

    key = bus.key("test", "late-loop")
    answer_later = sync_redis.from_url(require_redis())

    async def blocked_in_redis() -> bool:
        return any(c.get("cmd") == "blpop" and "b" in c.get("flags", "") for c in await bus.redis.client_list())

    checked_before = bus.watch.answered
    waited, failures = [], []
    for _ in range(STALLS):
        started = time.monotonic()
        command = asyncio.create_task(bus.redis.blpop([key], timeout=0))
        # The command is sent, its reply timeout running: Redis holds it until a value comes.
        await until(blocked_in_redis, timeout=10, what="the BLPOP to wait in Redis")
        # Redis answers a second into the stall (from another thread, as a reply
        # arrives while the loop is busy); the loop reads it only afterwards.
        threading.Timer(1.0, answer_later.lpush, (key, "x")).start()
        stall()
        try:
            await command
            waited.append(time.monotonic() - started)
        except Exception as exc:  # noqa: BLE001 - any failure is the finding
            failures.append(exc)
    # Every report the watch sent during the stalls reaches the loop.
    await until(lambda: bus.watch.answered > checked_before + 1, timeout=15, what="the watch's checks after the stalls")

    assert len(stalled) == STALLS and min(stalled) >= COMMAND_TIMEOUT + 1
    assert downs == [] and bus.up and bus.down_since is None
    # Each command waited across a stall, longer than the timeout, and got its reply.
    assert failures == [] and len(waited) == STALLS and min(waited) > COMMAND_TIMEOUT
    # And the subscription still carries frames.
    assert await bus.publish(7, "officer", '{"type":"pong"}')
    assert await asyncio.wait_for(frames.get(), 10) == '{"type":"pong"}'
    unsubscribe()
    answer_later.close()
