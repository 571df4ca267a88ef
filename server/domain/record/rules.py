"""The rules the ledger counts by, for one office.

The office's time zone, in which days are counted, comes from the deployment
(``BIMBING_TIMEZONE``, docs/deploy.md). ``min_report_minutes``, the shortest
video or phone call that meets a wajib-lapor period (a shorter one is a
contact, not a report), is the office's own, kept in ``Office.settings["rules"]``
so that a supervisor changes it in the app (``PUT /api/office/settings``).
So is ``tpp_quorum``, the members a sidang TPP needs present before it can
close (issue 21, server/domain/violations/sittings.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Office
from server.domain.errors import invalid, not_found

RULES_KEY = "rules"
DEFAULT_MIN_REPORT_MINUTES = 10
MIN_REPORT_MINUTES_RANGE = (1, 120)
DEFAULT_TPP_QUORUM = 3
TPP_QUORUM_RANGE = (1, 50)


@dataclass(frozen=True)
class Rules:
    tz: str = "Asia/Jakarta"
    # Calls (video, phone) shorter than this are contacts: they meet no period.
    min_report_minutes: int = DEFAULT_MIN_REPORT_MINUTES
    # Members present without whom a sidang TPP cannot close.
    tpp_quorum: int = DEFAULT_TPP_QUORUM

    @property
    def min_report_seconds(self) -> int:
        return self.min_report_minutes * 60

    def office_settings(self) -> dict[str, int]:
        """What the office itself chose (the JSON of ``GET /api/office/settings``)."""
        return {"min_report_minutes": self.min_report_minutes, "tpp_quorum": self.tpp_quorum}


def rules_of(office: Office, tz: str) -> Rules:
    stored = (office.settings or {}).get(RULES_KEY) or {}
    return Rules(tz=tz, min_report_minutes=int(stored.get("min_report_minutes", DEFAULT_MIN_REPORT_MINUTES)),
                 tpp_quorum=int(stored.get("tpp_quorum", DEFAULT_TPP_QUORUM)))


async def office_rules(db: AsyncSession, office_id: int, tz: str) -> Rules:
    """The rules of the office ``office_id`` (one small read; every view that
    counts wajib lapor takes its rules from here)."""
    office = await db.scalar(select(Office).where(Office.id == office_id))
    if office is None:
        raise not_found("office")
    return rules_of(office, tz)


def update_rules(office: Office, tz: str, *, min_report_minutes: int | None = None, tpp_quorum: int | None = None) -> tuple[Rules, dict[str, tuple[int, int]]]:
    """Change the office's own rules; return them and what changed (field →
    (old, new)) for the audit trail. Validates before it touches the row."""
    before = rules_of(office, tz)
    changes: dict[str, int] = {}
    if min_report_minutes is not None:
        low, high = MIN_REPORT_MINUTES_RANGE
        if isinstance(min_report_minutes, bool) or not low <= min_report_minutes <= high:
            raise invalid("min_report_minutes", f"whole minutes from {low} to {high}")
        changes["min_report_minutes"] = min_report_minutes
    if tpp_quorum is not None:
        low, high = TPP_QUORUM_RANGE
        if isinstance(tpp_quorum, bool) or not low <= tpp_quorum <= high:
            raise invalid("tpp_quorum", f"whole members from {low} to {high}")
        changes["tpp_quorum"] = tpp_quorum
    stored = {**((office.settings or {}).get(RULES_KEY) or {}), **changes}
    office.settings = {**(office.settings or {}), RULES_KEY: stored}
    after = rules_of(office, tz)
    changed = {k: (getattr(before, k), getattr(after, k)) for k in changes if getattr(before, k) != getattr(after, k)}
    return after, changed
