"""The video call's lifecycle over the database: the session log as evidence.

Every step is an event with a server timestamp. ``duration_seconds`` is the
sum of the intervals in which *both* parties' last reported ICE state was
connected *and* both parties' heartbeats showed their inbound media counters
rising (server/domain/calls/media_evidence.py), stamped here on receipt, summed over reconnects (see
docs/signaling.md §6). Each closed interval is an event carrying its exact
``seconds``; the duration is their rounded sum, written at every close, so a
crash loses at most the interval still open. ``last_heartbeat_at`` (throttled)
bounds that loss: on start-up an interval left open is closed at the last
heartbeat, and the session is resumed if both parties come back within the
grace period, or closed as ``interrupted`` at its last heartbeat. A session
that every party had left before the stop was cut by nothing: it is left to
the abandoned rule, which ends an ``active`` session nobody has been connected
to for ``abandoned_minutes`` (``end_abandoned``; the sweep that asks is
server/signaling/abandoned.py, since only the room registry knows who is
connected now).

No HTTP and no WebSocket here: the signaling handler calls these methods.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import AsyncIterator, Awaitable, Callable

from sqlalchemy import bindparam, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession, async_sessionmaker

from server.db.models import (
    GuidanceSession,
    SessionEvent,
    SessionMode,
    SessionStatus,
    utcnow,
)
from server.domain.calls import media_evidence
from server.domain.calls.intervals import OPENERS, count_interval, open_interval_since
from server.domain.calls.presence import everyone_left, last_seen
from server.domain.calls.writebatch import WriteBatcher
from server.domain.record.sessions import OPEN_STATUSES, add_event, end_session
from server.settings import Settings

log = logging.getLogger(__name__)

CONNECTED_STATES = frozenset({"connected", "completed"})


def is_open(session: GuidanceSession) -> bool:
    return session.status in OPEN_STATUSES


def device_label(user_agent: str) -> str:
    """A short, human label for the officer's waiting list ("Android Chrome")."""
    ua = user_agent or ""
    system = next(
        (name for key, name in (("Android", "Android"), ("iPhone", "iPhone"), ("iPad", "iPad"), ("Windows", "Windows"), ("Mac OS", "Mac"), ("Linux", "Linux")) if key in ua),
        "",
    )
    browser = next(
        (name for key, name in (("SamsungBrowser", "Samsung Internet"), ("Edg/", "Edge"), ("OPR/", "Opera"), ("Firefox/", "Firefox"), ("Chrome/", "Chrome"), ("Safari/", "Safari"), ("Python", "aiohttp")) if key in ua),
        "",
    )
    return (f"{system} {browser}".strip() or "Browser")[:60]


def network_of(address: str) -> str:
    """The network an address belongs to, as recorded: IPv4 cut to its /24, IPv6
    to its /48 (enough to tell "the same office or home connection" apart from
    elsewhere, without keeping a person's exact address)."""
    try:
        ip = ipaddress.ip_address((address or "").split("%", 1)[0])
    except ValueError:
        return ""
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = 24 if ip.version == 4 else 48
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def same_network(events) -> str | None:
    """The network a client joined from that the officer's console also used,
    from the session's ``officer_joined`` and ``client_waiting`` events."""
    officer = {(e.detail or {}).get("network") for e in events if e.kind == "officer_joined"} - {None, ""}
    for e in events:
        if e.kind == "client_waiting" and (e.detail or {}).get("network") in officer:
            return e.detail["network"]
    return None


@dataclass(frozen=True)
class JoinFacts:
    """What a join checks of its session, read in one go (``join_facts``)."""

    office_id: int
    officer_id: int
    mode: SessionMode
    status: SessionStatus
    link_version: int
    # Devices the officer admitted before (from the log, so across restarts).
    admitted_devices: frozenset[str] = frozenset()


# Built once, not for every join (server/db/reads.py: what each way of reading
# cost).
_JOIN_FACTS = select(
    GuidanceSession.office_id,
    GuidanceSession.officer_id,
    GuidanceSession.mode,
    GuidanceSession.status,
    GuidanceSession.link_version,
).where(GuidanceSession.id == bindparam("session_id"))
_ADMITTED_DETAILS = select(SessionEvent.detail).where(
    SessionEvent.session_id == bindparam("session_id"), SessionEvent.kind == "admitted"
)


