"""tests/clock/run_at.sh collects only the files that hold `clock` tests (the
whole suite took 7 s of each faked-clock run to collect and deselect): a file
it leaves out would silently never run under a faked clock."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SELECTION = "clock and not postgres and not browser"  # as in run_at.sh

pytestmark = pytest.mark.slow


def test_the_clock_runs_collect_every_file_whose_tests_they_select():
    listed = subprocess.run(["bash", "tests/clock/run_at.sh"], cwd=ROOT, env={**os.environ, "CLOCK_FILES_ONLY": "1"},
                            capture_output=True, text=True, timeout=60, check=True).stdout.split()
    collected = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", "-m", SELECTION, "tests"],
                               cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert collected.returncode == 0, collected.stdout[-2000:] + collected.stderr[-2000:]
    selected = {line.split("::")[0] for line in collected.stdout.splitlines() if "::" in line}
    assert selected, "no test is marked clock: the clock runs would prove nothing"
    assert selected <= set(listed), f"clock tests in files run_at.sh does not collect: {sorted(selected - set(listed))}"
