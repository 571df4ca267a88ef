"""A client's sentence under the criminal code in force since 2 January 2026
(UU 1/2023), and the community-service hours counted against it.

``pidana_kerja_sosial``: hours ordered at a placement (a partner of the office),
under a site supervisor there; ``pidana_pengawasan``: a term in months with its
conditions. One sentence per client; setting it again replaces it (audited by
the caller with what changed). Each may carry the court's verdict date and the
day it starts: the verdict not after today nor before 2 January 2026 (the code
that makes these sentences), the start not before the verdict (a start needs
the verdict it follows), within the client's supervision and not after hours
already standing (409 ``hours-before-start``). A pengawasan term
ends ``term_months`` after its start.

Hours are entered per day, by the PK or by the site supervisor through their
link (server/domain/partners/site_links.py), and count only once the PK (or a
supervisor) approves them. The rules an entry keeps: not in the future (the
office's today), not before supervision began nor before the sentence's start
(when it has one), at most ``max_hours_per_day``
(8 unless the order says otherwise), in quarters of an hour, never beyond what
the order leaves, and one standing entry per client and day: the database's
partial unique index makes two devices entering the same day at once count
once, which no check-then-insert can (PITFALLS 11). The balance is the hours
ordered less the hours approved; when it reaches zero the PK is offered the
completion letter for the Kejaksaan (letter kind ``kerja_sosial_selesai``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Client, Staff, utcnow
from server.db.partners import (
    HoursStatus,
    Sentence,
    SentenceKind,
    ServiceHours,
    SiteLink,
)
from server.domain.access import require_client, require_guidance
from server.domain.errors import DomainError, ErrorKind, conflict, not_found
from server.domain.partners.directory import usable_partner

DEFAULT_MAX_HOURS_PER_DAY = 8
# UU 1/2023, the criminal code that makes pidana kerja sosial and pidana pengawasan, is in force from this day.
CODE_IN_FORCE = date(2026, 1, 2)


def months_later(day: date, months: int) -> date:
    """The same day ``months`` later, or the month's last day when it has none (31 Jan + 1 → 28/29 Feb)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    for d in (day.day, 30, 29, 28):
        try:
            return date(year, month, min(day.day, d))
        except ValueError:
            continue
    raise ValueError(day)


def term_end(s: Sentence) -> date | None:
    """The last day of a pengawasan term that has a start, else None."""
    if s.kind != SentenceKind.pidana_pengawasan or s.start_date is None or not s.term_months:
        return None
    return months_later(s.start_date, s.term_months) - timedelta(days=1)


def check_dates(client: Client, verdict_date: date | None, start_date: date | None, today: date) -> None:
    """The verdict and start dates' rules (see the module's docstring), before anything is written."""
    if verdict_date is not None:
        if verdict_date > today:
            raise DomainError(ErrorKind.invalid, "verdict-in-future", "verdict_date: the verdict cannot be a day still to come.",
                              fields={"verdict_date": "in the future"}, key="error.verdict_in_future")
        if verdict_date < CODE_IN_FORCE:
            raise DomainError(ErrorKind.invalid, "verdict-before-code", f"verdict_date: these sentences exist from {CODE_IN_FORCE.isoformat()} (UU 1/2023).",
                              fields={"verdict_date": "before the code in force"}, key="error.verdict_before_code")
    if start_date is not None:
        if verdict_date is None:
            raise DomainError(ErrorKind.invalid, "invalid-body", "verdict_date: required with start_date (the start follows the verdict).",
                              fields={"verdict_date": "required with start_date"}, key="error.start_needs_verdict")
        if start_date < verdict_date:
            raise DomainError(ErrorKind.invalid, "start-before-verdict", f"start_date: not before the verdict ({verdict_date.isoformat()}).",
                              fields={"start_date": "before the verdict"}, key="error.start_before_verdict", params={"date": verdict_date.isoformat()})
        if start_date > client.supervision_end:
            raise DomainError(ErrorKind.invalid, "start-after-supervision", f"start_date: within the supervision (it ends on {client.supervision_end.isoformat()}).",
                              fields={"start_date": "after the supervision"}, key="error.start_after_supervision",
                              params={"date": client.supervision_end.isoformat()})


