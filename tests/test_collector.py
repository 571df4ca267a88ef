"""The garbage collector kept off the relay's tail (server/ops/collector.py, issue 24).

With 1,000 rooms open one full collection walked every room's objects and
stopped the event loop for 638 ms (bench/relay.py --gc-log). The server freezes
what start-up loaded and what every full collection leaves alive, so the next
full collection walks only what is newer; frozen objects are handed back to the
collector once they have doubled, so cycles that died frozen are freed.

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
        [sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_a_full_collection_walks_only_what_was_made_since_the_last_one():
    out = run(
        """
        import gc
        from server.ops.collector import keep_survivors_frozen

        # Growth allowed far beyond this story: no hand-back in the middle of it.
        keep_survivors_frozen(growth=100.0)
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


def test_cycles_that_die_frozen_are_freed_once_the_frozen_set_doubles():
    out = run(
        """
        import gc, weakref
        from server.ops.collector import keep_survivors_frozen

        freezer = keep_survivors_frozen(growth=2.0)
        start = gc.get_freeze_count()

        class Room:
            def __init__(self):
                self.me = self

        first = [Room() for _ in range(5_000)]
        gc.collect()  # frozen alive
        probe = weakref.ref(first[0])
        del first     # the calls end: cycles, dead while frozen
        highest = 0
        for _ in range(40):
            batch = [Room() for _ in range(5_000)]
            gc.collect()
            del batch
            highest = max(highest, gc.get_freeze_count())
        gc.collect()
        print(start, highest, freezer.handed_back, probe() is None)
        """
    )
    start, highest, handed_back, freed = out.split()
    assert int(handed_back) >= 1
    assert freed == "True", "a cycle that died frozen was never freed"
    # Dead cycles hold at most about the growth factor over what is alive
    # (start-up's objects and one batch of 5,000 rooms' worth).
    assert int(highest) < 2.0 * (int(start) + 2 * 5_000) + 5_000, (start, highest)


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
