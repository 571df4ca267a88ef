"""How long this event loop stood still while some work ran. The test's server
runs in the test's own loop (aiohttp_client), so a pause here is a pause of the
server: a password hashed on the loop shows as one gap as long as the hash."""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any, Awaitable

TICK = 0.005
# A gap longer than this is the loop standing still, not the ticker's own jitter.
STALL = 0.05


async def loop_gaps(work: Awaitable[Any]) -> tuple[Any, list[float]]:
    """(``work``'s result, every gap between two ticks of a 5 ms ticker while it ran).

    What the worker's earlier tests left on its heap is set aside from the garbage
    collector meanwhile (``gc.freeze``): a full collection stops the loop for as
    long as it walks that heap, and one that fell inside the measure failed a solo
    test of a CI run (one gap of 1.12 s, every other under 10 ms). Measured with
    ``gc.callbacks`` over 86 tests in one process: full collections of 0.1-0.4 s
    along the way, 0.29 s at the end, 0.0000 s once frozen. The work's own garbage
    is still collected."""
    gaps: list[float] = []
    stop = asyncio.Event()
    gc.collect()
    gc.freeze()

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
        gc.unfreeze()
    return result, gaps


def stood_still(gaps: list[float]) -> float:
    """Seconds the loop stood still: the stalls summed. A bound on the sum, not on
    the longest stall: a loaded machine may stop the loop for one long moment now
    and then (a test's bound on the longest flaked), never for a batch of hashes' worth."""
    return sum(gap for gap in gaps if gap > STALL)
