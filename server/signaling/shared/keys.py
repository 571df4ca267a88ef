"""What the shared state looks like in Redis: key names, lifetimes, the stored
forms of a place's holder and of a message between processes, and the locks.

Every name starts with ``<prefix>:`` (``BIMBING_REDIS_PREFIX``; the table is in
docs/deploy.md, "Several processes"):

* ``room:<id>:places`` (hash ``officer``/``client`` → holder), ``room:<id>:waiting``
  (hash device → holder), ``room:<id>:admitted`` (set of devices),
  ``room:<id>:seq`` (waiting-room order). A *holder* names the connection
  (``conn``) and the process (``proc``) that holds the place.
* ``call:<id>`` (hash): each party's last ICE state, when the open connected
  interval began, whether the session awaits a resume — CallLog's state.
* ``proc:<id>`` (expiring liveness key), ``procs`` (every process seen),
  ``proc:<id>:rooms`` (sessions a process holds sockets of), ``reap:<id>``
  (who reaps a dead process).
* channels ``room:<id>:conn:<conn>`` (one socket), ``room:<id>:room``
  ("session ended", to every process holding a socket of it) and ``all``
  (to every process: a staff member signed out, :class:`Notice`).

Every change to a room or to a call's state happens under a Redis lock
(``room:<id>:lock``, ``call:<id>:lock``; redis-py's lock, whose release is its
own Lua compare-and-delete), taken in that order, never the reverse. One Lua
script is ours, :data:`RELAY_SCRIPT`: it changes nothing, it reads a place's
holder and publishes to its connection in one round trip.

Everything read from Redis crossed a process boundary and is validated before
use: holders by the pydantic model below, envelopes by :func:`read_envelope`,
states by enumeration.
"""

from __future__ import annotations

import logging
import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.exceptions import LockError, RedisError

from server.signaling import protocol as p
from server.signaling.shared.bus import RedisBus
from server.signaling.shared.watch import LOCK_TTL

log = logging.getLogger(__name__)

# A lock outlives a process that died holding it by at most LOCK_TTL (5 s): the
# holder's watch thread renews it every second while the step runs (watch.py).
LOCK_WAIT = 20
# Room and call state a crash left behind disappears after two days at most.
KEY_TTL = 2 * 24 * 3600
HEX32 = re.compile(r"^[0-9a-f]{32}$")
ICE_STATES = frozenset({"new", "checking", "connected", "completed", "disconnected", "failed", "closed"})
# The fields of ``room:<id>:places``.
PLACES = ("officer", "client")


def room_key(bus: RedisBus, session_id: int, name: str) -> str:
    """``room:<id>:<name>``: places, waiting, admitted, seq, lock."""
    return bus.key("room", session_id, name)


def call_key(bus: RedisBus, session_id: int) -> str:
    return bus.key("call", session_id)


def process_rooms_key(bus: RedisBus, process_id: str) -> str:
    return bus.key("proc", process_id, "rooms")


class Holder(BaseModel):
    """Who holds a place: as stored in Redis, and checked when read back."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    conn: str = Field(pattern=HEX32.pattern)
    proc: str = Field(pattern=HEX32.pattern)
    role: Literal["officer", "client"]
    device: p.Device | None = None
    staff_id: int | None = None
    label: str = Field(default="", max_length=200)
    admitted: bool = False
    seq: int = 0
    # The step a client said its call starts on (``join``; issue 25), and its Opus packet length.
    step: Literal["full", "low", "audio"] | None = None
    ptime: p.StartPtime | None = None


# What travels on a connection's channel: a frame for its socket, or a step
# another process took for it (replaced, admitted, denied, revoked); "ended" on
# the room's channel.
ENVELOPE_OPS = frozenset({"frame", "replace", "admitted", "denied", "ended", "revoked"})


def envelope(op: str, frame: str | None = None) -> str:
    """``<op>``, or ``frame``, a newline and the frame as its socket gets it. Not
    JSON: a frame is JSON already, and escaping it into an object and reading it
    back was pydantic work on both processes for every relayed message (issue 24)."""
    assert op in ENVELOPE_OPS and (frame is None) == (op != "frame"), op
    return op if frame is None else f"{op}\n{frame}"


def read_envelope(body: str) -> tuple[str, str | None] | None:
    """``(op, frame)`` from a body read on a channel, or None if it is not one
    :func:`envelope` wrote. The bus dropped bodies over TRANSPORT_MAX_BYTES."""
    op, newline, frame = body.partition("\n")
    if op not in ENVELOPE_OPS or bool(newline) != (op == "frame"):
        return None
    return (op, frame) if newline else (op, None)


# KEYS[1] ``room:<id>:places``; ARGV: the role, the channel name up to the
# connection id, the envelope. Publishes to the holder's connection and returns
# how many processes heard it; -1 when nobody (valid) holds the place. The same
# check as read_holder for what it uses: ``conn`` is 32 hex digits, ``role`` the role.
RELAY_SCRIPT = """
local raw = redis.call('HGET', KEYS[1], ARGV[1])
if not raw then return -1 end
local ok, holder = pcall(cjson.decode, raw)
if not ok or type(holder) ~= 'table' or holder.role ~= ARGV[1] then return -1 end
local conn = holder.conn
if type(conn) ~= 'string' or #conn ~= 32 or string.find(conn, '[^0-9a-f]') then return -1 end
return redis.call('PUBLISH', ARGV[2] .. conn, ARGV[3])
"""


class Notice(BaseModel):
    """What travels on ``<prefix>:all``: a staff member was signed out everywhere
    (deactivated, password or role changed), sent by process ``proc``."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    op: Literal["signed-out"]
    staff_id: int = Field(ge=1, le=2**63 - 1)
    proc: str = Field(pattern=HEX32.pattern)


def read_holder(raw: str | None, role: str) -> Holder | None:
    """A holder read back from Redis, or None if absent or not valid for ``role``."""
    if raw is None:
        return None
    try:
        holder = Holder.model_validate_json(raw)
    except (ValidationError, ValueError):
        log.warning("ignoring an invalid %s holder read from Redis", role)
        return None
    return holder if holder.role == role else None


class StayedLocked(RedisError):
    """A room's or call's lock was not free within LOCK_WAIT. A RedisError, so
    that the step fails as any step Redis could not serve (ws.py: the party is
    closed ``unavailable`` and logged from the database alone): as a bare
    RuntimeError it escaped the handler, and a leave under load (2,000 sockets
    closed at once over two processes, issue 24) was logged nowhere."""


async def lock(bus: RedisBus, name: str):
    """Take a room's or call's lock (waiting up to LOCK_WAIT), renewed by this
    process's watch until :func:`release`."""
    lock = bus.redis.lock(name, timeout=LOCK_TTL, sleep=0.01, blocking_timeout=LOCK_WAIT)
    if not await lock.acquire():
        raise StayedLocked(f"{name} stayed locked for {LOCK_WAIT}s")
    bus.held_locks[name] = _token(lock)
    return lock


def _token(lock) -> str:
    token = lock.local.token
    return token.decode() if isinstance(token, bytes) else token


async def release(bus: RedisBus, lock) -> None:
    if bus.held_locks.get(lock.name) == _token(lock):  # not a later holder's, after this one expired
        del bus.held_locks[lock.name]
    try:
        await lock.release()
    except LockError:
        # It expired (its process stood still for LOCK_TTL: no renewal); someone else may hold it now.
        log.warning("a Redis lock expired before it was released")
