"""The garbage collector kept off the relay's tail (server/ops/collector.py, issue 24).

With 1,000 rooms open one full collection walked every room's objects and
stopped the event loop for 587 ms (bench/results/relay.md). The server freezes
what start-up loaded and what every full collection leaves alive, so the next
full collection walks only what is newer; frozen objects are handed back to the
collector once an hour, so cycles that died frozen are freed.

Each story runs in a process of its own: freezing is process-wide, and the
test worker's collector must stay as every other test expects it."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def run(code: str) -> str:
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], check=False, cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_full_collection_walks_only_what_was_made_since_the_last_one():
    out = run(
        """
        import gc
        from server.ops.collector import keep_survivors_frozen

        keep_survivors_frozen()
        assert len(gc.get_objects()) < 1000, len(gc.get_objects())

        class Room:
            def __init__(self):
                self.me = self  # a cycle, as sockets and tasks make

        rooms = [Room() for _ in range(20_000)]  # open calls: alive for minutes
        gc.collect()
        # The rooms survived a full collection: frozen, out of every later walk.
        print(len(gc.get_objects()), gc.get_freeze_count())
        """
    )
    tracked, frozen = map(int, out.split())
    assert tracked < 1000
    assert frozen > 20_000


def test_cycles_that_die_frozen_are_freed_at_the_next_hand_back():
    out = run(
        """
        import gc, weakref
        from server.ops.collector import keep_survivors_frozen

        freezer = keep_survivors_frozen()

        class Room:
            def __init__(self):
                self.me = self

        rooms = [Room() for _ in range(5_000)]
        gc.collect()  # frozen while the calls are open
        probe = weakref.ref(rooms[0])
        frozen_open = gc.get_freeze_count()
        del rooms     # the calls end: dead cycles, out of the collector's reach
        gc.collect()
        kept = probe() is not None
        freezer.every = 0  # the hour is up
        gc.collect()  # hands the frozen objects back
        gc.collect()  # walks them all: the dead cycles are freed, the living frozen again
        print(kept, probe() is None, freezer.handed_back, frozen_open - gc.get_freeze_count())
        """
    )
    kept, freed, handed_back, released = out.split()
    assert kept == "True", "dead frozen cycles are expected to wait for the hand-back"
    assert freed == "True", "a cycle that died frozen was never freed"
    assert int(handed_back) >= 1
    assert int(released) >= 5_000


def test_installing_it_twice_installs_one_callback():
    out = run(
        """
        import gc
        from server.ops.collector import SurvivorFreezer, keep_survivors_frozen

        first = keep_survivors_frozen()
        assert keep_survivors_frozen() is first
        print(sum(isinstance(cb, SurvivorFreezer) for cb in gc.callbacks))
        """
    )
    assert out.strip() == "1"


def test_bimbing_serve_keeps_survivors_frozen():
    # The command the deployment runs installs it once the server listens.
    source = (ROOT / "server" / "cli.py").read_text()
    start_up = source[source.index("async def _print_banner"):source.index("def _listening(")]
    assert "keep_survivors_frozen()" in start_up
