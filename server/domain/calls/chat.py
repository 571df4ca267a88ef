"""The text line beside a video call (issue 22): what the officer and the
client write over the signaling socket, kept with the session.

A message is committed before its sender is told it arrived (the ``chat-ack``,
docs/signaling.md), so an acknowledged message is in the record whatever
happens to the server after. A line's text is never changed; retention removes
them with their session (server/audit/personal_data.py). No HTTP and no
WebSocket here: the signaling handler and the API call these functions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.chat import ChatMessage
from server.db.models import Staff, utcnow

# What one message may hold; the protocol refuses more at the edge.
MAX_CHAT_CHARS = 1000


@dataclass(frozen=True)
class Written:
    id: int
    at: datetime


async def write(db: AsyncSession, session_id: int, sender: str, text: str, *, staff_id: int | None, device: str | None) -> Written:
    """Keep a message, stamped now, as not yet delivered; committed."""
    message = ChatMessage(session_id=session_id, sender=sender, staff_id=staff_id, device=device, text=text, delivered=False, sent_at=utcnow())
    db.add(message)
    await db.commit()
    return Written(message.id, message.sent_at)


async def mark_delivered(db: AsyncSession, message_id: int) -> None:
    """A socket held the recipient's place when the message was relayed."""
    message = await db.get(ChatMessage, message_id)
    if message is not None:
        message.delivered = True
        await db.commit()


async def messages(db: AsyncSession, session_id: int) -> list[tuple[ChatMessage, str | None]]:
    """The session's messages in the order the server took them, each with the
    name of the staff member who wrote it (None for the client's)."""
    query = (
        select(ChatMessage, Staff.name)
        .outerjoin(Staff, Staff.id == ChatMessage.staff_id)
        .where(ChatMessage.session_id == session_id)
        .order_by(ChatMessage.id)
    )
    return [(m, name) for m, name in (await db.execute(query)).all()]
