"""The office's own choices for guidance, kept beside its ledger rules in
``Office.settings`` (key ``guidance``) and changed with ``PUT /api/office/settings``:

- ``stage_intervals``: the reporting interval of each stage of a new client
  (days; defaults 30, 60, 90, as Bapas Jakarta Timur-Utara's monthly, every two
  months, every three months);
- ``reassessment_days``: how long an assessment holds before a reassessment is
  due (default 180; a stage change makes one due too);
- ``needs``: the need areas an assessment names and a goal serves (the
  criminogenic needs of Ditjenpas's instrument, by default).

A new client's supervision is split into thirds, one per stage.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.db.models import Office, Stage
from server.domain.errors import invalid

GUIDANCE_KEY = "guidance"
STAGES = tuple(s.value for s in Stage)
DEFAULT_STAGE_INTERVALS = {"awal": 30, "lanjutan": 60, "akhir": 90}
DEFAULT_REASSESSMENT_DAYS = 180
DEFAULT_NEEDS = ("pekerjaan", "keuangan", "tempat tinggal", "keluarga", "pergaulan", "NAPZA", "sikap dan perilaku", "pendidikan", "kesehatan")
INTERVAL_RANGE = (1, 365)
REASSESSMENT_RANGE = (30, 730)
MAX_NEEDS = 30
NEED_LENGTH = 60


@dataclass(frozen=True)
class GuidanceSettings:
    stage_intervals: dict[str, int]
    reassessment_days: int
    needs: tuple[str, ...]

    def as_dict(self) -> dict:
        return {"stage_intervals": dict(self.stage_intervals), "reassessment_days": self.reassessment_days, "needs": list(self.needs)}


def guidance_settings(office: Office) -> GuidanceSettings:
    stored = (office.settings or {}).get(GUIDANCE_KEY) or {}
    intervals = {**DEFAULT_STAGE_INTERVALS, **(stored.get("stage_intervals") or {})}
    return GuidanceSettings({s: int(intervals[s]) for s in STAGES}, int(stored.get("reassessment_days", DEFAULT_REASSESSMENT_DAYS)),
                            tuple(stored.get("needs") or DEFAULT_NEEDS))


def update_guidance(office: Office, *, stage_intervals: dict[str, int] | None = None, reassessment_days: int | None = None,
                    needs: list[str] | None = None) -> tuple[GuidanceSettings, dict[str, tuple]]:
    """Change the office's guidance settings; return them and what changed (field →
    (old, new)) for the audit trail. Validates everything before it touches the row."""
    before = guidance_settings(office)
    changes: dict = {}
    if stage_intervals is not None:
        unknown = sorted(set(stage_intervals) - set(STAGES))
        if unknown:
            raise invalid("stage_intervals", f"unknown stage {unknown[0]!r}; the stages are {', '.join(STAGES)}")
        low, high = INTERVAL_RANGE
        for stage, days in stage_intervals.items():
            if isinstance(days, bool) or not isinstance(days, int) or not low <= days <= high:
                raise invalid("stage_intervals", f"{stage}: whole days from {low} to {high}")
        changes["stage_intervals"] = {**before.stage_intervals, **stage_intervals}
    if reassessment_days is not None:
        low, high = REASSESSMENT_RANGE
        if isinstance(reassessment_days, bool) or not low <= reassessment_days <= high:
            raise invalid("reassessment_days", f"whole days from {low} to {high}")
        changes["reassessment_days"] = reassessment_days
    if needs is not None:
        cleaned = [n.strip() for n in needs]
        if not cleaned or len(cleaned) > MAX_NEEDS or any(not n or len(n) > NEED_LENGTH for n in cleaned):
            raise invalid("needs", f"1 to {MAX_NEEDS} need areas, each 1 to {NEED_LENGTH} characters")
        if len({n.casefold() for n in cleaned}) != len(cleaned):
            raise invalid("needs", "each need area once")
        changes["needs"] = cleaned
    stored = {**((office.settings or {}).get(GUIDANCE_KEY) or {}), **changes}
    office.settings = {**(office.settings or {}), GUIDANCE_KEY: stored}
    after = guidance_settings(office)
    changed = {k: (getattr(before, k), getattr(after, k)) for k in changes if getattr(before, k) != getattr(after, k)}
    return after, changed
