"""The schema of the text line beside a video call (issue 22): every message
the officer and the client wrote over the signaling socket, in the waiting
room or in the call, kept with the session as part of its record.

Kept beside ``server.db.models`` (whose ``Base`` it shares) so that the model
module stays small; ``server/db/__init__.py`` and the migrations' env import it.
Migration 0020 creates it. A line's text is never changed; ``delivered`` is
set once, after the relay.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base, utcnow


class ChatMessage(Base):
    """One message. ``sender`` is ``officer`` or ``client``; ``staff_id`` is the
    staff member who wrote it (officer); ``device`` is the client's device that
    wrote it or that it was sent to; ``delivered`` is whether a socket held the
    recipient's place when the server relayed it (server-observed, like the
    session's events): a message to nobody is kept all the same."""

    __tablename__ = "chat_message"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("guidance_session.id"), index=True)
    sender: Mapped[str] = mapped_column(String(16))
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    device: Mapped[str | None] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    delivered: Mapped[bool] = mapped_column(Boolean, default=False)
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
