"""Numbers, dates and durations as the reader's locale writes them, by Babel.

Indonesian writes a decimal comma and a thousands dot ("30,0 menit",
"1.234"), long dates with the month's name ("2 Desember 2026"), and a long
wait in days rather than hours ("87 hari"). Doing that by hand drifts page by
page, so every template reaches these through the jinja filters registered
here, and each filter reads the page's ``locale`` (id or en, from the request:
server/web/render.py) from the template context.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import jinja2
from babel.dates import format_date, format_datetime
from babel.numbers import format_decimal, format_percent
from babel.units import format_unit

LOCALES = {"id": "id_ID", "en": "en_GB"}


def _loc(locale: str) -> str:
    return LOCALES.get(locale, LOCALES["id"])


def number(value, locale: str = "id", digits: int = 0) -> str:
    """An integer or a decimal with ``digits`` places: 1.234 / 30,0 in id."""
    if value is None:
        return "—"
    pattern = "#,##0" + ("." + "0" * digits if digits else "")
    return format_decimal(value, format=pattern, locale=_loc(locale))


def percent(rate, locale: str = "id") -> str:
    """A rate in 0..1 as a whole percentage ("87%"); None (nothing due) is a dash."""
    if rate is None:
        return "—"
    return format_percent(rate, format="#,##0%", locale=_loc(locale))


def minutes(seconds, locale: str = "id", unit: str = "menit") -> str:
    """Seconds as minutes with one decimal: "30,0 menit"."""
    if seconds is None:
        return "—"
    return f"{number(seconds / 60, locale, 1)} {unit}"


def long_date(value, locale: str = "id", tz: str | None = None) -> str:
    """ "2 Desember 2026" (id), "2 December 2026" (en)."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        value = value.astimezone(ZoneInfo(tz)) if tz else value
        value = value.date()
    return format_date(value, format="d MMMM y", locale=_loc(locale))


def month_name(value: date, locale: str = "id", short: bool = False) -> str:
    """ "Desember 2026" or "Des 2026" for charts and tables by month."""
    return format_date(value, format="MMM y" if short else "MMMM y", locale=_loc(locale))


def date_time(value: datetime | None, locale: str = "id", tz: str = "Asia/Jakarta") -> str:
    if value is None:
        return "—"
    return format_datetime(value.astimezone(ZoneInfo(tz)), format="d MMM y HH.mm" if locale == "id" else "d MMM y HH:mm", locale=_loc(locale))


def span(td: timedelta | float | int, locale: str = "id") -> str:
    """A wait in hours under a day, else in days (rounded): 2081 hours read "87 hari"
    (not months: a supervisor counts days). Numbers are hours."""
    hours = td.total_seconds() / 3600 if isinstance(td, timedelta) else float(td)
    if hours < 24:
        return format_unit(int(hours), "duration-hour", locale=_loc(locale))
    return days(round(hours / 24), locale)


def days(n: int, locale: str = "id") -> str:
    return format_unit(int(n), "duration-day", locale=_loc(locale))


UNITS = {"second": "duration-second", "minute": "duration-minute", "hour": "duration-hour", "day": "duration-day"}


def duration(n: int, unit: str, locale: str = "id") -> str:
    """A whole number of seconds, minutes, hours or days in words of the locale:
    "730 hari", "3.600 detik" (id); "730 days", "3,600 seconds" (en)."""
    return format_unit(int(n), UNITS[unit], locale=_loc(locale))


def install(env: jinja2.Environment) -> None:
    """Register the filters; each takes the locale from the page's context."""

    def with_locale(fn):
        @jinja2.pass_context
        def filt(ctx, value, *args, **kwargs):
            return fn(value, ctx.get("locale", "id"), *args, **kwargs)

        return filt

    env.filters["number"] = with_locale(number)
    env.filters["percent"] = with_locale(percent)
    env.filters["long_date"] = with_locale(long_date)
    env.filters["month_name"] = with_locale(month_name)
    env.filters["span"] = with_locale(span)
    env.filters["days"] = with_locale(days)

    @jinja2.pass_context
    def minutes_filter(ctx, seconds):
        locale = ctx.get("locale", "id")
        return minutes(seconds, locale, ctx["t"]("unit.minutes"))

    env.filters["minutes"] = minutes_filter
