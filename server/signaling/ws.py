"""``GET /ws/sessions/{id}``: the signaling WebSocket (docs/signaling.md).

Prepare, check the ``join`` and its credential, take a place in the room, then
dispatch each validated message; in ``finally`` leave the room and tell the
other party. Every refusal is an ``error`` with a stable code; only the
offending connection is ever closed.

With Redis (several processes), a Redis failure while entering or handling a
message closes that connection with ``unavailable`` (1013) and it is logged from
the database alone (``CallLog.party_unavailable``); when the bus notices Redis
is down it closes every socket of this process the same way (shared/rooms.py).

The handler knows the room registry only through its interface
(server/signaling/registry.py); state.py picks the implementation.
"""

from __future__ import annotations

import asyncio
import logging
import time

from aiohttp import WSMsgType, web
from redis.exceptions import RedisError
from server.db.ids import id_from_text
from server.db.models import Role, SessionMode, Staff
from server.domain.calls.call_log import CallLog, JoinFacts, device_label, is_open, join_facts, network_of
from server.domain.calls.recordings import RecordingRefused, RecordingService
from server.keys import (
    audit_key,
    calls_key,
    db_key,
    db_read_key,
    leaving_key,
    metrics_key,
    pending_ws_key,
    recordings_key,
    rooms_key,
    settings_key,
)
from server.recorders.client import RemoteRecorders, recorder_token
from server.security import joinpass
from server.security.auth import staff_request_key
from server.security.pending import PendingHandshakes
from server.security.proxy import client_address
from server.signaling import chat, guest_socket
from server.signaling import protocol as p
from server.signaling.abandoned import AbandonedSweep
from server.signaling.documents import documents_seen
from server.signaling.gate import TokenBucket, origin_allowed
from server.signaling.hold import hold_place
from server.signaling.ice import ice_servers
from server.signaling.registry import (
    CLOSE_UNAVAILABLE,
    UNAVAILABLE_MESSAGE,
    Party,
    Refusal,
    RoomRegistry,
)
from server.signaling.websocket import SignalingSocket
from server.signaling.state import open_state

log = logging.getLogger(__name__)

routes = web.RouteTableDef()

JOIN_TIMEOUT = 10.0
MAX_ERRORS = 10
# At shutdown, how long the leaves still running may take to be logged (the stop's own grace).
LEAVE_GRACE = 10.0
CLOSE_REFUSED = 1008


async def _refuse(ws: web.WebSocketResponse, code: str, message: str, close_code: int = CLOSE_REFUSED) -> None:
    if isinstance(ws, SignalingSocket) and ws.metrics is not None:
        ws.metrics.signaling_refusals.labels(code=code).inc()
    try:
        await ws.send_str(p.dump(p.error(code, message)))
        await asyncio.wait_for(ws.close(code=close_code), 2)
    except (ConnectionError, RuntimeError, asyncio.TimeoutError):
        pass


def _may_lead(staff: Staff, session: JoinFacts) -> bool:
    """The session's own PK, or a supervisor of its office."""
    if staff.office_id != session.office_id:
        return False
    return staff.id == session.officer_id or staff.role == Role.supervisor


