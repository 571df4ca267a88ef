"""A video session's connected intervals, read from its log.

The log (server/domain/calls/call_log.py) opens an interval with one of
``OPENERS`` and closes it with one of ``CLOSERS``; each closing event keeps the
interval's exact ``seconds``. These functions read that arithmetic back from a
session's events and nothing else, so the record's rules (a video call counts
as attended only with observed media, server/domain/record/sessions.py) can ask
without depending on the call's lifecycle.
"""

from __future__ import annotations

from datetime import datetime

from server.db.models import GuidanceSession

# Events that open a connected interval, and those that close one.
OPENERS = frozenset({"media_connected", "reconnected", "resumed"})
CLOSERS = frozenset({"disconnected", "server_restarted"})


def open_interval_since(session: GuidanceSession) -> datetime | None:
    """When the connected interval the log shows open began, or None."""
    open_at = None
    for event in session.events:
        if event.kind in OPENERS:
            open_at = event.at
        elif event.kind in CLOSERS:
            open_at = None
    return open_at


def interval_seconds(session: GuidanceSession) -> float:
    """The exact connected time recorded in the log so far."""
    return sum(float((e.detail or {}).get("seconds", 0) or 0) for e in session.events if e.kind in CLOSERS)


def count_interval(session: GuidanceSession, seconds: float) -> float:
    """An interval being closed, to the millisecond as its event keeps it, added
    to the session's duration: the duration is always the log's intervals summed
    and rounded, so a supervisor adding them up finds the same figure. (Call it
    before the closing event is in ``session.events``.)"""
    kept = round(max(0.0, seconds), 3)
    session.duration_seconds = round(interval_seconds(session) + kept)
    return kept
