"""Kendala: a client tells their PK about an obstacle (a work shift, no money
for transport, illness, family) and may ask to move the session; the PK
answers.

The office's first strategy ("Communication", DESIGN.md) in code. A client
reports from the join page with the pass of one video session, so every
kendala names that session. The PK who owns the client, or a supervisor,
answers once:

* ``declined`` with a reply the client reads on the join page;
* ``accepted``, optionally with a new time. A new time creates a **new**
  scheduled video session at that time (its own join link, which the PK sends
  as for any session) and, if the old session has not started, cancels the old
  one with outcome ``rescheduled``. Moving the old session instead would leave
  its join links pointing at a window that no longer covers the new time, and
  the record would lose the fact that a meeting was moved. A session already
  in progress is left alone: the call log is evidence.

Every step leaves a session event; the HTTP layer adds the audit entries.
Plain async functions over an AsyncSession, no HTTP here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.locks import hold
from server.db.models import (
    Client,
    GuidanceSession,
    Kendala,
    KendalaKind,
    KendalaStatus,
    Outcome,
    SessionMode,
    SessionStatus,
    Staff,
    utcnow,
)
from server.domain.access import require_guidance
from server.domain.errors import DomainError, ErrorKind
from server.domain.record import sessions as sessions_domain

MAX_MESSAGE = 1000
MAX_REPLY = 500
# A phone on a weak connection may resend; five reports an hour per device (and
# per session, so reopening the link for a new device id does not lift it) is
# plenty for a person and bounds a script. Counted in the database, so the
# limit holds across server processes and restarts.
REPORTS_PER_WINDOW = 5
REPORT_WINDOW = timedelta(hours=1)
# A proposed or agreed time further away than this is a typo (a wrong year).
HORIZON = timedelta(days=366)


def _invalid(field: str, problem: str, key: str | None = None) -> DomainError:
    return DomainError(ErrorKind.invalid, "invalid-body", f"{field}: {problem}", key=key, fields={field: problem})


def _check_future(field: str, moment: datetime | None, now: datetime) -> None:
    if moment is None:
        return
    if moment <= now:
        raise _invalid(field, "must be in the future", key="error.time_in_past")
    if moment > now + HORIZON:
        raise _invalid(field, "must be within a year", key="error.time_too_far")


async def report(
    db: AsyncSession,
    session: GuidanceSession,
    *,
    device: str,
    kind: KendalaKind,
    message: str = "",
    requested_at: datetime | None = None,
    now: datetime | None = None,
) -> Kendala:
    """A kendala from the client of ``session`` (the caller has checked the pass)."""
    now = now or utcnow()
    message = message.strip()
    # validate
    if session.status not in sessions_domain.OPEN_STATUSES:
        raise DomainError(ErrorKind.conflict, "session-closed", f"The session is already {session.status.value}.")
    if len(message) > MAX_MESSAGE:
        raise _invalid("message", f"at most {MAX_MESSAGE} characters")
    if kind == KendalaKind.other and not message:
        raise _invalid("message", "say what the obstacle is", key="error.kendala_message_required")
    _check_future("requested_at", requested_at, now)
    # Count, then write, under the client's lock: twelve reports at once all passed
    # a limit of five (issue 23). The client's, not the session's: a portal link's
    # device reports on every upcoming session of its client.
    await hold(db, Client, [session.client_id])
    since = now - REPORT_WINDOW
    recent = list(
        (
            await db.execute(
                select(Kendala.created_at)
                .where(or_(Kendala.device == device, Kendala.session_id == session.id), Kendala.created_at > since)
                .order_by(Kendala.created_at)
            )
        ).scalars()
    )
    if len(recent) >= REPORTS_PER_WINDOW:
        retry = int((recent[-REPORTS_PER_WINDOW] + REPORT_WINDOW - now).total_seconds()) + 1
        raise DomainError(ErrorKind.rate_limited, "too-many-reports", "Too many reports for now; try again later.", retry_after=max(retry, 1))
    # mutate
    kendala = Kendala(
        client_id=session.client_id,
        session_id=session.id,
        kind=kind.value,
        message=message,
        requested_at=requested_at,
        status=KendalaStatus.open.value,
        device=device,
        created_at=now,
    )
    db.add(kendala)
    await db.flush()
    sessions_domain.add_event(
        db, session, "kendala_reported", "client", at=now, kendala_id=kendala.id, kendala_kind=kind.value,
        requested_at=requested_at.isoformat() if requested_at else None,
    )
    return kendala


def _order():
    # Open first (the PK's to-do), then newest.
    return (case((Kendala.status == KendalaStatus.open.value, 0), else_=1), Kendala.created_at.desc(), Kendala.id.desc())


async def for_session(db: AsyncSession, session_id: int) -> list[Kendala]:
    query = select(Kendala).where(Kendala.session_id == session_id).order_by(Kendala.created_at.desc(), Kendala.id.desc())
    return list((await db.execute(query)).scalars())


async def for_client(db: AsyncSession, client_id: int, *, only_open: bool = False, limit: int = 100) -> list[Kendala]:
    query = select(Kendala).where(Kendala.client_id == client_id)
    if only_open:
        query = query.where(Kendala.status == KendalaStatus.open.value)
    return list((await db.execute(query.order_by(*_order()).limit(limit))).scalars())


async def open_counts(db: AsyncSession, client_ids: list[int]) -> dict[int, int]:
    """Open kendala per client, for the caseload's badges."""
    if not client_ids:
        return {}
    rows = await db.execute(
        select(Kendala.client_id, func.count())
        .where(Kendala.client_id.in_(client_ids), Kendala.status == KendalaStatus.open.value)
        .group_by(Kendala.client_id)
    )
    return {client_id: n for client_id, n in rows.all()}