async def join_facts(db: AsyncConnection, session_id: int, *, devices: bool) -> JoinFacts | None:
    """The session's columns a join needs and, for a client, the devices admitted
    before: plain column reads on one connection (the join path's only reads;
    each ORM load and connection checkout here cost the loop time every other
    call's messages wait for, bench/README.md "Joining at national scale")."""
    row = (await db.execute(_JOIN_FACTS, {"session_id": session_id})).first()
    if row is None:
        return None
    known: frozenset[str] = frozenset()
    if devices:
        details = (await db.execute(_ADMITTED_DETAILS, {"session_id": session_id})).scalars()
        known = frozenset(str(d.get("device")) for d in details if d and d.get("device"))
    return JoinFacts(*row, admitted_devices=known)


def log_link_opened(db: AsyncSession, session: GuidanceSession, *, device: str, label: str) -> None:
    add_event(db, session, "link_opened", "client", device=device, label=label)


@dataclass
class CallState:
    """What the log needs to remember between messages for one session."""

    media: dict[str, str] = field(default_factory=lambda: {"officer": "new", "client": "new"})
    # Per role, the last inbound media counters it reported and whether they rose
    # (server/domain/calls/media_evidence.py): time counts only while both sides' rise.
    flow: dict[str, dict] = field(default_factory=dict)
    open_since: datetime | None = None
    ever_connected: bool = False
    awaiting_resume: bool = False
    heartbeat_written: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)


def stalled_since(state: "CallState", stalled_seconds: float) -> datetime | None:
    """When a side's media really stopped, from how long it says it had been
    stopped when it reported (issue #11): never before the interval opened."""
    if stalled_seconds <= 0:
        return None
    at = utcnow() - timedelta(seconds=stalled_seconds)
    return max(at, state.open_since) if state.open_since is not None else at


