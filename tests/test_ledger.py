"""The ledger of wajib lapor (server/domain/record/ledger.py), from crafted histories.

The client reports every 14 days from 1 January 2026 to 30 June 2026, so the
periods are 1–14 January, 15–28 January, 29 January–11 February, and so on, the
last one cut short on 30 June. Each row is a history (sessions with their day
and outcome) seen on a given day, and everything the ledger must say of it.
Dates are fixed: the ledger is a pure function of the history and the day.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server.db.models import Client, Evidence, GuidanceSession, Outcome, SessionMode, SessionStatus
from server.domain.record.ledger import (
    PERIOD_STATUSES,
    Ledger,
    SessionJudge,
    attendance,
    caseload_sort_key,
    ledger_of,
    period_list,
    session_day,
    stage_starts,
    verdict,
)
from server.domain.errors import DomainError
from server.domain.guidance.stages import current_stage, default_stage_plan, move_stage
from server.domain.record.rules import Rules
from server.domain.record.session_digest import day_number
from server.domain.violations.alerts import RUN_LENGTH, runs_of

WIB = ZoneInfo("Asia/Jakarta")
START, END, EVERY = date(2026, 1, 1), date(2026, 6, 30), 14
RULES = Rules(tz="Asia/Jakarta", min_report_minutes=10)


def supervised_client(name: str = "Klien", start: date = START, end: date = END, every: int = EVERY) -> Client:
    return Client(name=name, supervision_start=start, supervision_end=end, reporting_interval_days=every)


def held(day: str | date, outcome: Outcome | None = Outcome.attended, status: SessionStatus = SessionStatus.ended, *,
         mode: SessionMode = SessionMode.office, minutes: int = 30, hour: int = 10) -> GuidanceSession:
    day = date.fromisoformat(day) if isinstance(day, str) else day
    when = datetime.combine(day, time(hour), WIB)
    return GuidanceSession(scheduled_at=when, started_at=when if outcome == Outcome.attended else None, outcome=outcome, status=status,
                           mode=mode, duration_seconds=minutes * 60 if outcome == Outcome.attended else 0)


def d(text: str | None) -> date | None:
    return date.fromisoformat(text) if text else None


A, E, N = Outcome.attended, Outcome.excused, Outcome.no_show

# story, history, today -> (met, excused, missed, open), state, overdue_days, next_due, last_attended
CASES = [
    ("before supervision starts nothing is due",
     [], "2025-12-20", ((0, 0, 0, 0), "not_started", 0, "2026-01-14", None)),
    ("on the first day the first period is open, with two weeks to report",
     [], "2026-01-01", ((0, 0, 0, 1), "ok", 0, "2026-01-14", None)),
    ("three days before the first period ends the report is due",
     [], "2026-01-11", ((0, 0, 0, 1), "due", 0, "2026-01-14", None)),
    ("a client who never came is overdue once the first period has ended",
     [], "2026-01-20", ((0, 0, 1, 1), "overdue", 6, "2026-01-14", None)),
    ("reporting every fortnight meets every period",
     [("2026-01-01", A), ("2026-01-15", A), ("2026-01-29", A)], "2026-02-05", ((3, 0, 0, 0), "ok", 0, "2026-02-25", "2026-01-29")),
    ("two days before the open period ends it is due",
     [("2026-01-01", A), ("2026-01-15", A)], "2026-02-09", ((2, 0, 0, 1), "due", 0, "2026-02-11", "2026-01-15")),
    ("a missed period makes the client overdue from its last day",
     [("2026-01-01", A)], "2026-02-01", ((1, 0, 1, 1), "overdue", 4, "2026-01-28", "2026-01-01")),
    ("an excused absence excuses its period; a no-show misses it",
     [("2026-01-01", A), ("2026-01-15", N), ("2026-01-29", E)], "2026-02-01", ((1, 1, 1, 0), "ok", 0, "2026-02-25", "2026-01-01")),
    ("a cancelled session meets nothing even with an outcome",
     [("2026-01-01", A), ("2026-01-15", A, SessionStatus.cancelled)], "2026-01-20", ((1, 0, 0, 1), "ok", 0, "2026-01-28", "2026-01-01")),
    ("a scheduled session without an outcome changes nothing",
     [("2026-01-01", A), ("2026-01-15", None, SessionStatus.scheduled)], "2026-01-10", ((1, 0, 0, 0), "ok", 0, "2026-01-28", "2026-01-01")),
    ("coming twice in one fortnight meets one period: the rate never passes 100%",
     [("2026-01-01", A), ("2026-01-03", A)], "2026-01-05", ((1, 0, 0, 0), "ok", 0, "2026-01-28", "2026-01-03")),
    ("two missed in a row count from the first one's end",
     [("2026-01-01", A)], "2026-02-14", ((1, 0, 2, 1), "overdue", 17, "2026-01-28", "2026-01-01")),
    ("the last period is cut at the end of supervision and nothing follows it",
     [("2026-06-25", A)], "2026-06-28", ((1, 0, 12, 0), "ok", 0, None, "2026-06-25")),
    ("after the supervision period the record is completed, its periods closed",
     [("2026-01-01", A)], "2026-07-10", ((1, 0, 12, 0), "completed", 0, None, "2026-01-01")),
]


@pytest.mark.parametrize("story, history, today, expected", CASES, ids=[c[0] for c in CASES])
def test_each_period_has_one_status_and_the_standing_follows_from_them(story, history, today, expected):
    sessions = [held(day, *rest) for day, *rest in history]
    (met, excused, missed, open_), state, overdue, next_due, last = expected
    att = attendance(supervised_client(), sessions, d(today), RULES)
    assert att.periods == {"met": met, "excused": excused, "missed": missed, "open": open_}
    assert (att.state, att.overdue_days, att.next_due, att.last_attended) == (state, overdue, d(next_due), d(last))
    assert att.periods_due == sum(att.periods.values())
    assert att.rate == (round(met / att.periods_due, 3) if att.periods_due else None)
    listed = period_list(supervised_client(), sessions, d(today), RULES)
    assert [p.status for p in listed].count("met") == met and len(listed) == att.periods_due


def test_sessions_are_counted_apart_from_periods():
    # "11 obligations next to Hadir 4 + Izin 1 + Tidak hadir 7 = 12": sessions are not periods.
    history = [held("2026-01-01"), held("2026-01-02"), held("2026-01-15", N), held("2026-01-16", N), held("2026-01-29", E)]
    att = attendance(supervised_client(), history, date(2026, 2, 1), RULES)
    assert (att.attended, att.no_show, att.excused) == (2, 2, 1)
    assert att.periods == {"met": 1, "excused": 1, "missed": 1, "open": 0}
    assert att.as_dict()["sessions"] == {"attended": 2, "excused": 1, "no_show": 2, "contacts": 0}


def test_a_call_shorter_than_the_office_minimum_is_a_contact_not_a_report():
    # A 73-second video call turned "Terlambat 58 hari" into "Tertib" for a whole period.
    short = held("2026-03-01", mode=SessionMode.video, minutes=0)
    short.duration_seconds = 73
    att = attendance(supervised_client(), [held("2026-01-01"), short], date(2026, 3, 2), RULES)
    assert att.state == "overdue"
    assert att.last_attended == date(2026, 1, 1)
    assert (att.attended, att.contacts) == (2, 1)
    assert verdict(short, date(2026, 3, 2), RULES) == "too_short"
    ten_minutes = held("2026-03-01", mode=SessionMode.video, minutes=10)
    assert verdict(ten_minutes, date(2026, 3, 2), RULES) is None
    assert attendance(supervised_client(), [held("2026-01-01"), ten_minutes], date(2026, 3, 2), RULES).state == "ok"


@pytest.mark.parametrize("mode, minutes, meets", [
    (SessionMode.video, 9, False), (SessionMode.video, 10, True), (SessionMode.phone, 5, False), (SessionMode.phone, 12, True),
    (SessionMode.office, 1, True), (SessionMode.home_visit, 1, True), (SessionMode.mobile, 0, True),
])
def test_only_calls_are_weighed_by_their_length(mode, minutes, meets):
    s = held("2026-01-05", mode=mode, minutes=minutes)
    assert (verdict(s, date(2026, 1, 6), RULES) is None) == meets
    # The office's own minimum is the one used.
    assert verdict(s, date(2026, 1, 6), Rules(tz="Asia/Jakarta", min_report_minutes=1)) is None


@pytest.mark.parametrize("session, reason", [
    (held("2026-01-05", A, SessionStatus.cancelled), "cancelled"),
    (held("2026-01-09", A), "future"),
    (held("2026-01-05", N), "not_attended"),
    (held("2026-01-05", None, SessionStatus.scheduled), "not_attended"),
    (held("2026-01-05", mode=SessionMode.phone, minutes=3), "too_short"),
], ids=["cancelled", "future", "no-show", "no outcome yet", "short phone call"])
def test_every_session_says_why_it_does_not_meet_its_period(session, reason):
    judged = SessionJudge(RULES, date(2026, 1, 6), 3).judge(session)
    assert (judged.meets_reporting, judged.reporting_reason) == (False, reason)


def test_a_session_entered_long_after_its_day_is_a_late_entry():
    s = held("2026-01-05")
    s.outcome_entered_at = datetime.combine(date(2026, 1, 9), time(9), WIB)
    judge = SessionJudge(RULES, date(2026, 2, 1), 3)
    assert judge.judge(s).late_entry is True and judge.judge(s).entered_on == date(2026, 1, 9)
    s.outcome_entered_at = datetime.combine(date(2026, 1, 8), time(9), WIB)
    assert judge.judge(s).late_entry is False


def test_a_late_evening_session_counts_on_the_jakarta_date():
    # 18:30 UTC on 14 January is 01:30 WIB on 15 January: the second period.
    late = GuidanceSession(scheduled_at=datetime(2026, 1, 14, 18, 30, tzinfo=timezone.utc), started_at=datetime(2026, 1, 14, 18, 30, tzinfo=timezone.utc),
                           outcome=Outcome.attended, status=SessionStatus.ended, mode=SessionMode.office, duration_seconds=1800)
    att = attendance(supervised_client(), [late], date(2026, 1, 20), RULES)
    assert att.last_attended == date(2026, 1, 15)
    assert att.periods == {"met": 1, "excused": 0, "missed": 1, "open": 0}


def test_a_future_entry_clears_nothing_today():
    # "Hadir" on a session eleven days ahead showed "Terakhir hadir" on that date and "4 hadir dari 2".
    history = [held("2026-01-01"), held("2026-01-15"), held("2026-01-16"), held("2026-02-06")]
    att = attendance(supervised_client(), history, date(2026, 1, 26), RULES)
    assert att.last_attended == date(2026, 1, 16)
    assert att.attended == 3
    assert att.periods == {"met": 2, "excused": 0, "missed": 0, "open": 0}
    overdue = attendance(supervised_client(), [held("2026-01-01"), held("2026-03-20")], date(2026, 3, 1), RULES)
    assert (overdue.state, overdue.last_attended) == ("overdue", date(2026, 1, 1))


def test_attended_sessions_are_counted_by_evidence():
    history = [held("2026-01-01"), held("2026-01-15"), held("2026-01-29")]
    history[0].evidence, history[1].evidence, history[2].evidence = Evidence.observed, Evidence.roll_call, Evidence.reported
    history[0].mode, history[0].duration_seconds = SessionMode.video, 1200
    history.append(held("2026-02-02", Outcome.no_show))
    att = attendance(supervised_client(), history, date(2026, 2, 3), RULES)
    assert att.attended_by_evidence == {"observed": 1, "reported": 1, "roll_call": 1}


def test_the_caseload_puts_the_most_overdue_first_then_due_then_fine():
    today = date(2026, 3, 9)  # the period of 26 February to 11 March is open, two days left
    histories = {
        "Fine": [("2026-03-02", A)],
        "Due soon": [("2026-02-16", A)],
        "Overdue a little": [("2026-02-01", A)],
        "Overdue a lot": [("2026-01-01", A)],
        "Completed": [],
    }
    items = []
    for name, history in histories.items():
        c = supervised_client(name)
        if name == "Completed":
            c.supervision_end = date(2026, 2, 1)
        items.append((c, attendance(c, [held(day, o) for day, o in history], today, RULES)))
    by_name = {c.name: a for c, a in items}
    assert [by_name[n].state for n in histories] == ["ok", "due", "overdue", "overdue", "completed"]
    ordered = [c.name for c, _a in sorted(items, key=caseload_sort_key)]
    assert ordered == ["Overdue a lot", "Overdue a little", "Due soon", "Fine", "Completed"]


# --- properties over any history -------------------------------------------------------

histories = st.lists(
    st.tuples(st.integers(-20, 220), st.sampled_from([A, E, N, None]), st.sampled_from(list(SessionMode)), st.integers(0, 40),
              st.booleans()),
    max_size=25,
)


# Stages: none (one interval), or the days after the start the lanjutan and akhir stages
# begin (in any order, possibly outside supervision: the ledger keeps those that fit) and their intervals.
stagings = st.one_of(st.none(), st.tuples(st.integers(0, 220), st.integers(0, 220), st.integers(1, 60), st.integers(1, 90)))


def staged_plan(interval: int, length: int, staging) -> list[dict] | None:
    if staging is None:
        return None
    second, third, every2, every3 = staging
    second, third = sorted((second, third))
    return [{"stage": name, "start": (START + timedelta(days=offset)).isoformat(), "interval_days": every}
            for name, offset, every in (("awal", 0, interval), ("lanjutan", second, every2), ("akhir", third, every3))]


@settings(max_examples=300, deadline=None)
@given(history=histories, interval=st.integers(1, 60), length=st.integers(0, 200), seen=st.integers(-10, 240), staging=stagings)
def test_the_statuses_always_sum_to_the_periods_due_and_the_standing_agrees(history, interval, length, seen, staging):
    client = supervised_client(every=interval, end=START + timedelta(days=length))
    client.stage_plan = staged_plan(interval, length, staging)
    sessions = []
    for offset, outcome, mode, minutes, cancelled in history:
        s = held(START + timedelta(days=offset), outcome, SessionStatus.cancelled if cancelled else SessionStatus.ended, mode=mode, minutes=minutes)
        sessions.append(s)
    as_of = START + timedelta(days=seen)
    att = attendance(client, sessions, as_of, RULES)
    periods = period_list(client, sessions, as_of, RULES)
    n = day_number(as_of)
    ledger = Ledger(client.supervision_start, client.supervision_end, interval, [], [], stage_starts(client))
    assert sum(att.periods.values()) == att.periods_due == len(periods) == ledger.due(n)
    assert att.periods == {s: [p.status for p in periods].count(s) for s in PERIOD_STATUSES}
    assert att.rate is None or 0 <= att.rate <= 1
    assert att.periods["open"] <= 1 and (att.periods["open"] == 0 or periods[-1].status == "open")
    # Periods tile supervision: consecutive, each within it, none after the day counted to.
    for before, after in zip(periods, periods[1:]):
        assert after.start == before.end + timedelta(days=1)
    assert all(client.supervision_start <= p.start <= p.end <= client.supervision_end and p.start <= as_of for p in periods)
    # Each period lies within one stage, no longer than that stage's interval, and a stage begins a period.
    starts = sorted({day for day, _ in stage_starts(client) if day <= client.supervision_end} | {client.supervision_start})
    for p in periods:
        stage_first = max(day for day in starts if day <= p.start)
        stage_last = min([day - timedelta(days=1) for day in starts if day > p.start] + [client.supervision_end])
        every = dict(stage_starts(client)).get(stage_first, interval) if client.stage_plan else interval
        assert stage_first <= p.start <= p.end <= stage_last and (p.end - p.start).days < every
    assert {p.start for p in periods} >= {day for day in starts if day <= as_of}
    # The standing is what the periods say.
    if att.state == "overdue":
        assert periods[-1].status == "open" and periods[-2].status == "missed"
        assert att.overdue_days == (as_of - att.next_due).days > 0
    if as_of < client.supervision_start:
        assert att.state == "not_started" and att.periods_due == 0
    elif as_of > client.supervision_end:
        assert att.state == "completed" and att.periods["open"] == 0
    else:
        assert att.state in ("ok", "due", "overdue")
        assert (periods[-1].status == "open" and len(periods) > 1 and periods[-2].status == "missed") == (att.state == "overdue")
    # Nothing after the day counted to counts, and the last report is never after it.
    assert att.last_attended is None or att.last_attended <= as_of
    # Each status from first principles, apart from the ledger's running sums: a session
    # that meets reporting, else an excused absence, within the period by the day counted to.
    counted = [s for s in sessions if s.status != SessionStatus.cancelled and session_day(s, RULES.tz) <= as_of]
    met_days = [session_day(s, RULES.tz) for s in counted if verdict(s, as_of, RULES) is None]
    excused_days = [session_day(s, RULES.tz) for s in counted if s.outcome == Outcome.excused]
    for p in periods:
        seen_to = min(p.end, as_of)
        expected = ("met" if any(p.start <= day <= seen_to for day in met_days) else
                    "excused" if any(p.start <= day <= seen_to for day in excused_days) else
                    "missed" if p.end < as_of else "open")
        assert p.status == expected, (p, met_days, excused_days)
    # A ledger asked about a later day first (the evaluation asks one ledger about many
    # days) answers the same about this one.
    asked_later = ledger_of(client, sessions, as_of, RULES)
    asked_later.counts(n + 400)
    assert asked_later.counts(n) == att.periods and asked_later.statuses(n) == [p.status for p in periods]
    # The runs of missed periods a PK is alerted to are the runs in the periods' table.
    statuses = "".join("x" if p.status == "missed" else "." for p in periods)
    expected_runs = []
    for i, p in enumerate(periods):
        if statuses[i] == "x" and (i == 0 or statuses[i - 1] != "x"):
            length = len(statuses[i:]) - len(statuses[i:].lstrip("x"))
            if length >= RUN_LENGTH:
                expected_runs.append((p.start, periods[i + length - 1].end, length))
    client.id, client.officer_id = 1, 1
    assert [(r.first_day, r.last_day, r.periods) for r in runs_of(client, sessions, as_of, RULES)] == expected_runs


# --- stages: the periods follow each stage's interval ----------------------------------


def test_a_staged_client_reports_monthly_then_every_two_then_every_three_months():
    """A year's supervision in thirds on 30, 60 and 90 days: each stage is cut
    from its own start, the last period of a stage cut short where the next begins."""
    client = supervised_client(start=date(2026, 1, 1), end=date(2026, 12, 31), every=30)
    client.stage_plan = default_stage_plan(client.supervision_start, client.supervision_end, {"awal": 30, "lanjutan": 60, "akhir": 90})
    assert [(s["stage"], s["start"]) for s in client.stage_plan] == [("awal", "2026-01-01"), ("lanjutan", "2026-05-02"), ("akhir", "2026-09-01")]
    periods = period_list(client, [held("2026-01-05"), held("2026-06-10")], date(2026, 12, 31), RULES)
    assert [(p.start.isoformat(), p.end.isoformat(), p.status) for p in periods] == [
        ("2026-01-01", "2026-01-30", "met"), ("2026-01-31", "2026-03-01", "missed"), ("2026-03-02", "2026-03-31", "missed"),
        ("2026-04-01", "2026-04-30", "missed"), ("2026-05-01", "2026-05-01", "missed"),
        ("2026-05-02", "2026-06-30", "met"), ("2026-07-01", "2026-08-29", "missed"), ("2026-08-30", "2026-08-31", "missed"),
        ("2026-09-01", "2026-11-29", "missed"), ("2026-11-30", "2026-12-31", "open"),
    ]


def test_moving_to_the_next_stage_early_cuts_the_current_period_and_changes_the_interval():
    client = supervised_client(start=date(2026, 1, 1), end=date(2026, 12, 31), every=30)
    client.stage_plan = default_stage_plan(client.supervision_start, client.supervision_end, {"awal": 30, "lanjutan": 60, "akhir": 90})
    day = date(2026, 3, 15)
    history = [held("2026-01-10"), held("2026-02-10"), held("2026-03-05")]
    before = period_list(client, history, day, RULES)
    assert before[-1].start == date(2026, 3, 2) and before[-1].status == "met"
    assert move_stage(client, "lanjutan", day, "Sidang TPP: klien kooperatif", 7, day) == (date(2026, 5, 2), day)
    after = period_list(client, history, date(2026, 5, 20), RULES)
    # Periods before the move stay as they were; the awal's last is cut the day before; lanjutan counts every 60 days from the move.
    assert [(p.start.isoformat(), p.end.isoformat(), p.status) for p in after] == [
        ("2026-01-01", "2026-01-30", "met"), ("2026-01-31", "2026-03-01", "met"), ("2026-03-02", "2026-03-14", "met"),
        ("2026-03-15", "2026-05-13", "missed"), ("2026-05-14", "2026-07-12", "open"),
    ]
    assert client.stage_plan[1]["moves"] == [{"from": "2026-05-02", "to": "2026-03-15", "reason": "Sidang TPP: klien kooperatif", "by": 7, "on": "2026-03-15"}]
    assert current_stage(client, day).stage == "lanjutan" and current_stage(client, day - timedelta(days=1)).stage == "awal"


@pytest.mark.parametrize(("stage", "start", "today", "code"), [
    ("lanjutan", "2026-03-14", "2026-03-15", "invalid-body"),  # the past is not cut again
    ("lanjutan", "2026-06-01", "2026-05-10", "stage-begun"),  # it began on 2 May
    ("akhir", "2026-04-01", "2026-03-15", "invalid-body"),  # before lanjutan begins: move that one first
    ("lanjutan", "2026-09-01", "2026-03-15", "invalid-body"),  # on akhir's first day
    ("awal", "2026-03-20", "2026-03-15", "invalid-body"),  # the first stage begins with the supervision
    ("akhir", "2027-01-01", "2026-03-15", "invalid-body"),  # after the supervision
])
def test_a_stage_moves_only_ahead_and_in_order(stage, start, today, code):
    client = supervised_client(start=date(2026, 1, 1), end=date(2026, 12, 31), every=30)
    client.stage_plan = default_stage_plan(client.supervision_start, client.supervision_end, {"awal": 30, "lanjutan": 60, "akhir": 90})
    kept = [dict(s) for s in client.stage_plan]
    with pytest.raises(DomainError) as refused:
        move_stage(client, stage, date.fromisoformat(start), "alasan", 7, date.fromisoformat(today))
    assert refused.value.code == code and client.stage_plan == kept