@dataclass
class Answer:
    kendala: Kendala
    new_session: GuidanceSession | None = None
    cancelled_session_id: int | None = None


async def answer(
    db: AsyncSession,
    staff: Staff,
    client: Client,
    kendala: Kendala,
    *,
    status: KendalaStatus,
    reply: str = "",
    new_scheduled_at: datetime | None = None,
    now: datetime | None = None,
    tz: str = "Asia/Jakarta",  # the office's zone (the server passes its setting)
) -> Answer:
    """The PK's answer; the caller has checked that ``staff`` may see ``client``.
    An admin answers none: it is guidance."""
    require_guidance(staff)
    now = now or utcnow()
    reply = reply.strip()
    # validate, with the kendala read again under its lock: two answers at once
    # (two tabs, two PKs) would each pass the check and make two new sessions.
    await hold(db, Kendala, [kendala.id])
    if kendala.status != KendalaStatus.open.value:
        raise DomainError(ErrorKind.conflict, "kendala-answered", f"This kendala was already {kendala.status}.")
    if status == KendalaStatus.open:
        raise _invalid("status", "accepted or declined")
    if len(reply) > MAX_REPLY:
        raise _invalid("reply", f"at most {MAX_REPLY} characters")
    if status == KendalaStatus.declined:
        if not reply:
            raise _invalid("reply", "tell the client why", key="error.kendala_reply_required")
        if new_scheduled_at is not None:
            raise _invalid("new_scheduled_at", "only when accepting")
    _check_future("new_scheduled_at", new_scheduled_at, now)
    old = await db.get(GuidanceSession, kendala.session_id) if kendala.session_id else None

    # mutate
    kendala.status = status.value
    kendala.reply = reply
    kendala.answered_by_id = staff.id
    kendala.answered_at = now
    result = Answer(kendala)
    if old is not None:
        sessions_domain.add_event(
            db, old, "kendala_answered", "officer", at=now, kendala_id=kendala.id, status=status.value, by=staff.username
        )
    if status == KendalaStatus.accepted and new_scheduled_at is not None:
        new = await sessions_domain.create_session(
            db, staff, client, mode=SessionMode.video, scheduled_at=new_scheduled_at, record=old.record if old else False, tz=tz
        )
        sessions_domain.add_event(
            db, new, "rescheduled", "officer", at=now, kendala_id=kendala.id, from_session_id=old.id if old else None
        )
        kendala.new_session_id = new.id
        result.new_session = new
        if old is not None and old.status == SessionStatus.scheduled:
            # The outcome goes through the note history, like any outcome change.
            await sessions_domain.update_notes(db, staff, old, outcome=Outcome.rescheduled)
            sessions_domain.add_event(db, old, "rescheduled", "officer", at=now, kendala_id=kendala.id, to_session_id=new.id)
            sessions_domain.end_session(db, old, "officer", status=SessionStatus.cancelled, at=now)
            result.cancelled_session_id = old.id
    return result
