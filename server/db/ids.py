"""What a row id (and any other integer column) can hold: the rows' keys are
``Integer`` columns, 32 bits on PostgreSQL (64 on SQLite). A larger number from
outside is no row's id; sent to PostgreSQL as a parameter it is an error, not
an empty result, so it is refused before any query (the API fuzz found the 500)."""

from __future__ import annotations

MAX_ID = 2**31 - 1


def id_from_text(raw: str) -> int | None:
    """The id written in ``raw`` (ASCII digits only), or None if no row can have it.
    ``str.isdigit`` alone also takes "²" (which ``int`` refuses) and "١٢" (which
    it reads as 12)."""
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 10:
        return None
    value = int(raw)
    return value if 1 <= value <= MAX_ID else None
