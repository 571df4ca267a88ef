"""How long this event loop stood still while some work ran. The test's server
runs in the test's own loop (aiohttp_client), so a pause here is a pause of the
server: a password hashed on the loop shows as one gap as long as the hash."""

from __future__ import annotations

import asyncio
import time
from typing import Any, Awaitable

TICK = 0.005
# A gap longer than this is the loop standing still, not the ticker's own jitter.
STALL = 0.05


async def loop_gaps(work: Awaitable[Any]) -> tuple[Any, list[float]]:
    """(``work``'s result, every gap between two ticks of a 5 ms ticker while it ran)."""
    gaps: list[float] = []
    stop = asyncio.Event()

    async def ticker():
        last = time.perf_counter()
        while not stop.is_set():
            await asyncio.sleep(TICK)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now

    tick = asyncio.create_task(ticker())
    try:
        result = await work
    finally:
        stop.set()
        await tick
    return result, gaps


def stood_still(gaps: list[float]) -> float:
    """Seconds the loop stood still: the stalls summed. A bound on the sum, not on
    the longest stall: a loaded machine may stop the loop for one long moment now
    and then (a test's bound on the longest flaked), never for a batch of hashes' worth."""
    return sum(gap for gap in gaps if gap > STALL)
