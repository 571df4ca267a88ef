"""Wajib lapor by reporting period: the rules that keep the rate honest."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone

from server.db.models import Client, GuidanceSession, Outcome, SessionStatus
from server.domain.record.ledger import period_of, reporting_periods

TZ = "Asia/Jakarta"
WIB = timezone(timedelta(hours=7))
START = date(2026, 1, 5)


def client(interval: int = 14, start: date = START, end: date = START + timedelta(days=364)) -> Client:
    return Client(supervision_start=start, supervision_end=end, reporting_interval_days=interval)


def attended(day: date, hour: int = 10, status: SessionStatus = SessionStatus.ended) -> GuidanceSession:
    when = datetime.combine(day, time(hour), WIB)
    return GuidanceSession(scheduled_at=when, started_at=when, outcome=Outcome.attended, status=status)


def test_the_periods_due_are_those_begun_by_the_day_the_current_one_included():
    c = client()
    assert reporting_periods(c, [], START - timedelta(days=1), TZ).due == 0
    assert reporting_periods(c, [], START, TZ).due == 1
    assert reporting_periods(c, [], START + timedelta(days=13), TZ).due == 1
    assert reporting_periods(c, [], START + timedelta(days=14), TZ).due == 2


def test_several_sessions_in_one_period_count_once_and_the_rate_never_passes_one():
    c = client()
    as_of = START + timedelta(days=20)  # two periods due
    sessions = [attended(START), attended(START + timedelta(days=1)), attended(START + timedelta(days=2))]
    p = reporting_periods(c, sessions, as_of, TZ)
    assert (p.met, p.due, p.rate) == (1, 2, 0.5)
    sessions.append(attended(START + timedelta(days=15)))
    p = reporting_periods(c, sessions, as_of, TZ)
    assert (p.met, p.due, p.rate) == (2, 2, 1.0)


def test_a_session_in_the_future_clears_nothing():
    c = client()
    as_of = START + timedelta(days=20)
    ahead = attended(as_of + timedelta(days=11))
    assert reporting_periods(c, [ahead], as_of, TZ).met == 0


def test_cancelled_and_unattended_sessions_meet_no_period():
    c = client()
    as_of = START + timedelta(days=3)
    cancelled = attended(START, status=SessionStatus.cancelled)
    no_show = GuidanceSession(scheduled_at=datetime.combine(START, time(9), WIB), outcome=Outcome.no_show, status=SessionStatus.ended)
    assert reporting_periods(c, [cancelled, no_show], as_of, TZ).met == 0


def test_a_late_evening_session_counts_on_its_jakarta_day():
    # 23:30 WIB on the last day of the first period is 16:30 UTC the same day;
    # 00:30 WIB on the next day is still the previous day in UTC.
    c = client()
    last_of_first = START + timedelta(days=13)
    late = GuidanceSession(scheduled_at=datetime.combine(last_of_first, time(23, 30), WIB), started_at=datetime.combine(last_of_first, time(23, 30), WIB), outcome=Outcome.attended, status=SessionStatus.ended)
    early = GuidanceSession(scheduled_at=datetime.combine(last_of_first + timedelta(days=1), time(0, 30), WIB).astimezone(timezone.utc), started_at=None, outcome=Outcome.attended, status=SessionStatus.ended)
    assert period_of(c, last_of_first) == 0
    p = reporting_periods(c, [late, early], last_of_first + timedelta(days=1), TZ)
    assert (p.met, p.due) == (2, 2)


def test_nothing_is_due_after_supervision_ends_beyond_its_last_period():
    c = client(interval=30, end=START + timedelta(days=89))  # three periods
    p = reporting_periods(c, [attended(START)], START + timedelta(days=400), TZ)
    assert (p.met, p.due) == (1, 3)
