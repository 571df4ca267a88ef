"""How the tests share the machine when the suite runs in parallel (pytest-xdist,
``-n N --dist loadgroup``; tests/README.md, "How the suite runs").

- The browser tests (tests/browser/: Chromium, and the shaped links of
  tests/netshape.py with their namespaces, veths and nft tables) form one
  group: one worker runs them one after another, so no two Chromium instances
  or shaped links are up at once. xdist's ``xdist_group`` mark cannot do it
  here: xdist 3.8 groups by renaming node ids, which pytest 9 no longer lets a
  plugin do, so the group is found by folder (``_GroupScheduling``) and a
  ``browser`` test outside tests/browser/ is refused.
- A ``solo`` test measures time (how long the event loop stood still while
  passwords were hashed) and so runs with no other test beside it: it holds a
  run-wide lock exclusively while every other test holds it shared, from the
  set-up of its fixtures to their teardown. The others do not wait for a solo
  test that waits: it runs when nothing else does, usually once the other
  workers have run out of tests (its worker idles until then, and the two or
  three tests xdist queued behind it wait with it). A turnstile that made the
  others wait for it would stop every worker for as long as the longest test
  then running (the API fuzz runs for minutes).

Run without xdist (one process), nothing runs beside anything: no lock.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

BROWSER_GROUP = "browser"
BROWSER_FOLDER = "tests/browser/"
# Modules whose module-scoped fixture is dear (a wheel built and installed, a
# seeded server fuzzed): each runs whole on one worker, so the fixture is made
# once, not once on every worker that gets one of its tests. The API fuzz's
# server is made once per database (its fixture's parameter, the first part of
# a test's id): each database's tests are a group, on workers of their own.
# The race tests (tests/races.py) start one server per database likewise.
WHOLE_MODULES = {"tests/test_api_fuzz.py", "tests/test_wheel.py", "tests/test_races.py"}


def pytest_collection_modifyitems(config, items):
    strays = [item.nodeid for item in items if item.get_closest_marker("browser") is not None and not item.nodeid.startswith(BROWSER_FOLDER)]
    if strays:
        raise pytest.UsageError(f"browser tests belong in {BROWSER_FOLDER} (a parallel run groups them by folder): {strays}")


class _GroupScheduling(LoadScopeScheduling):
    """xdist's ``loadgroup``, with the browser tests one group by their folder
    and each of ``WHOLE_MODULES`` one group; every other test is a unit of its
    own, sent to whichever worker is free."""

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.startswith(BROWSER_FOLDER):
            return BROWSER_GROUP
        module = nodeid.split("::", 1)[0]
        if module in WHOLE_MODULES:
            fixture_param = nodeid.partition("[")[2].split("-", 1)[0].rstrip("]")
            return f"{module}[{fixture_param}]" if fixture_param else module
        if nodeid.rfind("@") > nodeid.rfind("]"):  # an xdist_group, should xdist name one again
            return nodeid.rsplit("@", 1)[-1]
        return nodeid


@pytest.hookimpl(tryfirst=True)  # before xdist's own loadgroup
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadgroup":
        return _GroupScheduling(config, log)
    return None


def _run_folder(config) -> Path | None:
    """The folder of this run (xdist gives each worker one inside it; other
    people's runs on this machine have their own), or None without xdist."""
    if not hasattr(config, "workerinput"):
        return None
    return Path(config.getoption("basetemp")).parent


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item, nextitem):
    folder = _run_folder(item.config)
    if folder is None:
        return (yield)
    solo = item.get_closest_marker("solo") is not None
    with open(folder / "solo.lock", "a+") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX if solo else fcntl.LOCK_SH)
        return (yield)  # closing the file lets go of the lock
