"""Rooms and the call lifecycle shared by several processes through Redis.

With ``BIMBING_REDIS_URL`` set, the officer may sit on one ``bimbing serve``
process and the client on another (no sticky sessions). What one process alone
kept in memory moves to Redis (names under ``<prefix>:``, see docs/deploy.md):

* ``room:<id>:places`` (hash ``officer``/``client`` → holder), ``room:<id>:waiting``
  (hash device → holder), ``room:<id>:admitted`` (set of devices),
  ``room:<id>:seq`` (waiting-room order). A *holder* names the connection
  (``conn``) and the process (``proc``) that holds the place.
* ``call:<id>`` (hash): each party's last ICE state, when the open connected
  interval began, whether the session awaits a resume — CallLog's state.
* ``proc:<id>`` (expiring liveness key), ``procs`` (every process seen),
  ``proc:<id>:rooms`` (sessions a process holds sockets of).

Every change to a room or to a call's state happens under a Redis lock
(``room:<id>:lock``, ``call:<id>:lock``; redis-py's lock, released by a Lua
compare-and-delete), taken in that order, never the reverse. Messages to a
party go to the channel of the connection holding its place,
``room:<id>:conn:<conn>``; ``room:<id>:room`` broadcasts "session ended".

A process that dies leaves its holders behind. Another process that sees the
holder's liveness key gone treats the place as free (a reconnecting party
replaces it), and a reaper logs the parties it held as dropped. Start-up
recovery only touches sessions nobody alive holds.

Everything read from Redis is validated before use (it crossed a process
boundary): holders and envelopes by pydantic models, states by enumeration.

When Redis goes away (:class:`~server.signaling.redis_bus.RedisBus` notices) this
process closes every socket it holds with ``unavailable`` (1013) and logs their
parties from the database alone (``CallLog.party_unavailable``). When Redis is
back it removes the places those sockets still held there, if Redis kept them,
and marks their media closed in ``call:<id>``; the pages reconnect by themselves.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid
from contextlib import asynccontextmanager
from datetime import datetime
from typing import AsyncIterator, Awaitable, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from redis.exceptions import LockError, RedisError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from server.domain.calls import CallLog, CallState
from server.settings import Settings
from server.signaling import protocol as p
from server.signaling.redis_bus import PROCESS_TTL, RedisBus
from server.signaling.rooms import ClientEntry, Party, Refusal, Room, RoomRegistry

log = logging.getLogger(__name__)

# A lock outlives a process that died holding it by at most this long.
LOCK_TTL = 30
LOCK_WAIT = 20
# Room and call state a crash left behind disappears after two days at most.
KEY_TTL = 2 * 24 * 3600
HEX32 = re.compile(r"^[0-9a-f]{32}$")
ICE_STATES = frozenset({"new", "checking", "connected", "completed", "disconnected", "failed", "closed"})


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


class Envelope(BaseModel):
    """What travels on a connection's channel: a frame for its socket, or a step
    another process took for it (replaced, admitted, denied)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    op: Literal["frame", "replace", "admitted", "denied", "ended"]
    frame: str | None = Field(default=None, max_length=p.TRANSPORT_MAX_BYTES)


def _holder(raw: str | None, role: str) -> Holder | None:
    if raw is None:
        return None
    try:
        holder = Holder.model_validate_json(raw)
    except (ValidationError, ValueError):
        log.warning("ignoring an invalid %s holder read from Redis", role)
        return None
    return holder if holder.role == role else None


async def _lock(bus: RedisBus, name: str):
    lock = bus.redis.lock(name, timeout=LOCK_TTL, sleep=0.01, blocking_timeout=LOCK_WAIT)
    if not await lock.acquire():
        raise RuntimeError(f"{name} stayed locked for {LOCK_WAIT}s")
    return lock


async def _release(lock) -> None:
    try:
        await lock.release()
    except LockError:
        # It expired (a step took longer than LOCK_TTL); someone else may hold it now.
        log.warning("a Redis lock expired before it was released")


