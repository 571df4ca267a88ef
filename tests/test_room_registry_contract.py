"""The room registry's rules (server/signaling/registry.py, docs/signaling.md §5),
checked once against every implementation:

* ``local``: :class:`LocalRoomRegistry`, one process, places in memory;
* ``redis``: :class:`SharedRoomRegistry` on the real Redis, one process;
* ``redis-2-processes``: two SharedRoomRegistry on one Redis prefix, the officer
  on one and the client on the other, as two ``bimbing serve`` processes.

The parties' sockets keep what they are sent (the registry's side of a
WebSocket); everything else is real. Over Redis a message arrives later, so
every test waits for the message it expects and then asserts the whole history.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field

import pytest

from server.signaling import protocol as p
from server.signaling.registry import CLOSE_REPLACED, Party, Refusal, RoomRegistry
from server.signaling.rooms import LocalRoomRegistry
from server.signaling.shared import SharedRoomRegistry
from server.signaling.shared.bus import RedisBus
from tests.services import drop_redis_keys, redis_test_prefix, require_redis

SID = 7
PHONE, TABLET = "a1b2c3d4e5f60708", "0f1e2d3c4b5a6978"
WAIT = 10.0


class RecordingSocket:
    """What a party's WebSocket was sent, and how it was closed."""

    def __init__(self) -> None:
        self.sent: list[dict] = []
        self.closed = False
        self.close_code: int | None = None
        self._read = 0
        self._changed = asyncio.Event()

    async def send_str(self, data: str) -> None:
        self.sent.append(json.loads(data))
        self._changed.set()

    async def close(self, *, code: int = 1000, message: bytes = b"") -> bool:
        self.closed, self.close_code = True, code
        self._changed.set()
        return True

    def types(self) -> list[str]:
        return [m["type"] for m in self.sent]

    async def _until(self, done, what: str):
        async def wait():
            while not (found := done()):
                self._changed.clear()
                await self._changed.wait()
            return found

        try:
            return await asyncio.wait_for(wait(), WAIT)
        except asyncio.TimeoutError:
            raise AssertionError(f"no {what} within {WAIT}s; got {self.sent}, closed={self.close_code}") from None

    async def next(self, kind: str) -> dict:
        """The next message of this type after the last one read."""
        def found():
            for i in range(self._read, len(self.sent)):
                if self.sent[i]["type"] == kind:
                    self._read = i + 1
                    return self.sent[i]
            return None

        return await self._until(found, kind)

    async def closed_with(self) -> int:
        return await self._until(lambda: self.close_code, "close")


@dataclass
class World:
    """Where the officer's and the client's sockets are held, and the log each step wrote."""

    officer_side: RoomRegistry
    client_side: RoomRegistry
    log: list[str] = field(default_factory=list)

    def logger(self):
        async def logged(what, *_):
            self.log.append(what)

        return logged

    async def officer(self, staff_id: int = 1, registry: RoomRegistry | None = None, resume: bool = False) -> tuple[Party, RecordingSocket]:
        rooms = registry or self.officer_side
        socket = RecordingSocket()
        party = Party(SID, "officer", socket, staff_id=staff_id, label=f"pk{staff_id}")
        welcome = p.Welcome(role="officer", session_id=SID, device=None, ice_servers=[], heartbeat_seconds=15, peer_present=False)
        await rooms.enter_officer(rooms.room(SID), party, welcome, self.logger(), resume=resume)
        return party, socket

    async def client(self, device: str = PHONE, known: set[str] | None = None, registry: RoomRegistry | None = None, resume: bool = False, **start):
        """``start``: the step and Opus packet length the client's ``join`` said its call starts on."""
        rooms = registry or self.client_side
        socket = RecordingSocket()
        party = Party(SID, "client", socket, device=device, label="Android Chrome", **start)
        welcome = p.Welcome(role="client", session_id=SID, device=device, ice_servers=[], heartbeat_seconds=15, peer_present=False)
        entry = await rooms.enter_client(rooms.room(SID, known_devices=known), party, welcome, self.logger(), resume=resume)
        return party, socket, entry

    async def admit(self, device: str | None = None):
        return await self.officer_side.admit(self.officer_side.room(SID), device, self.logger())

    async def deny(self, device: str | None = None):
        return await self.officer_side.deny(self.officer_side.room(SID), device, self.logger())

    async def in_call(self):
        """The officer, and the phone admitted and introduced."""
        officer, o = await self.officer()
        client, c, _ = await self.client()
        await o.next("client-waiting")
        await self.admit(PHONE)
        await c.next("peer-joined")
        await o.next("peer-joined")
        return officer, o, client, c