async def _credential(request: web.Request, session_id: int, role: str) -> tuple[Party, p.Welcome, frozenset[str]]:
    """Check the credential for the role: the place it entitles to, or Refusal;
    with the devices admitted before (a client's join)."""
    settings = request.app[settings_key]
    grant = None
    if role == "guest":
        party, welcome = await guest_socket.credential(request, session_id)
        return party, welcome, frozenset()
    if role == "client":
        try:
            grant = joinpass.read_pass(request)
        except joinpass.PassError as exc:
            raise Refusal(exc.code, exc.message) from None
        if grant.session_id != session_id:
            raise Refusal("forbidden", "Your link is for another session.")
    else:
        staff = request.get(staff_request_key)
        if staff is None:
            raise Refusal("unauthorized", "Sign in as staff first.")
    # Columns only: the client, officer and every event would be loaded for
    # nothing on each join (bench/README.md, "Signaling that stays fast"); the
    # link version is read here, at every join, so a revoked link's pass is refused.
    session = await request.app[db_read_key].run(lambda db: join_facts(db, session_id, devices=role == "client"))
    if role == "officer" and (session is None or not _may_lead(staff, session)):
        raise Refusal("forbidden", "You may not lead this session.")
    if session is None or session.mode != SessionMode.video or not is_open(session):
        raise Refusal("session-closed", "This session is not open.")
    if grant is not None and grant.link_version != session.link_version:
        raise Refusal("link-revoked", "This link was revoked or replaced; ask your PK for the new one.")
    socket_label = device_label(request.headers.get("User-Agent", ""))
    if role == "officer":
        party = Party(session_id, "officer", None, staff_id=staff.id, label=staff.username)  # type: ignore[arg-type]
    else:
        party = Party(session_id, "client", None, device=grant.device, label=socket_label)  # type: ignore[arg-type, union-attr]
    party_id = f"{role}-{session_id}-{party.staff_id if role == 'officer' else party.device}"
    welcome = p.Welcome(
        role=role,
        session_id=session_id,
        device=party.device,
        ice_servers=ice_servers(settings, party_id),
        heartbeat_seconds=settings.heartbeat_seconds,
        peer_present=False,
    )
    return party, welcome, session.admitted_devices


async def _enter(request: web.Request, ws: web.WebSocketResponse, session_id: int, spoke=lambda: None) -> Party | None:
    """The first message must be ``join``; check it and take a place."""
    rooms = request.app[rooms_key]
    calls = request.app[calls_key]
    try:
        first = await asyncio.wait_for(ws.receive(), JOIN_TIMEOUT)
        spoke()
    except asyncio.TimeoutError:
        await _refuse(ws, "not-joined", "Send join first.")
        return None
    if first.type != WSMsgType.TEXT:
        if first.type in (WSMsgType.BINARY,):
            await _refuse(ws, "not-joined", "Send join first.")
        return None
    try:
        join = p.parse(first.data)
    except p.ProtocolError:
        join = None
    if not isinstance(join, p.Join):
        await _refuse(ws, "not-joined", "The first message must be a valid join.")
        return None
    try:
        party, welcome, known_devices = await _credential(request, session_id, join.role)
        party.socket = ws
        party.transport = request.transport
        if party.role == "guest":  # a third person's place (issue 22)
            return await guest_socket.enter(request, party, welcome)
    except Refusal as exc:
        await _refuse(ws, exc.code, exc.message, CLOSE_UNAVAILABLE if exc.code == "unavailable" else CLOSE_REFUSED)
        return None
    if party.role == "client":
        party.step, party.ptime = join.step, join.ptime
    if not rooms.available():
        await _refuse(ws, "unavailable", UNAVAILABLE_MESSAGE, CLOSE_UNAVAILABLE)
        return None
    # What the log shows of this entry so far (a Redis failure may cut it short),
    # and whether the session was still open when it was written.
    entered = {"logged": False, "admitted": party.role == "officer", "open": True}

    if party.role == "officer":
        async def logged(what, old):
            if what == "resumed":
                # As for the client's resume: the call goes on (ICE restart), its media
                # interval is judged by the counters, the old socket's leaving closes nothing.
                entered["open"] = await calls.officer_resumed(session_id, party.label, **_device_facts(request))
                entered["logged"] = True
                return
            if old is not None:
                await calls.party_gone(session_id, "officer", "replaced")
            entered["open"] = await calls.officer_joined(session_id, party.label, **_device_facts(request))
            party.placed_at = time.monotonic()
            entered["logged"] = True

        room = rooms.room(session_id)
        try:
            await rooms.enter_officer(room, party, welcome, logged, resume=join.resume)
        except Refusal as exc:
            await _refuse(ws, exc.code, exc.message)
            return None
        except RedisError as exc:
            await _lost_entering(request, party, exc, entered)
            return None
    else:
        async def logged(placed, old):
            if placed == "resumed":
                # The call goes on (ICE restart): its media interval is judged by the
                # counters as always, so the old socket's leaving closes nothing.
                entered["open"] = await calls.client_resumed(session_id, party.device or "", **_device_facts(request))
                entered.update(logged=True, admitted=True)
                return
            if old is not None:
                await calls.party_gone(session_id, "client", "replaced", device=old.device, admitted=old.admitted)
            if placed == "admitted":
                party.placed_at = time.monotonic()
                entered["open"] = await calls.admitted(session_id, party.device or "", automatic=True)
            else:
                entered["open"] = await calls.client_waiting(session_id, party.device or "", party.label, **_device_facts(request))
            entered.update(logged=True, admitted=placed == "admitted")

        room = rooms.room(session_id, known_devices=set(known_devices))
        try:
            await rooms.enter_client(room, party, welcome, logged, resume=join.resume)
        except RedisError as exc:
            await _lost_entering(request, party, exc, entered)
            return None
    if not entered["open"]:
        # The session ended between the credential check and taking the place (the
        # PK's end, or the server ending a call everyone had left): the log kept
        # nothing of this arrival, and the room, whoever is in it, is told so.
        await rooms.session_ended(session_id)
        return None
    return party


