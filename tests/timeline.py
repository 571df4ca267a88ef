"""Where a parallel run's time goes: with ``TEST_TIMELINE=FILE`` in the
environment, every worker appends one line per test to FILE (tab-separated:
worker, start and stop as Unix times, CPU seconds of the worker and of the
children it reaped during the test, node id). Sorting by start shows which
tests run beside which and what runs alone at the end (tests/README.md,
"Measured"). Without the variable, nothing is written."""

from __future__ import annotations

import os
import resource
import time

import pytest

TIMELINE = os.environ.get("TEST_TIMELINE")


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    if not TIMELINE:
        return (yield)
    start, own, children = time.time(), _cpu(resource.RUSAGE_SELF), _cpu(resource.RUSAGE_CHILDREN)
    try:
        return (yield)
    finally:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        line = (f"{worker}\t{start:.2f}\t{time.time():.2f}\t{_cpu(resource.RUSAGE_SELF) - own:.2f}\t"
                f"{_cpu(resource.RUSAGE_CHILDREN) - children:.2f}\t{item.nodeid}\n")
        # One write of a short line in append mode: the workers' lines do not interleave.
        with open(TIMELINE, "a") as out:
            out.write(line)


def summary(path: str, top: int = 15) -> str:
    """The run's span, each worker's busy time and last test, the files by CPU,
    and the tests that ran in the run's last minutes: ``python -m tests.timeline FILE``."""
    rows = []
    with open(path) as lines:
        for line in lines:
            worker, start, stop, own, children, nodeid = line.rstrip("\n").split("\t")
            rows.append((worker, float(start), float(stop), float(own), float(children), nodeid))
    first, last = min(r[1] for r in rows), max(r[2] for r in rows)
    out = [f"{len(rows)} tests over {last - first:.0f} s"]
    for worker in sorted({r[0] for r in rows}):
        mine = [r for r in rows if r[0] == worker]
        end = max(mine, key=lambda r: r[2])
        out.append(f"  {worker}: busy {sum(r[2] - r[1] for r in mine):.0f} s, done at +{end[2] - first:.0f} s ({end[5]})")
    by_file: dict[str, list[float]] = {}
    for _w, start, stop, own, children, nodeid in rows:
        entry = by_file.setdefault(nodeid.split("::", 1)[0], [0.0, 0.0, 0.0])
        entry[0] += own
        entry[1] += children
        entry[2] += stop - start
    out.append(f"files by CPU (own + reaped children; of {sum(v[0] + v[1] for v in by_file.values()):.0f} CPU-s counted):")
    for name, (own, children, wall) in sorted(by_file.items(), key=lambda kv: -(kv[1][0] + kv[1][1]))[:top]:
        out.append(f"  {own + children:7.1f} ({own:.1f} + {children:.1f})  wall {wall:6.1f}  {name}")
    out.append("running in the last 180 s:")
    for worker, start, stop, *_rest, nodeid in sorted(rows, key=lambda r: r[1]):
        if stop > last - 180:
            out.append(f"  {worker} +{start - first:.0f}..+{stop - first:.0f} s  {nodeid}")
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    print(summary(sys.argv[1]))
