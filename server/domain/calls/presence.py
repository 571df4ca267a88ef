"""Who a video session's log shows in its room, and since when nothing happened.

The room registry (server/signaling/) knows who holds a place *now*; the log
(server/domain/calls/call_log.py) is what survives a restart. Two questions
are answered from the log alone:

* :func:`everyone_left`: when the server stopped, had every party that joined
  left already? Then the stop cut no call, and start-up recovery leaves the
  session to the abandoned rule instead of waiting for a resume.
* :func:`last_seen`: the last moment the server saw anything of the session
  (its latest event, or the latest heartbeat stamp). A session nobody is
  connected to has been left since then at the latest.
"""

from __future__ import annotations

from datetime import datetime

from server.db.models import GuidanceSession
from server.domain.calls.intervals import open_interval_since


def _in_room(events) -> tuple[bool, str | None, set[str]]:
    """The officer's place, the client's device and the waiting devices, as the
    log leaves them. A socket replaced by its own party logs no leaving (its
    successor's arrival takes the place over), and a denied device is shown
    out by the server."""
    officer, client, waiting = False, None, set()
    for event in events:
        detail = event.detail or {}
        device = detail.get("device")
        kind = event.kind
        if kind in ("officer_joined", "officer_resumed"):
            officer = True
        elif kind == "officer_left":
            officer = False
        elif kind == "client_waiting":
            waiting.add(device)
        elif kind in ("admitted", "client_resumed"):
            waiting.discard(device)
            client = device
        elif kind == "denied":
            waiting.discard(device)
        elif kind == "client_left":
            if detail.get("waiting"):
                waiting.discard(device)
            elif device is None or device == client:
                client = None
        elif kind == "server_restarted":
            # Every socket went with the process that stopped.
            officer, client, waiting = False, None, set()
    return officer, client, waiting


def everyone_left(session: GuidanceSession) -> bool:
    """Whether the log shows nobody in the room and no connected interval open.
    When unsure (an arrival whose leaving the log does not show) it answers
    False: the session is then treated as cut by a stop, as before."""
    if open_interval_since(session) is not None:
        return False
    officer, client, waiting = _in_room(session.events)
    return not officer and client is None and not waiting


def last_seen(session: GuidanceSession) -> datetime:
    """The last moment the server saw anything of the session: its latest event
    or heartbeat stamp (never before it started)."""
    moments = [event.at for event in session.events]
    moments += [m for m in (session.last_heartbeat_at, session.started_at, session.created_at) if m is not None]
    return max(moments)