def _device_facts(request: web.Request) -> dict[str, str]:
    """What the session records of a joining device: its user-agent family and
    its network (/24 or /48), so that the audit can flag a client who joined
    from the officer's own network (anomaly ``same-network``)."""
    return {"ua_family": device_label(request.headers.get("User-Agent", "")), "network": network_of(client_address(request))}


def _warn_unavailable(rooms: RoomRegistry, party: Party, exc: BaseException) -> None:
    # One warning per outage: once the bus knows Redis is down it has said so.
    level = logging.WARNING if rooms.available() else logging.INFO
    log.log(level, "session %s: %s closed as unavailable, Redis failed (%s: %s)", party.session_id, party.role, type(exc).__name__, exc)


async def _lost_entering(request: web.Request, party: Party, exc: BaseException, entered: dict) -> None:
    """Redis failed while the party took its place: close it as unavailable and
    log its leaving if its arrival was logged."""
    rooms: RoomRegistry = request.app[rooms_key]
    _warn_unavailable(rooms, party, exc)
    # Whoever closed it (this, or the bus noticing first), _leave never runs for it.
    await rooms.lose(party)
    if entered["logged"]:
        await request.app[calls_key].party_unavailable(
            party.session_id, party.role, device=party.device, admitted=entered["admitted"], at=rooms.unavailable_since()
        )


