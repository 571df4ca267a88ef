"""Where guidance is going, as JSON: stages, assessments, case-plan versions
and goals with their ratings (server/domain/guidance/), timestamps in the
office's time zone."""

from __future__ import annotations

from datetime import date
from typing import Any

from server.db.guidance import Assessment, CasePlan
from server.db.models import Client
from server.domain.guidance.progress import GoalLine
from server.domain.guidance.stages import current_stage, stages_of
from server.web.serialize import iso


def stages_json(client: Client, today: date) -> dict[str, Any]:
    """``stage`` (the one holding today, or null) and ``stages`` (empty for a client kept on one interval)."""
    now = current_stage(client, today)
    return {"stage": now.as_dict() if now else None, "stages": [s.as_dict() for s in stages_of(client)]}


def assessment_json(a: Assessment, tz: str) -> dict[str, Any]:
    return {"id": a.id, "client_id": a.client_id, "date": a.assessed_on.isoformat(), "instrument": a.instrument, "score": a.score,
            "category": a.category.value, "needs": list(a.needs or []), "notes": a.notes, "author_id": a.author_id,
            "created_at": iso(a.created_at, tz)}


def plan_json(plan: CasePlan, tz: str) -> dict[str, Any]:
    return {"client_id": plan.client_id, "version": plan.version, "status": plan.status.value,
            "goals": [dict(g) for g in plan.goals], "agreement": plan.agreement.value, "agreement_reason": plan.agreement_reason,
            "assessment_id": plan.assessment_id, "author_id": plan.author_id, "updated_at": iso(plan.updated_at, tz),
            "approved_by_id": plan.approved_by_id, "approved_at": iso(plan.approved_at, tz)}


def goal_line_json(line: GoalLine, tz: str) -> dict[str, Any]:
    g = line.goal
    return {"id": g["id"], "need": g["need"], "text": g["text"], "steps": list(g.get("steps") or []), "target_date": g.get("target_date"),
            "helpers": g.get("helpers", ""), "reached": line.reached, "latest_rating": line.latest,
            "ratings": [{"session_id": r.session_id, "at": iso(r.at, tz), "mode": r.mode, "rating": r.rating, "note": r.note} for r in line.ratings]}