@pytest.fixture(params=["local", "redis", "redis-2-processes"])
async def world(request):
    if request.param == "local":
        rooms = LocalRoomRegistry()
        yield World(rooms, rooms)
        await rooms.close_all()
        return
    url = require_redis()
    prefix = redis_test_prefix()
    buses = [RedisBus(url, prefix) for _ in range(1 if request.param == "redis" else 2)]
    for bus in buses:
        await bus.start()
    registries = [SharedRoomRegistry(bus) for bus in buses]
    try:
        yield World(registries[0], registries[-1])
    finally:
        for rooms in registries:
            await rooms.close_all()
        for bus in buses:
            await bus.close()
        await drop_redis_keys(url, prefix)


async def test_the_start_a_client_joined_with_reaches_the_officer_in_peer_joined(world):
    """A phone on a roomier weak link starts in sound only with 20 ms packets (issue
    25): the officer hears of both before its first offer, wherever the client is held."""
    officer, o = await world.officer()
    client, c, _ = await world.client(step="audio", ptime=20)
    await o.next("client-waiting")
    await world.admit(PHONE)
    assert await c.next("peer-joined") == {"type": "peer-joined", "role": "officer", "polite": True}
    assert await o.next("peer-joined") == {"type": "peer-joined", "role": "client", "polite": False, "step": "audio", "ptime": 20}


async def test_a_client_waits_until_the_officer_admits_then_both_are_introduced(world):
    officer, o = await world.officer()
    client, c, entry = await world.client()
    assert entry.placed == "waiting" and entry.replaced is None
    assert (await c.next("welcome"))["peer_present"] is True
    await c.next("waiting")
    assert await o.next("client-waiting") == {"type": "client-waiting", "device": PHONE, "label": "Android Chrome"}

    admitted, displaced = await world.admit(PHONE)
    assert admitted.device == PHONE and displaced is None
    assert (await c.next("admitted"))["polite"] is True
    assert await c.next("peer-joined") == {"type": "peer-joined", "role": "officer", "polite": True}
    assert await o.next("peer-joined") == {"type": "peer-joined", "role": "client", "polite": False}
    assert c.types() == ["welcome", "waiting", "admitted", "peer-joined"]
    assert o.types() == ["welcome", "client-waiting", "peer-joined"]
    assert world.log == ["officer", "waiting", "admitted"]

    # Offer and answer go between the two, marked with who sent them.
    await world.officer_side.relay(world.officer_side.room(SID), officer, '{"type": "offer", "sdp": "v=0\\r\\n"}')
    assert (await c.next("offer"))["from"] == "officer"
    await world.client_side.relay(world.client_side.room(SID), client, '{"type": "answer", "sdp": "v=0\\r\\n"}')
    assert (await o.next("answer"))["from"] == "client"


async def test_the_officer_who_joins_later_hears_of_the_waiting_client(world):
    _, c, _ = await world.client()
    assert (await c.next("welcome"))["peer_present"] is False
    await c.next("waiting")
    _, o = await world.officer()
    assert (await o.next("welcome"))["peer_present"] is False
    assert (await o.next("client-waiting"))["device"] == PHONE