async def _dispatch(request: web.Request, party: Party, message, line: chat.ChatLine, frame: str) -> str | None:
    """Handle one message (``frame`` as it came). Returns why the loop should stop, or None."""
    rooms: RoomRegistry = request.app[rooms_key]
    calls: CallLog = request.app[calls_key]
    sid = party.session_id
    room = rooms.get(sid)
    if room is None or party.gone:
        return "gone"
    if isinstance(message, p.Join):
        raise Refusal("already-joined", "This connection has already joined.")
    if isinstance(message, p.OFFICER_ONLY) and party.role != "officer":
        raise Refusal("forbidden", "Only the officer may do that.")
    if party.role == "guest":
        return await guest_socket.dispatch(request, room, party, message, line, frame)

    # handle heartbeat
    if isinstance(message, p.Ping):
        await party.send(p.Pong())
        if party.role == "officer" or party.admitted:
            await calls.heartbeat(sid)
            current = room.officer if party.role == "officer" else room.client
            if message.inbound is not None and current is party:
                await calls.media_counters(sid, party.role, message.inbound.model_dump(exclude_none=True))
    # a line of text, in the waiting room or the call
    elif isinstance(message, p.Chat):
        await line.send(request, room, party, message)
    # the client opened a pushed document: tell the officer
    elif isinstance(message, p.DocumentSeen):
        await documents_seen(request, room, party, message)
    # a guest's signals, or the officer admits or denies a waiting guest (issue 22)
    elif isinstance(message, p.GuestSignal) or isinstance(message, (p.Admit, p.Deny)) and message.guest is not None:
        await guest_socket.from_call(request, room, party, message, frame)
    # relay offer / answer / candidate
    elif isinstance(message, p.RELAYED):
        await rooms.relay(room, party, frame)
    # stamp this side's ICE state
    elif isinstance(message, p.MediaState):
        if party.role == "officer" and room.officer is party or party.role == "client" and room.client is party:
            _count_connected(request, room, party, message.state)
            await calls.media_state(sid, party.role, message.state, stalled_seconds=message.stalled_ms / 1000)
    # the officer admits or denies a waiting device
    elif isinstance(message, p.Admit):
        async def log_admit(_what, displaced, admitted):
            if displaced is not None:
                await calls.party_gone(sid, "client", "replaced", device=displaced.device)
            # On Redis the admitted device may be held by another process: it is then
            # a frozen ``Holder``, and that process stamps its own party.
            if isinstance(admitted, Party):
                admitted.placed_at = time.monotonic()
            await calls.admitted(sid, admitted.device or "")

        await rooms.admit(room, message.device, log_admit)
    elif isinstance(message, p.Deny):
        async def log_deny(_what, _old, denied):
            await calls.denied(sid, denied.device or "")

        await rooms.deny(room, message.device, log_deny)
    # the officer's second peer connection, to the server's recorder
    elif isinstance(message, p.RecordOffer):
        if room.officer is not party:
            raise Refusal("replaced", "This connection was replaced.")
        settings = request.app[settings_key]
        try:
            answer = await request.app[recordings_key].start(
                sid, message.party, request.get(staff_request_key) or party.label, message.sdp, ice_servers(settings, f"recorder-{sid}")
            )
        except RecordingRefused as exc:
            raise Refusal(exc.code, exc.message) from None
        await party.send(p.RecordAnswer(party=message.party, sdp=answer))
        await _tell_recording(rooms, sid, True)
    elif isinstance(message, p.RecordStop):
        if await request.app[recordings_key].stop(sid, "officer"):
            await _tell_recording(rooms, sid, False)
    # leave, or end for good
    elif isinstance(message, p.Hangup):
        return "hangup"
    elif isinstance(message, p.End):
        # Stopped first, so the file ends where the call did.
        await request.app[recordings_key].stop(sid, "ended")
        await calls.end(sid, "officer")
        await rooms.session_ended(sid)
        return "ended"
    return None


def _count_connected(request: web.Request, room, party: Party, state: str) -> None:
    """Join->connected: from the later party's placing to both reporting connected.
    Counted once per pair of connections, and only when both are in this process."""
    party.media_up = state in ("connected", "completed")
    officer, client = room.officer, room.client
    if officer is None or client is None or not (officer.media_up and client.media_up) or officer.counted or client.counted:
        return
    if not (officer.placed_at and client.placed_at):
        return
    officer.counted = client.counted = True
    request.app[metrics_key].join_to_connected.observe(time.monotonic() - max(officer.placed_at, client.placed_at))


async def _tell_recording(rooms: RoomRegistry, session_id: int, active: bool) -> None:
    for address in ("officer", "client"):
        await rooms.tell(session_id, address, p.Recording(active=active))


@routes.get("/ws/sessions/{id}")
async def signaling(request: web.Request) -> web.StreamResponse:
    # Server-side heartbeat: a WebSocket ping every 2/3 of the timeout, and the
    # connection closed when no pong comes within half that period, so a
    # half-open socket (a phone gone without a FIN) is found within the timeout.
    timeout = request.app[settings_key].heartbeat_timeout_seconds
    ws = SignalingSocket(max_msg_size=p.TRANSPORT_MAX_BYTES, autoping=True, heartbeat=timeout * 2 / 3)
    ws.metrics = request.app[metrics_key]
    try:
        return await _signaling(request, ws)
    finally:
        if ws.prepared:
            # The code we sent, or the peer's; None when the peer vanished without a
            # close frame: counted as 1006, as browsers do.
            code = ws.sent_close_code or ws.close_code or 1006
            request.app[metrics_key].ws_closes.labels(code=str(int(code))).inc()


