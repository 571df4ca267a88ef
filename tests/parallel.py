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
  set-up of its fixtures to their teardown. The others pass a turnstile first,
  which a waiting solo test keeps, so that they cannot starve it by starting
  one after another.

Run without xdist (one process), nothing runs beside anything: no lock.
"""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest
from xdist.scheduler import LoadScopeScheduling

BROWSER_GROUP = "browser"
BROWSER_FOLDER = "tests/browser/"


def pytest_collection_modifyitems(config, items):
    strays = [item.nodeid for item in items if item.get_closest_marker("browser") is not None and not item.nodeid.startswith(BROWSER_FOLDER)]
    if strays:
        raise pytest.UsageError(f"browser tests belong in {BROWSER_FOLDER} (a parallel run groups them by folder): {strays}")


class _GroupScheduling(LoadScopeScheduling):
    """xdist's ``loadgroup``, with the browser tests one group by their folder;
    every other test is a unit of its own, sent to whichever worker is free."""

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.startswith(BROWSER_FOLDER):
            return BROWSER_GROUP
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
    with open(folder / "solo-turnstile.lock", "a+") as turnstile, open(folder / "solo.lock", "a+") as lock:
        fcntl.flock(turnstile, fcntl.LOCK_EX)
        fcntl.flock(lock, fcntl.LOCK_EX if solo else fcntl.LOCK_SH)
        if not solo:
            fcntl.flock(turnstile, fcntl.LOCK_UN)  # the next test may start beside this one
        return (yield)  # closing the files lets go of both locks
