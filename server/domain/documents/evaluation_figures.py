"""What the office's evaluation is made of: its filter, its window of months,
and the figures it answers (months, areas, PKs, strategies, headlines), each
with its JSON shape. The computation is in server/domain/documents/evaluation.py;
docs/api.md, "Evaluation", is the contract."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Iterable

from server.db.models import (
    Area,
    AreaLevel,
    ClientCategory,
    Evidence,
    Program,
    SessionMode,
)
from server.domain.documents.reports import month_first
from server.domain.errors import DomainError, ErrorKind
from server.domain.record.ledger import PERIOD_STATUSES

STRATEGY_MODES = (SessionMode.video, SessionMode.mobile, SessionMode.home_visit)
# Figures resting on fewer clients are not shown: too few to read anything into.
MIN_CLIENTS = 5
STRATEGY_WINDOW_DAYS = 90
MAX_MONTHS = 36


@dataclass(frozen=True)
class EvaluationFilter:
    date_from: date  # first day of the first month
    date_to: date  # last day of the last month
    officer_id: int | None = None
    program: Program | None = None
    category: ClientCategory | None = None
    city: str | None = None
    kecamatan: str | None = None
    kelurahan: str | None = None


def month_span(from_month: str, to_month: str, today: date) -> tuple[date, date]:
    """``2026-01``, ``2026-12`` → (2026-01-01, 2026-12-31); at most MAX_MONTHS,
    and never a month after the current one: the evaluation states no future as
    fact (the current month is counted as of today)."""
    start, end_first = month_first(from_month, "from"), month_first(to_month, "to")
    if end_first > date(today.year, today.month, 1):
        raise DomainError(ErrorKind.invalid, "future-period", f"to: {to_month} has not begun; the latest month is {today:%Y-%m}",
                          key="error.future_period", fields={"to": "after the current month"})
    if end_first < start:
        raise DomainError(ErrorKind.invalid, "invalid-query", "to: before from", fields={"to": "before from"})
    months = (end_first.year - start.year) * 12 + end_first.month - start.month + 1
    if months > MAX_MONTHS:
        raise DomainError(ErrorKind.invalid, "invalid-query", f"to: at most {MAX_MONTHS} months", fields={"to": f"at most {MAX_MONTHS} months"})
    return start, month_end(end_first)


def month_end(first: date) -> date:
    return date(first.year + (first.month == 12), first.month % 12 + 1, 1) - timedelta(days=1)


def months_between(start: date, end: date) -> list[date]:
    """First days of each month from ``start`` to ``end``."""
    out, d = [], date(start.year, start.month, 1)
    while d <= end:
        out.append(d)
        d = date(d.year + (d.month == 12), d.month % 12 + 1, 1)
    return out


def no_periods() -> dict[str, int]:
    return dict.fromkeys(PERIOD_STATUSES, 0)


def add_periods(total: dict[str, int], more: dict[str, int]) -> None:
    for k, n in more.items():
        total[k] += n


def periods_rate(periods: dict[str, int]) -> float | None:
    """Periods met of periods due (every status counted), never above 1."""
    due = sum(periods.values())
    return round(periods["met"] / due, 3) if due else None


def previous_span(start: date, end: date) -> tuple[date, date]:
    n = len(months_between(start, end))
    first = start
    for _ in range(n):
        first = date(first.year - (first.month == 1), (first.month - 2) % 12 + 1, 1)
    return first, start - timedelta(days=1)


@dataclass
class MonthFigures:
    month: str
    sessions_by_mode: dict[str, int] = field(default_factory=lambda: {m.value: 0 for m in SessionMode})
    sessions_by_evidence: dict[str, int] = field(default_factory=lambda: {e.value: 0 for e in Evidence})
    # The reporting periods that began in the month, each with its status as of the
    # evaluation's day (server/domain/record/ledger.py): they sum to periods_due.
    periods: dict[str, int] = field(default_factory=no_periods)
    overdue_clients: int = 0  # at the month's end, or as of today in the current month
    kendala_by_type: dict[str, dict[str, int]] = field(default_factory=dict)
    no_shows: int = 0
    # For the page and the links: the month's first and last day, and the day its
    # figures are counted to (its last day, or today in the current month).
    first: date | None = None
    last: date | None = None
    as_of: date | None = None

    @property
    def held(self) -> int:
        return sum(self.sessions_by_mode.values())

    @property
    def periods_due(self) -> int:
        return sum(self.periods.values())

    @property
    def periods_met(self) -> int:
        return self.periods["met"]

    @property
    def to_date(self) -> bool:
        """Counted as of today, the month not over yet ("per hari ini")."""
        return self.as_of is not None and self.last is not None and self.as_of < self.last

    @property
    def rate(self) -> float | None:
        return periods_rate(self.periods)

    def as_dict(self) -> dict[str, Any]:
        return {
            "month": self.month,
            "as_of": self.as_of.isoformat() if self.as_of else None,
            "to_date": self.to_date,
            "sessions_by_mode": self.sessions_by_mode,
            "sessions_by_evidence": self.sessions_by_evidence,
            "periods": self.periods,
            "periods_due": self.periods_due,
            "periods_met": self.periods_met,
            "overdue_clients": self.overdue_clients,
            "kendala_by_type": self.kendala_by_type,
            "no_shows": self.no_shows,
        }


@dataclass
class AreaFigures:
    city: str | None
    kecamatan: str | None
    kelurahan: str
    clients: int = 0
    periods: dict[str, int] = field(default_factory=no_periods)  # begun in the range, as of its day
    overdue: int = 0
    last_mobile_day: date | None = None
    client_ids: list[int] = field(default_factory=list)

    @property
    def rate(self) -> float | None:
        return periods_rate(self.periods)

    def as_dict(self) -> dict[str, Any]:
        return {
            "city": self.city, "kecamatan": self.kecamatan, "kelurahan": self.kelurahan, "clients": self.clients,
            "periods": self.periods, "rate": self.rate, "overdue": self.overdue,
            "last_mobile_day": self.last_mobile_day.isoformat() if self.last_mobile_day else None,
        }


@dataclass
class OfficerFigures:
    officer_id: int
    name: str
    caseload: int = 0
    sessions_held: int = 0
    median_duration_seconds: float | None = None
    sessions_without_notes: int = 0
    open_kendala: int = 0
    kendala_waiting_days_max: int | None = None
    kendala_waiting_days_median: float | None = None
    clients_overdue: int = 0
    # Not a PK of the office today (a former PK, or staff of another role who still
    # holds clients or held sessions in scope): listed so the table adds up to the office.
    not_pk: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "officer_id": self.officer_id, "name": self.name, "not_pk": self.not_pk, "caseload": self.caseload, "sessions_held": self.sessions_held,
            "median_duration_seconds": self.median_duration_seconds, "sessions_without_notes": self.sessions_without_notes,
            "open_kendala": self.open_kendala, "kendala_waiting_days_max": self.kendala_waiting_days_max,
            "kendala_waiting_days_median": self.kendala_waiting_days_median, "clients_overdue": self.clients_overdue,
        }


@dataclass
class StrategyFigures:
    mode: str
    clients: int
    rate_before: float | None  # None also when hidden (fewer than MIN_CLIENTS)
    rate_after: float | None
    hidden: bool

    def as_dict(self) -> dict[str, Any]:
        return {"mode": self.mode, "clients": self.clients, "rate_before": self.rate_before, "rate_after": self.rate_after, "hidden": self.hidden}


@dataclass
class Headline:
    sessions_held: int
    periods: dict[str, int]
    overdue_clients: int  # at the range's last day, or today
    no_shows: int
    kendala: int
    as_of: date | None = None

    @property
    def periods_due(self) -> int:
        return sum(self.periods.values())

    @property
    def periods_met(self) -> int:
        return self.periods["met"]

    @property
    def rate(self) -> float | None:
        return periods_rate(self.periods)

    def as_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of.isoformat() if self.as_of else None, "sessions_held": self.sessions_held, "periods": self.periods,
                "periods_due": self.periods_due, "periods_met": self.periods_met, "rate": self.rate,
                "overdue_clients": self.overdue_clients, "no_shows": self.no_shows, "kendala": self.kendala}


@dataclass
class Evaluation:
    date_from: date
    date_to: date
    as_of: date  # the day every figure is counted to: the range's last day, or today
    months: list[MonthFigures]
    areas: list[AreaFigures]
    officers: list[OfficerFigures]
    strategies: list[StrategyFigures]
    headline: Headline
    previous: Headline
    # Referrals made in the range, by partner and result (server/domain/partners/counts.py).
    referrals: dict[str, Any] = field(default_factory=dict)
    # The ratings of goals at sessions and where the clients stand (risk, case plans):
    # server/domain/guidance/progress_figures.py.
    progress: dict[str, Any] | None = None
    # Violations by kind and state, sittings of the TPP and their decisions
    # (server/domain/violations/counts.py); community-service hours (server/domain/partners/counts.py).
    violations: dict[str, Any] = field(default_factory=dict)
    tpp: dict[str, Any] = field(default_factory=dict)
    service_hours: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "from": self.date_from.strftime("%Y-%m"),
            "to": self.date_to.strftime("%Y-%m"),
            "as_of": self.as_of.isoformat(),
            "months": [m.as_dict() for m in self.months],
            "areas": [a.as_dict() for a in self.areas],
            "officers": [o.as_dict() for o in self.officers],
            "strategies": [s.as_dict() for s in self.strategies],
            "headline": self.headline.as_dict(),
            "previous": self.previous.as_dict(),
            "referrals": self.referrals,
            "progress": self.progress,
            "violations": self.violations,
            "tpp": self.tpp,
            "service_hours": self.service_hours,
        }


# --- areas ---------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    city: str | None
    kecamatan: str | None
    kelurahan: str


def place_of_clients(areas: Iterable[Area], clients: Iterable[Any]) -> dict[int, Place]:
    """Each client's place in the office's area tree, by matching the client's
    ``kelurahan`` to a kelurahan node by name (case and outer spaces ignored).
    The one place where clients meet areas: a kelurahan the tree does not know
    keeps its name with no city or kecamatan."""
    by_id = {a.id: a for a in areas}
    known: dict[str, Place] = {}
    for a in by_id.values():
        if a.level != AreaLevel.kelurahan:
            continue
        kec = by_id.get(a.parent_id) if a.parent_id else None
        city = by_id.get(kec.parent_id) if kec is not None and kec.parent_id else None
        known[a.name.strip().casefold()] = Place(city.name if city else None, kec.name if kec else None, a.name)
    out = {}
    for c in clients:
        name = (c.kelurahan or "").strip()
        out[c.id] = known.get(name.casefold()) or Place(None, None, name or "—")
    return out