async def test_a_waiting_client_may_not_relay(world):
    await world.officer()
    client, c, _ = await world.client()
    await c.next("waiting")
    with pytest.raises(Refusal) as refused:
        await world.client_side.relay(world.client_side.room(SID), client, '{"type": "offer", "sdp": "v=0\\r\\n"}')
    assert refused.value.code == "not-admitted"


async def test_a_device_admitted_before_is_let_back_in_directly(world):
    _, o = await world.officer()
    _, c, entry = await world.client(known={PHONE})
    assert entry.placed == "admitted"
    await c.next("admitted")
    await c.next("peer-joined")
    await o.next("peer-joined")
    assert c.types() == ["welcome", "admitted", "peer-joined"]
    assert "client-waiting" not in o.types()
    assert world.log == ["officer", "admitted"]


async def test_the_same_device_connecting_again_replaces_its_old_connection(world):
    officer, o, old, old_socket = await world.in_call()
    # The phone dropped and reconnects (with two processes: through the officer's one).
    _, new, entry = await world.client(registry=world.officer_side)
    assert entry.placed == "admitted" and entry.replaced is not None and entry.replaced.device == PHONE
    assert (await old_socket.next("error"))["code"] == "replaced"
    assert await old_socket.closed_with() == CLOSE_REPLACED
    left = await o.next("peer-left")
    assert left == {"type": "peer-left", "role": "client", "reason": "replaced", "device": PHONE}
    await new.next("admitted")
    await new.next("peer-joined")
    await o.next("peer-joined")
    assert world.log == ["officer", "waiting", "admitted", "admitted"]
    # The old connection no longer holds a place.
    assert await world.client_side.leave(old, "dropped", world.logger()) is False


async def test_the_client_resuming_takes_its_place_back_and_the_call_goes_on(world):
    """A change of network: the phone's socket died unnoticed and it joins again
    with ``resume``. It gets its place back without the waiting room or a new
    admission; the officer hears ``peer-resumed`` (to restart ICE), not
    ``peer-left``/``peer-joined``."""
    officer, o, old, old_socket = await world.in_call()
    _, new, entry = await world.client(registry=world.officer_side, resume=True)
    assert entry.placed == "resumed" and entry.replaced is not None and entry.replaced.device == PHONE
    assert (await old_socket.next("error"))["code"] == "replaced"
    assert await old_socket.closed_with() == CLOSE_REPLACED
    assert await new.next("admitted") == {"type": "admitted", "polite": True, "resumed": True}
    assert await o.next("peer-resumed") == {"type": "peer-resumed", "role": "client"}
    assert new.types() == ["welcome", "admitted"]
    assert o.types() == ["welcome", "client-waiting", "peer-joined", "peer-resumed"]
    assert world.log == ["officer", "waiting", "admitted", "resumed"]
    # Relay goes to the new socket; the old one holds no place.
    await world.officer_side.relay(world.officer_side.room(SID), officer, '{"type": "offer", "sdp": "v=0\\r\\n"}')
    assert (await new.next("offer"))["from"] == "officer"
    assert await world.client_side.leave(old, "dropped", world.logger()) is False
    assert "peer-left" not in o.types()


async def test_resume_without_a_place_to_take_back_is_an_ordinary_join(world):
    """The server already saw the old socket go (or restarted): ``resume`` asks
    for nothing more than any join, a known device is re-admitted (a new call)."""
    _, o, old, _ = await world.in_call()
    await world.client_side.leave(old, "dropped", world.logger())
    await o.next("peer-left")
    _, new, entry = await world.client(known={PHONE}, resume=True)
    assert entry.placed == "admitted"
    assert (await new.next("admitted")).get("resumed", False) is False
    await new.next("peer-joined")
    await o.next("peer-joined")
    # Nor does a device never admitted get past the waiting room by asking.
    _, stranger, entry = await world.client(device=TABLET, resume=True)
    assert entry.placed == "waiting"
    await stranger.next("waiting")


