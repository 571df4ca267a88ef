"""The reminder outbox for an office gateway (``BIMBING_NOTIFY_URL``).

States: ``pending`` (to send, at ``next_attempt_at``), ``sent``, ``failed``
(``notify_max_attempts`` reached; visible to the admin with ``last_error``).
A row is written before anything is sent and is changed only after the
gateway answered, so a restart loses nothing: a row whose answer was lost with
the process is sent again, with the same idempotency key (the reminder's key),
which is how the gateway can tell it already has it. Retries back off:
``BACKOFF_BASE * 2**(attempts-1)`` seconds, at most ``BACKOFF_MAX``.
No HTTP here: server/notify.py delivers and reports back.

The text is the neutral sentence unless the client's office turned the full
text on (server/domain/outreach/wording.py). The outbox is one table for the
installation, read per office: a supervisor sees their own office's rows only.
Old rows go with retention (server/audit/retention.py).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Client, NotifyOutbox, Office, ReminderMark, utcnow
from server.domain.outreach.reminders import daily_reminders, whatsapp_number
from server.domain.outreach.wording import gateway_text
from server.security.redact import redact_urls

BACKOFF_BASE = 1.0
BACKOFF_MAX = 600.0


def backoff(attempts: int) -> timedelta:
    return timedelta(seconds=min(BACKOFF_MAX, BACKOFF_BASE * 2 ** max(attempts - 1, 0)))


async def enqueue_due(db: AsyncSession, day: date, tz: str, now: datetime | None = None) -> int:
    """Put every pending reminder of ``day`` whose time has come, and that has a
    phone number, in the outbox once (the key is unique). Returns how many were added."""
    now = now or utcnow()
    due = [r for r in await daily_reminders(db, None, day, tz) if r.state == "pending" and r.at <= now]
    if not due:
        return 0
    known = set((await db.execute(select(NotifyOutbox.key).where(NotifyOutbox.key.in_([r.id for r in due])))).scalars())
    offices = {cid: office for cid, office in await db.execute(
        select(Client.id, Office).join(Office, Office.id == Client.office_id).where(Client.id.in_({r.client_id for r in due})))}
    added = 0
    for r in due:
        phone = whatsapp_number(_phone_of(r))
        if r.id in known or phone is None:
            continue
        db.add(NotifyOutbox(key=r.id, client_id=r.client_id, session_id=r.session_id, kind=r.kind, phone=phone,
                            text=gateway_text(r.text, offices.get(r.client_id)), next_attempt_at=now, created_at=now))
        added += 1
    return added


def _phone_of(reminder) -> str:
    # The reminder's wa.me link already holds the normalised number.
    url = reminder.whatsapp_url or ""
    return url.split("wa.me/", 1)[1].split("?", 1)[0] if "wa.me/" in url else ""


async def ready(db: AsyncSession, now: datetime | None = None, limit: int = 20) -> list[NotifyOutbox]:
    now = now or utcnow()
    rows = await db.execute(select(NotifyOutbox).where(NotifyOutbox.state == "pending", NotifyOutbox.next_attempt_at <= now).order_by(NotifyOutbox.next_attempt_at, NotifyOutbox.id).limit(limit))
    return list(rows.scalars())


def delivered(db: AsyncSession, row: NotifyOutbox, now: datetime | None = None) -> None:
    now = now or utcnow()
    row.attempts += 1
    row.state, row.sent_at, row.last_error = "sent", now, ""
    # The PK's list shows it sent, by no one in particular: the gateway did it.
    db.add(ReminderMark(key=row.key, client_id=row.client_id, session_id=row.session_id, kind=row.kind, sent_at=now, sent_by_id=None))


def attempt_failed(row: NotifyOutbox, error: str, max_attempts: int, now: datetime | None = None) -> None:
    now = now or utcnow()
    row.attempts += 1
    # Stored, then shown to the office: never a URL with its credential.
    row.last_error = redact_urls(error)[:300]
    if row.attempts >= max_attempts:
        row.state = "failed"
    else:
        row.next_attempt_at = now + backoff(row.attempts)


def _of_office(query, office_id: int):
    return query.join(Client, Client.id == NotifyOutbox.client_id).where(Client.office_id == office_id)


async def summary(db: AsyncSession, office_id: int) -> dict[str, int]:
    """The office's rows by state."""
    counts = {"pending": 0, "sent": 0, "failed": 0}
    for state, n in await db.execute(_of_office(select(NotifyOutbox.state, func.count()), office_id).group_by(NotifyOutbox.state)):
        counts[state] = n
    return counts


async def problems(db: AsyncSession, office_id: int, limit: int = 100) -> list[NotifyOutbox]:
    """What the office's admin must see: failed rows, and pending ones that already failed once."""
    rows = await db.execute(
        _of_office(select(NotifyOutbox), office_id)
        .where((NotifyOutbox.state == "failed") | ((NotifyOutbox.state == "pending") & (NotifyOutbox.attempts > 0)))
        .order_by(NotifyOutbox.id.desc()).limit(limit)
    )
    return list(rows.scalars())
