"""The one hook for what follows a moved appointment.

When a mobile-counseling event or a planned home visit changes its date or
time, the client's pending reminders and invitations must move with it.
Reminders are built in issue #9, in parallel with this one; until they land
this hook does nothing. Callers (server/domain/mobile_events.py and
server/domain/home_visits.py) already call it in the transaction that moves
the appointment, so the reminders module only has to fill in the body.
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
    """No-op today; issue #9 moves or withdraws the clients' pending reminders here."""
    return None