async def test_the_officer_resuming_takes_its_place_back_and_the_call_goes_on(world):
    """The officer's console changed network under a live call: its socket died
    unnoticed and it joins again with ``resume`` (with two processes: through the
    client's one). It takes its place back; the client hears ``peer-resumed``,
    not ``peer-left``/``peer-joined``, and stays in the call; who waits is said again."""
    officer, o, client, c = await world.in_call()
    _, tablet, _ = await world.client(device=TABLET)
    await o.next("client-waiting")
    new_officer, new = await world.officer(registry=world.client_side, resume=True)
    assert (await o.next("error"))["code"] == "replaced"
    assert await o.closed_with() == CLOSE_REPLACED
    welcome = await new.next("welcome")
    assert welcome["resumed"] is True and welcome["peer_present"] is True
    assert (await new.next("client-waiting"))["device"] == TABLET
    assert await c.next("peer-resumed") == {"type": "peer-resumed", "role": "officer"}
    assert new.types() == ["welcome", "client-waiting"]
    assert c.types() == ["welcome", "waiting", "admitted", "peer-joined", "peer-resumed"]
    assert not c.closed
    assert world.log == ["officer", "waiting", "admitted", "waiting", "resumed"]
    # Relay goes from the new socket to the client; the old one holds no place.
    await world.client_side.relay(world.client_side.room(SID), client, '{"type": "answer", "sdp": "v=0\\r\\n"}')
    assert (await new.next("answer"))["from"] == "client"
    assert await world.officer_side.leave(officer, "dropped", world.logger()) is False
    assert "peer-left" not in c.types()


async def test_the_officer_resuming_with_nobody_in_the_call_joins_as_ever(world):
    """No call to go on (the client left, or was never admitted): ``resume`` asks
    for nothing more than any join; a client admitted later is introduced as ever."""
    _, o = await world.officer()
    _, c, _ = await world.client()
    await o.next("client-waiting")
    _, new = await world.officer(resume=True)
    assert (await o.next("error"))["code"] == "replaced"
    welcome = await new.next("welcome")
    assert "resumed" not in welcome
    assert (await new.next("client-waiting"))["device"] == PHONE
    assert world.log == ["officer", "waiting", "officer"]
    await world.admit(PHONE)
    await new.next("peer-joined")
    await c.next("peer-joined")
    # Another staff member cannot take the place by asking to resume.
    with pytest.raises(Refusal) as refused:
        await world.officer(staff_id=2, resume=True)
    assert refused.value.code == "room-full"


async def test_a_waiting_device_connecting_again_replaces_its_waiting_connection(world):
    _, o = await world.officer()
    _, first, _ = await world.client()
    await first.next("waiting")
    await o.next("client-waiting")
    _, again, entry = await world.client()
    assert entry.placed == "waiting" and entry.replaced is not None
    assert (await first.next("error"))["code"] == "replaced"
    assert await first.closed_with() == CLOSE_REPLACED
    await again.next("waiting")
    assert (await o.next("peer-left"))["reason"] == "replaced"
    assert (await o.next("client-waiting"))["device"] == PHONE


async def test_another_staff_member_finds_the_officer_place_taken(world):
    _, o = await world.officer(staff_id=1)
    socket_before = list(o.sent)
    with pytest.raises(Refusal) as refused:
        await world.officer(staff_id=2, registry=world.client_side)
    assert refused.value.code == "room-full" and refused.value.close is True
    assert not o.closed and o.sent == socket_before
    assert world.log == ["officer"]


async def test_the_same_staff_member_replaces_their_old_officer_connection(world):
    _, old, _, c = await world.in_call()
    _, new = await world.officer(staff_id=1, registry=world.client_side)
    assert (await old.next("error"))["code"] == "replaced"
    assert await old.closed_with() == CLOSE_REPLACED
    assert await c.next("peer-left") == {"type": "peer-left", "role": "officer", "reason": "replaced", "device": None}
    assert (await new.next("welcome"))["peer_present"] is True
    assert await c.next("peer-joined") == {"type": "peer-joined", "role": "officer", "polite": True}
    await new.next("peer-joined")


