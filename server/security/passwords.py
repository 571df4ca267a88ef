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
_hasher = PasswordHasher(time_cost=3, memory_cost=64 * 1024, parallelism=1)

# Verifying against this keeps a login for an unknown username as slow as a real one.
_DUMMY_HASH = _hasher.hash("bimbing-dummy-password")

MIN_LENGTH = 8


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password_hash: str | None, password: str) -> bool:
    try:
        return _hasher.verify(password_hash or _DUMMY_HASH, password) and password_hash is not None
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def needs_rehash(password_hash: str) -> bool:
    return _hasher.check_needs_rehash(password_hash)


class PasswordWorkers:
    """Argon2 off the event loop, in at most ``workers`` threads.

    The bound matters as much as the threads: each hash takes 64 MiB and a core,
    so an unbounded pool would let a burst exhaust memory and starve the media
    threads instead of the loop. Waiting requests queue in the executor.
    """

    # Niceness of the worker threads: the event loop (nice 0) wins the CPU when
    # both want it, so a burst of sign-ins slows sign-ins, not calls.
    NICE = 10

    def __init__(self, workers: int = 1):
        self.workers = max(1, workers)
        self._pool = ThreadPoolExecutor(max_workers=self.workers, thread_name_prefix="argon2", initializer=_lower_priority, initargs=(self.NICE,))

    async def verify(self, password_hash: str | None, password: str) -> bool:
        return await asyncio.get_running_loop().run_in_executor(self._pool, verify_password, password_hash, password)

    async def hash(self, password: str) -> str:
        return await asyncio.get_running_loop().run_in_executor(self._pool, hash_password, password)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _lower_priority(nice: int) -> None:
    # On Linux the nice value belongs to the thread (setpriority(2), NOTES), and
    # the lane threads libargon2 starts inherit it. Elsewhere, carry on as is.
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
    except (AttributeError, OSError):
        pass
