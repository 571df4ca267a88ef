"""Sign-in limits (issue #12, finding 1): a burst is limited like a sequence,
guesses at one name from one address do not lock that name out elsewhere, a
per-username ceiling still stops guessing from many addresses, and Argon2 runs
off the event loop."""

from __future__ import annotations

import asyncio
import time

import pytest

from server.app import create_app
from server.security.login_guard import BASE_PAUSE, MAX_PAUSE, failure_pause
from server.security.passwords import MEMORY_KIB, TIME_COST, Passwords
from tests.conftest import PASSWORD
from tests.event_loop import loop_gaps, stood_still


async def app_client(aiohttp_client, settings, **changes):
    return await aiohttp_client(create_app(settings.with_(**changes)))


def from_address(address: str) -> dict[str, str]:
    return {"X-Forwarded-For": address}


async def test_a_burst_of_parallel_wrong_passwords_is_limited_like_a_sequence(aiohttp_client, settings, office):
    http = await app_client(aiohttp_client, settings)
    burst = await asyncio.gather(*(http.post("/api/login", json={"username": "pk1", "password": f"tebakan-{i}"}) for i in range(20)))
    statuses = sorted(r.status for r in burst)
    assert statuses == [401] * settings.login_max_failures + [429] * (20 - settings.login_max_failures)


async def test_guesses_from_one_address_do_not_lock_the_name_out_elsewhere(aiohttp_client, settings, office):
    http = await app_client(aiohttp_client, settings, trust_proxy=True)
    for _ in range(settings.login_max_failures):
        assert (await http.post("/api/login", json={"username": "pk1", "password": "tebakan"}, headers=from_address("198.51.100.9"))).status == 401
    # The guesser is held back ...
    assert (await http.post("/api/login", json={"username": "pk1", "password": PASSWORD}, headers=from_address("198.51.100.9"))).status == 429
    # ... the staff member at the office is not.
    assert (await http.post("/api/login", json={"username": "pk1", "password": PASSWORD}, headers=from_address("203.0.113.20"))).status == 200


async def test_the_per_username_ceiling_stops_guessing_from_many_addresses(aiohttp_client, settings, office):
    http = await app_client(aiohttp_client, settings, trust_proxy=True, login_max_failures=2, login_user_max_failures=4)
    for address in ("198.51.100.1", "198.51.100.2"):
        for _ in range(2):
            assert (await http.post("/api/login", json={"username": "pk2", "password": "tebakan"}, headers=from_address(address))).status == 401
    resp = await http.post("/api/login", json={"username": "pk2", "password": PASSWORD}, headers=from_address("198.51.100.3"))
    assert resp.status == 429
    # Another name from a fresh address is untouched.
    assert (await http.post("/api/login", json={"username": "pk1", "password": PASSWORD}, headers=from_address("198.51.100.4"))).status == 200


@pytest.mark.parametrize(
    "user_failures, per_address, pause",
    [
        (0, 5, BASE_PAUSE),
        (1, 5, BASE_PAUSE),
        (5, 5, BASE_PAUSE),
        (6, 5, BASE_PAUSE * 2),
        (11, 5, BASE_PAUSE * 4),
        (50, 5, MAX_PAUSE),
        (10**9, 5, MAX_PAUSE),
        (3, 0, BASE_PAUSE * 4),  # a nonsensical setting does not divide by zero
    ],
)
def test_the_pause_after_a_failure_grows_with_the_names_failures(user_failures, per_address, pause):
    assert failure_pause(user_failures, per_address) == pytest.approx(pause)


@pytest.mark.solo  # times the event loop: nothing else runs beside it (tests/parallel.py)
async def test_the_event_loop_keeps_answering_while_passwords_are_verified(aiohttp_client, settings, office):
    """The time the server's event loop stood still during eight parallel failed
    sign-ins (from eight addresses, so none is refused early) stays under half of
    eight Argon2 verifications timed on this machine right now. With Argon2 on
    the loop it stands still for all eight (the sum of the stalls, as
    tests/test_staff_admin.py: the longest single stall flaked on a loaded machine)."""
    # At the costs a deployment runs (the suite's other tests use the least ones).
    http = await app_client(aiohttp_client, settings, trust_proxy=True, password_time_cost=TIME_COST, password_memory_kib=MEMORY_KIB)
    full_cost = Passwords()
    one_verification = min(_timed(full_cost.verify, None, "tebakan") for _ in range(2))
    burst, gaps = await loop_gaps(asyncio.gather(*(http.post("/api/login", json={"username": "pk1", "password": "tebakan"}, headers=from_address(f"198.51.100.{i}")) for i in range(8))))
    assert [r.status for r in burst] == [401] * 8
    still = stood_still(gaps)
    assert still < 8 * one_verification / 2, (f"stood still {still:.2f} s", f"one verification {one_verification:.2f} s", sorted(gaps)[-5:])


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start
