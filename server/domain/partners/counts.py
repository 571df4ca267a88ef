"""Referrals and community-service hours counted for the evaluation (issue 21).

Referrals: each referral of a client in the evaluation's scope, made in its
range, is counted once, under its partner, under its partner's kind and under
exactly one ``result``: the status it stood at on the evaluation's day (the
last step taken before ``end``: ``dirujuk``, ``diterima``, ``berjalan``,
``ditolak``) or, once ``selesai`` by then, its outcome (``berhasil``,
``sebagian``, ``tidak_berhasil``). So a partner's results sum to its total, and
the partners' totals (and the kinds') to the office's (tests/test_invariants.py
and tests/test_one_truth.py check them against the clients' referral lists).

Community service: the clients in scope with a ``pidana_kerja_sosial``
sentence, the hours it orders (the sentence as it stands: an order's history
is not kept), and their hours as of the day: ``approved`` (approved before
``end``), ``pending`` (entered before ``end`` and not decided by then), the
``balance`` per client summed, the clients whose hours are all done
(``complete``), and ``approved_in_range``: approved hours worked on a day of
the range. The same figures as the records' ``service_hours``
(server/domain/partners/sentences.py), summed.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.partners import (
    HoursStatus,
    Partner,
    PartnerKind,
    Referral,
    ReferralOutcome,
    ReferralStatus,
    ReferralStep,
    Sentence,
    SentenceKind,
    ServiceHours,
)
from server.domain.partners.sentences import hours_of

RESULTS = ("dirujuk", "diterima", "berjalan", "ditolak", *(o.value for o in ReferralOutcome))
KINDS = tuple(k.value for k in PartnerKind)
HOURS_FIGURES = ("clients", "ordered", "approved", "pending", "balance", "complete", "approved_in_range")
CHUNK = 500


def result_of(status: ReferralStatus, outcome: ReferralOutcome | None) -> str:
    return outcome.value if status == ReferralStatus.selesai and outcome is not None else status.value


async def _statuses_by(db: AsyncSession, referral_ids: list[int], end: datetime) -> dict[int, str]:
    """Each referral's status as of ``end``: the last step taken before it."""
    out: dict[int, str] = {}
    for start in range(0, len(referral_ids), CHUNK):
        rows = await db.execute(
            select(ReferralStep.referral_id, ReferralStep.to_status)
            .where(ReferralStep.referral_id.in_(referral_ids[start:start + CHUNK]), ReferralStep.at < end).order_by(ReferralStep.id)
        )
        for referral_id, to_status in rows:
            out[referral_id] = to_status
    return out


async def referral_figures(db: AsyncSession, client_ids: set[int], start: datetime, end: datetime) -> dict:
    """``{"total", "by_result", "by_kind": {kind: {"total", "by_result"}}, "by_partner": [{"partner_id", "name", "kind",
    "total", "by_result"}]}`` over the referrals of ``client_ids`` made in [start, end), as they stood at ``end``."""
    rows = [r for r in await db.execute(
        select(Referral.id, Referral.client_id, Referral.status, Referral.outcome, Partner.id.label("pid"), Partner.name, Partner.kind)
        .join(Partner, Partner.id == Referral.partner_id)
        .where(Referral.created_at >= start, Referral.created_at < end)
    ) if r.client_id in client_ids]
    status_then = await _statuses_by(db, sorted(r.id for r in rows), end)
    partners: dict[int, dict] = {}
    kinds: dict[str, dict] = {}
    overall = dict.fromkeys(RESULTS, 0)
    for r in rows:
        status = ReferralStatus(status_then.get(r.id, ReferralStatus.dirujuk.value))
        # The outcome is the referral's only once it had ended by then.
        outcome = ReferralOutcome(getattr(r.outcome, "value", r.outcome)) if r.outcome and status == ReferralStatus.selesai else None
        result = result_of(status, outcome)
        kind = getattr(r.kind, "value", r.kind)
        p = partners.setdefault(r.pid, {"partner_id": r.pid, "name": r.name, "kind": kind, "total": 0, "by_result": dict.fromkeys(RESULTS, 0)})
        k = kinds.setdefault(kind, {"total": 0, "by_result": dict.fromkeys(RESULTS, 0)})
        for bucket in (p, k):
            bucket["total"] += 1
            bucket["by_result"][result] += 1
        overall[result] += 1
    return {"total": len(rows), "by_result": overall, "by_kind": {k: kinds[k] for k in KINDS if k in kinds},
            "by_partner": sorted(partners.values(), key=lambda p: (-p["total"], p["name"]))}


async def service_hours_figures(db: AsyncSession, client_ids: set[int], date_from: date, as_of: date, end: datetime) -> dict:
    """``{"clients", "ordered", "approved", "pending", "balance", "complete", "approved_in_range"}``, in hours."""
    ordered: dict[int, int] = {}  # client → minutes ordered
    ids = sorted(client_ids)
    for start in range(0, len(ids), CHUNK):
        rows = await db.execute(select(Sentence.client_id, Sentence.hours_ordered)
                                .where(Sentence.client_id.in_(ids[start:start + CHUNK]), Sentence.kind == SentenceKind.pidana_kerja_sosial))
        for client_id, hours in rows:
            ordered[client_id] = round((hours or 0) * 60)
    approved = dict.fromkeys(ordered, 0)
    pending = in_range = 0
    serving = sorted(ordered)
    for start in range(0, len(serving), CHUNK):
        rows = await db.execute(
            select(ServiceHours.client_id, ServiceHours.date, ServiceHours.minutes, ServiceHours.status, ServiceHours.decided_at)
            .where(ServiceHours.client_id.in_(serving[start:start + CHUNK]), ServiceHours.created_at < end)
        )
        for client_id, day, minutes, status, decided_at in rows:
            decided = decided_at is not None and decided_at < end
            if decided and HoursStatus(status) == HoursStatus.approved:
                approved[client_id] += minutes
                in_range += minutes if date_from <= day <= as_of else 0
            elif not decided:
                pending += minutes
    balances = {c: max(ordered[c] - approved[c], 0) for c in ordered}
    return {"clients": len(ordered), "ordered": hours_of(sum(ordered.values())), "approved": hours_of(sum(approved.values())),
            "pending": hours_of(pending), "balance": hours_of(sum(balances.values())),
            "complete": sum(1 for c in ordered if ordered[c] > 0 and balances[c] == 0), "approved_in_range": hours_of(in_range)}
