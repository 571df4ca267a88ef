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
"""

from __future__ import annotations

import asyncio
import logging
import re
import uuid
from typing import Callable

import redis.asyncio as redis
from redis.exceptions import RedisError

from server.signaling.bus import Deliver
from server.signaling.protocol import TRANSPORT_MAX_BYTES

log = logging.getLogger(__name__)

# A process that has not refreshed its key for this long is dead.
PROCESS_TTL = 10
BEAT_EVERY = 3.0
SUBSCRIBE_TIMEOUT = 5.0
# What may follow "room:<id>:" in a channel name: a party's place, one
# connection, or the whole room (the "session ended" broadcast).
ADDRESS = re.compile(r"^(?:officer|client|room|device:[A-Za-z0-9_-]{1,64}|conn:[0-9a-f]{32})$")


class RedisBus:
    def __init__(self, url: str, prefix: str):
        self.prefix = prefix
        self.process_id = uuid.uuid4().hex
        # Commands (and PUBLISH) share a pool; text in, text out.
        self.redis: redis.Redis = redis.from_url(url, decode_responses=True)
        # The subscriber connection reads bytes: a frame that is not UTF-8 is dropped
        # here rather than breaking the reader.
        self._sub_client: redis.Redis = redis.from_url(url, decode_responses=False)
        self._pubsub = self._sub_client.pubsub(ignore_subscribe_messages=False)
        self._subscribers: dict[tuple[int, str], Deliver] = {}
        self._subscribed: set[str] = set()
        self._confirm: dict[str, asyncio.Future] = {}
        # SUBSCRIBE/UNSUBSCRIBE one at a time, so the set above is always true.
        self._channel_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task] = set()
        self._reader: asyncio.Task | None = None
        self._beat: asyncio.Task | None = None

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
        if not sid.isdigit() or len(sid) > 18 or not ADDRESS.match(address):
            return None
        return int(sid), address

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

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(BEAT_EVERY)
            try:
                await self._announce()
            except (RedisError, OSError) as exc:
                log.warning("cannot refresh this process's liveness key in Redis: %s", exc)

    # ---- lifecycle ----------------------------------------------------------------

    async def start(self) -> None:
        await self._announce()
        # The reader needs one subscription to wait on; this channel is otherwise unused.
        await self._pubsub.subscribe(self.key("proc", self.process_id, "ctl"))
        self._reader = asyncio.create_task(self._read(), name="redis-bus-reader")
        self._beat = asyncio.create_task(self._keep_alive(), name="redis-bus-alive")

    async def close(self) -> None:
        for task in (self._reader, self._beat, *self._tasks):
            if task is not None:
                task.cancel()
        await asyncio.gather(*(t for t in (self._reader, self._beat, *self._tasks) if t is not None), return_exceptions=True)
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

    async def subscribe(self, session_id: int, address: str, deliver: Deliver) -> Callable[[], None]:
        """Unlike LocalBus.subscribe this is awaited: it returns once Redis has
        confirmed the subscription, so no frame published after it is lost."""
        key = (session_id, address)
        channel = self.channel(session_id, address)
        async with self._channel_lock:
            self._subscribers[key] = deliver
            if channel not in self._subscribed:
                future = self._confirm[channel] = asyncio.get_running_loop().create_future()
                await self._pubsub.subscribe(channel)
                try:
                    await asyncio.wait_for(future, SUBSCRIBE_TIMEOUT)
                finally:
                    self._confirm.pop(channel, None)
                self._subscribed.add(channel)

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
                log.warning("Redis subscriber connection failed (%s); retrying", exc)
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
