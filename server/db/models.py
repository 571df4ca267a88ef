"""The data model: office and working area, staff, clients, guidance sessions,
their events and note versions, and the audit trail.

Timestamps are stored in UTC (``UTCDateTime`` makes SQLite agree with
PostgreSQL) and shown in the office's time zone at the edges.
"""

from __future__ import annotations

import enum
import json
from datetime import date, datetime, timezone
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Date,
    DateTime,
    Enum,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from server.db.enums import (  # noqa: F401 (re-exported: the schema is imported from here)
    MET_WITH,
    TOPICS,
    VISIT_REASONS,
    Agreement,
    AreaLevel,
    ClientCategory,
    Evidence,
    GoalRating,
    KendalaKind,
    KendalaStatus,
    LetterKind,
    MobileEventStatus,
    Outcome,
    PlanStatus,
    Program,
    RiskCategory,
    Role,
    SessionEventKind,
    SessionMode,
    SessionStatus,
    Stage,
    ViolationDecision,
    ViolationKind,
    ViolationState,
    evidence_for,
)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class UTCDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTCDateTime column")
        value = value.astimezone(timezone.utc)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect):
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


class ChainJSON(TypeDecorator):
    """JSON stored as the audit chain encodes it (keys sorted, no whitespace,
    non-ASCII kept: ``server.audit.chain``), so that ``verify`` can hash the stored
    text as it is instead of decoding and encoding it again. The column is JSON
    on both backends, as before; values read back are the same dicts."""

    impl = JSON
    cache_ok = True
    _encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode

    def bind_processor(self, dialect):
        encode = self._encode
        return lambda value: None if value is None else encode(value)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


def _enum(cls: type[enum.Enum], name: str) -> Enum:
    # Stored as plain strings with a CHECK, so PostgreSQL and SQLite share one schema.
    return Enum(cls, name=name, native_enum=False, values_callable=lambda e: [m.value for m in e], length=32)


