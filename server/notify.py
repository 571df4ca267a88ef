"""The gateway sender: a task in the app (only with ``BIMBING_NOTIFY_URL``) that
every ``notify_poll_seconds`` puts the day's due reminders in the outbox and
POSTs what is ready to the gateway (server/domain/outreach/notify.py keeps the states).

The request: ``POST <notify_url>`` with JSON ``{"idempotency_key", "to", "text",
"kind"}`` and the header ``Idempotency-Key``; any 2xx is delivered, anything
else (an error status, a timeout, a refused connection) is a failed attempt.
"""

from __future__ import annotations

import asyncio
import logging

import aiohttp
from aiohttp import web

from server.db.models import utcnow
from server.domain.outreach import notify as outbox
from server.domain.record.ledger import local_date
from server.keys import db_key, settings_key

log = logging.getLogger(__name__)


async def _deliver(http: aiohttp.ClientSession, url: str, row, timeout: float) -> str | None:
    """None when the gateway took it, else why not."""
    body = {"idempotency_key": row.key, "to": row.phone, "text": row.text, "kind": row.kind}
    try:
        async with http.post(url, json=body, headers={"Idempotency-Key": row.key}, timeout=aiohttp.ClientTimeout(total=timeout)) as resp:
            if 200 <= resp.status < 300:
                return None
            return f"HTTP {resp.status}"
    except asyncio.TimeoutError:
        return f"timeout after {timeout:g}s"
    except aiohttp.ClientError as exc:
        return f"{type(exc).__name__}: {exc}"[:300]


async def run_once(app: web.Application, http: aiohttp.ClientSession) -> None:
    settings = app[settings_key]
    now = utcnow()
    async with app[db_key]() as db:
        await outbox.enqueue_due(db, local_date(now, settings.timezone), settings.timezone, now)
        await db.commit()
        rows = await outbox.ready(db, now)
        for row in rows:
            error = await _deliver(http, settings.notify_url, row, settings.notify_timeout_seconds)
            if error is None:
                outbox.delivered(db, row)
            else:
                outbox.attempt_failed(row, error, settings.notify_max_attempts)
                log.warning("reminder %s not delivered (attempt %s): %s", row.key, row.attempts, error)
            # One commit per attempt: what the gateway answered is never lost to a later crash.
            await db.commit()


async def _loop(app: web.Application) -> None:
    settings = app[settings_key]
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                await run_once(app, http)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("the reminder sender failed; trying again")
            await asyncio.sleep(settings.notify_poll_seconds)


async def notify_ctx(app: web.Application):
    task = asyncio.create_task(_loop(app), name="notify-outbox") if app[settings_key].notify_url else None
    yield
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