async def _signaling(request: web.Request, ws: SignalingSocket) -> web.StreamResponse:
    metrics = request.app[metrics_key]
    # Refused before the upgrade: an id no database column holds failed after it (issue #12).
    session_id = id_from_text(request.match_info["id"])
    if session_id is None:
        raise web.HTTPNotFound()
    if not origin_allowed(request):
        return web.json_response({"error": "cross-site", "message": "WebSocket from another site refused."}, status=403)
    pending = request.app[pending_ws_key]
    address = client_address(request)
    if not pending.acquire(address):
        return web.json_response(
            {"error": "too-many-connections", "message": "Too many connections waiting to join; try again shortly."},
            status=429, headers={"Retry-After": str(int(JOIN_TIMEOUT))},
        )
    released = False

    def spoke() -> None:
        # Counted only until the first message arrives (or the socket ends without one).
        nonlocal released
        if not released:
            released = True
            pending.release(address)

    try:
        await ws.prepare(request)
        party = await _enter(request, ws, session_id, spoke)
    finally:
        spoke()
    if party is None:
        return ws
    reason = "dropped"
    bucket = TokenBucket()
    line = chat.ChatLine(TokenBucket(chat.RATE_PER_SECOND, chat.BURST).take)
    errors = 0
    try:
        async for frame in ws:
            if frame.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                break
            if not bucket.take():
                metrics.signaling_refusals.labels(code="rate-limited").inc()
                await party.send(p.error("rate-limited", "Too many messages; this connection is closed."))
                await party.close(CLOSE_REFUSED)
                break
            try:
                message = p.parse(frame.data)
                metrics.message_received(message.type)
                stop = await _dispatch(request, party, message, line, frame.data)
            except RedisError as exc:
                rooms: RoomRegistry = request.app[rooms_key]
                _warn_unavailable(rooms, party, exc)
                await rooms.lose(party)
                break
            except (p.ProtocolError, Refusal) as exc:
                # A person typing fast is no abuse: the chat's own rate refuses the
                # line (nothing written), and the message rate above still closes a flood.
                errors += exc.code != "chat-rate-limited"
                metrics.signaling_refusals.labels(code=exc.code).inc()
                await party.send(p.error(exc.code, exc.message))
                if getattr(exc, "close", False) or errors >= MAX_ERRORS:
                    await party.close(CLOSE_REFUSED)
                    break
                continue
            if stop:
                reason = "hangup" if stop == "hangup" else reason
                break
    finally:
        if isinstance(ws.exception(), asyncio.TimeoutError):
            # No pong within the server's heartbeat: a half-open socket. Its interval
            # closes as ``timeout`` (checked here: aiohttp may cancel the handler when
            # it drops the transport, before the loop sees the error).
            reason = "timeout"
        # Shielded: a cancelled handler (shutdown; a lost connection, where aiohttp is told
        # to cancel its handler) must still hold a client's place, then leave the room and
        # log it. A shutdown closes the rooms first, which ends a hold at once, and waits
        # for the leaves still running (_signaling_ctx) before the database goes.
        leave = asyncio.ensure_future(_hold_then_leave(request, party, ws, reason))
        leaving = request.app[leaving_key]
        leaving.add(leave)
        leave.add_done_callback(leaving.discard)
        await asyncio.shield(leave)
    return ws


async def _hold_then_leave(request: web.Request, party: Party, ws: SignalingSocket, reason: str) -> None:
    await hold_place(request.app[rooms_key], party, ws, reason, request.app[settings_key].client_hold_seconds)
    await _leave(request, party, reason)


async def _leave(request: web.Request, party: Party, reason: str) -> None:
    calls = request.app[calls_key]
    rooms: RoomRegistry = request.app[rooms_key]
    if party.revoked:
        reason = "link-revoked"
    if party.role == "guest":
        await guest_socket.leave(request, party, reason)
        return
    was_admitted = party.role == "officer" or party.admitted
    if party.lost:
        await _leave_lost(request, party, was_admitted)
        return
    if party.gone:
        await party.close(1000)
        return
    done = {"logged": False}
    try:
        if party.role == "officer" and recordings_key in request.app:
            # Without the officer's console nothing reaches the recorder any more.
            room = rooms.get(party.session_id)
            if room is not None and room.officer is party and await request.app[recordings_key].stop(party.session_id, reason):
                await rooms.tell(party.session_id, "client", p.Recording(active=False))

        async def logged(_place, _old, _party):
            await calls.party_gone(party.session_id, party.role, reason, device=party.device, admitted=was_admitted)
            done["logged"] = True

        await rooms.leave(party, reason, logged)  # type: ignore[arg-type]
    except RedisError as exc:
        _warn_unavailable(rooms, party, exc)
        if done["logged"]:
            rooms.forget_local(party)
            await party.close(CLOSE_UNAVAILABLE)
        else:
            party.lost = True
            rooms.forget_local(party)
            await _leave_lost(request, party, was_admitted)