class Office(Base):
    __tablename__ = "office"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    city: Mapped[str] = mapped_column(String(100), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Jakarta")
    settings: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    areas: Mapped[list["Area"]] = relationship(back_populates="office")


class Area(Base):
    """One node of the office's working area: city → kecamatan → kelurahan."""

    __tablename__ = "area"
    __table_args__ = (UniqueConstraint("office_id", "level", "name", "parent_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"), index=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    level: Mapped[AreaLevel] = mapped_column(_enum(AreaLevel, "area_level"))
    name: Mapped[str] = mapped_column(String(100))

    office: Mapped[Office] = relationship(back_populates="areas")
    parent: Mapped["Area | None"] = relationship(remote_side=[id])


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"), index=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    role: Mapped[Role] = mapped_column(_enum(Role, "staff_role"))
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    # Set when an admin resets the password: the staff member may do nothing but
    # choose a new one at their next sign-in (server/security/auth.py).
    must_change_password: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # Nomor Induk Pegawai: printed under the signature on letters and reports.
    nip: Mapped[str] = mapped_column(String(30), default="", server_default="")


class StaffSession(Base):
    """A signed-in browser. The cookie holds a random token; only its hash is stored."""

    __tablename__ = "staff_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]

    staff: Mapped[Staff] = relationship(lazy="joined")


class Client(Base):
    __tablename__ = "client"
    __table_args__ = (UniqueConstraint("office_id", "register_number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"), index=True)
    officer_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    register_number: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[ClientCategory] = mapped_column(_enum(ClientCategory, "client_category"))
    program: Mapped[Program] = mapped_column(_enum(Program, "client_program"))
    supervision_start: Mapped[date] = mapped_column(Date)
    supervision_end: Mapped[date] = mapped_column(Date)
    reporting_interval_days: Mapped[int] = mapped_column(Integer)
    kelurahan: Mapped[str] = mapped_column(String(100))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    phone: Mapped[str] = mapped_column(String(32), default="")
    employment: Mapped[str] = mapped_column(String(200), default="")
    # Structured address (issue #8): the kelurahan is ``area_id`` (and its name in ``kelurahan``).
    street: Mapped[str] = mapped_column(String(200), default="", server_default="")
    rt_rw: Mapped[str] = mapped_column(String(16), default="", server_default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Raised by the database (triggers, migration 0008) whenever one of this client's
    # sessions changes in a column the evaluation reads: its per-process copy of the
    # client's sessions is reread then (server/domain/record/session_digest.py). Never written here.
    sessions_revision: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # The stages of the supervision (awal, lanjutan, akhir: each its start and reporting
    # interval; server/domain/guidance/stages.py), or null for a client kept on one
    # ``reporting_interval_days`` from start to end, as every client was before 0015.
    stage_plan: Mapped[list[dict[str, Any]] | None] = mapped_column(JSON, nullable=True)

    officer: Mapped[Staff] = relationship(lazy="joined")


class GuidanceSession(Base):
    __tablename__ = "guidance_session"
    __table_args__ = (
        Index("ix_session_client_scheduled", "client_id", "scheduled_at"),
        Index("ix_session_officer_scheduled", "officer_id", "scheduled_at"),
        Index("ix_session_office_scheduled", "office_id", "scheduled_at"),
        Index("ix_session_status", "status"),
        # The audit log sorted by duration (shortest calls first) without a full sort.
        Index("ix_session_office_duration", "office_id", "duration_seconds"),
        # The evaluation (server/domain/documents/evaluation.py) reads every session of the office
        # client by client: every column it needs is in the index, so it never reads the
        # table's rows (notes, topics...) and its per-client grouping needs no sort.
        Index("ix_session_client_evaluation", "client_id", "scheduled_at", "started_at", "status", "outcome", "mode", "evidence",
              "officer_id", "duration_seconds"),
        # The evaluation's sessions without notes (about one in ten) without reading the rest.
        Index("ix_session_without_notes", "client_id", "scheduled_at", "started_at", "status", "officer_id",
              sqlite_where=text("notes = ''"), postgresql_where=text("notes = ''")),
        # Concurrent retries of one check-in (same device key) make one session.
        UniqueConstraint("mobile_event_id", "checkin_key", name="uq_session_event_checkin_key"),
        # One standing check-in per client per mobile-counseling day, whatever the keys
        # (parallel check-ins without one made nine sessions, issue 23); a check-in
        # taken back (cancelled) leaves room for a new one. Migration 0012.
        Index("uq_session_event_client_checkin", "mobile_event_id", "client_id", unique=True,
              sqlite_where=text("mobile_event_id IS NOT NULL AND status <> 'cancelled'"),
              postgresql_where=text("mobile_event_id IS NOT NULL AND status <> 'cancelled'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"))
    officer_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    mode: Mapped[SessionMode] = mapped_column(_enum(SessionMode, "session_mode"))
    evidence: Mapped[Evidence] = mapped_column(
        _enum(Evidence, "session_evidence"), default=Evidence.reported, server_default=Evidence.reported.value
    )
    status: Mapped[SessionStatus] = mapped_column(_enum(SessionStatus, "session_status"))
    scheduled_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    # Video: seconds both parties were connected, summed over reconnects (server-observed).
    # Other modes: entered by the PK.
    duration_seconds: Mapped[int] = mapped_column(Integer, default=0)
    notes: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[Outcome | None] = mapped_column(_enum(Outcome, "session_outcome"))
    topics: Mapped[list[str]] = mapped_column(default=list)
    record: Mapped[bool] = mapped_column(Boolean, default=False)
    location: Mapped[str] = mapped_column(String(200), default="")
    # Field work (issue #8). Home visits: who was met (MET_WITH values), whether the
    # client was there, what was found and what follows; why the visit was planned.
    met_with: Mapped[list[str]] = mapped_column(JSON, default=list, server_default="[]")
    client_present: Mapped[bool | None] = mapped_column(Boolean)
    findings: Mapped[str] = mapped_column(Text, default="", server_default="")
    follow_up: Mapped[str] = mapped_column(Text, default="", server_default="")
    visit_reason: Mapped[str] = mapped_column(String(32), default="", server_default="")
    # A planned home visit is told to the client (reminders, their own page) only when
    # the PK chose so when planning it; an unannounced visit still books the client's time.
    notify_client: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # A phone session that finished a failed video call points at that call.
    follows_session_id: Mapped[int | None] = mapped_column(ForeignKey("guidance_session.id"))
    # A roll-call check-in: the event, the PK on duty who checked the client in, and the
    # device-made key that makes a retried check-in idempotent (unique per event).
    mobile_event_id: Mapped[int | None] = mapped_column(ForeignKey("mobile_event.id"), index=True)
    checked_in_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    checkin_key: Mapped[str | None] = mapped_column(String(64))
    # Bumped to revoke every join link issued so far.
    link_version: Mapped[int] = mapped_column(Integer, default=1)
    last_heartbeat_at: Mapped[datetime | None]
    notes_updated_at: Mapped[datetime | None]
    # When what happened (attended, excused, no-show) was first entered: a session entered
    # well after its own day stays marked as a late entry (server/domain/record/ledger.py).
    # Set by the record itself on every write (server/domain/record/sessions.py), migration 0009.
    outcome_entered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    client: Mapped[Client] = relationship(lazy="joined")
    officer: Mapped[Staff] = relationship(lazy="joined", foreign_keys=[officer_id])
    events: Mapped[list["SessionEvent"]] = relationship(
        order_by="SessionEvent.id", lazy="selectin", back_populates="session"
    )


class SessionEvent(Base):
    __tablename__ = "session_event"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("guidance_session.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    actor: Mapped[str] = mapped_column(String(16), default="system")  # officer | client | system
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)

    session: Mapped[GuidanceSession] = relationship(back_populates="events")


class NoteVersion(Base):
    """Every saved state of a session's notes/outcome/topics; never updated in place."""

    __tablename__ = "note_version"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("guidance_session.id"), index=True)
    notes: Mapped[str] = mapped_column(Text, default="")
    outcome: Mapped[str | None] = mapped_column(String(32))
    topics: Mapped[list[str]] = mapped_column(default=list)
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Kendala(Base):
    """A client's report of an obstacle, optionally asking to move a session,
    and the PK's answer (see server/domain/outreach/kendala.py)."""

    __tablename__ = "kendala"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("guidance_session.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # work_shift | transport_cost | illness | family | other
    message: Mapped[str] = mapped_column(Text, default="")
    requested_at: Mapped[datetime | None]  # the client's proposed new time
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | accepted | declined
    # The device (join-pass id) that sent it: rate limits and the client's own view.
    device: Mapped[str] = mapped_column(String(32), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    reply: Mapped[str] = mapped_column(Text, default="")
    answered_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    answered_at: Mapped[datetime | None]
    # The session created when an accepted kendala moved the meeting.
    new_session_id: Mapped[int | None] = mapped_column(ForeignKey("guidance_session.id"))

    new_session: Mapped["GuidanceSession | None"] = relationship(lazy="joined", foreign_keys=[new_session_id])


class Recording(Base):
    """One party's side of a recorded video call, encrypted at rest
    (server/media/crypto.py). ``path`` is a server-generated name inside
    ``recordings_dir``, never a path; ``sha256`` is of the ciphertext, so a
    backup can be checked without the key."""

    __tablename__ = "recording"

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("guidance_session.id"), index=True)
    party: Mapped[str] = mapped_column(String(16))  # officer | client
    path: Mapped[str] = mapped_column(String(128), unique=True)
    content_type: Mapped[str] = mapped_column(String(32), default="video/mp4")
    status: Mapped[str] = mapped_column(String(16), default="recording")  # recording | ready | failed
    size: Mapped[int] = mapped_column(Integer, default=0)
    duration_seconds: Mapped[float] = mapped_column(Float, default=0.0)
    sha256: Mapped[str] = mapped_column(String(64), default="")
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None]
    # Why it is not ready (the recorder's error), for the session page and the audit.
    problem: Mapped[str] = mapped_column(String(200), default="")
    # False for an audio-only recording: the party sent no video on purpose
    # ("hemat kuota", no camera), so the upload offered none. Set from the offer,
    # when the recording starts: a "ready" row holds what it says. An offered
    # video that never arrives leaves it True and the row "failed" (PITFALLS 1).
    has_video: Mapped[bool] = mapped_column(Boolean, default=True)


class AuditEntry(Base):
    """One link of the hash chain (see docs/audit.md)."""

    __tablename__ = "audit_entry"
    __table_args__ = (Index("ix_audit_at", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    at: Mapped[datetime]
    actor_id: Mapped[int | None] = mapped_column(Integer)
    actor: Mapped[str] = mapped_column(String(100), default="")
    action: Mapped[str] = mapped_column(String(64))
    target_type: Mapped[str] = mapped_column(String(32), default="")
    target_id: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(ChainJSON, default=dict)
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """A signed snapshot of the chain's head (Ed25519, key kept outside the database).

    ``kind`` is ``head`` (taken every ``audit_sign_every`` entries or on demand) or
    ``checkpoint`` (the last entry removed by retention; the new genesis)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16), default="head")
    seq: Mapped[int] = mapped_column(Integer, index=True)
    hash: Mapped[str] = mapped_column(String(64))
    signed_at: Mapped[datetime]
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))


class PortalLink(Base):
    """The client's own link (tautan klien): personal, revocable, valid until the
    end of supervision. The token is not stored: it is the row id and an HMAC
    of the id and ``salt`` under the app secret (server/domain/outreach/portal.py), so the
    PK can show it again (WhatsApp, QR) and a database copy alone opens nothing.
    Reissuing revokes the previous link."""

    __tablename__ = "portal_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    salt: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_opened_at: Mapped[datetime | None]


class ReminderMark(Base):
    """A reminder the PK marked as sent. Reminders themselves are computed each
    day from the appointments (server/domain/outreach/reminders.py); their key names the
    appointment *and its time*, so a moved appointment's reminder is new again
    and a cancelled one's disappears, while this mark stays as history."""

    __tablename__ = "reminder_mark"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(96), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("guidance_session.id"))
    kind: Mapped[str] = mapped_column(String(32))
    sent_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class NotifyOutbox(Base):
    """A reminder to send through the office's gateway (``BIMBING_NOTIFY_URL``).
    One row per reminder key, which is also the idempotency key sent to the
    gateway: a row survives a restart, and a delivery retried after one (the
    answer lost with the process) carries the same key, so the gateway can
    drop the double (server/domain/outreach/notify.py)."""

    __tablename__ = "notify_outbox"
    __table_args__ = (Index("ix_notify_outbox_state_next", "state", "next_attempt_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(96), unique=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    session_id: Mapped[int | None] = mapped_column(ForeignKey("guidance_session.id"))
    kind: Mapped[str] = mapped_column(String(32))
    phone: Mapped[str] = mapped_column(String(32))
    text: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(String(300), default="")
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sent_at: Mapped[datetime | None]


class MobileEvent(Base):
    """A mobile-counseling day (layanan bergerak) in a kelurahan: server/domain/fieldwork/mobile_events.py."""

    __tablename__ = "mobile_event"
    __table_args__ = (Index("ix_mobile_event_office_date", "office_id", "date"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    date: Mapped[date] = mapped_column(Date)
    start_time: Mapped[str] = mapped_column(String(5))  # HH:MM, office time
    end_time: Mapped[str] = mapped_column(String(5))
    kelurahan: Mapped[str] = mapped_column(String(100))
    area_id: Mapped[int | None] = mapped_column(ForeignKey("area.id"))
    venue: Mapped[str] = mapped_column(String(200), default="")
    topic: Mapped[str] = mapped_column(String(200), default="")
    client_note: Mapped[str] = mapped_column(Text, default="")
    officer_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    status: Mapped[MobileEventStatus] = mapped_column(_enum(MobileEventStatus, "mobile_event_status"), default=MobileEventStatus.planned)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MobileInvitation(Base):
    """A client invited to a mobile-counseling day; removing it deletes the row (audited)."""

    __tablename__ = "mobile_invitation"
    __table_args__ = (UniqueConstraint("event_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[int] = mapped_column(ForeignKey("mobile_event.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"))
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Letter(Base):
    """A letter the office issued about a client: registered with a number from
    the office's yearly sequence, signed with Ed25519 (server/domain/documents/letters.py),
    verifiable by anyone at ``/v/{code}``. Never deleted: revoking keeps the row."""

    __tablename__ = "letter"
    __table_args__ = (UniqueConstraint("office_id", "year", "seq"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    # None for a letter about no single client: the risalah of a sidang TPP (migration 0016).
    client_id: Mapped[int | None] = mapped_column(ForeignKey("client.id"), index=True)
    kind: Mapped[LetterKind] = mapped_column(_enum(LetterKind, "letter_kind"))
    year: Mapped[int] = mapped_column(Integer)
    seq: Mapped[int] = mapped_column(Integer)
    number: Mapped[str] = mapped_column(String(160))
    issued_on: Mapped[date] = mapped_column(Date)
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    # As printed, kept even if the signer's account changes later.
    signer_name: Mapped[str] = mapped_column(String(200))
    signer_nip: Mapped[str] = mapped_column(String(30), default="")
    signer_title: Mapped[str] = mapped_column(String(100), default="")
    office_name: Mapped[str] = mapped_column(String(200))
    client_initials: Mapped[str] = mapped_column(String(40))
    # The public verification code (random; the QR code's link).
    code: Mapped[str] = mapped_column(String(64), unique=True)
    key_id: Mapped[str] = mapped_column(String(64))
    signature: Mapped[str] = mapped_column(String(200))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    revoked_at: Mapped[datetime | None]
    revoked_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    # The revocation, signed with the letter key (migration 0014): the key's id
    # and the signature of revocation_message (server/domain/documents/letters.py).
    revocation_key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    revocation_signature: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # What the letter printed beyond the columns above (letterhead, the client's
    # particulars, the ledger's figures as of the issue date, the reason), so that
    # it reads the same whatever changes later (server/domain/documents/letters.py,
    # printed_facts). Letters issued before migration 0010 hold only the letterhead
    # it recovered from the audit trail ("version": 1), or null.
    printed: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    client: Mapped[Client | None] = relationship(lazy="joined")
