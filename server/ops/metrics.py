"""Every Prometheus metric the server exports, in one place (docs/deploy.md, "Metrics").

One :class:`Metrics` per app, each with its own ``CollectorRegistry``: the
global default registry would make two apps in one process (tests, the bench)
collide on the same names. Counters are moved where the thing happens (the
signaling handler, sign-in, the audit and recording hooks wired in
server/app.py); gauges of what is open now (rooms, parties, recordings) are
read from the app's state when Prometheus scrapes, so they cannot drift.

For other parts of the server, :meth:`Metrics.gauge_family` registers a labelled
gauge under this module's registry. The reminder outbox (issue 9) is expected
to set ``bimbing_reminder_outbox{state=...}`` through
:attr:`Metrics.reminder_outbox`: it exists (empty) from the start so that a
dashboard can be built before reminders ship.
"""

from __future__ import annotations

from typing import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import CONTENT_TYPE_LATEST, generate_latest

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]

# Link opened -> both peers connected is ~0.1 s on a LAN, seconds over a bad mobile link.
JOIN_BUCKETS = (0.025, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.rooms = Gauge("bimbing_rooms", "Call rooms open in this process", registry=r)
        self.parties = Gauge("bimbing_parties_connected", "Signaling sockets in a room in this process, by role", ["role"], registry=r)
        self.join_to_connected = Histogram(
            "bimbing_join_to_connected_seconds",
            "From the later party taking its place in the room (officer joined, client admitted) to both reporting media connected",
            buckets=JOIN_BUCKETS,
            registry=r,
        )
        self._by_type: dict[str, Counter] = {}
        self.signaling_messages = Counter("bimbing_signaling_messages", "Signaling messages received, by type", ["type"], registry=r)
        self.signaling_refusals = Counter("bimbing_signaling_refusals", "Signaling errors sent, by code", ["code"], registry=r)
        self.ws_closes = Counter("bimbing_websocket_closes", "Signaling WebSockets closed, by close code", ["code"], registry=r)
        self.signin_failures = Counter("bimbing_signin_failures", "Refused staff sign-ins (wrong password, unknown user, rate limited)", ["reason"], registry=r)
        self.audit_appends = Counter("bimbing_audit_appends", "Entries appended to the audit trail, by action", ["action"], registry=r)
        self.recordings_in_progress = Gauge("bimbing_recordings_in_progress", "Party recordings running", registry=r)
        self.recordings_finished = Counter("bimbing_recordings_finished", "Party recordings sealed, by status (ready, failed)", ["status"], registry=r)
        self.writes_pending = Gauge("bimbing_call_writes_pending", "Call events and heartbeat stamps waiting for their group commit", registry=r)
        self.requests = Counter("bimbing_http_requests", "HTTP requests answered, by method and status class", ["method", "status"], registry=r)
        # Hook for the reminder outbox (issue 9): set per state (queued, sent, failed, ...).
        self.reminder_outbox = self.gauge_family("bimbing_reminder_outbox", "Reminders in the outbox, by state", ["state"])

    def message_received(self, kind: str) -> None:
        """Count one signaling message. The labelled child is kept: ``labels()``
        (a lock and a dict lookup) was 6% of the relay's CPU in py-spy."""
        child = self._by_type.get(kind)
        if child is None:
            child = self._by_type[kind] = self.signaling_messages.labels(type=kind)
        child.inc()

    def gauge_family(self, name: str, documentation: str, labels: list[str]) -> Gauge:
        """A labelled gauge in this app's registry, for a part that owns its own states."""
        return Gauge(name, documentation, labels, registry=self.registry)

    def read_from(self, *, rooms: Callable[[], int], parties: Callable[[str], int], recordings: Callable[[], int], writes: Callable[[], int]) -> None:
        """Gauges computed at scrape time from the app's state."""
        self.rooms.set_function(rooms)
        self.writes_pending.set_function(writes)
        for role in ("officer", "client"):
            self.parties.labels(role=role).set_function(lambda role=role: parties(role))
        self.recordings_in_progress.set_function(recordings)

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