async def test_admitting_a_second_device_replaces_the_client_in_the_call(world):
    _, o, _, phone = await world.in_call()
    _, tablet, entry = await world.client(device=TABLET)
    # The room holds one client: the second device waits for the officer.
    assert entry.placed == "waiting"
    await tablet.next("waiting")
    await o.next("client-waiting")
    admitted, displaced = await world.admit(TABLET)
    assert admitted.device == TABLET and displaced is not None and displaced.device == PHONE
    assert (await phone.next("error"))["code"] == "replaced"
    assert await phone.closed_with() == CLOSE_REPLACED
    assert (await o.next("peer-left"))["device"] == PHONE
    await tablet.next("admitted")
    await tablet.next("peer-joined")
    await o.next("peer-joined")


async def test_admit_without_a_device_takes_the_one_waiting_longest(world):
    _, o = await world.officer()
    _, first, _ = await world.client(device=PHONE)
    await o.next("client-waiting")
    _, second, _ = await world.client(device=TABLET)
    await o.next("client-waiting")
    admitted, _ = await world.admit(None)
    assert admitted.device == PHONE
    await first.next("admitted")
    assert second.types() == ["welcome", "waiting"]


async def test_the_officer_denies_a_waiting_device(world):
    _, o = await world.officer()
    _, c, _ = await world.client()
    await o.next("client-waiting")
    denied = await world.deny(PHONE)
    assert denied.device == PHONE
    await c.next("denied")
    assert await c.closed_with() == 1000
    assert world.log == ["officer", "waiting", "denied"]
    # Nobody waits any more.
    with pytest.raises(Refusal) as refused:
        await world.admit(PHONE)
    assert refused.value.code == "no-peer"


@pytest.mark.parametrize("step", ["admit", "deny"])
async def test_admit_or_deny_with_nobody_or_an_unknown_device_waiting_is_no_peer(world, step):
    await world.officer()
    for device in (None, TABLET):
        with pytest.raises(Refusal) as refused:
            await getattr(world, step)(device)
        assert refused.value.code == "no-peer"
    assert world.log == ["officer"]


async def test_a_client_that_hangs_up_leaves_and_the_officer_is_told(world):
    officer, o, client, c = await world.in_call()
    assert await world.client_side.leave(client, "hangup", world.logger()) is True
    assert await o.next("peer-left") == {"type": "peer-left", "role": "client", "reason": "hangup", "device": PHONE}
    assert await c.closed_with() == 1000
    assert world.log[-1] == "client"
    # Leaving twice: it no longer holds a place.
    assert await world.client_side.leave(client, "hangup", world.logger()) is False
    # And the officer has nobody to send an offer to.
    with pytest.raises(Refusal) as refused:
        await world.officer_side.relay(world.officer_side.room(SID), officer, '{"type": "offer", "sdp": "v=0\\r\\n"}')
    assert refused.value.code == "no-peer"


async def test_an_officer_who_drops_leaves_and_the_client_is_told(world):
    officer, o, _, c = await world.in_call()
    assert await world.officer_side.leave(officer, "dropped", world.logger()) is True
    assert await c.next("peer-left") == {"type": "peer-left", "role": "officer", "reason": "dropped", "device": None}
    assert world.log[-1] == "officer"


async def test_a_waiting_client_that_leaves_is_a_waiting_leave(world):
    _, o = await world.officer()
    client, c, _ = await world.client()
    await o.next("client-waiting")
    assert await world.client_side.leave(client, "hangup", world.logger()) is True
    assert (await o.next("peer-left"))["device"] == PHONE
    assert world.log == ["officer", "waiting", "waiting"]


async def test_tell_reaches_whoever_holds_the_place_now(world):
    _, o, _, c = await world.in_call()
    assert await world.officer_side.tell(SID, "client", p.Recording(active=True)) is True
    assert await world.client_side.tell(SID, "officer", p.Recording(active=True)) is True
    assert (await c.next("recording"))["active"] is True
    assert (await o.next("recording"))["active"] is True