async def _leave_lost(request: web.Request, party: Party, was_admitted: bool) -> None:
    """The party was closed as ``unavailable``: stop its recording, log it from the database alone."""
    rooms: RoomRegistry = request.app[rooms_key]
    if party.role == "officer" and recordings_key in request.app:
        await request.app[recordings_key].stop(party.session_id, "unavailable")
    await request.app[calls_key].party_unavailable(
        party.session_id, party.role, device=party.device, admitted=was_admitted, at=rooms.unavailable_since()
    )
    await party.close(CLOSE_UNAVAILABLE)


# ---- wiring --------------------------------------------------------------------


async def _signaling_ctx(app: web.Application):
    settings = app[settings_key]
    # In this process, or shared through Redis (docs/deploy.md, "Several processes").
    calls, rooms, close_shared = await open_state(app[db_key], settings)
    rooms.on_ended.append(calls.discard)
    calls.on_closed = rooms.session_ended
    app[calls_key] = calls
    app[rooms_key] = rooms
    # In recorder processes when there are any (docs/deploy.md, "Recorder processes").
    remote = RemoteRecorders(settings.recorder_urls, recorder_token(settings)) if settings.recorder_urls else None
    recordings = RecordingService(app[db_key], settings, app[audit_key], remote)
    app[recordings_key] = recordings
    metrics = app[metrics_key]
    metrics.read_from(rooms=lambda: len(rooms), parties=rooms.count_parties, recordings=recordings.running, writes=calls.writes.pending)
    recordings.on_finished.append(lambda status: metrics.recordings_finished.labels(status=status).inc())
    # Ended by the API or closed as interrupted: the recording stops with the session.
    rooms.on_ended.append(lambda sid: recordings.stop(sid, "ended"))
    await calls.recover()
    if not settings.redis_url:
        # With several processes another one may be recording right now; a lone
        # process knows that whatever is still "recording" was cut by its own stop.
        await recordings.recover()
    # Active sessions that every party left are ended as abandoned (issue 18).
    sweep = AbandonedSweep(calls, rooms, settings)
    sweep.start()
    yield
    # The leaves that outlived their handlers (cancelled with their connection) are
    # logged before the call log and the database close under them: unawaited, one
    # was cut in its commit and its connection left unclosed (an aiosqlite thread
    # then failed on the closed loop, "Event loop is closed").
    if app[leaving_key]:
        await asyncio.wait(set(app[leaving_key]), timeout=LEAVE_GRACE)
    await sweep.stop()
    await calls.close()
    await recordings.recorders.close()
    if close_shared is not None:
        await close_shared()


async def _close_sockets(app: web.Application) -> None:
    """On shutdown: seal recordings, stamp calls in progress, then close every socket (bounded)."""
    if recordings_key in app:
        try:
            await app[recordings_key].stop_all("shutdown")
        except Exception:
            log.exception("stopping recordings on shutdown failed")
    if calls_key in app:
        try:
            await asyncio.wait_for(app[calls_key].checkpoint(), 5)
        except Exception:  # shutdown goes on whatever happens
            log.exception("checkpoint on shutdown failed")
    if rooms_key in app:
        try:
            await app[rooms_key].close_all(timeout=5)
        except Exception:
            log.exception("closing sockets on shutdown failed")


def setup(app: web.Application) -> None:
    """Register the signaling endpoint and its state (after the database ctx)."""
    settings = app[settings_key]
    app[pending_ws_key] = PendingHandshakes(settings.ws_pending_per_address, settings.ws_pending_total)
    app[leaving_key] = set()
    app.cleanup_ctx.append(_signaling_ctx)
    app.on_shutdown.append(_close_sockets)
    app.router.add_routes(routes)
