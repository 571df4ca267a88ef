"""The schema of where a client's guidance is going (issue 20): assessments,
the case plan's goals and versions, and the ratings of goals at sessions.

Kept beside ``server.db.models`` (whose ``Base`` they share) so that the model
module stays small; ``server/db/__init__.py`` imports it, so its tables are
always in ``Base.metadata``. Migration 0015 creates them.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from server.db.enums import Agreement, GoalRating, PlanStatus, RiskCategory
from server.db.models import Base, _enum, utcnow


class Assessment(Base):
    """The result of an instrument (the RRI: a score and a risk category) and the
    criminogenic needs found, as the PK entered them (server/domain/guidance/assessments.py)."""

    __tablename__ = "assessment"
    __table_args__ = (Index("ix_assessment_client_date", "client_id", "assessed_on"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"))
    assessed_on: Mapped[date] = mapped_column(Date)
    instrument: Mapped[str] = mapped_column(String(32))
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    category: Mapped[RiskCategory] = mapped_column(_enum(RiskCategory, "risk_category"))
    needs: Mapped[list[str]] = mapped_column(JSON, default=list)
    notes: Mapped[str] = mapped_column(Text, default="")
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PlanGoal(Base):
    """A goal of a client's case plan, the same across the plan's versions (its
    wording lives in each version's ``goals``), so that ratings follow it."""

    __tablename__ = "plan_goal"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CasePlan(Base):
    """One version of a client's rencana program pembimbingan: a draft until a
    supervisor countersigns it, then locked; a later change makes the next version."""

    __tablename__ = "case_plan"
    __table_args__ = (UniqueConstraint("client_id", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    version: Mapped[int] = mapped_column(Integer)
    status: Mapped[PlanStatus] = mapped_column(_enum(PlanStatus, "plan_status"), default=PlanStatus.draft)
    # [{"id": plan_goal.id, "need", "need_reason", "text", "steps": [...], "target_date", "helpers"}]
    goals: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    agreement: Mapped[Agreement] = mapped_column(_enum(Agreement, "plan_agreement"))
    agreement_reason: Mapped[str] = mapped_column(Text, default="")
    assessment_id: Mapped[int | None] = mapped_column(ForeignKey("assessment.id"))
    author_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    approved_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    approved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class GoalProgress(Base):
    """The PK's rating of one goal at one session (at most one per goal and session)."""

    __tablename__ = "goal_progress"
    __table_args__ = (UniqueConstraint("session_id", "goal_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("guidance_session.id"), index=True)
    goal_id: Mapped[int] = mapped_column(ForeignKey("plan_goal.id"))
    rating: Mapped[GoalRating] = mapped_column(_enum(GoalRating, "goal_rating"))
    note: Mapped[str] = mapped_column(Text, default="")
    rated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    rated_at: Mapped[datetime] = mapped_column(default=utcnow)
