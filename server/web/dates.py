"""The office's calendar as a request sees it."""

from __future__ import annotations

from datetime import date, datetime

from aiohttp import web

from server.domain.record.ledger import local_date
from server.keys import settings_key


def today(request: web.Request) -> date:
    """Today in the office's time zone (Asia/Jakarta), not the server's."""
    return local_date(datetime.now().astimezone(), request.app[settings_key].timezone)
