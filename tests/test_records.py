"""Attendance against wajib lapor, computed from crafted histories.

The client reports every 14 days from 1 January 2026 to 30 June 2026. Each row
is a history (dates of sessions with their outcome) seen on a given day, and
the whole attendance it must produce.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from server.db.models import Client, Evidence, GuidanceSession, Outcome, SessionStatus
from server.domain.record.ledger import attendance, caseload_sort_key

WIB = ZoneInfo("Asia/Jakarta")
START, END, EVERY = date(2026, 1, 1), date(2026, 6, 30), 14


def supervised_client(name: str = "Klien") -> Client:
    return Client(name=name, supervision_start=START, supervision_end=END, reporting_interval_days=EVERY)


def held(day: str, outcome: Outcome | None = Outcome.attended, status: SessionStatus = SessionStatus.ended, hour: int = 10) -> GuidanceSession:
    when = datetime.combine(date.fromisoformat(day), time(hour), WIB)
    return GuidanceSession(scheduled_at=when, started_at=when if outcome == Outcome.attended else None, outcome=outcome, status=status)


def d(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


A, E, N = Outcome.attended, Outcome.excused, Outcome.no_show

# story, history, today -> due, attended, excused, no_show, rate, last_attended, next_due, overdue_days, state
CASES = [
    ("before supervision starts nothing is due",
     [], "2025-12-20", (0, 0, 0, 0, None, None, "2026-01-01", 0, "not_started")),
    ("on the first day the first report is due",
     [], "2026-01-01", (1, 0, 0, 0, 0.0, None, "2026-01-01", 0, "due")),
    ("a client who never came is overdue since the start",
     [], "2026-01-11", (1, 0, 0, 0, 0.0, None, "2026-01-01", 10, "overdue")),
    ("reporting every fortnight on time is fine",
     [("2026-01-01", A), ("2026-01-15", A), ("2026-01-29", A)], "2026-02-05", (3, 3, 0, 0, 1.0, "2026-01-29", "2026-02-12", 0, "ok")),
    ("two days before the next report it is due",
     [("2026-01-01", A), ("2026-01-15", A), ("2026-01-29", A)], "2026-02-10", (3, 3, 0, 0, 1.0, "2026-01-29", "2026-02-12", 0, "due")),
    ("a missed fortnight makes the client overdue",
     [("2026-01-01", A)], "2026-01-25", (2, 1, 0, 0, 0.5, "2026-01-01", "2026-01-15", 10, "overdue")),
    ("excused and no-show sessions are counted but are not attendance",
     [("2026-01-01", A), ("2026-01-15", N), ("2026-01-29", E)], "2026-02-01", (3, 1, 1, 1, 0.333, "2026-01-01", "2026-01-15", 17, "overdue")),
    ("a cancelled session does not count even with an outcome",
     [("2026-01-01", A), ("2026-01-15", A, SessionStatus.cancelled)], "2026-01-20", (2, 1, 0, 0, 0.5, "2026-01-01", "2026-01-15", 5, "overdue")),
    ("a scheduled session without an outcome changes nothing",
     [("2026-01-01", A), ("2026-01-15", None, SessionStatus.scheduled)], "2026-01-10", (1, 1, 0, 0, 1.0, "2026-01-01", "2026-01-15", 0, "ok")),
    ("coming twice in one fortnight cannot lift the rate above 100%",
     [("2026-01-01", A), ("2026-01-03", A)], "2026-01-05", (1, 2, 0, 0, 1.0, "2026-01-03", "2026-01-17", 0, "ok")),
    ("the next report falls after the end: nothing more is due",
     [("2026-06-25", A)], "2026-06-28", (13, 1, 0, 0, 0.077, "2026-06-25", None, 0, "ok")),
    ("after the supervision period the record is completed",
     [("2026-01-01", A)], "2026-07-10", (13, 1, 0, 0, 0.077, "2026-01-01", "2026-01-15", 0, "completed")),
]


@pytest.mark.parametrize("story, history, today, expected", CASES, ids=[c[0] for c in CASES])
def test_attendance_against_wajib_lapor(story, history, today, expected):
    sessions = [held(day, *rest) for day, *rest in history]
    due, attended, excused, no_show, rate, last, next_due, overdue, state = expected
    att = attendance(supervised_client(), sessions, d(today), "Asia/Jakarta")
    assert (att.due, att.attended, att.excused, att.no_show, att.rate, att.last_attended, att.next_due, att.overdue_days, att.state) == (
        due, attended, excused, no_show, rate, d(last), d(next_due), overdue, state,
    )
    # The rate is periods met over periods due (``due`` is the same count of periods).
    assert att.periods_due == due
    assert att.rate == (round(att.periods_met / due, 3) if due else None)


def test_a_late_evening_session_counts_on_the_jakarta_date():
    # 18:30 UTC on 14 January is 01:30 WIB on 15 January.
    late = GuidanceSession(
        scheduled_at=datetime(2026, 1, 14, 18, 30, tzinfo=timezone.utc),
        started_at=datetime(2026, 1, 14, 18, 30, tzinfo=timezone.utc),
        outcome=Outcome.attended,
        status=SessionStatus.ended,
    )
    att = attendance(supervised_client(), [late], date(2026, 1, 20), "Asia/Jakarta")
    assert att.last_attended == date(2026, 1, 15)
    assert att.next_due == date(2026, 1, 29)


def test_as_dict_gives_iso_dates():
    att = attendance(supervised_client(), [held("2026-01-01")], date(2026, 1, 5), "Asia/Jakarta")
    assert att.as_dict() == {
        "due": 1, "attended": 1, "excused": 0, "no_show": 0, "rate": 1.0,
        "last_attended": "2026-01-01", "next_due": "2026-01-15", "overdue_days": 0, "state": "ok",
        "periods_due": 1, "periods_met": 1, "attended_by_evidence": {"observed": 0, "reported": 1, "roll_call": 0},
    }


def test_the_caseload_puts_the_most_overdue_first_then_due_then_fine():
    today = date(2026, 3, 1)
    histories = {
        "Fine": [("2026-02-25", A)],
        "Due soon": [("2026-02-16", A)],
        "Overdue a little": [("2026-02-10", A)],
        "Overdue a lot": [("2026-01-01", A)],
        "Completed": [],
    }
    items = []
    for name, history in histories.items():
        c = supervised_client(name)
        if name == "Completed":
            c.supervision_end = date(2026, 2, 1)
        items.append((c, attendance(c, [held(day, o) for day, o in history], today, "Asia/Jakarta")))
    ordered = [c.name for c, _a in sorted(items, key=caseload_sort_key)]
    assert ordered == ["Overdue a lot", "Overdue a little", "Due soon", "Fine", "Completed"]


# --- the bugs users found (issue #9): a future entry must clear nothing ------------


def test_a_future_attended_session_is_not_the_last_attendance_nor_counted():
    # "Hadir" on a session eleven days ahead showed "Terakhir hadir" on that date and "4 hadir dari 2".
    history = [held("2026-01-01"), held("2026-01-15"), held("2026-01-16"), held("2026-02-06")]
    att = attendance(supervised_client(), history, date(2026, 1, 26), "Asia/Jakarta")
    assert att.last_attended == date(2026, 1, 16)
    assert att.attended == 3
    assert (att.periods_met, att.periods_due, att.rate) == (2, 2, 1.0)


def test_an_overdue_client_is_not_made_tertib_by_a_future_session():
    # Overdue since 15 January; a session logged as attended for 20 March changes nothing today.
    history = [held("2026-01-01"), held("2026-03-20")]
    att = attendance(supervised_client(), history, date(2026, 3, 1), "Asia/Jakarta")
    assert att.state == "overdue"
    assert att.overdue_days == 45
    assert att.last_attended == date(2026, 1, 1)


def test_two_sessions_in_two_days_count_once_and_the_rate_never_passes_one():
    # "100% (3/2)": three attendances against two occasions. Periods: one met of five.
    history = [held("2026-01-01"), held("2026-03-01"), held("2026-03-02")]
    att = attendance(supervised_client(), history, date(2026, 3, 2), "Asia/Jakarta")
    assert att.rate is not None and att.rate <= 1
    assert (att.periods_met, att.periods_due) == (2, 5)
    assert att.rate == 0.4


def test_attended_sessions_are_counted_by_evidence():
    history = [held("2026-01-01"), held("2026-01-15"), held("2026-01-29")]
    history[0].evidence, history[1].evidence, history[2].evidence = Evidence.observed, Evidence.roll_call, Evidence.reported
    history.append(held("2026-02-02", Outcome.no_show))
    att = attendance(supervised_client(), history, date(2026, 2, 3), "Asia/Jakarta")
    assert att.attended_by_evidence == {"observed": 1, "reported": 1, "roll_call": 1}
