"""Referrals counted for the evaluation: by partner and by where each stands.

Each referral of a client in the evaluation's scope, made in its range, is
counted once, under its partner and under exactly one ``result``: the status it
is in as of now (``dirujuk``, ``diterima``, ``berjalan``, ``ditolak``) or, once
``selesai``, its outcome (``berhasil``, ``sebagian``, ``tidak_berhasil``). So a
partner's results sum to its total, and the partners' totals to the office's
(tests/test_invariants.py checks them against the clients' referral lists)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.partners import Partner, Referral, ReferralOutcome, ReferralStatus

RESULTS = ("dirujuk", "diterima", "berjalan", "ditolak", *(o.value for o in ReferralOutcome))


def result_of(status: ReferralStatus, outcome: ReferralOutcome | None) -> str:
    return outcome.value if status == ReferralStatus.selesai and outcome is not None else status.value


async def referral_figures(db: AsyncSession, client_ids: set[int], start: datetime, end: datetime) -> dict:
    """``{"total", "by_result", "by_partner": [{"partner_id", "name", "kind", "total", "by_result"}]}``
    over the referrals of ``client_ids`` made in [start, end)."""
    rows = await db.execute(
        select(Referral.client_id, Referral.status, Referral.outcome, Partner.id, Partner.name, Partner.kind)
        .join(Partner, Partner.id == Referral.partner_id)
        .where(Referral.created_at >= start, Referral.created_at < end)
    )
    partners: dict[int, dict] = {}
    overall = dict.fromkeys(RESULTS, 0)
    total = 0
    for client_id, status, outcome, pid, name, kind in rows:
        if client_id not in client_ids:
            continue
        result = result_of(ReferralStatus(status), ReferralOutcome(outcome) if outcome else None)
        p = partners.setdefault(pid, {"partner_id": pid, "name": name, "kind": getattr(kind, "value", kind), "total": 0, "by_result": dict.fromkeys(RESULTS, 0)})
        p["total"] += 1
        p["by_result"][result] += 1
        overall[result] += 1
        total += 1
    return {"total": total, "by_result": overall, "by_partner": sorted(partners.values(), key=lambda p: (-p["total"], p["name"]))}
