"""The schema of a client's slips (issue 21): violations and the steps of
their set path, the PK's decisions on the ledger's three-misses alerts, and
the sittings of the Tim Pengamat Pemasyarakatan with the cases they decide.

Kept beside ``server.db.models`` (whose ``Base`` they share) so that the
model module stays small; ``server/db/migrations/env.py`` and the domain
(server/domain/violations/) import it, so its tables are always in
``Base.metadata``. Migration 0016 creates them.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, Date, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.enums import Evidence, ViolationDecision, ViolationKind, ViolationState
from server.db.models import Base, Client, _enum, utcnow


class Violation(Base):
    """A violation the PK recorded (never the system on its own): what the
    client did, when, what happened and how it is known, and where it stands
    on its path (``state``). ``decision`` is the sidang TPP's, set when the
    sitting that decided it closed; ``keputusan`` can only follow it."""

    __tablename__ = "violation"

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    kind: Mapped[ViolationKind] = mapped_column(_enum(ViolationKind, "violation_kind"))
    occurred_on: Mapped[date] = mapped_column(Date)
    description: Mapped[str] = mapped_column(Text)
    evidence: Mapped[Evidence] = mapped_column(_enum(Evidence, "violation_evidence"))
    state: Mapped[ViolationState] = mapped_column(_enum(ViolationState, "violation_state"), default=ViolationState.dicatat)
    # The three-misses alert it confirmed ("tiga-kali-berturut-<first day of the run>"), if any.
    alert_key: Mapped[str | None] = mapped_column(String(64))
    decision: Mapped[ViolationDecision | None] = mapped_column(_enum(ViolationDecision, "violation_decision"))
    decided_sitting_id: Mapped[int | None] = mapped_column(ForeignKey("tpp_sitting.id"))
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship(lazy="joined")
    steps: Mapped[list["ViolationStep"]] = relationship(order_by="ViolationStep.id", lazy="selectin", back_populates="violation")


class ViolationStep(Base):
    """One move along the path, by a named person: from, to, the note, the
    reason of a skipped step (a supervisor's), and the letter it issued."""

    __tablename__ = "violation_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    violation_id: Mapped[int] = mapped_column(ForeignKey("violation.id"), index=True)
    from_state: Mapped[str | None] = mapped_column(String(32))
    to_state: Mapped[str] = mapped_column(String(32))
    note: Mapped[str] = mapped_column(Text, default="")
    skip_reason: Mapped[str] = mapped_column(Text, default="")
    by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    by_name: Mapped[str] = mapped_column(String(200))
    at: Mapped[datetime] = mapped_column(default=utcnow)
    letter_id: Mapped[int | None] = mapped_column(ForeignKey("letter.id"))

    violation: Mapped[Violation] = relationship(back_populates="steps")


class AlertDecision(Base):
    """The PK's answer to a three-misses alert: confirmed (a violation was
    recorded) or dismissed with a reason. One per client and run: two answers
    at once make one row (the unique key), never two violations."""

    __tablename__ = "alert_decision"
    __table_args__ = (UniqueConstraint("client_id", "alert_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"))
    alert_key: Mapped[str] = mapped_column(String(64))
    decision: Mapped[str] = mapped_column(String(16))  # confirmed | dismissed
    reason: Mapped[str] = mapped_column(Text, default="")
    violation_id: Mapped[int | None] = mapped_column(ForeignKey("violation.id"))
    decided_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    decided_at: Mapped[datetime] = mapped_column(default=utcnow)


class TppSitting(Base):
    """A sidang TPP: its day, the members present, its agenda (``cases``);
    closed only with a quorum, when its risalah is issued."""

    __tablename__ = "tpp_sitting"

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"), index=True)
    held_on: Mapped[date] = mapped_column(Date)
    member_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | closed
    created_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    closed_at: Mapped[datetime | None]
    risalah_letter_id: Mapped[int | None] = mapped_column(ForeignKey("letter.id"))

    cases: Mapped[list["TppCase"]] = relationship(order_by="TppCase.id", lazy="selectin", back_populates="sitting")


class TppCase(Base):
    """One case on a sitting's agenda: a violation at ``sidang_tpp``, a stage
    change or another matter about a client; its decision and reasons."""

    __tablename__ = "tpp_case"
    __table_args__ = (UniqueConstraint("sitting_id", "violation_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    sitting_id: Mapped[int] = mapped_column(ForeignKey("tpp_sitting.id"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    kind: Mapped[str] = mapped_column(String(32))  # pelanggaran | perubahan_tahap | lainnya
    violation_id: Mapped[int | None] = mapped_column(ForeignKey("violation.id"))
    subject: Mapped[str] = mapped_column(Text, default="")
    decision: Mapped[str | None] = mapped_column(String(32))
    reasons: Mapped[str] = mapped_column(Text, default="")
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    decided_at: Mapped[datetime | None]
    # Letters the decision produced on close (pencabutan: to the Kanwil and the Kejaksaan Negeri).
    letter_ids: Mapped[list[int]] = mapped_column(JSON, default=list)

    sitting: Mapped[TppSitting] = relationship(back_populates="cases")
    client: Mapped[Client] = relationship(lazy="joined")


CASEWORK_TABLES = (Violation, ViolationStep, AlertDecision, TppSitting, TppCase)
