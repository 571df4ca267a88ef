"""The three-misses alert (``tiga-kali-berturut``): a client who let three
reporting periods in a row end missed may have their parole revoked, so the
PK is told and proposed a violation, which they confirm or dismiss with a
reason. Nothing is recorded on its own.

The periods and their statuses are the ledger's (server/domain/record/ledger.py),
as of a day: a run is a stretch of ended periods each ``missed``; an
``excused`` period is not missed, so it ends a run and never counts in one,
and the open period counts for nothing yet. A run of three or more is one
alert, named by the first day of its first period
(``tiga-kali-berturut-<YYYY-MM-DD>``), so it stays the same alert while the run
grows and until the PK answers it (``AlertDecision``: one answer per client
and run, kept by a unique key).

Where it shows: the caseload (``GET /api/clients``), the anomalies
(``GET /api/audit/anomalies``, kind ``tiga-kali-berturut``), the day's
reminders (``GET /api/reminders``, ``alerts``) and the client's page.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any, Iterable

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.casework import AlertDecision, Violation
from server.db.models import Client, Evidence, GuidanceSession, Staff, ViolationKind
from server.domain.access import require_guidance, scope_clients
from server.domain.errors import DomainError, ErrorKind, invalid, not_found
from server.domain.record.ledger import ledger_of
from server.domain.record.rules import Rules, office_rules
from server.domain.record.session_digest import day_number, from_day_number
from server.domain.violations.path import record_violation

ALERT_KIND = "tiga-kali-berturut"
RUN_LENGTH = 3
REASON_MAX = 1000
# What the ledger reads of a session (``ledger_of``), without the rest of the row.
_LEDGER_COLUMNS = (GuidanceSession.client_id, GuidanceSession.status, GuidanceSession.started_at, GuidanceSession.scheduled_at,
                   GuidanceSession.outcome, GuidanceSession.mode, GuidanceSession.duration_seconds)


@dataclass(frozen=True)
class MissedRun:
    """A run of at least three periods missed in a row, as of a day."""

    key: str
    client_id: int
    officer_id: int
    first_day: date  # the first day of its first period
    last_day: date  # the last day of its last period
    raised_on: date  # the day after its third period ended: the day the alert arose
    periods: int

    def proposed(self) -> dict[str, Any]:
        """The violation the PK is proposed (``POST .../alerts/{key}/confirm`` records it)."""
        return {
            "kind": ViolationKind.tidak_wajib_lapor.value,
            "date": self.raised_on.isoformat(),
            "what_happened": f"Tidak wajib lapor {self.periods} kali berturut-turut: periode "
                             f"{self.first_day.strftime('%d-%m-%Y')} s.d. {self.last_day.strftime('%d-%m-%Y')} terlewat tanpa izin.",
            "evidence": Evidence.reported.value,
        }


def alert_key(first_day: date) -> str:
    return f"{ALERT_KIND}-{first_day.isoformat()}"


def runs_of(client: Any, sessions: Iterable[Any], as_of: date, rules: Rules) -> list[MissedRun]:
    """Every run of three or more missed periods of ``client`` as of ``as_of``, answered or not."""
    ledger = ledger_of(client, sessions, as_of, rules)
    out = []
    for first, last in ledger.missed_runs(day_number(as_of), RUN_LENGTH):
        start, end = from_day_number(ledger.bounds(first)[0]), from_day_number(ledger.bounds(last)[1])
        third_end = from_day_number(ledger.bounds(first + RUN_LENGTH - 1)[1])
        out.append(MissedRun(alert_key(start), client.id, client.officer_id, start, end, third_end + timedelta(days=1), last - first + 1))
    return out


async def answered(db: AsyncSession, client_ids: list[int]) -> set[tuple[int, str]]:
    """(client, alert key) of every alert the PK has answered, for these clients."""
    out: set[tuple[int, str]] = set()
    for start in range(0, len(client_ids), 500):
        chunk = client_ids[start:start + 500]
        out |= {(r.client_id, r.alert_key) for r in await db.execute(select(AlertDecision.client_id, AlertDecision.alert_key).where(AlertDecision.client_id.in_(chunk)))}
    return out


def pending(client: Any, sessions: Iterable[Any], as_of: date, rules: Rules, answered_keys: set[tuple[int, str]]) -> list[MissedRun]:
    """The client's runs the PK has not answered yet: the open alerts."""
    return [r for r in runs_of(client, sessions, as_of, rules) if (client.id, r.key) not in answered_keys]


async def open_alerts(db: AsyncSession, staff: Staff, today: date, tz: str, *, client_id: int | None = None,
                      officer_id: int | None = None) -> list[MissedRun]:
    """The unanswered alerts of the clients ``staff`` may see, as of ``today``."""
    query = scope_clients(select(Client), staff)
    if client_id is not None:
        query = query.where(Client.id == client_id)
    if officer_id is not None:
        query = query.where(Client.officer_id == officer_id)
    clients = list((await db.execute(query)).scalars())
    if not clients:
        return []
    ids = [c.id for c in clients]
    by_client: dict[int, list[Any]] = {i: [] for i in ids}
    for start in range(0, len(ids), 500):
        for row in await db.execute(select(*_LEDGER_COLUMNS).where(GuidanceSession.client_id.in_(ids[start:start + 500]))):
            by_client[row.client_id].append(row)
    done = await answered(db, ids)
    rules = await office_rules(db, staff.office_id, tz)
    found = []
    for c in clients:
        found += pending(c, by_client[c.id], today, rules, done)
    return sorted(found, key=lambda r: (r.raised_on, r.client_id))


async def answer_alert(db: AsyncSession, staff: Staff, client: Client, key: str, today: date, tz: str, *, confirm: bool,
                       reason: str = "", note: str = "") -> tuple[AlertDecision, Violation | None]:
    """Confirm (record the proposed violation) or dismiss (with a reason) one
    of the client's open alerts. The caller has checked that ``staff`` may see
    the client, and commits; a second answer, even at the same moment, is a
    409 ``alert-answered``."""
    require_guidance(staff)
    reason = " ".join((reason or "").split())
    if not confirm and not reason:
        raise invalid("reason", "a dismissed alert needs the reason it is dismissed")
    if len(reason) > REASON_MAX:
        raise invalid("reason", f"at most {REASON_MAX} characters")
    run = next((r for r in await open_alerts(db, staff, today, tz, client_id=client.id) if r.key == key), None)
    if run is None:
        done = await db.scalar(select(AlertDecision.id).where(AlertDecision.client_id == client.id, AlertDecision.alert_key == key))
        if done is not None:
            raise DomainError(ErrorKind.conflict, "alert-answered", "This alert has already been confirmed or dismissed.")
        raise not_found("alert")
    violation = None
    try:
        async with db.begin_nested():
            decision = AlertDecision(client_id=client.id, alert_key=key, decision="confirmed" if confirm else "dismissed", reason=reason,
                                     decided_by_id=staff.id)
            db.add(decision)
            await db.flush()
            if confirm:
                proposed = run.proposed()
                violation = await record_violation(
                    db, staff, client, ViolationKind.tidak_wajib_lapor, run.raised_on, proposed["what_happened"], Evidence.reported, today,
                    note=note, alert=key,
                )
                decision.violation_id = violation.id
    except IntegrityError:
        raise DomainError(ErrorKind.conflict, "alert-answered", "This alert has already been confirmed or dismissed.") from None
    return decision, violation