async def test_the_session_ended_tells_everyone_and_closes_the_room(world):
    ended: list[int] = []
    world.officer_side.on_ended.append(ended.append)
    _, o, _, c = await world.in_call()
    _, waiting, _ = await world.client(device=TABLET)
    await waiting.next("waiting")
    await world.officer_side.session_ended(SID)
    for socket in (o, c, waiting):
        await socket.next("session-ended")
        assert await socket.closed_with() == 1000
    assert ended == [SID]
    assert world.officer_side.get(SID) is None
    # A new officer finds an empty room.
    _, again = await world.officer()
    assert (await again.next("welcome"))["peer_present"] is False


async def test_a_room_is_ended_as_empty_only_when_nobody_holds_a_place_on_any_side(world):
    """The abandoned rule's question (server/signaling/abandoned.py), asked of either side."""
    ran: list[str] = []

    async def end() -> bool:
        ran.append("end")
        return True

    officer, o, client, c = await world.in_call()
    tablet, waiting, _ = await world.client(device=TABLET)
    await waiting.next("waiting")
    sides = (world.officer_side, world.client_side)
    for side in sides:
        assert await side.end_if_empty(SID, end) is False
    assert await world.client_side.leave(client, "dropped", world.logger()) is True
    assert await world.officer_side.leave(officer, "dropped", world.logger()) is True
    # A device still in the waiting room is somebody connected.
    for side in sides:
        assert await side.end_if_empty(SID, end) is False
    assert await world.client_side.leave(tablet, "hangup", world.logger()) is True
    assert ran == []
    assert await world.client_side.end_if_empty(SID, end) is True
    assert ran == ["end"]

    async def refused() -> bool:
        return False

    # What the ending answers is the answer (the log found the session no longer qualifies).
    assert await world.officer_side.end_if_empty(SID, refused) is False


async def test_a_staff_member_signed_out_anywhere_loses_their_officer_socket(world):
    """Signed out on one process (deactivated, password or role changed), the
    staff member's officer socket closes on whichever process holds it, with
    ``signed-out`` (1008); another staff member's sign-out leaves it alone."""
    _, o, _, c = await world.in_call()
    await world.client_side.close_staff(2)  # somebody else: nothing to close
    await world.client_side.close_staff(1)
    assert (await o.next("error"))["code"] == "signed-out"
    assert await o.closed_with() == 1008
    # Each notice is handled in order, so the first one has been too: one error only.
    assert [m.get("code") for m in o.sent if m["type"] == "error"] == ["signed-out"]
    assert not c.closed  # the client's socket is not the staff member's


async def test_an_officer_back_while_the_old_socket_leaves_shares_the_room_with_the_client(world):
    """The officer's console reconnects while its old socket's handler is still
    leaving (it holds the room, writing the log): that leave empties the room, and
    the new officer, waiting for the room, must not be left in the forgotten one
    while the client admitted next lands in a new one (found by
    tests/test_signaling_fuzz.py: the client got ``admitted`` and never
    ``peer-joined``, and the officer's offer went nowhere)."""
    old, _ = await world.officer()

    async def slow_log(*_):
        await asyncio.sleep(0.05)  # the log write: the handler awaits the database here

    leaving = asyncio.create_task(world.officer_side.leave(old, "dropped", slow_log))
    await asyncio.sleep(0)
    new, o = await world.officer()
    try:
        await leaving
    except Refusal as exc:  # over Redis the new socket may take the place first: the old one was replaced
        assert exc.code == "replaced"
    client, c, entry = await world.client(known={PHONE})
    assert entry.placed == "admitted"
    assert await c.next("peer-joined") == {"type": "peer-joined", "role": "officer", "polite": True}
    assert (await o.next("peer-joined"))["role"] == "client"
    await world.officer_side.relay(world.officer_side.room(SID), new, '{"type": "offer", "sdp": "v=0\\r\\n"}')
    assert (await c.next("offer"))["from"] == "officer"