class SharedRoomRegistry(RoomRegistry):
    """RoomRegistry's rules over Redis. The local :class:`Room` holds only this
    process's sockets (ws.py checks ``room.officer is party`` on it); the places
    themselves are in Redis."""

    def __init__(self, bus: RedisBus):
        super().__init__(bus)
        self.rbus = bus
        self.redis = bus.redis
        self._local: dict[str, Party] = {}
        self._room_subs: dict[int, Callable[[], None]] = {}
        # Logs a party whose process died (set by the wiring to CallLog.party_gone).
        self.on_dropped: Callable[[int, Holder], Awaitable[None]] | None = None
        # Told which roles' places were cleared after an outage (set to SharedCallLog.places_lost).
        self.on_places_lost: Callable[[int, list[str]], Awaitable[None]] | None = None
        self._reaper: asyncio.Task | None = None
        # Sessions whose places in Redis may still name sockets closed as unavailable.
        self._stale: set[int] = set()
        bus.on_down.append(self._redis_down)
        bus.on_up.append(self._redis_up)

    # ---- Redis unavailable ---------------------------------------------------------

    def available(self) -> bool:
        return self.rbus.up

    def unavailable_since(self) -> datetime | None:
        return self.rbus.down_since

    def forget_local(self, party: Party) -> None:
        """Forget a lost socket here only; its place in Redis is cleared once Redis answers."""
        sid = party.session_id
        self._detach(party)
        self._stale.add(sid)
        room = self._rooms.get(sid)
        if room is None or not room.parties():
            self._rooms.pop(sid, None)
            unsubscribe = self._room_subs.pop(sid, None)
            if unsubscribe is not None and self.rbus.up:
                unsubscribe()
        if self.rbus.up:
            # A single failed step, Redis still there: tidy up now.
            self.rbus._spawn(self._clean_stale())

    async def _redis_down(self) -> None:
        parties = [party for room in self._rooms.values() for party in room.parties()]
        parties += [party for party in self._local.values() if party not in parties]
        self._stale.update(self._rooms)
        self.rbus.forget_channels()
        self._room_subs.clear()
        await asyncio.gather(*(self.lose(party) for party in parties), return_exceptions=True)

    async def _redis_up(self) -> None:
        await self._clean_stale()

    async def _clean_stale(self) -> None:
        for sid in list(self._stale):
            try:
                roles = await self._clear_lost_places(sid)
                self._stale.discard(sid)
                if roles and self.on_places_lost is not None:
                    await self.on_places_lost(sid, roles)
            except (RedisError, OSError, RuntimeError) as exc:
                # Tried again when Redis is back.
                log.debug("cannot clear the places of session %s yet: %s", sid, exc)

    async def _clear_lost_places(self, session_id: int) -> list[str]:
        """Remove the places this process holds in Redis for sockets it no longer has."""
        mine = self.rbus.process_id
        roles = []
        async with self._exclusive(session_id):
            for role, holder in (await self.places(session_id)).items():
                if holder.proc == mine and holder.conn not in self._local:
                    await self._remove(session_id, "places", role)
                    roles.append(role)
            for device, holder in (await self.waiting(session_id)).items():
                if holder.proc == mine and holder.conn not in self._local:
                    await self._remove(session_id, "waiting", device)
        return roles

    # ---- Redis names and state -------------------------------------------------

    def _k(self, session_id: int, name: str) -> str:
        return self.rbus.key("room", session_id, name)

    @asynccontextmanager
    async def _exclusive(self, session_id: int) -> AsyncIterator[None]:
        lock = await _lock(self.rbus, self._k(session_id, "lock"))
        try:
            yield
        finally:
            await _release(lock)

    async def places(self, session_id: int) -> dict[str, Holder]:
        raw = await self.redis.hgetall(self._k(session_id, "places"))
        found = {role: _holder(raw.get(role), role) for role in ("officer", "client")}
        return {role: h for role, h in found.items() if h is not None}

    async def waiting(self, session_id: int) -> dict[str, Holder]:
        raw = await self.redis.hgetall(self._k(session_id, "waiting"))
        found = [(device, _holder(value, "client")) for device, value in raw.items()]
        valid = [h for device, h in found if h is not None and h.device == device]
        return {h.device or "": h for h in sorted(valid, key=lambda h: h.seq)}

    async def holders(self, session_id: int) -> list[Holder]:
        return [*(await self.places(session_id)).values(), *(await self.waiting(session_id)).values()]

    async def _put(self, session_id: int, name: str, field: str, holder: Holder) -> None:
        key = self._k(session_id, name)
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.hset(key, field, holder.model_dump_json()).expire(key, KEY_TTL).execute()

    async def _remove(self, session_id: int, name: str, field: str) -> None:
        await self.redis.hdel(self._k(session_id, name), field)

    async def forget_places(self, session_id: int, *, admitted: bool = False) -> None:
        names = ["places", "waiting", "seq"] + (["admitted"] if admitted else [])
        await self.redis.delete(*(self._k(session_id, n) for n in names))

    def _me(self, party: Party, **changes) -> Holder:
        return Holder(
            conn=party.conn, proc=self.rbus.process_id, role=party.role, device=party.device,
            staff_id=party.staff_id, label=party.label[:200], admitted=party.admitted, **changes,
        )

    # ---- messages -------------------------------------------------------------------

    async def _envelope(self, session_id: int, conn: str, op: str, frame: str | None = None) -> bool:
        body = Envelope(op=op, frame=frame).model_dump_json(exclude_none=True)  # type: ignore[arg-type]
        return await self.rbus.publish(session_id, f"conn:{conn}", body)

    async def _tell(self, session_id: int, holder: Holder | None, message: p.Message) -> bool:
        if holder is None:
            return False
        return await self._envelope(session_id, holder.conn, "frame", p.dump(message))

    async def _to(self, room: Room, address: str, message: p.Message) -> bool:
        sid = room.session_id
        if address in ("officer", "client"):
            holder = (await self.places(sid)).get(address)
        else:
            device = address.removeprefix("device:")
            holder = (await self.waiting(sid)).get(device)
            client = (await self.places(sid)).get("client")
            if holder is None and client is not None and client.device == device:
                holder = client
        return await self._tell(sid, holder, message)

    async def _introduce_shared(self, session_id: int, places: dict[str, Holder]) -> None:
        if "officer" in places and "client" in places:
            await self._tell(session_id, places["client"], p.PeerJoined(role="officer", polite=True))
            await self._tell(session_id, places["officer"], p.PeerJoined(role="client", polite=False))

    async def _replace_holder(self, session_id: int, holder: Holder) -> None:
        """Close the socket that held a place (error ``replaced``, close 4000),
        wherever it is; a holder whose process died has nothing left to close."""
        party = self._local.get(holder.conn)
        if party is not None:
            self._detach(party)
            await self._replace(party)
        else:
            await self._envelope(session_id, holder.conn, "replace")

    # ---- this process's sockets -------------------------------------------------------

    async def _attach(self, room: Room, party: Party) -> None:
        sid = party.session_id
        self._local[party.conn] = party

        async def deliver(body: str) -> None:
            await self._on_envelope(party, body)

        party._unsubscribe.append(await self.rbus.subscribe(sid, f"conn:{party.conn}", deliver))
        if sid not in self._room_subs:
            async def ended(body: str) -> None:
                await self._on_room(sid, body)

            self._room_subs[sid] = await self.rbus.subscribe(sid, "room", ended)
            await self.redis.sadd(self.rbus.key("proc", self.rbus.process_id, "rooms"), str(sid))

    def _detach(self, party: Party) -> None:
        if self._local.get(party.conn) is party:
            del self._local[party.conn]
        room = self._rooms.get(party.session_id)
        if room is not None:
            room.remove(party)

    async def _drop_room_if_empty(self, session_id: int) -> None:
        room = self._rooms.get(session_id)
        if room is not None and room.parties():
            return
        self._rooms.pop(session_id, None)
        unsubscribe = self._room_subs.pop(session_id, None)
        if unsubscribe is not None:
            unsubscribe()
            await self.redis.srem(self.rbus.key("proc", self.rbus.process_id, "rooms"), str(session_id))

    async def _on_envelope(self, party: Party, body: str) -> None:
        try:
            envelope = Envelope.model_validate_json(body)
        except (ValidationError, ValueError):
            log.warning("ignoring an invalid envelope for session %s", party.session_id)
            return
        room = self._rooms.get(party.session_id)
        if envelope.op == "frame" and envelope.frame is not None:
            await party.send_frame(envelope.frame)
        elif envelope.op == "replace":
            self._detach(party)
            await self._replace(party)
            await self._drop_room_if_empty(party.session_id)
        elif envelope.op == "admitted" and room is not None and room.waiting.get(party.device or "") is party:
            del room.waiting[party.device or ""]
            party.admitted = True
            room.client = party
            room.admitted_devices.add(party.device or "")
            await party.send(p.Admitted(polite=True))
        elif envelope.op == "denied":
            self._detach(party)
            await party.send(p.Denied())
            party.gone = True
            await party.close(1000)
            await self._drop_room_if_empty(party.session_id)

    async def _on_room(self, session_id: int, body: str) -> None:
        try:
            envelope = Envelope.model_validate_json(body)
        except (ValidationError, ValueError):
            return
        if envelope.op == "ended" and session_id in self._rooms:
            await self._end_locally(session_id)
            await self._run_on_ended(session_id)

    # ---- entering -------------------------------------------------------------------

    async def enter_officer(self, room, party, welcome, logged):
        sid = room.session_id
        party.conn = uuid.uuid4().hex
        try:
            async with room.lock, self._exclusive(sid):
                places = await self.places(sid)
                old = places.get("officer")
                if old is not None and old.staff_id != party.staff_id and await self.rbus.alive(old.proc):
                    raise Refusal("room-full", "Another staff member is already the officer in this call.", close=True)
                await logged("officer", old)
                if old is not None:
                    await self._replace_holder(sid, old)
                    await self._tell(sid, places.get("client"), p.PeerLeft(role="officer", reason="replaced"))
                await self._attach(room, party)
                room.officer = party
                await party.send(welcome.model_copy(update={"peer_present": "client" in places}))
                for waiting in (await self.waiting(sid)).values():
                    await party.send(p.ClientWaiting(device=waiting.device or "", label=waiting.label))
                places["officer"] = self._me(party)
                await self._put(sid, "places", "officer", places["officer"])
                await self._introduce_shared(sid, places)
                return old
        finally:
            await self._drop_room_if_empty(sid)

    async def enter_client(self, room, party, welcome, logged):
        sid = room.session_id
        device = party.device or ""
        party.conn = uuid.uuid4().hex
        try:
            async with room.lock, self._exclusive(sid):
                places, waiting = await self.places(sid), await self.waiting(sid)
                replaced = None
                if "client" in places and places["client"].device == device:
                    replaced = places.pop("client")
                    await self._remove(sid, "places", "client")
                elif device in waiting:
                    replaced = waiting.pop(device)
                    await self._remove(sid, "waiting", device)
                known = room.admitted_devices | set(await self.redis.smembers(self._k(sid, "admitted")))
                direct = device in known and "client" not in places
                await logged("admitted" if direct else "waiting", replaced)
                if replaced is not None:
                    await self._replace_holder(sid, replaced)
                    await self._tell(sid, places.get("officer"), p.PeerLeft(role="client", reason="replaced", device=device))
                await self._attach(room, party)
                await party.send(welcome.model_copy(update={"peer_present": "officer" in places}))
                if direct:
                    party.admitted = True
                    room.client = party
                    places["client"] = self._me(party)
                    await self._put(sid, "places", "client", places["client"])
                    await party.send(p.Admitted(polite=True))
                    await self._introduce_shared(sid, places)
                    return ClientEntry("admitted", replaced)  # type: ignore[arg-type]
                room.waiting[device] = party
                seq = int(await self.redis.incr(self._k(sid, "seq")))
                await self.redis.expire(self._k(sid, "seq"), KEY_TTL)
                await self._put(sid, "waiting", device, self._me(party, seq=seq))
                await party.send(p.Waiting())
                await self._tell(sid, places.get("officer"), p.ClientWaiting(device=device, label=party.label))
                return ClientEntry("waiting", replaced)  # type: ignore[arg-type]
        finally:
            await self._drop_room_if_empty(sid)

    # ---- the officer decides -------------------------------------------------------------

    @staticmethod
    def _pick(waiting: dict[str, Holder], device: str | None) -> Holder:
        if not waiting:
            raise Refusal("no-peer", "Nobody is in the waiting room.")
        if device is None:
            return next(iter(waiting.values()))
        if device not in waiting:
            raise Refusal("no-peer", "That device is not in the waiting room.")
        return waiting[device]

    async def admit(self, room, device, logged):
        sid = room.session_id
        async with room.lock, self._exclusive(sid):
            picked = self._pick(await self.waiting(sid), device)
            places = await self.places(sid)
            displaced = places.pop("client", None)
            await logged("admitted", displaced, picked)
            await self._remove(sid, "waiting", picked.device or "")
            if displaced is not None:
                await self._remove(sid, "places", "client")
                await self._replace_holder(sid, displaced)
                await self._tell(sid, places.get("officer"), p.PeerLeft(role="client", reason="replaced", device=displaced.device))
            places["client"] = picked.model_copy(update={"admitted": True, "seq": 0})
            await self._put(sid, "places", "client", places["client"])
            await self.redis.sadd(self._k(sid, "admitted"), picked.device or "")
            await self.redis.expire(self._k(sid, "admitted"), KEY_TTL)
            room.admitted_devices.add(picked.device or "")
            # Through Redis even when the device is here: it must arrive before peer-joined.
            await self._envelope(sid, picked.conn, "admitted")
            await self._introduce_shared(sid, places)
            return picked, displaced

    async def deny(self, room, device, logged):
        sid = room.session_id
        async with room.lock, self._exclusive(sid):
            picked = self._pick(await self.waiting(sid), device)
            await logged("denied", None, picked)
            await self._remove(sid, "waiting", picked.device or "")
            await self._envelope(sid, picked.conn, "denied")
            return picked

    # ---- leaving -----------------------------------------------------------------------

    async def leave(self, party, reason, logged=None):
        sid = party.session_id
        room = self._rooms.get(sid)
        held = False
        if room is not None:
            async with room.lock, self._exclusive(sid):
                places = await self.places(sid)
                device = party.device or ""
                if places.get("officer") and places["officer"].conn == party.conn:
                    place, tell = "officer", places.get("client")
                    await self._remove(sid, "places", "officer")
                elif places.get("client") and places["client"].conn == party.conn:
                    place, tell = "client", places.get("officer")
                    await self._remove(sid, "places", "client")
                elif (w := (await self.waiting(sid)).get(device)) is not None and w.conn == party.conn:
                    place, tell = "waiting", places.get("officer")
                    await self._remove(sid, "waiting", device)
                else:
                    place, tell = None, None
                held = place is not None
                if held and logged is not None:
                    await logged(place, None, party)
                if held:
                    gone_device = None if party.role == "officer" else party.device
                    await self._tell(sid, tell, p.PeerLeft(role=party.role, reason=reason, device=gone_device))
                self._detach(party)
            await self._drop_room_if_empty(sid)
        await party.close(1000)
        return held

    async def _end_locally(self, session_id: int) -> None:
        room = self._rooms.get(session_id)
        if room is None:
            return
        async with room.lock:
            parties = room.parties()
            room.officer = room.client = None
            room.waiting.clear()
        for party in parties:
            self._local.pop(party.conn, None)
            await party.send(p.SessionEnded())
            party.gone = True
        await asyncio.gather(*(party.close(1000) for party in parties), return_exceptions=True)
        await self._drop_room_if_empty(session_id)

    async def _run_on_ended(self, session_id: int) -> None:
        for callback in self.on_ended:
            result = callback(session_id)
            if asyncio.iscoroutine(result):
                await result

    async def session_ended(self, session_id: int) -> None:
        """Tell every process holding a socket of the room, end ours, forget the places."""
        try:
            await self.rbus.publish(session_id, "room", Envelope(op="ended").model_dump_json(exclude_none=True))
            await self.forget_places(session_id, admitted=True)
        except RedisError as exc:
            log.warning("cannot tell other processes that session %s ended: %s", session_id, exc)
        await self._end_locally(session_id)
        await self._run_on_ended(session_id)

    async def close_all(self, timeout: float = 5.0) -> None:
        self._local.clear()
        await super().close_all(timeout)

    # ---- parties of processes that died ------------------------------------------------

    async def start(self) -> None:
        self._reaper = asyncio.create_task(self._reap_forever(), name="rooms-reaper")

    async def stop(self) -> None:
        if self._reaper is not None:
            self._reaper.cancel()
            await asyncio.gather(self._reaper, return_exceptions=True)

    async def _reap_forever(self) -> None:
        while True:
            await asyncio.sleep(PROCESS_TTL / 2)
            try:
                await self.reap()
            except asyncio.CancelledError:
                raise
            except (RedisError, OSError) as exc:
                if self.rbus.up:
                    log.warning("reaping the rooms of dead processes failed: %s", exc)
            except Exception:
                log.exception("reaping the rooms of dead processes failed")

    async def live_processes(self) -> set[str]:
        alive = set()
        for pid in await self.redis.smembers(self.rbus.key("procs")):
            if HEX32.match(pid) and pid != self.rbus.process_id and await self.rbus.alive(pid):
                alive.add(pid)
        return alive

    async def reap(self) -> None:
        """Log as dropped every party held by a process whose liveness key expired,
        and tell the other party, as that process would have done."""
        for pid in await self.redis.smembers(self.rbus.key("procs")):
            if not HEX32.match(pid):
                await self.redis.srem(self.rbus.key("procs"), pid)
                continue
            if await self.rbus.alive(pid):
                continue
            # One reaper per dead process.
            if not await self.redis.set(self.rbus.key("reap", pid), self.rbus.process_id, nx=True, ex=60):
                continue
            rooms_key = self.rbus.key("proc", pid, "rooms")
            for raw_sid in await self.redis.smembers(rooms_key):
                if raw_sid.isdigit() and len(raw_sid) <= 18:
                    await self._reap_room(int(raw_sid), pid)
            await self.redis.delete(rooms_key)
            await self.redis.srem(self.rbus.key("procs"), pid)

    async def _reap_room(self, session_id: int, pid: str) -> None:
        async with self._exclusive(session_id):
            places = await self.places(session_id)
            dropped: list[tuple[Holder, Holder | None]] = []
            for role, other in (("officer", "client"), ("client", "officer")):
                holder = places.get(role)
                if holder is not None and holder.proc == pid:
                    await self._remove(session_id, "places", role)
                    dropped.append((holder, places.get(other)))
            for device, holder in (await self.waiting(session_id)).items():
                if holder.proc == pid:
                    await self._remove(session_id, "waiting", device)
                    dropped.append((holder, places.get("officer")))
            for holder, other in dropped:
                if self.on_dropped is not None:
                    await self.on_dropped(session_id, holder)
                if other is not None and other.proc != pid:
                    device = None if holder.role == "officer" else holder.device
                    await self._tell(session_id, other, p.PeerLeft(role=holder.role, reason="dropped", device=device))