def _minutes(hours: float) -> int:
    return round(hours * 60)


def hours_of(minutes: int) -> float | int:
    """Minutes as hours for people and JSON: 4 not 4.0, 2.5 as 2.5."""
    h = minutes / 60
    return int(h) if h == int(h) else round(h, 2)


async def sentence_of(db: AsyncSession, client_id: int) -> Sentence | None:
    return await db.scalar(select(Sentence).where(Sentence.client_id == client_id))


async def set_sentence(db: AsyncSession, staff: Staff, client: Client, *, kind: SentenceKind, hours_ordered: int | None = None,
                       placement: int | None = None, site_supervisor: str = "", max_hours_per_day: int | None = None,
                       term_months: int | None = None, conditions: str = "", verdict_date: date | None = None, start_date: date | None = None,
                       today: date, now: datetime | None = None) -> tuple[Sentence, dict]:
    """Record (or replace) the client's sentence; the sentence and what changed."""
    require_guidance(staff)
    check_dates(client, verdict_date, start_date, today)
    now = now or utcnow()
    values: dict = {"kind": kind, "hours_ordered": None, "placement_id": None, "site_supervisor": "", "max_hours_per_day": DEFAULT_MAX_HOURS_PER_DAY,
                    "term_months": None, "conditions": "", "verdict_date": verdict_date, "start_date": start_date}
    if start_date is not None:
        # Hours already standing before the new start would count for days the sentence had not begun.
        early = await db.scalar(select(func.min(ServiceHours.date)).where(ServiceHours.client_id == client.id, ServiceHours.date < start_date,
                                                                          ServiceHours.status != HoursStatus.rejected))
        if early is not None:
            raise DomainError(ErrorKind.conflict, "hours-before-start", f"Hours are entered for {early.isoformat()}, before that start; reject them first.",
                              key="error.hours_before_new_start", params={"date": early.isoformat()})
    if kind == SentenceKind.pidana_kerja_sosial:
        partner = await usable_partner(db, client.office_id, placement or 0, "placement")
        approved = (await totals(db, client.id))[HoursStatus.approved]
        if hours_ordered is not None and _minutes(hours_ordered) < approved:
            raise DomainError(ErrorKind.conflict, "below-approved", f"{hours_of(approved)} hours are already approved; the order cannot be less.",
                              key="error.below_approved", params={"hours": hours_of(approved)})
        values.update(hours_ordered=hours_ordered, placement_id=partner.id, site_supervisor=site_supervisor,
                      max_hours_per_day=max_hours_per_day or DEFAULT_MAX_HOURS_PER_DAY)
    else:
        values.update(term_months=term_months, conditions=conditions)
    sentence = await sentence_of(db, client.id)
    changed: dict = {}
    if sentence is None:
        sentence = Sentence(client_id=client.id, updated_at=now, updated_by_id=staff.id, **values)
        changed = {k: [None, _plain(v)] for k, v in values.items()}
        try:
            async with db.begin_nested():
                db.add(sentence)
        except IntegrityError:  # set at the same moment by someone else: theirs stands, this one is applied over it
            sentence = await sentence_of(db, client.id)
            if sentence is None:
                raise
            changed = {}
    for field, value in values.items():
        old = getattr(sentence, field)
        if old != value:
            changed[field] = [_plain(old), _plain(value)]
            setattr(sentence, field, value)
    sentence.updated_at, sentence.updated_by_id = now, staff.id
    await db.flush()
    return sentence, changed


def _plain(v):
    """A value as the audit trail's JSON holds it."""
    return v.value if isinstance(v, SentenceKind) else v.isoformat() if isinstance(v, date) else v


async def totals(db: AsyncSession, client_id: int) -> dict[HoursStatus, int]:
    """Minutes per status of the client's entries."""
    rows = await db.execute(select(ServiceHours.status, func.sum(ServiceHours.minutes)).where(ServiceHours.client_id == client_id).group_by(ServiceHours.status))
    out = dict.fromkeys(HoursStatus, 0)
    for status, minutes in rows:
        out[HoursStatus(status)] = int(minutes or 0)
    return out


