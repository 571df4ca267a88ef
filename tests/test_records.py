"""Attendance against wajib lapor, computed from crafted histories.

The client reports every 14 days from 1 January 2026 to 30 June 2026. Each row
is a history (dates of sessions with their outcome) seen on a given day, and
the whole attendance it must produce.
"""

from __future__ import annotations

from datetime import date, datetime, time, timezone
from zoneinfo import ZoneInfo

import pytest

from server.db.models import Client, GuidanceSession, Outcome, SessionStatus
from server.domain.records import Attendance, attendance, caseload_sort_key

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
    assert attendance(supervised_client(), sessions, d(today), "Asia/Jakarta") == Attendance(
        due=due, attended=attended, excused=excused, no_show=no_show, rate=rate,
        last_attended=d(last), next_due=d(next_due), overdue_days=overdue, state=state,
    )


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
