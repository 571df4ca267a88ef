"""The ledger's terms for one request: the office's rules, counted as of the
office's today (server/domain/record/ledger.py). Every route that shows a
figure or a session takes them from here, so no view counts by other rules or
as of another day."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncSession

from server.domain.record.ledger import SessionJudge
from server.domain.record.rules import Rules, office_rules
from server.keys import settings_key
from server.web.dates import today


async def rules_for(request: web.Request, db: AsyncSession, office_id: int) -> Rules:
    return await office_rules(db, office_id, request.app[settings_key].timezone)


async def judge_for(request: web.Request, db: AsyncSession, office_id: int) -> SessionJudge:
    """How sessions of the office are counted today."""
    settings = request.app[settings_key]
    return SessionJudge(await rules_for(request, db, office_id), today(request), settings.late_entry_days)
