"""The office's clock, as tests should read it.

The server counts days in the office's time zone (Asia/Jakarta, WIB, UTC+7),
while CI runs at any UTC hour: between 17:00 and 24:00 UTC the machine's date
is a day behind the office's. A test that means "today" or "this morning"
takes it from here, when the test runs (not when its module is imported: a
run that starts at 23:59 WIB crosses midnight). Times a test logs as already
held are put safely in the past (``hours_ago``), never at a fixed hour of the
day, which would be in the future before that hour. ``run_at.sh`` beside this
file runs the tests marked ``clock`` under faked wall clocks to prove it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from zoneinfo import ZoneInfo

OFFICE_TZ = ZoneInfo("Asia/Jakarta")


def utc_now() -> datetime:
    """Now, in UTC, to the second (what the database keeps)."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def office_now() -> datetime:
    """Now, on the office's wall clock."""
    return datetime.now(OFFICE_TZ)


def office_today() -> date:
    """Today's date at the office, which is what the server calls today."""
    return office_now().date()


def office_date(moment: datetime) -> date:
    """The office's date of an aware moment."""
    return moment.astimezone(OFFICE_TZ).date()


def hours_ago(hours: float) -> datetime:
    """A moment on the office's wall clock some hours back, to the minute (as a
    form takes it): in the past at any hour, even just after midnight."""
    return (office_now() - timedelta(hours=hours)).replace(second=0, microsecond=0)


def seconds_to_office_midnight() -> float:
    now = office_now()
    midnight = datetime.combine(now.date() + timedelta(days=1), time.min, OFFICE_TZ)
    return (midnight - now).total_seconds()