@dataclass(frozen=True)
class HoursSummary:
    ordered: int  # minutes
    approved: int
    pending: int

    @property
    def balance(self) -> int:
        return max(self.ordered - self.approved, 0)

    @property
    def complete(self) -> bool:
        return self.ordered > 0 and self.balance == 0

    def as_dict(self) -> dict:
        return {"ordered": hours_of(self.ordered), "approved": hours_of(self.approved), "pending": hours_of(self.pending), "balance": hours_of(self.balance)}


async def summary(db: AsyncSession, sentence: Sentence | None) -> HoursSummary | None:
    """The hours of a community-service sentence, or None for any other (or none)."""
    if sentence is None or sentence.kind != SentenceKind.pidana_kerja_sosial:
        return None
    t = await totals(db, sentence.client_id)
    return HoursSummary(_minutes(sentence.hours_ordered or 0), t[HoursStatus.approved], t[HoursStatus.pending])


async def entries(db: AsyncSession, client_id: int) -> list[ServiceHours]:
    return list((await db.execute(select(ServiceHours).where(ServiceHours.client_id == client_id).order_by(ServiceHours.date.desc(), ServiceHours.id.desc()))).scalars())


async def add_hours(db: AsyncSession, client: Client, *, day: date, hours: float, task: str, today: date,
                    staff: Staff | None = None, site_link: SiteLink | None = None, now: datetime | None = None) -> ServiceHours:
    """One day's hours, pending until approved; by a staff member or a site supervisor's link."""
    if staff is not None:
        require_guidance(staff)
    sentence = await sentence_of(db, client.id)
    if sentence is None or sentence.kind != SentenceKind.pidana_kerja_sosial:
        raise conflict("no-community-service", "The client has no community-service sentence (pidana kerja sosial).")
    if site_link is not None and sentence.placement_id != site_link.partner_id:
        raise not_found("client")
    minutes = _minutes(hours)
    if day > today:
        raise DomainError(ErrorKind.invalid, "hours-in-future", "date: hours cannot be entered for a day still to come.", fields={"date": "in the future"},
                          key="error.hours_in_future")
    if day < client.supervision_start:
        raise DomainError(ErrorKind.invalid, "hours-before-supervision", "date: before the client's supervision began.", fields={"date": "before supervision"},
                          key="error.hours_before_supervision")
    if sentence.start_date is not None and day < sentence.start_date:
        raise DomainError(ErrorKind.invalid, "hours-before-start", f"date: before the sentence began ({sentence.start_date.isoformat()}).",
                          fields={"date": "before the sentence's start"}, key="error.hours_before_start", params={"date": sentence.start_date.isoformat()})
    if minutes <= 0 or minutes % 15 or abs(minutes - hours * 60) > 1e-6:
        raise DomainError(ErrorKind.invalid, "invalid-body", "hours: in quarters of an hour, more than zero.", fields={"hours": "quarters of an hour"},
                          key="error.hours_quarters")
    if minutes > sentence.max_hours_per_day * 60:
        raise DomainError(ErrorKind.invalid, "too-many-hours", f"hours: at most {sentence.max_hours_per_day} a day under this order.",
                          fields={"hours": f"at most {sentence.max_hours_per_day}"}, key="error.too_many_hours", params={"max": sentence.max_hours_per_day})
    s = await summary(db, sentence)
    assert s is not None
    if s.approved + s.pending + minutes > s.ordered:
        raise DomainError(ErrorKind.conflict, "exceeds-order", f"Only {hours_of(max(s.ordered - s.approved - s.pending, 0))} hours of the order are left to enter.",
                          key="error.exceeds_order", params={"left": hours_of(max(s.ordered - s.approved - s.pending, 0))})
    entry = ServiceHours(client_id=client.id, date=day, minutes=minutes, task=task, status=HoursStatus.pending,
                         entered_by_id=staff.id if staff else None, site_link_id=site_link.id if site_link else None, created_at=now or utcnow())
    try:
        async with db.begin_nested():
            db.add(entry)
    except IntegrityError:
        raise DomainError(ErrorKind.conflict, "hours-already-entered", f"Hours for {day.isoformat()} are already entered; the PK corrects them by rejecting that entry.",
                          key="error.hours_already_entered", params={"date": day.isoformat()}) from None
    return entry


