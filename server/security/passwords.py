"""Staff passwords, hashed with Argon2id (memory-hard; RFC 9106 parameters via argon2-cffi).

Hashing and verifying take ~50-100 ms of CPU each on purpose. Run on the event
loop, a burst of failed sign-ins stalled every request and the call signaling
with it (security review, issue #12: /healthz took 2.4 s during 8 parallel
failures). So the server calls them through :class:`PasswordWorkers`, a small
bounded thread pool: argon2-cffi's C call releases the GIL, the loop stays free,
and at most ``workers`` hashes run at once however many requests wait.
"""

from __future__ import annotations

import asyncio
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# RFC 9106's "second recommended" costs (64 MiB, 3 passes) in one lane. With the
# default 4 lanes libargon2 runs four threads per hash and takes both cores of
# a small server, so the event loop waited behind every burst of sign-ins
# (bench/login_burst.py: /healthz p99 during 20 parallel failures 62-164 ms vs
# 29-61 ms with one lane and one worker, same run). One lane costs an attacker
# as much per guess; it only makes one hash slower to finish alone. Hashes
# made with other parameters are redone at the next successful sign-in
# (``needs_rehash``).
TIME_COST = 3
MEMORY_KIB = 64 * 1024
# In production nothing below OWASP's floor for Argon2id (19 MiB, 2 passes) is
# accepted (server/settings.py). Lower costs exist for the test suite, where
# every sign-in of 1,800 tests paid ~0.1-0.2 s of CPU for a hash nobody attacks.
PRODUCTION_MIN_TIME_COST = 2
PRODUCTION_MIN_MEMORY_KIB = 19 * 1024

MIN_LENGTH = 8


class Passwords:
    """Argon2id at the configured costs: hashing, verifying, and whether a stored
    hash (which carries its own costs) should be redone at these."""

    def __init__(self, time_cost: int = TIME_COST, memory_kib: int = MEMORY_KIB):
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=1)
        self._dummy: str | None = None

    @classmethod
    def from_settings(cls, settings) -> Passwords:
        return cls(settings.password_time_cost, settings.password_memory_kib)

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify(self, password_hash: str | None, password: str) -> bool:
        # Verifying against a dummy keeps a login for an unknown username as slow as a real one.
        if self._dummy is None:
            self._dummy = self._hasher.hash("bimbing-dummy-password")
        try:
            return self._hasher.verify(password_hash or self._dummy, password) and password_hash is not None
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            return False

    def needs_rehash(self, password_hash: str) -> bool:
        return self._hasher.check_needs_rehash(password_hash)


class PasswordWorkers:
    """Argon2 off the event loop, in at most ``workers`` threads.

    The bound matters as much as the threads: each hash takes 64 MiB and a core,
    so an unbounded pool would let a burst exhaust memory and starve the media
    threads instead of the loop. Waiting requests queue in the executor.
    """

    # Niceness of the worker threads: the event loop (nice 0) wins the CPU when
    # both want it, so a burst of sign-ins slows sign-ins, not calls.
    NICE = 10

    def __init__(self, workers: int = 1, passwords: Passwords | None = None):
        self.workers = max(1, workers)
        self.passwords = passwords or Passwords()
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="argon2", initializer=_lower_priority, initargs=(self.NICE,))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.passwords.verify, password_hash, password)

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, self.passwords.hash, password)

    def needs_rehash(self, password_hash: str) -> bool:
        return self.passwords.needs_rehash(password_hash)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _lower_priority(nice: int) -> None:
    # On Linux the nice value belongs to the thread (setpriority(2), NOTES), and
    # the lane threads libargon2 starts inherit it. Elsewhere, carry on as is.
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):
        pass
