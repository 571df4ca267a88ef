"""Violations and sidang TPP counted for the evaluation (issue 21).

As of the evaluation's day (``end``: the first moment after it, office time),
never later:

- ``violations``: those of the clients in scope that happened in the range
  (``occurred_on`` from ``date_from`` to the day) and were recorded by then,
  each counted once by ``kind`` and once by the ``state`` it stood at then
  (the last step taken before ``end``): a violation recorded last week and
  moved to ``teguran_1`` today counts at ``dicatat`` in last month's
  evaluation. So ``by_kind`` and ``by_state`` each sum to ``total``.
- ``tpp``: the sittings held in the range that had closed by then (``held``)
  or were still open (``open``), and the decisions of the closed ones about
  the clients in scope: a violation's (``dilanjutkan``, ``pencabutan``,
  ``selesai``) and another case's (``disetujui``, ``ditolak``, ``ditunda``).
  A sitting counts when one of its cases is about a client in scope, so a PK
  sees the sittings that dealt with their own caseload and no other.

The clients' records answer the same rows (``violations``, ``tpp_decisions``);
tests/test_one_truth.py checks that the two agree.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.casework import TppCase, TppSitting, Violation, ViolationStep
from server.db.models import ViolationDecision, ViolationKind, ViolationState
from server.domain.violations.sittings import OTHER_DECISIONS

KINDS = tuple(k.value for k in ViolationKind)
STATES = tuple(s.value for s in ViolationState)
VIOLATION_DECISIONS = tuple(d.value for d in ViolationDecision)
CHUNK = 500


async def violation_figures(db: AsyncSession, office_id: int, client_ids: set[int], date_from: date, as_of: date, end: datetime) -> dict:
    """``{"total", "by_kind", "by_state", "by_kind_state"}`` (see the module's docstring)."""
    by_kind = dict.fromkeys(KINDS, 0)
    by_state = dict.fromkeys(STATES, 0)
    by_kind_state: dict[str, dict[str, int]] = {}
    rows = list(await db.execute(
        select(Violation.id, Violation.client_id, Violation.kind)
        .where(Violation.office_id == office_id, Violation.occurred_on >= date_from, Violation.occurred_on <= as_of, Violation.created_at < end)
    ))
    rows = [r for r in rows if r.client_id in client_ids]
    state_of: dict[int, str] = {}
    ids = sorted(r.id for r in rows)
    for start in range(0, len(ids), CHUNK):
        steps = await db.execute(
            select(ViolationStep.violation_id, ViolationStep.to_state)
            .where(ViolationStep.violation_id.in_(ids[start:start + CHUNK]), ViolationStep.at < end).order_by(ViolationStep.id)
        )
        for violation_id, to_state in steps:
            state_of[violation_id] = to_state  # the last one taken by then
    for r in rows:
        kind, state = getattr(r.kind, "value", r.kind), state_of.get(r.id, ViolationState.dicatat.value)
        by_kind[kind] += 1
        by_state[state] += 1
        cell = by_kind_state.setdefault(kind, dict.fromkeys(STATES, 0))
        cell[state] += 1
    return {"total": len(rows), "by_kind": by_kind, "by_state": by_state, "by_kind_state": by_kind_state}


async def tpp_figures(db: AsyncSession, office_id: int, client_ids: set[int], date_from: date, as_of: date, end: datetime) -> dict:
    """``{"held", "open", "cases", "decisions", "other_decisions"}`` (see the module's docstring)."""
    rows = await db.execute(
        select(TppSitting.id, TppSitting.status, TppSitting.closed_at, TppCase.client_id, TppCase.violation_id, TppCase.decision)
        .join(TppCase, TppCase.sitting_id == TppSitting.id)
        .where(TppSitting.office_id == office_id, TppSitting.held_on >= date_from, TppSitting.held_on <= as_of, TppSitting.created_at < end)
    )
    decisions = dict.fromkeys(VIOLATION_DECISIONS, 0)
    others = dict.fromkeys(OTHER_DECISIONS, 0)
    held: set[int] = set()
    still_open: set[int] = set()
    for sitting_id, status, closed_at, client_id, violation_id, decision in rows:
        if client_id not in client_ids:
            continue
        closed = status == "closed" and closed_at is not None and closed_at < end
        if not closed:
            still_open.add(sitting_id)
            continue
        held.add(sitting_id)
        if decision is not None:
            (decisions if violation_id is not None else others)[decision] += 1
    return {"held": len(held), "open": len(still_open), "cases": sum(decisions.values()) + sum(others.values()),
            "decisions": decisions, "other_decisions": others}