async def get_entry(db: AsyncSession, staff: Staff, entry_id: int) -> tuple[ServiceHours, Client]:
    entry = await db.get(ServiceHours, entry_id)
    client = await db.get(Client, entry.client_id) if entry is not None else None
    if entry is None or client is None:
        raise not_found("service hours")
    try:
        require_client(staff, client)
    except DomainError:
        raise not_found("service hours") from None
    return entry, client


async def decide(db: AsyncSession, staff: Staff, entry: ServiceHours, *, approve: bool, reason: str = "", now: datetime | None = None) -> None:
    """Approve (it counts from now on) or reject (with a reason) a pending entry.
    Only a pending entry is decided, by a conditional UPDATE: two clicks decide once."""
    require_guidance(staff)
    if not approve and not reason:
        raise DomainError(ErrorKind.invalid, "invalid-body", "reason: say why the hours are rejected.", fields={"reason": "required"}, key="error.reason_required")
    if entry.status != HoursStatus.pending:
        raise conflict("already-decided", f"These hours are already {entry.status.value}.")
    if approve:
        sentence = await sentence_of(db, entry.client_id)
        s = await summary(db, sentence)
        if s is None:
            raise conflict("no-community-service", "The client has no community-service sentence (pidana kerja sosial).")
        if s.approved + entry.minutes > s.ordered:
            raise DomainError(ErrorKind.conflict, "exceeds-order", "Approving these hours would pass the hours ordered.", key="error.exceeds_order",
                              params={"left": hours_of(s.balance)})
    done = await db.execute(
        update(ServiceHours).where(ServiceHours.id == entry.id, ServiceHours.status == HoursStatus.pending)
        .values(status=HoursStatus.approved if approve else HoursStatus.rejected, decided_by_id=staff.id, decided_at=now or utcnow(), reason=reason)
        .execution_options(synchronize_session=False)
    )
    if done.rowcount != 1:
        raise conflict("already-decided", "These hours were decided meanwhile.")


def sentence_dict(s: Sentence | None) -> dict | None:
    if s is None:
        return None
    dates = {"verdict_date": s.verdict_date.isoformat() if s.verdict_date else None, "start_date": s.start_date.isoformat() if s.start_date else None}
    if s.kind == SentenceKind.pidana_kerja_sosial:
        return {"kind": s.kind.value, "hours_ordered": s.hours_ordered, "placement": s.placement_id,
                "placement_name": s.placement.name if s.placement else None, "site_supervisor": s.site_supervisor, "max_hours_per_day": s.max_hours_per_day, **dates}
    end = term_end(s)
    return {"kind": s.kind.value, "term_months": s.term_months, "conditions": s.conditions, **dates, "end_date": end.isoformat() if end else None}


def entry_dict(e: ServiceHours, tz_iso) -> dict:
    return {"id": e.id, "client_id": e.client_id, "date": e.date.isoformat(), "hours": hours_of(e.minutes), "task": e.task, "status": e.status.value,
            "entered_by": "site_supervisor" if e.site_link_id else "staff", "created_at": tz_iso(e.created_at),
            "decided_at": tz_iso(e.decided_at) if e.decided_at else None, "reason": e.reason or None}


async def completion_facts(db: AsyncSession, client: Client) -> dict:
    """What the completion letter for the Kejaksaan prints about the hours; a
    refusal while any hour ordered is not yet approved."""
    sentence = await sentence_of(db, client.id)
    s = await summary(db, sentence)
    if s is None or not s.complete:
        raise DomainError(ErrorKind.conflict, "hours-outstanding", "Community service is not complete: hours ordered are still to be approved.",
                          key="error.hours_outstanding")
    assert sentence is not None
    return {"ordered": hours_of(s.ordered), "approved": hours_of(s.approved), "placement": sentence.placement.name if sentence.placement else "",
            "site_supervisor": sentence.site_supervisor}
