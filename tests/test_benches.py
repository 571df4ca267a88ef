"""Every bench in bench/ runs here once at its smallest size (issue 19), so a
product change that breaks a bench breaks CI instead of leaving the bench to
rot until someone next runs it: relay.py had been failing at 100 rooms with
429 (the pending-handshake cap it did not lift) while still exiting 0, and
recording_load.py never got an upload to the recorder (it ignores this
machine's networks unless told).

Each bench runs as its own process, as a person runs it, with its results in
a temporary folder (``--results-dir``, or ``--out`` for the two that write only
there): bench/results/ holds the stated runs and is never rewritten here. Pass:
it exits 0 (a bench exits 1 when what it measures failed) and its table holds
the row of what it measures. A bench that needs PostgreSQL, Chromium or root
for network namespaces follows the suite's CI rule (tests/services.py); one
that drives Chromium runs from tests/browser/ (IN_BROWSER_FOLDER), where a
parallel run keeps the browser tests one after another (tests/parallel.py).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.netshape import require_shaping
from tests.services import require_chromium, require_postgres, require_redis

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"

# The smallest run of each script: its arguments, the file its table goes to
# ({out}: the temporary folder), the rows that table must hold, and what it needs.
# relay.py and admission.py open 60 rooms 60 at a time: more sockets wait to join
# at once than the server's default cap of 20 per address, so a bench that stops
# lifting a limit (bench/common.BENCH_LIMITS) fails here, not at 100 rooms. With
# the cap left at its default, relay.py answered 429 in 3 runs of 3 at 60 rooms,
# in 2 of 3 at 30, and passed at 15 (15 at a time).
RESULTS = ["--results-dir", "{out}"]
SMALLEST = {
    "admission.py": (["--rooms", "60", "--concurrency", "60", *RESULTS], "admission.md",
                     ["| 1 | sqlite | this tree |", "| 1 | postgres | this tree |"], {"postgres"}),
    "audit.py": (["--sizes", "200", "--repeat", "1", *RESULTS], "audit.md",
                 ["| office, newest first | 200 |"], {"postgres"}),
    # Eight callers at once make groups; the trail they build must verify (the bench exits 1 if not).
    "audit_trail.py": (["--appends", "40", "--callers", "1,8", "--verify-entries", "300", *RESULTS], "audit_trail.md",
                       ["| sqlite | 8 | 40 |", "| postgres | 8 | 40 |", "| sqlite | 300 |", "| postgres | 300 |"], {"postgres"}),
    "evaluation.py": (["--clients", "20", "--sessions", "200", "--repeat", "1", *RESULTS], "evaluation.md",
                      ["| SQLite |", "| PostgreSQL |"], {"postgres"}),
    "first_words.py": (["--links", "64/0", "--visits", "first", "--timeout", "60", *RESULTS], "first_words.md",
                       ["| 64 kbit/s | 0% | first |"], {"chromium", "shaping"}),
    "fuzz_signaling.py": (["--messages", "500", "--rooms", "2", "--chunk", "500", *RESULTS], "fuzz_signaling.md",
                          ["| bimbing serve | 500 |", "| PASS |"], set()),
    "join_to_connected.py": (["--reps", "1", "--warmup", "0", *RESULTS], "join_to_connected.md",
                             ["| through server: link -> connected |", "| baseline: direct handover, no server |"], set()),
    "login_burst.py": (["--seconds", "1", "--parallel", "2", "--out", "{out}/login_burst.md"], "login_burst.md",
                       ["| `/healthz` | during |", "| relay one-way | during |"], set()),
    "read_paths.py": (["--reads", "20", "--repeat", "1", *RESULTS], "read_paths.md",
                      ["| 1 | sqlite | plain connection (the server) |", "| 1 | postgres | plain connection (the server) |"], {"postgres"}),
    "reach.py": (["--rates", "128", "--losses", "0", "--settle", "1", "--window", "2", "--outage", "2", "--out", "{out}/reach.md"], "reach.md",
                 ["| 128 kbit/s | 0% | baseline |", "| 128 kbit/s | 0% | tuned |"], {"chromium", "shaping"}),
    # Every room's officer on one process and its client on the other, through Redis.
    "national.py": (["--rooms", "60", "--concurrency", "60", "--messages-per-room", "1", *RESULTS], "national.md",
                    ["| two processes, Redis | 60 | 60 |", "| one process, no Redis | 60 | 60 |"], {"postgres", "redis"}),
    "recording_load.py": (["--calls", "1", "--rooms", "2", "--messages-per-room", "2", "--rate", "50", *RESULTS], "recording_load.md",
                          ["| 1 | in web process |", "| 1 | recorder process |"], set()),
    "relay.py": (["--rooms", "60", "--concurrency", "60", "--messages-per-room", "1", "--rate", "500", *RESULTS], "relay.md",
                 ["| bimbing server: relay, one-way | 60 |", "| baseline: bare relay, one-way | 60 |"], set()),
}
# What a bench may need, as the suite's tests reach it (a missing one fails under CI=true).
NEEDS = {"postgres": require_postgres, "redis": require_redis, "chromium": require_chromium, "shaping": require_shaping}
# The benches that drive Chromium, and the test in tests/browser/ that runs each.
IN_BROWSER_FOLDER = {"reach.py": ROOT / "tests" / "browser" / "test_reach_bench.py",
                     "first_words.py": ROOT / "tests" / "browser" / "test_first_words.py"}


def scripts() -> list[str]:
    """The bench scripts: every bench/*.py run as a program (common.py is their library)."""
    return sorted(p.name for p in BENCH.glob("*.py") if 'if __name__ == "__main__":' in p.read_text(encoding="utf-8"))


def stated_runs() -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted((BENCH / "results").glob("*"))}


def test_every_bench_has_its_smallest_run_here():
    assert scripts() == sorted(SMALLEST), "give each bench script a smallest run in SMALLEST (and drop the gone ones)"
    assert sorted(p.name for p in BENCH.glob("*.py")) == sorted([*SMALLEST, "common.py"]), "a bench module that is not a script?"
    # A bench that drives Chromium is run by its test in tests/browser/, and only there.
    assert {name for name, (*_, needs) in SMALLEST.items() if "chromium" in needs} == set(IN_BROWSER_FOLDER)
    for script, test in IN_BROWSER_FOLDER.items():
        assert f'run_smallest("{script}"' in test.read_text(encoding="utf-8"), test


@pytest.mark.slow
@pytest.mark.parametrize("script", [pytest.param(name, marks=[getattr(pytest.mark, n) for n in ("postgres", "redis") if n in needs])
                                    for name, (*_, needs) in SMALLEST.items() if name not in IN_BROWSER_FOLDER])
def test_the_bench_runs_at_its_smallest_size(script, tmp_path):
    run_smallest(script, tmp_path)


def run_smallest(script: str, tmp_path: Path) -> None:
    """Run ``script`` at its smallest size with its results in ``tmp_path``; fail
    unless it exits 0 with its table holding the rows of what it measures."""
    args, table, rows, needs = SMALLEST[script]
    for need in sorted(needs):
        NEEDS[need]()
    before = stated_runs()
    command = [sys.executable, str(BENCH / script), *(a.format(out=tmp_path) for a in args)]
    started = time.monotonic()
    done = subprocess.run(command, cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=600)
    took = time.monotonic() - started
    print(f"{script}: {took:.1f} s")
    output = (done.stdout + done.stderr)[-6000:]
    assert done.returncode == 0, f"{' '.join(command[1:])} exited {done.returncode} after {took:.0f} s:\n{output}"
    written = tmp_path / table
    assert written.exists(), f"no {table} in the results folder:\n{output}"
    text = written.read_text(encoding="utf-8")
    missing = [row for row in rows if row not in text]
    assert missing == [] and "FAILED" not in text, (missing, text[-3000:])
    assert stated_runs() == before, "a bench run by the tests rewrote bench/results/"


def test_the_readme_quotes_the_stated_first_words_run(tmp_path):
    """bench/README.md's first_words table is what ``first_words.py --readme`` writes
    from bench/results/first_words.md: generated from the stated run, never typed."""
    from bench.first_words import readme

    copy = tmp_path / "README.md"
    copy.write_text((BENCH / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    readme(BENCH / "results" / "first_words.md", copy)
    assert copy.read_text(encoding="utf-8") == (BENCH / "README.md").read_text(encoding="utf-8")
