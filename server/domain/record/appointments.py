"""The one hook for what follows a moved appointment.

When a mobile-counseling event or a planned home visit changes its date or
time, the client's pending reminders and invitations must move with it.
Reminders (server/domain/outreach/reminders.py) are computed from the appointments
each day, keyed by the appointment's time, so a moved day or visit already
makes new reminders and a cancelled one's disappear: nothing is stored that
would need moving here. The hook stays the one place to add what must be
*pushed* on a move (a message to the client through the gateway, say);
callers (server/domain/fieldwork/mobile_events.py and server/domain/fieldwork/home_visits.py)
call it in the transaction that moves the appointment.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession


async def appointment_moved(
    db: AsyncSession,
    *,
    kind: str,  # "mobile_event" | "home_visit"
    target_id: int,
    client_ids: list[int],
    old_start: datetime | None,
    new_start: datetime | None,  # None: cancelled
) -> None:
    """Nothing to move today: reminders follow the appointment by themselves (see above)."""
    return None