def _load_state(raw: dict[str, str]) -> CallState:
    state = CallState()
    for role in ("officer", "client"):
        value = raw.get(f"media_{role}")
        if value in ICE_STATES:
            state.media[role] = value
    since = raw.get("open_since")
    if since:
        try:
            parsed = datetime.fromisoformat(since)
            state.open_since = parsed if parsed.tzinfo is not None else None
        except ValueError:
            log.warning("ignoring an invalid open_since read from Redis")
    try:
        flow = json.loads(raw.get("flow") or "{}")
        state.flow = flow if isinstance(flow, dict) else {}
    except ValueError:
        log.warning("ignoring an invalid media flow read from Redis")
    state.ever_connected = raw.get("ever_connected") == "1"
    state.awaiting_resume = raw.get("awaiting_resume") == "1"
    return state


def _dump_state(state: CallState) -> dict[str, str]:
    return {
        "media_officer": state.media["officer"],
        "media_client": state.media["client"],
        "open_since": state.open_since.isoformat() if state.open_since else "",
        "flow": json.dumps(state.flow, separators=(",", ":")),
        "ever_connected": "1" if state.ever_connected else "0",
        "awaiting_resume": "1" if state.awaiting_resume else "0",
    }


class SharedCallLog(CallLog):
    """CallLog whose per-session state lives in Redis, so that the duration is
    right when the officer's and the client's ``media-state`` reach different
    processes."""

    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, bus: RedisBus, rooms: SharedRoomRegistry):
        super().__init__(sessionmaker, settings)
        self.rbus = bus
        self.rooms = rooms

    def _key(self, session_id: int) -> str:
        return self.rbus.key("call", session_id)

    @asynccontextmanager
    async def _locked(self, session_id: int, *, create: bool = True) -> AsyncIterator[CallState | None]:
        # The local state is the local lock and the heartbeat throttle; the rest is in Redis.
        local = self._state(session_id)
        async with local.lock:
            lock = await _lock(self.rbus, self._key(session_id) + ":lock")
            try:
                raw = await self.rbus.redis.hgetall(self._key(session_id))
                if not raw and not create:
                    yield None
                    return
                state = _load_state(raw)
                state.heartbeat_written = local.heartbeat_written
                yield state
                local.heartbeat_written = state.heartbeat_written
                async with self.rbus.redis.pipeline(transaction=True) as pipe:
                    await pipe.hset(self._key(session_id), mapping=_dump_state(state)).expire(self._key(session_id), KEY_TTL).execute()
            finally:
                await _release(lock)

    async def discard(self, session_id: int) -> None:
        self.forget(session_id)
        try:
            await self.rbus.redis.delete(self._key(session_id))
        except RedisError as exc:
            log.warning("cannot delete the call state of session %s: %s", session_id, exc)

    async def _recoverable(self, session_ids: list[int]) -> set[int]:
        """Only sessions that no live process holds. When other processes are up,
        a session nobody holds is not a restart's doing: leave it alone; the
        reaper logs the parties of a process that died."""
        others = await self.rooms.live_processes()
        cut = set()
        for sid in session_ids:
            holders = await self.rooms.holders(sid)
            if not others or (holders and not any([await self.rbus.alive(h.proc) for h in holders])):
                cut.add(sid)
                await self.rooms.forget_places(sid)
        return cut

    async def places_lost(self, session_id: int, roles: list[str]) -> None:
        """After an outage: the sockets of these roles were closed as ``unavailable``
        and their interval closed in the database; the shared state says so too."""
        async with self._locked(session_id, create=False) as state:
            if state is None:
                return
            for role in roles:
                state.media[role] = "closed"
                state.flow.pop(role, None)
            state.open_since = None

    async def checkpoint(self) -> None:
        if not self.rbus.up:
            # Every socket was closed and its interval closed in the log when Redis went away.
            return
        ids = []
        for sid in list(self._states):
            async with self._locked(sid, create=False) as state:
                if state is not None and state.open_since is not None:
                    ids.append(sid)
        await self._stamp_heartbeats(ids)


async def open_shared(sessionmaker: async_sessionmaker[AsyncSession], settings: Settings):
    """The shared registry and call log, started; returns them and their closer."""
    assert settings.redis_url
    bus = RedisBus(settings.redis_url, settings.redis_prefix)
    await bus.start()
    rooms = SharedRoomRegistry(bus)
    calls = SharedCallLog(sessionmaker, settings, bus, rooms)

    async def dropped(session_id: int, holder: Holder) -> None:
        admitted = holder.role == "officer" or holder.admitted
        await calls.party_gone(session_id, holder.role, "dropped", device=holder.device, admitted=admitted)

    rooms.on_dropped = dropped
    rooms.on_places_lost = calls.places_lost
    await rooms.start()

    async def close() -> None:
        await rooms.stop()
        await bus.close()

    return calls, rooms, close
