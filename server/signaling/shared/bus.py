"""The bus over Redis pub/sub, for several ``bimbing serve`` processes.

Each process holds one Redis connection in subscriber mode and subscribes to
the channel ``<prefix>:room:<session id>:<address>`` of every address one of
its sockets holds (see :mod:`server.signaling.bus`); :meth:`RedisBus.publish`
is Redis ``PUBLISH`` and returns whether any process received the frame.

The process also announces that it is alive: the key ``<prefix>:proc:<id>``
expires ``PROCESS_TTL`` seconds after its last refresh, so the others can tell
a process that died (SIGKILL, a lost machine) from one that holds a call.

Everything read back from Redis crossed a process boundary and is checked
before use: channel names against a pattern, frames for type and size.

Redis may go away. The bus notices (the subscriber connection fails, or the
liveness refresh does), logs one warning, marks itself down (``up`` False,
``down_since``) and runs ``on_down``: the registry then closes this process's
sockets with ``unavailable``, since every subscription they relied on is gone.
When a liveness refresh succeeds again it logs one line and runs ``on_up``.

The liveness refresh, and with it the verdict that Redis does not answer, runs
in a thread of its own (shared/watch.py): a loop running seconds behind must not
take its own lateness for a dead Redis (issue 24). For the same reason the
commands of the loop itself have only a long backstop timeout
(``COMMAND_BACKSTOP``); what fails them sooner is that verdict (``mark_down``
drops their connections).

One more channel, ``<prefix>:all``, reaches every process: what no single room
owns (a staff member signed out everywhere: each process closes its own sockets
of theirs). :meth:`RedisBus.broadcast` publishes there; ``on_broadcast`` hears it.
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from datetime import datetime
from typing import Awaitable, Callable

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

from server.db.ids import id_from_text
from server.db.models import utcnow
from server.signaling.bus import Deliver
from server.signaling.protocol import TRANSPORT_MAX_BYTES
from server.signaling.shared.watch import COMMAND_TIMEOUT, PROCESS_TTL, RedisWatch

__all__ = ["COMMAND_TIMEOUT", "PROCESS_TTL", "RedisBus"]

log = logging.getLogger(__name__)

# What the loop's own commands and SUBSCRIBE confirmations wait at most. Not the
# verdict on Redis (the watch's, COMMAND_TIMEOUT of wall clock): a backstop, so
# that nothing waits for ever. Under it a loop seconds late still reads its replies.
COMMAND_BACKSTOP = 30.0
# Connections for the loop's commands. More commands than this in flight wait
# for one (up to COMMAND_BACKSTOP) instead of failing: redis-py's default pool
# raised "Too many connections" past 100, and a process 1 s behind relaying
# 1,000 messages a second has that many in flight (issue 24).
POOL_SIZE = 256
HEALTH_TIMEOUT = 1.0
# What may follow "room:<id>:" in a channel name: a party's place, one
# connection, or the whole room (the "session ended" broadcast).
ADDRESS = re.compile(r"^(?:officer|client|room|device:[A-Za-z0-9_-]{1,64}|conn:[0-9a-f]{32})$")


class RedisBus:
    def __init__(self, url: str, prefix: str):
        self.prefix = prefix
        self.process_id = uuid.uuid4().hex
        # A few quick retries, not redis-py's default of several seconds: a Redis
        # that is down should be reported as such at once (docs/deploy.md).
        # A timeout is not retried: after COMMAND_BACKSTOP the command has waited long enough.
        def retry() -> Retry:
            return Retry(ExponentialBackoff(cap=0.5, base=0.05), 2, supported_errors=(RedisConnectionError, ConnectionError))

        # Commands (and PUBLISH) share a pool; text in, text out.
        pool = redis.BlockingConnectionPool.from_url(
            url, max_connections=POOL_SIZE, timeout=COMMAND_BACKSTOP, decode_responses=True, retry=retry(),
            socket_timeout=COMMAND_BACKSTOP, socket_connect_timeout=COMMAND_BACKSTOP,
        )
        self.redis: redis.Redis = redis.Redis.from_pool(pool)
        # The subscriber connection reads bytes: a frame that is not UTF-8 is dropped
        # here rather than breaking the reader.
        self._sub_client: redis.Redis = redis.from_url(url, decode_responses=False, retry=retry(), socket_connect_timeout=COMMAND_BACKSTOP)
        self._pubsub = self._sub_client.pubsub(ignore_subscribe_messages=False)
        self._subscribers: dict[tuple[int, str], Deliver] = {}
        self._subscribed: set[str] = set()
        self._confirm: dict[str, asyncio.Future] = {}
        # SUBSCRIBE/UNSUBSCRIBE one at a time, so the set above is always true.
        self._channel_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._reader: asyncio.Task | None = None
        # Whether Redis was reachable at the last try, and since when it is not;
        # how many times it went down (a check begun before the last outage
        # cannot end it).
        self.up = True
        self.down_since: datetime | None = None
        self.outages = 0
        # The room and call locks this process holds now (keys.py: lock), renewed by the watch.
        self.held_locks: dict[str, str] = {}
        self.watch = RedisWatch(
            url, self.process_key(self.process_id), self.key("procs"), self.process_id, lambda: self.outages, lambda: self.up,
            self.held_locks)
        self.on_down: list[Callable[[], Awaitable[None]]] = []
        self.on_up: list[Callable[[], Awaitable[None]]] = []
        # Called with each frame published on ``<prefix>:all`` (this process's own too).
        self.on_broadcast: list[Callable[[str], Awaitable[None]]] = []
        self._all = self.key("all")

    # ---- names ------------------------------------------------------------------

    def key(self, *parts: object) -> str:
        return ":".join((self.prefix, *(str(part) for part in parts)))

    def channel(self, session_id: int, address: str) -> str:
        return self.key("room", session_id, address)

    def _parse_channel(self, channel: str) -> tuple[int, str] | None:
        head = f"{self.prefix}:room:"
        if not channel.startswith(head):
            return None
        sid, _, address = channel[len(head):].partition(":")
        session_id = id_from_text(sid)
        if session_id is None or not ADDRESS.match(address):
            return None
        return session_id, address

    # ---- process liveness ---------------------------------------------------------

    def process_key(self, process_id: str) -> str:
        return self.key("proc", process_id)

    async def alive(self, process_id: str) -> bool:
        if process_id == self.process_id:
            return True
        return bool(await self.redis.exists(self.process_key(process_id)))

    async def _announce(self) -> None:
        await self.redis.set(self.process_key(self.process_id), "1", ex=PROCESS_TTL)
        await self.redis.sadd(self.key("procs"), self.process_id)

    def _watched(self, failure: BaseException | None, outages: int) -> None:
        """The watch's verdict (shared/watch.py), on the loop."""
        if failure is not None:
            self.mark_down(failure)
        elif outages == self.outages:
            self._mark_up()

    # ---- reachability -------------------------------------------------------------

    def mark_down(self, exc: BaseException) -> None:
        """Redis failed: one warning (no traceback) and ``on_down``, once per outage."""
        if not self.up:
            log.debug("Redis still unavailable: %s", exc)
            return
        self.up = False
        self.down_since = utcnow()
        self.outages += 1
        # The loop's commands still waiting for a reply fail now, not at COMMAND_BACKSTOP.
        self._spawn(self.redis.connection_pool.disconnect())
        log.warning("Redis unavailable (%s: %s): closing this process's signaling connections until it is back", type(exc).__name__, exc)
        for callback in self.on_down:
            self._spawn(callback())

    def _mark_up(self) -> None:
        if self.up:
            return
        self.up = True
        self.down_since = None
        log.warning("Redis reachable again: signaling resumes")
        for callback in self.on_up:
            self._spawn(callback())

    async def ping(self) -> bool:
        """Whether Redis answers now (for /healthz), within HEALTH_TIMEOUT."""
        try:
            return bool(await asyncio.wait_for(self.redis.ping(), HEALTH_TIMEOUT))
        except (RedisError, OSError, asyncio.TimeoutError):
            return False

    def forget_channels(self) -> None:
        """Redis is down: this process's sockets are closed, so no channel of theirs
        is wanted when the subscriber reconnects (it subscribes again to what it knew)."""
        for channel in self._subscribed:
            self._pubsub.channels.pop(channel.encode(), None)
        self._subscribed.clear()
        self._subscribers.clear()
        for future in self._confirm.values():
            if not future.done():
                future.set_exception(RedisConnectionError("Redis is unavailable"))

    # ---- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        await self._announce()
        # The reader needs one subscription to wait on (the ctl channel is otherwise
        # unused); redis-py subscribes to both again after a reconnection.
        await self._pubsub.subscribe(self.key("proc", self.process_id, "ctl"), self._all)
        self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")
        self.watch.start(self._watched)

    async def close(self) -> None:
        await self.watch.stop()
        for task in (self._reader, *self._tasks):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._reader, *self._tasks) if t is not None), return_exceptions=True)
        try:
            # Gone at once, rather than after PROCESS_TTL: the others may take over now.
            await self.redis.delete(self.process_key(self.process_id))
        except (RedisError, OSError):
            pass
        for closing in (self._pubsub.aclose(), self._sub_client.aclose(), self.redis.aclose()):
            try:
                await closing
            except (RedisError, OSError):
                pass

    # ---- the Bus ----------------------------------------------------------------------

    async def publish(self, session_id: int, address: str, frame: str) -> bool:
        return int(await self.redis.publish(self.channel(session_id, address), frame)) > 0

    async def broadcast(self, frame: str) -> int:
        """To every process (``<prefix>:all``); returns how many heard it."""
        return int(await self.redis.publish(self._all, frame))

    async def subscribe(self, session_id: int, address: str, deliver: Deliver) -> Callable[[], None]:
        """Unlike LocalBus.subscribe this is awaited: it returns once Redis has
        confirmed the subscription, so no frame published after it is lost."""
        key = (session_id, address)
        channel = self.channel(session_id, address)
        # The lock covers sending SUBSCRIBE, not waiting for Redis to confirm it:
        # held across the round trip it made every join of this process wait for
        # every other join's subscription, one after another (issue 24: two
        # processes admitted 3 rooms a second, the officer's welcome 1.4 s late).
        async with self._channel_lock:
            self._subscribers[key] = deliver
            if channel in self._subscribed:
                future = None
            else:
                future = self._confirm.get(channel)
                if future is None:
                    future = self._confirm[channel] = asyncio.get_running_loop().create_future()
                    try:
                        await self._pubsub.subscribe(channel)
                    except BaseException:
                        self._confirm.pop(channel, None)
                        self._subscribers.pop(key, None)
                        raise
        if future is not None:
            try:
                # Shielded: another join may be waiting for the same confirmation.
                await asyncio.wait_for(asyncio.shield(future), COMMAND_BACKSTOP)
            except asyncio.TimeoutError:
                # Unconfirmed (the watch would have said so sooner if Redis were gone).
                self._subscribers.pop(key, None)
                if self._confirm.get(channel) is future:
                    del self._confirm[channel]
                raise RedisConnectionError(f"no confirmation of SUBSCRIBE {channel} within {COMMAND_BACKSTOP}s") from None
            except BaseException:
                self._subscribers.pop(key, None)
                raise
            if self._confirm.get(channel) is future:
                del self._confirm[channel]
                self._subscribed.add(channel)
                if key not in self._subscribers:
                    # Unsubscribed while Redis confirmed it: drop it now.
                    self._spawn(self._drop_channel(key, channel))

        def unsubscribe() -> None:
            # Only the current holder may unsubscribe (as in LocalBus).
            if self._subscribers.get(key) is deliver:
                del self._subscribers[key]
                self._spawn(self._drop_channel(key, channel))

        return unsubscribe

    async def _drop_channel(self, key: tuple[int, str], channel: str) -> None:
        async with self._channel_lock:
            if key not in self._subscribers and channel in self._subscribed:
                self._subscribed.discard(channel)
                try:
                    await self._pubsub.unsubscribe(channel)
                except (RedisError, OSError) as exc:
                    if self.up:
                        log.warning("cannot unsubscribe %s: %s", channel, exc)

    def _spawn(self, coro) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _read(self) -> None:
        while True:
            try:
                message = await self._pubsub.get_message(ignore_subscribe_messages=False, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                # Every subscription may be lost: the registry closes its sockets.
                self.mark_down(exc)
                await asyncio.sleep(0.5)
                continue
            except Exception:  # a malformed reply must not stop every call's signaling
                log.exception("unreadable message from Redis")
                continue
            if not message:
                continue
            try:
                self._handle(message)
            except Exception:
                log.exception("dropping a message from Redis")

    def _handle(self, message: dict) -> None:
        kind, channel, data = message.get("type"), message.get("channel"), message.get("data")
        if isinstance(kind, bytes):
            kind = kind.decode("ascii", "replace")
        if not isinstance(channel, bytes):
            return
        channel_name = channel.decode("utf-8", "replace")
        if kind == "subscribe":
            future = self._confirm.get(channel_name)
            if future is not None and not future.done():
                future.set_result(None)
            return
        if kind != "message" or not isinstance(data, bytes) or len(data) > TRANSPORT_MAX_BYTES:
            return
        if channel_name == self._all:
            text = data.decode("utf-8", "replace")
            for callback in self.on_broadcast:
                self._spawn(callback(text))
            return
        parsed = self._parse_channel(channel_name)
        if parsed is None:
            return
        deliver = self._subscribers.get(parsed)
        if deliver is None:
            return
        try:
            frame = data.decode("utf-8")
        except UnicodeDecodeError:
            return
        # Delivered in arrival order: tasks start in the order they are created and
        # each party's writes go through its own FIFO lock.
        self._spawn(deliver(frame))
