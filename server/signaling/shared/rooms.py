"""The room registry over Redis, for several ``bimbing serve`` processes.

The rules are those of :class:`~server.signaling.registry.RoomRegistry`
(docs/signaling.md §5), kept here on places stored in Redis (shared/keys.py)
so that the officer may sit on one process and the client on another. The
local :class:`Room` holds only this process's sockets. A message to a party
goes to the channel of the connection holding its place,
``room:<id>:conn:<conn>``, whichever process that is; ``room:<id>:room``
broadcasts "session ended".

A process that dies leaves its holders behind. Another process that sees the
holder's liveness key gone treats the place as free (a reconnecting party
replaces it); the reaper in shared/recovery.py logs the parties it held.

When Redis goes away (:class:`~server.signaling.shared.bus.RedisBus` notices)
this process closes every socket it holds with ``unavailable`` (1013); ws.py
logs their parties from the database alone (``CallLog.party_unavailable``).
When Redis is back it removes the places those sockets still held there, if
Redis kept them, and tells ``on_places_lost`` (SharedCallLog marks their media
closed in ``call:<id>``); the pages reconnect by themselves.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from contextlib import asynccontextmanager
from datetime import datetime
from typing import AsyncIterator, Awaitable, Callable

from pydantic import ValidationError
from redis.exceptions import NoScriptError, RedisError

from server.signaling import protocol as p
from server.signaling.registry import ClientEntry, Party, Refusal, Room, RoomRegistry
from server.signaling.shared.bus import RedisBus
from server.signaling.shared.keys import (
    KEY_TTL,
    RELAY_SCRIPT,
    Holder,
    Notice,
    envelope,
    lock,
    process_rooms_key,
    read_envelope,
    read_holder,
    release,
    room_key,
)

log = logging.getLogger(__name__)


class SharedRoomRegistry(RoomRegistry):
    """RoomRegistry's rules over Redis. The local :class:`Room` holds only this
    process's sockets (ws.py checks ``room.officer is party`` on it); the places
    themselves are in Redis."""

    # A guest's place lives in one process's memory (server/signaling/guests.py):
    # with several processes a guest is refused ``unavailable`` (docs/deploy.md).
    supports_guests = False

    def __init__(self, bus: RedisBus):
        super().__init__(bus)
        self.rbus = bus
        self.redis = bus.redis
        self._local: dict[str, Party] = {}
        self._room_subs: dict[int, Callable[[], None]] = {}
        # Told which roles' places were cleared after an outage (set to SharedCallLog.places_lost).
        self.on_places_lost: Callable[[int, list[str]], Awaitable[None]] | None = None
        # Sessions whose places in Redis may still name sockets closed as unavailable.
        self._stale: set[int] = set()
        # Sessions this process is ending: its own "ended" broadcast is not news to it.
        self._ending: set[int] = set()
        # One tidy-up at a time, another after it if asked meanwhile: one per lost
        # socket, each over every stale session, was most of two processes' CPU
        # after a burst of losses (py-spy, issue 24).
        self._cleaning = False
        self._clean_again = False
        bus.on_down.append(self._redis_down)
        bus.on_up.append(self._redis_up)
        bus.on_broadcast.append(self._on_broadcast)
        self._relay_script = self.redis.register_script(RELAY_SCRIPT)
        # Relayed frames of this turn of the loop, sent to Redis in one pipeline.
        self._outbox: list[tuple[str, str, str, str, asyncio.Future]] = []

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
        if self._cleaning:
            self._clean_again = True
            return
        self._cleaning = True
        try:
            while True:
                self._clean_again = False
                await self._clean_stale_once()
                if not self._clean_again:
                    return
        finally:
            self._cleaning = False

    async def _clean_stale_once(self) -> None:
        for sid in list(self._stale):
            try:
                roles = await self._clear_lost_places(sid)
                self._stale.discard(sid)
                if roles and self.on_places_lost is not None:
                    await self.on_places_lost(sid, roles)
            except (RedisError, OSError) as exc:
                # Tried again when Redis is back.
                log.debug("cannot clear the places of session %s yet: %s", sid, exc)

    async def _clear_lost_places(self, session_id: int) -> list[str]:
        """Remove the places this process holds in Redis for sockets it no longer has."""
        mine = self.rbus.process_id
        roles = []
        async with self.exclusive(session_id):
            for role, holder in (await self.places(session_id)).items():
                if holder.proc == mine and holder.conn not in self._local:
                    await self.remove_holder(session_id, "places", role)
                    roles.append(role)
            for device, holder in (await self.waiting(session_id)).items():
                if holder.proc == mine and holder.conn not in self._local:
                    await self.remove_holder(session_id, "waiting", device)
        return roles

    # ---- Redis names and state -------------------------------------------------

    def _k(self, session_id: int, name: str) -> str:
        return room_key(self.rbus, session_id, name)

    @asynccontextmanager
    async def exclusive(self, session_id: int) -> AsyncIterator[None]:
        held = await lock(self.rbus, self._k(session_id, "lock"))
        try:
            yield
        finally:
            await release(self.rbus, held)

    async def places(self, session_id: int) -> dict[str, Holder]:
        raw = await self.redis.hgetall(self._k(session_id, "places"))
        found = {role: read_holder(raw.get(role), role) for role in ("officer", "client")}
        return {role: h for role, h in found.items() if h is not None}

    async def waiting(self, session_id: int) -> dict[str, Holder]:
        raw = await self.redis.hgetall(self._k(session_id, "waiting"))
        found = [(device, read_holder(value, "client")) for device, value in raw.items()]
        valid = [h for device, h in found if h is not None and h.device == device]
        return {h.device or "": h for h in sorted(valid, key=lambda h: h.seq)}

    async def holders(self, session_id: int) -> list[Holder]:
        return [*(await self.places(session_id)).values(), *(await self.waiting(session_id)).values()]

    async def _put(self, session_id: int, name: str, field: str, holder: Holder) -> None:
        key = self._k(session_id, name)
        async with self.redis.pipeline(transaction=True) as pipe:
            await pipe.hset(key, field, holder.model_dump_json()).expire(key, KEY_TTL).execute()

    async def remove_holder(self, session_id: int, name: str, field: str) -> None:
        await self.redis.hdel(self._k(session_id, name), field)

    async def forget_places(self, session_id: int, *, admitted: bool = False) -> None:
        names = ["places", "waiting", "seq"] + (["admitted"] if admitted else [])
        await self.redis.delete(*(self._k(session_id, n) for n in names))

    def _me(self, party: Party, **changes) -> Holder:
        return Holder(
            conn=party.conn, proc=self.rbus.process_id, role=party.role, device=party.device,
            staff_id=party.staff_id, label=party.label[:200], admitted=party.admitted, step=party.step, ptime=party.ptime, **changes,
        )

    # ---- messages -------------------------------------------------------------------

    async def _envelope(self, session_id: int, conn: str, op: str, frame: str | None = None) -> bool:
        return await self.rbus.publish(session_id, f"conn:{conn}", envelope(op, frame))

    async def tell_holder(self, session_id: int, holder: Holder | None, message: p.Message) -> bool:
        if holder is None:
            return False
        return await self._envelope(session_id, holder.conn, "frame", p.dump(message))

    async def _to_place(self, session_id: int, role: str, frame: str) -> bool:
        """``frame`` to whoever holds ``role``'s place: Redis reads the holder and
        publishes to its connection (RELAY_SCRIPT), for every frame relayed in
        this turn of the loop in one pipeline. The way of every relayed message
        had been HGETALL, two holders read with pydantic, then PUBLISH: two round
        trips, a pooled connection each, most of a relay's CPU (issue 24). The
        order holds: a pipeline runs in order, and one turn's pipeline is sent
        before the next turn's."""
        future = asyncio.get_running_loop().create_future()
        self._outbox.append((self._k(session_id, "places"), role, self.rbus.channel(session_id, "conn:"), envelope("frame", frame), future))
        if len(self._outbox) == 1:
            self.rbus._spawn(self._send_outbox())
        return int(await future) > 0

    async def _send_outbox(self) -> None:
        batch, self._outbox = self._outbox, []
        try:
            async with self.redis.pipeline(transaction=False) as pipe:
                for key, role, head, body, _ in batch:
                    pipe.evalsha(self._relay_script.sha, 1, key, role, head, body)
                results = await pipe.execute(raise_on_error=False)
        except (RedisError, OSError) as exc:
            results = [exc] * len(batch)
        for (key, role, head, body, future), result in zip(batch, results):
            if isinstance(result, NoScriptError):
                # Redis does not know the script yet (first use, or it restarted): it is loaded here.
                try:
                    result = await self._relay_script(keys=[key], args=[role, head, body])
                except (RedisError, OSError) as exc:
                    result = exc
            if future.done():
                continue
            if isinstance(result, BaseException):
                future.set_exception(result)
            else:
                future.set_result(result)

    async def _to_frame(self, session_id: int, address: str, frame: str) -> bool:
        sid = session_id
        if address in ("officer", "client"):
            return await self._to_place(sid, address, frame)
        device = address.removeprefix("device:")
        holder = (await self.waiting(sid)).get(device)
        client = (await self.places(sid)).get("client")
        if holder is None and client is not None and client.device == device:
            holder = client
        if holder is None:
            return False
        return await self._envelope(sid, holder.conn, "frame", frame)

    async def _introduce_shared(self, session_id: int, places: dict[str, Holder]) -> None:
        if "officer" in places and "client" in places:
            await self.tell_holder(session_id, places["client"], p.PeerJoined(role="officer", polite=True))
            await self.tell_holder(session_id, places["officer"], p.PeerJoined(role="client", polite=False, step=places["client"].step, ptime=places["client"].ptime))

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
            await self.redis.sadd(process_rooms_key(self.rbus, self.rbus.process_id), str(sid))

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
            await self.redis.srem(process_rooms_key(self.rbus, self.rbus.process_id), str(session_id))

    async def _on_envelope(self, party: Party, body: str) -> None:
        read = read_envelope(body)
        if read is None:
            log.warning("ignoring an invalid envelope for session %s", party.session_id)
            return
        op, frame = read
        if op == "frame" and frame is not None:
            await party.send_frame(frame)
            return
        room = self._rooms.get(party.session_id)
        if op == "replace":
            self._detach(party)
            await self._replace(party)
            await self._drop_room_if_empty(party.session_id)
        elif op == "admitted" and room is not None and room.waiting.get(party.device or "") is party:
            del room.waiting[party.device or ""]
            party.admitted = True
            room.client = party
            room.admitted_devices.add(party.device or "")
            await party.send(p.Admitted(polite=True))
        elif op == "revoked":
            await self._revoke(party)
        elif op == "denied":
            self._detach(party)
            await party.send(p.Denied())
            party.gone = True
            await party.close(1000)
            await self._drop_room_if_empty(party.session_id)

    async def _on_room(self, session_id: int, body: str) -> None:
        # Not when this process ended it: session_ended ends ours and runs on_ended once.
        if read_envelope(body) == ("ended", None) and session_id in self._rooms and session_id not in self._ending:
            await self._end_locally(session_id)
            await self._run_on_ended(session_id)

    # ---- entering -------------------------------------------------------------------

    async def enter_officer(self, room, party, welcome, logged, resume=False):
        sid = room.session_id
        party.conn = uuid.uuid4().hex
        try:
            async with self.entering(room) as room, self.exclusive(sid):
                places = await self.places(sid)
                old = places.get("officer")
                if old is not None and old.staff_id != party.staff_id and await self.rbus.alive(old.proc):
                    raise Refusal("room-full", "Another staff member is already the officer in this call.", close=True)
                if resume and old is not None and old.staff_id == party.staff_id and "client" in places:
                    # The same call goes on over a new socket: the client is not told it left.
                    await logged("resumed", old)
                    await self._replace_holder(sid, old)
                    await self._attach(room, party)
                    room.officer = party
                    places["officer"] = self._me(party)
                    await self._put(sid, "places", "officer", places["officer"])
                    await party.send(welcome.model_copy(update={"peer_present": True, "resumed": True}))
                    for waiting in (await self.waiting(sid)).values():
                        await party.send(p.ClientWaiting(device=waiting.device or "", label=waiting.label))
                    await self.tell_holder(sid, places["client"], p.PeerResumed(role="officer"))
                    return old
                await logged("officer", old)
                if old is not None:
                    await self._replace_holder(sid, old)
                    await self.tell_holder(sid, places.get("client"), p.PeerLeft(role="officer", reason="replaced"))
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

    async def enter_client(self, room, party, welcome, logged, resume=False):
        sid = room.session_id
        device = party.device or ""
        party.conn = uuid.uuid4().hex
        try:
            async with self.entering(room) as room, self.exclusive(sid):
                places, waiting = await self.places(sid), await self.waiting(sid)
                replaced = None
                if "client" in places and places["client"].device == device:
                    replaced = places.pop("client")
                    await self.remove_holder(sid, "places", "client")
                    if resume:
                        # The same call goes on over a new socket: nobody is told it left.
                        await logged("resumed", replaced)
                        await self._replace_holder(sid, replaced)
                        await self._attach(room, party)
                        await party.send(welcome.model_copy(update={"peer_present": "officer" in places}))
                        party.admitted = True
                        room.client = party
                        places["client"] = self._me(party)
                        await self._put(sid, "places", "client", places["client"])
                        await party.send(p.Admitted(polite=True, resumed=True))
                        await self.tell_holder(sid, places.get("officer"), p.PeerResumed(role="client"))
                        return ClientEntry("resumed", replaced)  # type: ignore[arg-type]
                elif device in waiting:
                    replaced = waiting.pop(device)
                    await self.remove_holder(sid, "waiting", device)
                known = room.admitted_devices | set(await self.redis.smembers(self._k(sid, "admitted")))
                direct = device in known and "client" not in places
                await logged("admitted" if direct else "waiting", replaced)
                if replaced is not None:
                    await self._replace_holder(sid, replaced)
                    await self.tell_holder(sid, places.get("officer"), p.PeerLeft(role="client", reason="replaced", device=device))
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
                await self.tell_holder(sid, places.get("officer"), p.ClientWaiting(device=device, label=party.label))
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
        async with room.lock, self.exclusive(sid):
            picked = self._pick(await self.waiting(sid), device)
            places = await self.places(sid)
            displaced = places.pop("client", None)
            await logged("admitted", displaced, picked)
            await self.remove_holder(sid, "waiting", picked.device or "")
            if displaced is not None:
                await self.remove_holder(sid, "places", "client")
                await self._replace_holder(sid, displaced)
                await self.tell_holder(sid, places.get("officer"), p.PeerLeft(role="client", reason="replaced", device=displaced.device))
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
        async with room.lock, self.exclusive(sid):
            picked = self._pick(await self.waiting(sid), device)
            await logged("denied", None, picked)
            await self.remove_holder(sid, "waiting", picked.device or "")
            await self._envelope(sid, picked.conn, "denied")
            return picked

    async def revoke_clients(self, session_id):
        """Close every client connection of the session, on whichever process holds it."""
        clients = [h for h in await self.holders(session_id) if h.role == "client"]
        for holder in clients:
            party = self._local.get(holder.conn)
            if party is not None:
                await self._revoke(party)
            else:
                await self._envelope(session_id, holder.conn, "revoked")
        return len(clients)

    async def close_staff(self, staff_id):
        """Close the staff member's sockets on every process: this one's now, the
        others' when they hear the :class:`Notice` on ``<prefix>:all``. Returns how
        many this process closed. If Redis cannot be reached the others are cut off
        from it too, so they close every socket with ``unavailable`` and the next
        ``join`` checks the sign-in again."""
        closed = await super().close_staff(staff_id)
        notice = Notice(op="signed-out", staff_id=staff_id, proc=self.rbus.process_id)
        try:
            await self.rbus.broadcast(notice.model_dump_json())
        except (RedisError, OSError) as exc:
            log.warning("cannot tell other processes that staff %s was signed out: %s", staff_id, exc)
        return closed

    async def _on_broadcast(self, body: str) -> None:
        try:
            notice = Notice.model_validate_json(body)
        except (ValidationError, ValueError):
            log.warning("ignoring an invalid notice on the all-processes channel")
            return
        # The sender closed its own sockets already.
        if notice.op == "signed-out" and notice.proc != self.rbus.process_id:
            await super().close_staff(notice.staff_id)

    # ---- leaving -----------------------------------------------------------------------

    async def leave(self, party, reason, logged=None):
        sid = party.session_id
        room = self._rooms.get(sid)
        held = False
        if room is not None:
            async with room.lock, self.exclusive(sid):
                places = await self.places(sid)
                device = party.device or ""
                if places.get("officer") and places["officer"].conn == party.conn:
                    place, tell = "officer", places.get("client")
                    await self.remove_holder(sid, "places", "officer")
                elif places.get("client") and places["client"].conn == party.conn:
                    place, tell = "client", places.get("officer")
                    await self.remove_holder(sid, "places", "client")
                elif (w := (await self.waiting(sid)).get(device)) is not None and w.conn == party.conn:
                    place, tell = "waiting", places.get("officer")
                    await self.remove_holder(sid, "waiting", device)
                else:
                    place, tell = None, None
                held = place is not None
                if held and logged is not None:
                    await logged(place, None, party)
                if held:
                    gone_device = None if party.role == "officer" else party.device
                    await self.tell_holder(sid, tell, p.PeerLeft(role=party.role, reason=reason, device=gone_device))
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

    async def end_if_empty(self, session_id: int, end) -> bool:
        """Under the room's Redis lock (every process's joins take it): nobody in
        Redis's places or waiting room, and none of this process's sockets. A
        place held by a process that died still counts until the reaper has
        logged its party as dropped (shared/recovery.py)."""
        async with self.exclusive(session_id):
            room = self._rooms.get(session_id)
            if (room is not None and room.parties()) or await self.holders(session_id):
                return False
            return await end()

    async def session_ended(self, session_id: int) -> None:
        """Tell every process holding a socket of the room, end ours, forget the places."""
        self._ending.add(session_id)
        try:
            try:
                await self.rbus.publish(session_id, "room", envelope("ended"))
                await self.forget_places(session_id, admitted=True)
            except RedisError as exc:
                log.warning("cannot tell other processes that session %s ended: %s", session_id, exc)
            await self._end_locally(session_id)
        finally:
            self._ending.discard(session_id)
        await self._run_on_ended(session_id)

    async def close_all(self, timeout: float = 5.0) -> None:
        self._local.clear()
        await super().close_all(timeout)
