"""bench/reach.py at its smallest size (tests/test_benches.py): it drives two
Chromium instances over a shaped link, so it runs here, with the other browser
tests, one after another in a parallel run (tests/parallel.py)."""

from __future__ import annotations

import pytest

from tests.test_benches import run_smallest

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_the_reach_bench_runs_at_its_smallest_size(tmp_path):
    run_smallest("reach.py", tmp_path)
