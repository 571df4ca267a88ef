"""The gateway sender: a task in the app (only with ``BIMBING_NOTIFY_URL``) that
every ``notify_poll_seconds`` puts the day's due reminders in the outbox and
POSTs what is ready to the gateway (server/domain/outreach/notify.py keeps the states).

The request: ``POST <notify_url>`` with JSON ``{"idempotency_key", "to", "text",
"kind"}``, the header ``Idempotency-Key`` and, with ``BIMBING_NOTIFY_TOKEN``, the
gateway's credential in its header; any 2xx is delivered, anything else (an
error status, a redirect, a timeout, a refused connection) is a failed attempt.

Redirects are never followed (issue 23): a 307 would re-post the client's phone
number and the text to wherever the answer points, and a loop posts them ten
times a try. A 3xx is a failure whose ``last_error`` names where it pointed,
without user information or query. No URL is logged or stored as given: every
one passes through server/security/redact.py first.
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
from server.security.redact import has_secret_parts, redact_url, redact_urls
from server.settings import Settings

log = logging.getLogger(__name__)


def gateway_headers(settings: Settings, key: str) -> dict[str, str]:
    headers = {"Idempotency-Key": key}
    if settings.notify_token:
        bearer = settings.notify_token_header.lower() == "authorization"
        headers[settings.notify_token_header] = f"Bearer {settings.notify_token}" if bearer else settings.notify_token
    return headers


def _refusal(status: int, location: str | None) -> str:
    """``last_error`` for an answer that is not a 2xx: what it was, in words an admin can act on."""
    if 300 <= status < 400:
        where = f" to {redact_url(location)}" if location else ""
        return f"HTTP {status}: redirect{where} not followed (set BIMBING_NOTIFY_URL to the gateway's final address)"
    if status in (401, 403):
        return f"HTTP {status}: the gateway refused the credential (BIMBING_NOTIFY_TOKEN)"
    return f"HTTP {status}"


async def _deliver(http: aiohttp.ClientSession, settings: Settings, row) -> str | None:
    """None when the gateway took it, else why not (no URL in it as given)."""
    body = {"idempotency_key": row.key, "to": row.phone, "text": row.text, "kind": row.kind}
    timeout = settings.notify_timeout_seconds
    try:
        async with http.post(settings.notify_url, json=body, headers=gateway_headers(settings, row.key),
                             timeout=aiohttp.ClientTimeout(total=timeout), allow_redirects=False) as resp:
            if 200 <= resp.status < 300:
                return None
            return _refusal(resp.status, resp.headers.get("Location"))
    except asyncio.TimeoutError:
        return f"timeout after {timeout:g}s"
    except aiohttp.ClientError as exc:
        # aiohttp's messages carry the URL, query and all.
        return redact_urls(f"{type(exc).__name__}: {exc}")


async def run_once(app: web.Application, http: aiohttp.ClientSession) -> None:
    settings = app[settings_key]
    now = utcnow()
    async with app[db_key]() as db:
        await outbox.enqueue_due(db, local_date(now, settings.timezone), settings.timezone, now)
        await db.commit()
        rows = await outbox.ready(db, now)
        for row in rows:
            error = await _deliver(http, settings, row)
            if error is None:
                outbox.delivered(db, row)
            else:
                outbox.attempt_failed(row, error, settings.notify_max_attempts)
                log.warning("reminder %s not delivered (attempt %s): %s", row.key, row.attempts, row.last_error)
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
    settings = app[settings_key]
    task = None
    if settings.notify_url:
        log.info("reminders go to the gateway at %s%s", redact_url(settings.notify_url),
                 " (its credential in the header " + settings.notify_token_header + ")" if settings.notify_token else "")
        if has_secret_parts(settings.notify_url):
            log.warning("BIMBING_NOTIFY_URL carries a user, a query or a fragment: it is sent as given but never logged or stored; "
                        "put the gateway's key in BIMBING_NOTIFY_TOKEN instead (docs/deploy.md)")
        task = asyncio.create_task(_loop(app), name="notify-outbox")
    yield
    if task is not None:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
