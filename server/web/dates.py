"""The office's calendar as a request sees it, and the one reader of a date
from a query (``?date=``, ``?from=``, ``?to=``, ``?on=``).

Every date from outside is bounded to the years 1900-2999, as the audit's
months and ranges are (``reports.MIN_YEAR``/``MAX_YEAR``): the office's
midnight of 0001-01-01 is in the year 0 in UTC and the day after 9999-12-31
is no date, so each answered 500 (issue 23, item 8:
``/api/home-visits?date=0001-01-01``, ``/api/mobile-events/plan?from=9999-12-25``,
``/api/reminders?date=9999-12-31`` and their pages)."""

from __future__ import annotations

import re
from datetime import date, datetime

from aiohttp import web

from server.domain.documents.reports import MAX_YEAR, MIN_YEAR
from server.domain.errors import DomainError, ErrorKind
from server.domain.record.ledger import local_date
from server.keys import settings_key


def today(request: web.Request) -> date:
    """Today in the office's time zone (Asia/Jakarta), not the server's."""
    return local_date(datetime.now().astimezone(), request.app[settings_key].timezone)


def day_from_text(raw: str, name: str) -> date:
    """``YYYY-MM-DD`` in the years MIN_YEAR-MAX_YEAR, or a 400 ``invalid-query``
    naming the parameter (a page shows ``error.date_query`` in the reader's language)."""
    # Only the form YYYY-MM-DD: Python also reads "20261206" and "2026-W49-1".
    try:
        day = date.fromisoformat(raw) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", raw) else None
    except ValueError:
        day = None
    if day is None or not MIN_YEAR <= day.year <= MAX_YEAR:
        raise DomainError(
            ErrorKind.invalid, "invalid-query", f"{name}: a date as YYYY-MM-DD, year {MIN_YEAR}-{MAX_YEAR}",
            key="error.date_query", params={"name": name, "low": MIN_YEAR, "high": MAX_YEAR},
        )
    return day


def date_query(request: web.Request, name: str, default: date | None) -> date | None:
    """The query parameter ``name`` as a date (``default`` when absent or empty)."""
    raw = request.query.get(name, "")
    return day_from_text(raw, name) if raw else default
