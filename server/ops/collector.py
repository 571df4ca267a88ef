"""The garbage collector kept off the relay's tail (issue 24, docs/deploy.md,
"Garbage collection").

A full (generation 2) collection walks every container object the collector
tracks, with the event loop, and so every call's signaling, standing still. With
1,000 rooms open that heap is large: one full collection stopped the loop for
587 ms while they opened (bench/results/relay.md, the "base" server), and one
landing in a relay run was that run's p99 (bench/README.md, issue 24). With the
survivors frozen, the longest in the same run took 46 ms.

What survives a full collection is, by definition, alive at that moment; most
of it (the rooms, their sockets, the loaded code) stays alive for minutes or
hours. :func:`keep_survivors_frozen` moves the survivors of every full
collection into the permanent generation (``gc.freeze()``), which no later
collection walks: the next full collection walks only what was created since,
so each one is short. The cost: a reference cycle that becomes garbage after it
was frozen (a closed call's socket and tasks) is not freed until the frozen
objects are handed back to the collector (``gc.unfreeze()``). That happens
once every ``HAND_BACK_SECONDS``: the next full collection frees those cycles
and walks everything once, one pause as long as before, once an hour.

Not on growth: the frozen set also grows with the rooms, alive. Start-up
freezes about 164,000 objects and 1,000 rooms add about 215,000 (bench/relay.py
--gc-log), so a hand-back "when it has doubled" would fall in the middle of the
morning's ramp, each one a full walk, when the rooms are opening.
"""

from __future__ import annotations

import gc
import time

# How often the frozen objects go back to the collector, so that cycles that died
# frozen are freed: memory held by them is at most an hour's closed calls.
HAND_BACK_SECONDS = 3600.0


class SurvivorFreezer:
    """The ``gc.callbacks`` entry: after each full collection, freeze its survivors."""

    def __init__(self, every: float = HAND_BACK_SECONDS) -> None:
        self.every = every
        self.last_hand_back = time.monotonic()
        self.frozen = 0  # full collections whose survivors were frozen
        self.handed_back = 0  # times the frozen objects went back to the collector

    def __call__(self, phase: str, info: dict) -> None:
        if phase != "stop" or info["generation"] != 2:
            return
        now = time.monotonic()
        if now - self.last_hand_back >= self.every:
            # Cycles that died frozen are only found by a collection that walks
            # them: hand everything back; the next full collection frees them and
            # freezes what is still alive. (gc.collect() here would do nothing:
            # the collector runs no collection from inside its callbacks.)
            gc.unfreeze()
            self.handed_back += 1
            self.last_hand_back = now
            return
        # The collection has finished when "stop" is called: moving lists now is safe.
        gc.freeze()
        self.frozen += 1


def keep_survivors_frozen(every: float = HAND_BACK_SECONDS) -> SurvivorFreezer:
    """After start-up: freeze what is loaded now and, from then on, what every
    full collection leaves alive. Returns the installed callback (one per process)."""
    for callback in gc.callbacks:
        if isinstance(callback, SurvivorFreezer):
            return callback
    gc.collect()
    gc.freeze()
    freezer = SurvivorFreezer(every)
    gc.callbacks.append(freezer)
    return freezer