class CallLog:
    def __init__(self, sessionmaker: async_sessionmaker[AsyncSession], settings: Settings):
        self._db = sessionmaker
        self._settings = settings
        self._states: dict[int, CallState] = {}
        self._timers: dict[int, asyncio.Task] = {}
        # Joins, waiting, admits and heartbeats: group commits, off the per-step path.
        self.writes = WriteBatcher(sessionmaker, max_delay=settings.write_flush_ms / 1000)
        # Set by the app: tells the room that a session closed without an officer's ``end``.
        self.on_closed: Callable[[int], Awaitable[None]] | None = None

    def _state(self, session_id: int) -> CallState:
        return self._states.setdefault(session_id, CallState())

    @asynccontextmanager
    async def _locked(self, session_id: int, *, create: bool = True) -> AsyncIterator[CallState | None]:
        """The session's state, held exclusively for one step. Every change to the
        state goes through here, so that a subclass can keep it elsewhere (Redis,
        when several processes share a call: server/signaling/shared/calls.py)."""
        state = self._state(session_id) if create else self._states.get(session_id)
        if state is None:
            yield None
            return
        async with state.lock:
            yield state

    async def _load(self, db: AsyncSession, session_id: int) -> GuidanceSession | None:
        session = await db.get(GuidanceSession, session_id)
        if session is None or session.mode != SessionMode.video or not is_open(session):
            return None
        return session

    # ---- joining --------------------------------------------------------

    async def known_devices(self, session_id: int) -> set[str]:
        """Devices the officer admitted before; remembered in the log, so across restarts."""
        async with self._db() as db:
            details = (
                await db.execute(select(SessionEvent.detail).where(SessionEvent.session_id == session_id, SessionEvent.kind == "admitted"))
            ).scalars()
            return {str(d.get("device")) for d in details if d and d.get("device")}

    async def _log(self, session_id: int, kind: str, actor: str, **detail) -> bool:
        """An event that changes no call state: written in the next group commit,
        returning once it is committed (False if the session is not open)."""
        at = utcnow()
        log.info("session %s: %s by %s", session_id, kind, actor, extra={"session_id": session_id, "event": kind, "actor": actor})
        return await self.writes.event(session_id, kind, actor, at, **detail)

    async def officer_joined(self, session_id: int, staff_username: str, **facts: str) -> bool:
        """``facts``: the console's device (``ua_family``, ``network``; see network_of).
        This and the other arrivals return False when the session was no longer
        open (it ended since the join's credential was checked): nothing written."""
        return await self._log(session_id, "officer_joined", "officer", staff=staff_username, **facts)

    async def client_waiting(self, session_id: int, device: str, label: str, **facts: str) -> bool:
        return await self._log(session_id, "client_waiting", "client", device=device, label=label, **facts)

    async def client_resumed(self, session_id: int, device: str, **facts: str) -> bool:
        """The admitted client's new socket took its place over (a change of
        network): not an admission, and the call's media is judged as before."""
        return await self._log(session_id, "client_resumed", "client", device=device, **facts)

    async def officer_resumed(self, session_id: int, staff_username: str, **facts: str) -> bool:
        """The officer's new socket took its place over under a live call (a change
        of network): the same call, its media judged as before."""
        return await self._log(session_id, "officer_resumed", "officer", staff=staff_username, **facts)

    async def denied(self, session_id: int, device: str) -> None:
        await self._log(session_id, "denied", "officer", device=device)

    async def admitted(self, session_id: int, device: str, *, automatic: bool = False) -> bool:
        """The first admit makes the session ``active`` and is its ``started_at``."""
        detail = {"device": device, "automatic": True} if automatic else {"device": device}
        actor = "system" if automatic else "officer"
        log.info("session %s: admitted by %s", session_id, actor, extra={"session_id": session_id, "event": "admitted", "actor": actor})
        return await self.writes.event(session_id, "admitted", actor, utcnow(), activate=True, **detail)

    # ---- media ------------------------------------------------------------

    async def media_state(self, session_id: int, role: str, ice_state: str, *, stalled_seconds: float = 0.0) -> None:
        """``stalled_seconds``: how long this side's media had already stopped when it
        reported (it waits out ICE hiccups first); that time is not counted."""
        async with self._locked(session_id) as state:
            before = self._both_connected(state)
            state.media[role] = ice_state
            if ice_state not in CONNECTED_STATES:
                # A new or restarted connection counts its packets from zero again.
                state.flow[role] = {"packets": 0, "bytes": 0, "flowing": False, "reason": f"ice-{ice_state}"}
            after = self._both_connected(state)
            if before == after:
                return
            async with self._db() as db:
                session = await self._load(db, session_id)
                if session is None:
                    return
                if after:
                    self._open_interval(db, session, state)
                else:
                    self._close_interval(db, session, state, role=role, reason=f"ice-{ice_state}", at=stalled_since(state, stalled_seconds))
                await db.commit()

    async def media_counters(self, session_id: int, role: str, inbound: dict) -> None:
        """A heartbeat's inbound counters: judge this side's media, and open or
        close the connected interval when the rule's answer changes. A side whose
        counters froze or contradict themselves closes it with that reason."""
        async with self._locked(session_id) as state:
            before = self._both_connected(state)
            state.flow[role] = media_evidence.judge(state.flow.get(role), inbound)
            after = self._both_connected(state)
            if before == after:
                return
            async with self._db() as db:
                session = await self._load(db, session_id)
                if session is None:
                    return
                if after:
                    self._open_interval(db, session, state)
                else:
                    self._close_interval(db, session, state, role=role, reason=state.flow[role]["reason"] or media_evidence.FROZEN)
                await db.commit()

    async def party_gone(self, session_id: int, role: str, reason: str, *, device: str | None = None, admitted: bool = True) -> None:
        """A socket closed (``dropped``/``hangup``) or was taken over (``replaced``).
        Its media counts as gone until the new connection reports again."""
        async with self._locked(session_id) as state:
            was_open = admitted and self._both_connected(state)
            if admitted:
                state.media[role] = "closed"
                state.flow.pop(role, None)
            async with self._db() as db:
                session = await self._load(db, session_id)
                if session is None:
                    return
                if was_open:
                    self._close_interval(db, session, state, role=role, reason=reason)
                if reason != "replaced":
                    detail = {"reason": reason}
                    if device:
                        detail["device"] = device
                    if not admitted:
                        detail["waiting"] = True
                    add_event(db, session, f"{role}_left", role, **detail)
                await db.commit()

    async def party_unavailable(
        self, session_id: int, role: str, *, device: str | None = None, admitted: bool = True, at: datetime | None = None
    ) -> None:
        """The socket was closed as ``unavailable``: the shared call state (Redis)
        cannot be reached, so log from the database alone. An interval the log
        shows open is closed at ``at`` (when the outage was noticed) as
        ``disconnected`` reason ``unavailable``, then ``<role>_left`` reason
        ``unavailable``. The session row is locked (PostgreSQL) so that two
        processes losing Redis together close the interval once."""
        at = at or utcnow()
        local = self._state(session_id)
        async with local.lock:
            async with self._db() as db:
                session = (
                    await db.execute(
                        select(GuidanceSession).where(GuidanceSession.id == session_id).with_for_update(of=GuidanceSession)
                    )
                ).unique().scalar_one_or_none()
                if session is None or session.mode != SessionMode.video or not is_open(session):
                    return
                opened = open_interval_since(session) if admitted else None
                if opened is not None:
                    closed_at = max(at, opened)
                    seconds = count_interval(session, (closed_at - opened).total_seconds())
                    add_event(db, session, "disconnected", "system", at=closed_at, role=role, reason="unavailable", seconds=seconds)
                    session.last_heartbeat_at = closed_at
                detail: dict = {"reason": "unavailable"}
                if device:
                    detail["device"] = device
                if not admitted:
                    detail["waiting"] = True
                add_event(db, session, f"{role}_left", role, **detail)
                await db.commit()
            local.open_since = None
            if admitted:
                local.media[role] = "closed"
                local.flow.pop(role, None)

    @staticmethod
    def _both_connected(state: CallState) -> bool:
        """Whether the call's time counts: both connected *and* both receiving media."""
        return media_evidence.counting(state.media, state.flow)

    def _open_interval(self, db: AsyncSession, session: GuidanceSession, state: CallState) -> None:
        now = utcnow()
        already = open_interval_since(session)
        if already is not None:
            # The log shows an interval open (the state that knew of it was lost,
            # e.g. Redis restarted empty): continue it rather than open a second one.
            state.ever_connected = True
            state.open_since = already
            return
        if state.awaiting_resume:
            kind = "resumed"
            state.awaiting_resume = False
            timer = self._timers.pop(session.id, None)
            if timer:
                timer.cancel()
        elif state.ever_connected or any(e.kind in OPENERS for e in session.events):
            kind = "reconnected"
        else:
            kind = "media_connected"
        state.ever_connected = True
        state.open_since = now
        add_event(db, session, kind, "system", at=now)
        # The heartbeat marks how far a crash can cut this interval back.
        session.last_heartbeat_at = now
        state.heartbeat_written = time.monotonic()

    def _close_interval(self, db: AsyncSession, session: GuidanceSession, state: CallState, *, role: str, reason: str, at: datetime | None = None) -> None:
        if state.open_since is None:
            return
        if open_interval_since(session) is None:
            # Already closed in the log (after a Redis outage, by party_unavailable).
            state.open_since = None
            return
        at = at or utcnow()
        seconds = count_interval(session, (at - state.open_since).total_seconds())
        state.open_since = None
        add_event(db, session, "disconnected", "system", at=at, role=role, reason=reason, seconds=seconds)
        session.last_heartbeat_at = at

    # ---- heartbeat and end -------------------------------------------------

    async def heartbeat(self, session_id: int) -> None:
        state = self._state(session_id)
        # Throttled: at most one write per heartbeat period per session (and process).
        if time.monotonic() - state.heartbeat_written < self._settings.heartbeat_seconds:
            return
        state.heartbeat_written = time.monotonic()
        # Written within write_flush_ms (and on shutdown): what a crash can lose, docs/signaling.md §6.
        self.writes.heartbeat(session_id, utcnow())

    async def close_for_end(self, db: AsyncSession, session: GuidanceSession, at: datetime) -> None:
        """Close the open interval at the moment the session ends (before ``ended``)."""
        async with self._locked(session.id, create=False) as state:
            if state is None:
                return
            self._close_interval(db, session, state, role="officer", reason="ended", at=at)
            state.media = {"officer": "closed", "client": "closed"}
            state.flow = {}

    async def end(self, session_id: int, actor: str = "officer") -> bool:
        """The officer's ``end`` over the WebSocket. False if it was already closed."""
        async with self._db() as db:
            session = await self._load(db, session_id)
            if session is None:
                return False
            now = utcnow()
            await self.close_for_end(db, session, now)
            end_session(db, session, actor, at=now)
            await db.commit()
        await self.discard(session_id)
        return True

    def forget(self, session_id: int) -> None:
        self._states.pop(session_id, None)
        timer = self._timers.pop(session_id, None)
        if timer:
            timer.cancel()

    async def discard(self, session_id: int) -> None:
        """The session is closed: drop its state (here, and wherever it is shared)."""
        self.forget(session_id)

    async def _recoverable(self, session_ids: list[int]) -> set[int]:
        """Which active sessions the stop cut: all of them, for a single process."""
        return set(session_ids)

    # ---- restart ---------------------------------------------------------------

    async def recover(self) -> list[int]:
        """On start-up: every ``active`` video session was cut by the stop.
        Close its open interval at the last heartbeat and wait for the parties."""
        recovered: list[int] = []
        async with self._db() as db:
            rows = (
                await db.execute(
                    select(GuidanceSession).where(GuidanceSession.status == SessionStatus.active, GuidanceSession.mode == SessionMode.video)
                )
            ).scalars().all()
            cut = await self._recoverable([session.id for session in rows])
            ever: dict[int, bool] = {}
            for session in rows:
                if session.id not in cut:
                    continue
                if everyone_left(session):
                    # Nobody was in the call when the server stopped: the stop cut
                    # nothing, and nobody is awaited. The abandoned rule ends it,
                    # counted from when they left, unless someone comes back first.
                    continue
                open_at = open_interval_since(session)
                last = session.last_heartbeat_at
                detail: dict = {"last_heartbeat_at": last.isoformat() if last else None}
                if open_at is not None:
                    closed_at = max(open_at, last or open_at)
                    seconds = count_interval(session, (closed_at - open_at).total_seconds())
                    detail.update(interval_closed_at=closed_at.isoformat(), seconds=seconds)
                add_event(db, session, "server_restarted", "system", **detail)
                ever[session.id] = open_at is not None or any(e.kind in OPENERS for e in session.events)
                recovered.append(session.id)
            await db.commit()
        for session_id in recovered:
            async with self._locked(session_id) as state:
                # Whatever the stopped process remembered is gone with it.
                state.media = {"officer": "new", "client": "new"}
                state.flow = {}
                state.open_since = None
                state.awaiting_resume = True
                state.ever_connected = ever[session_id]
        for session_id in recovered:
            self._timers[session_id] = asyncio.create_task(self._interrupt_later(session_id), name=f"resume-grace-{session_id}")
        if recovered:
            log.info("after restart, waiting %ss for sessions %s to resume", self._settings.resume_grace_seconds, recovered)
        return recovered

    async def _interrupt_later(self, session_id: int) -> None:
        await asyncio.sleep(self._settings.resume_grace_seconds)
        async with self._locked(session_id) as state:
            if not state.awaiting_resume:
                return
            async with self._db() as db:
                session = await self._load(db, session_id)
                if session is None:
                    return
                ended_at = session.last_heartbeat_at or session.started_at or utcnow()
                session.status = SessionStatus.interrupted
                session.ended_at = ended_at
                add_event(db, session, "interrupted", "system", ended_at=ended_at.isoformat(), grace_seconds=self._settings.resume_grace_seconds)
                await db.commit()
            log.info("session %s closed as interrupted (nobody resumed it)", session_id)
        self._timers.pop(session_id, None)
        await self.discard(session_id)
        if self.on_closed is not None:
            await self.on_closed(session_id)

    # ---- a call everyone left (issue 18) ----------------------------------------

    @property
    def abandoned_after(self) -> timedelta:
        return timedelta(minutes=self._settings.abandoned_minutes)

    async def idle_sessions(self, now: datetime | None = None) -> list[int]:
        """Active video sessions of which the server has logged and stamped
        nothing for ``abandoned_minutes``: those the abandoned rule may end, if
        the room registry finds nobody connected (a quiet call stamps no
        heartbeat yet is not abandoned)."""
        cutoff = (now or utcnow()) - self.abandoned_after
        latest_event = select(func.max(SessionEvent.at)).where(SessionEvent.session_id == GuidanceSession.id).scalar_subquery()
        async with self._db() as db:
            return list(
                (
                    await db.execute(
                        select(GuidanceSession.id).where(
                            GuidanceSession.status == SessionStatus.active,
                            GuidanceSession.mode == SessionMode.video,
                            or_(GuidanceSession.last_heartbeat_at.is_(None), GuidanceSession.last_heartbeat_at <= cutoff),
                            latest_event <= cutoff,
                        ).order_by(GuidanceSession.id)
                    )
                ).scalars()
            )

    async def end_abandoned(self, session_id: int) -> bool:
        """End an ``active`` video session nobody has been connected to for
        ``abandoned_minutes``: status ``ended`` at the last moment the server saw
        anything of it, event ``ended`` (actor ``system``, reason ``abandoned``)
        stamped now. An interval the log still shows open (its closing was lost
        with a process) is closed at the last heartbeat, as the restart recovery
        does. The caller holds the room and found it empty (the registry's
        ``end_if_empty``). False when the session no longer qualifies: ended
        meanwhile, seen again, or awaiting a resume after a restart (that rule's
        own timer closes it)."""
        now = utcnow()
        async with self._locked(session_id) as state:
            if state.awaiting_resume:
                return False
            async with self._db() as db:
                # Locked on PostgreSQL, so that two processes sweeping at once end it once.
                session = (
                    await db.execute(select(GuidanceSession).where(GuidanceSession.id == session_id).with_for_update(of=GuidanceSession))
                ).unique().scalar_one_or_none()
                if session is None or session.mode != SessionMode.video or session.status != SessionStatus.active:
                    return False
                idle_since = last_seen(session)
                if idle_since + self.abandoned_after > now:
                    return False
                opened = open_interval_since(session)
                if opened is not None:
                    closed_at = max(opened, session.last_heartbeat_at or opened)
                    seconds = count_interval(session, (closed_at - opened).total_seconds())
                    add_event(db, session, "disconnected", "system", at=closed_at, reason="abandoned", seconds=seconds)
                end_session(
                    db, session, "system", at=idle_since, logged_at=now,
                    reason="abandoned", idle_since=idle_since.isoformat(), abandoned_minutes=self._settings.abandoned_minutes,
                )
                await db.commit()
            state.media = {"officer": "closed", "client": "closed"}
            state.flow = {}
            state.open_since = None
        log.info("session %s ended as abandoned (nobody connected since %s)", session_id, idle_since.isoformat(), extra={"session_id": session_id, "event": "ended", "actor": "system"})
        await self.discard(session_id)
        return True

    async def checkpoint(self) -> None:
        """On a clean shutdown: stamp the heartbeat of every call in progress, so
        the restart closes its interval at this moment rather than earlier."""
        await self.writes.flush()
        await self._stamp_heartbeats([sid for sid, st in self._states.items() if st.open_since is not None])

    async def _stamp_heartbeats(self, ids: list[int]) -> None:
        if not ids:
            return
        now = utcnow()
        async with self._db() as db:
            for sid in ids:
                session = await db.get(GuidanceSession, sid)
                if session is not None and is_open(session):
                    session.last_heartbeat_at = now
            await db.commit()

    async def close(self) -> None:
        await self.writes.close()
        for timer in self._timers.values():
            timer.cancel()
        if self._timers:
            await asyncio.gather(*self._timers.values(), return_exceptions=True)
        self._timers.clear()
