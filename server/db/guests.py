"""The schema of a third person in a video call (issue 22): the guest links a
PK issues for a session (a *penjamin*, a parent or guardian, an interpreter, a
companion) and the guests' attendance as the server observed it.

Kept beside ``server.db.models`` (whose ``Base`` it shares), like ``chat``;
``server/db/__init__.py`` and the migrations' env import it. Migration 0021
creates both tables.

The link's secret is never stored: only its SHA-256 (``token_hash``), so a
copy of the database opens no call. A link is revoked by stamping
``revoked_at``; it expires with its session (the client's join window).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base, utcnow

GUEST_ROLES = ("penjamin", "orang_tua_wali", "penerjemah", "pendamping")


class SessionGuest(Base):
    """One guest link: who (``name``), in which capacity (``role``, one of
    GUEST_ROLES), issued by whom and when, revoked by whom and when."""

    __tablename__ = "session_guest"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("guidance_session.id"), index=True)
    role: Mapped[str] = mapped_column(String(32))
    name: Mapped[str] = mapped_column(String(200))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    issued_by: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_by: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    revoked_at: Mapped[datetime | None]


class GuestAttendance(Base):
    """One stay of a guest in the call: from the admission (``joined_at``) to
    the socket's end (``left_at``, with ``left_reason``), and the media evidence
    of the client's kind (server/domain/calls/media_evidence.py): the inbound
    packets the guest's page reported in its heartbeats, and when they were
    first and last seen rising (``media_from``/``media_to``)."""

    __tablename__ = "guest_attendance"

    id: Mapped[int] = mapped_column(primary_key=True)
    guest_id: Mapped[int] = mapped_column(ForeignKey("session_guest.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("guidance_session.id"), index=True)
    joined_at: Mapped[datetime] = mapped_column(default=utcnow)
    left_at: Mapped[datetime | None]
    left_reason: Mapped[str | None] = mapped_column(String(32))
    audio_packets: Mapped[int] = mapped_column(Integer, default=0)
    video_packets: Mapped[int] = mapped_column(Integer, default=0)
    media_from: Mapped[datetime | None]
    media_to: Mapped[datetime | None]
