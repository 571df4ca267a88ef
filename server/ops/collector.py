"""The garbage collector kept off the relay's tail (issue 24, docs/deploy.md,
"Garbage collection").

A full (generation 2) collection walks every container object the collector
tracks, with the event loop, and so every call's signaling, standing still. With
1,000 rooms open that heap is large, and one full collection stopped the loop
for 638 ms in the middle of a relay run (bench/relay.py --gc-log): the relay's
p99 was that collection.

What survives a full collection is, by definition, alive at that moment; most
of it (the rooms, their sockets, the loaded code) stays alive for minutes or
hours. :func:`keep_survivors_frozen` moves the survivors of every full
collection into the permanent generation (``gc.freeze()``), which no later
collection walks: the next full collection walks only what was created since,
so each one is short. The cost: a reference cycle that becomes garbage after it
was frozen is not freed until the frozen objects are handed back to the
collector (``gc.unfreeze()``). That happens whenever the frozen set has grown
to ``UNFREEZE_GROWTH`` times its size at the last hand-back: the memory such
cycles hold stays within that factor of what is alive, at the price of one
full-heap collection each time (rare: the frozen set must double).
"""

from __future__ import annotations

import gc

# Frozen objects may grow to this multiple of the count at the last hand-back
# before they are all given back to the collector.
UNFREEZE_GROWTH = 2.0


class SurvivorFreezer:
    """The ``gc.callbacks`` entry: after each full collection, freeze its survivors."""

    def __init__(self, growth: float = UNFREEZE_GROWTH) -> None:
        self.growth = growth
        self.baseline = gc.get_freeze_count()
        self.frozen = 0  # full collections whose survivors were frozen
        self.handed_back = 0  # times the frozen objects went back to the collector
        self._rebase = False

    def __call__(self, phase: str, info: dict) -> None:
        if phase != "stop" or info["generation"] != 2:
            return
        # The collection has finished when "stop" is called: moving lists now is safe.
        gc.freeze()
        self.frozen += 1
        count = gc.get_freeze_count()
        if self._rebase:
            # The first full collection after a hand-back freed the dead cycles:
            # what it froze is what is alive now.
            self.baseline, self._rebase = count, False
        elif count > self.growth * max(self.baseline, 1):
            # Cycles that died frozen are only found by a collection that walks
            # them: hand everything back; the next full collection frees them and
            # freezes what is still alive.
            gc.unfreeze()
            self.handed_back += 1
            self._rebase = True


def keep_survivors_frozen(growth: float = UNFREEZE_GROWTH) -> SurvivorFreezer:
    """After start-up: freeze what is loaded now and, from then on, what every
    full collection leaves alive. Returns the installed callback (one per process)."""
    for callback in gc.callbacks:
        if isinstance(callback, SurvivorFreezer):
            return callback
    gc.collect()
    gc.freeze()
    freezer = SurvivorFreezer(growth)
    gc.callbacks.append(freezer)
    return freezer
