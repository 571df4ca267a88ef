"""The schema of documents signed in a call (issue 22): a kontrak bimbingan
or a surat pernyataan, pushed by the PK to the client's screen during a video
session, signed there by the client (typed name and a drawn signature) and
countersigned by the PK.

Kept beside ``server.db.models`` (whose ``Base`` it shares) so that the model
module stays small; ``server/db/__init__.py`` and the migrations' env import
it. Migration 0022 creates it. Once the client signed, nothing of what was
signed changes (server/domain/documents/signing.py refuses it): an edit is a
new document, the next ``version`` of its kind for the client.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from server.db.models import Base, utcnow


class SessionDocument(Base):
    """One version of one document. ``status``: ``pending`` (pushed, not yet
    signed: its ``body`` may still be corrected, each change bumping
    ``revision``), ``signed`` (by the client: ``content_hash`` is SHA-256 over
    the canonical content and signature, ``seal`` the letter key's Ed25519
    signature over it), ``countersigned`` (by the PK: ``countersign_hash`` and
    ``countersign_seal`` the same over the countersignature). ``code`` is the
    random part of its public verification address ``/v/{code}``, shared with
    letters."""

    __tablename__ = "session_document"
    __table_args__ = (UniqueConstraint("client_id", "kind", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("guidance_session.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    version: Mapped[int] = mapped_column(Integer)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    title: Mapped[str] = mapped_column(String(200))
    body: Mapped[str] = mapped_column(Text)
    # The client's and the office's particulars the text was filled with, as they were.
    particulars: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="pending")
    code: Mapped[str] = mapped_column(String(64), unique=True)
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # The client's signature and what the server saw of it.
    signed_name: Mapped[str | None] = mapped_column(String(200))
    signature: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    signed_at: Mapped[datetime | None] = mapped_column()
    signed_user_agent: Mapped[str | None] = mapped_column(String(512))
    signed_address: Mapped[str | None] = mapped_column(String(64))
    content_hash: Mapped[str | None] = mapped_column(String(64))
    key_id: Mapped[str | None] = mapped_column(String(64))
    seal: Mapped[str | None] = mapped_column(String(128))
    # The PK's countersignature.
    countersigned_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    countersigner_name: Mapped[str | None] = mapped_column(String(200))
    countersigner_nip: Mapped[str | None] = mapped_column(String(64))
    countersigned_at: Mapped[datetime | None] = mapped_column()
    countersign_hash: Mapped[str | None] = mapped_column(String(64))
    countersign_seal: Mapped[str | None] = mapped_column(String(128))
