"""Field types shared by request bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, Field, StringConstraints

from server.db.ids import MAX_ID
from server.db.models import TOPICS
from server.domain.documents.reports import MAX_YEAR, MIN_YEAR

OFFICE_TZ = ZoneInfo("Asia/Jakarta")


def _aware(value: datetime) -> datetime:
    # A time without an offset is the office's local time (WIB), as people write it.
    return value.replace(tzinfo=OFFICE_TZ) if value.tzinfo is None else value


def _office_year(value: date) -> date:
    # The bounds of the one date parser (server/web/dates.py): outside them the
    # office's midnights are not representable in UTC.
    if not MIN_YEAR <= value.year <= MAX_YEAR:
        raise ValueError(f"year {MIN_YEAR}-{MAX_YEAR}")
    return value


def _topic(value: str) -> str:
    if value not in TOPICS:
        raise ValueError(f"unknown topic {value!r}; one of {', '.join(TOPICS)}")
    return value


Name = Annotated[str, StringConstraints(min_length=1, max_length=200)]
ShortText = Annotated[str, StringConstraints(max_length=200)]
Notes = Annotated[str, StringConstraints(max_length=20000)]
Phone = Annotated[str, StringConstraints(max_length=32, pattern=r"^[0-9+ ()-]*$")]
LocalDateTime = Annotated[datetime, AfterValidator(_aware)]
Topic = Annotated[str, AfterValidator(_topic)]
Topics = Annotated[list[Topic], Field(max_length=len(TOPICS))]
Id = Annotated[int, Field(ge=1, le=MAX_ID)]
OfficeDate = Annotated[date, AfterValidator(_office_year)]
