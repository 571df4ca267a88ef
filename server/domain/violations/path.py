"""A violation and its set path: ``dicatat`` → ``teguran_1`` → ``teguran_2``
→ ``bap`` → ``sidang_tpp`` → ``keputusan`` (issue 21).

Each step is taken by a named person and kept (``ViolationStep``); the caller
audits it. The rules:

- forward only, one state at a time; a later state than the next one skips
  steps, which needs a ``reason`` (409 ``step-skipped`` without one) that only
  a supervisor may give (403 ``skip-needs-supervisor``);
- ``keputusan`` only once the case was decided at a sidang TPP that closed
  (409 ``needs-sitting``); it takes that sitting's decision;
- nothing after ``keputusan`` (409 ``violation-closed``);
- the teguran letters and the BAP are issued by their steps from the letters
  engine (numbered, signed, verifiable at ``/v/{code}``), printing the
  violation's facts;
- two steps at the same moment: the state moves only from the state the step
  was taken from, so the second is refused (409 ``step-conflict``).
"""

from __future__ import annotations

from datetime import date

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.signing import HeadSigner
from server.db.casework import Violation, ViolationStep
from server.db.models import Client, Evidence, LetterKind, Role, Staff, ViolationKind, ViolationState
from server.domain.access import require_client, require_guidance
from server.domain.documents.letters import issue_letter
from server.domain.errors import DomainError, ErrorKind, conflict, invalid, not_found

ORDER = list(ViolationState)
STEP_LETTERS = {ViolationState.teguran_1: LetterKind.teguran_1, ViolationState.teguran_2: LetterKind.teguran_2, ViolationState.bap: LetterKind.bap}
TEXT_MAX = 4000


def _text(value: str | None, field: str, *, required: bool = False) -> str:
    text = (value or "").strip()
    if required and not text:
        raise invalid(field, "required")
    if len(text) > TEXT_MAX:
        raise invalid(field, f"at most {TEXT_MAX} characters")
    return text


async def record_violation(db: AsyncSession, staff: Staff, client: Client, kind: ViolationKind, occurred_on: date, what_happened: str,
                           evidence: Evidence, today: date, *, note: str = "", alert: str | None = None) -> Violation:
    """Record a violation at ``dicatat`` with its first step (the caller has
    checked that ``staff`` may see the client, commits and audits)."""
    require_guidance(staff)
    if occurred_on > today:
        raise invalid("date", "a violation is recorded after it happened, not before")
    if occurred_on < client.supervision_start:
        raise invalid("date", "before the client's supervision began")
    violation = Violation(office_id=client.office_id, client_id=client.id, kind=kind, occurred_on=occurred_on,
                          description=_text(what_happened, "what_happened", required=True), evidence=evidence,
                          state=ViolationState.dicatat, alert_key=alert, created_by_id=staff.id)
    db.add(violation)
    await db.flush()
    db.add(ViolationStep(violation_id=violation.id, from_state=None, to_state=ViolationState.dicatat.value, note=_text(note, "note"),
                         skip_reason="", by_id=staff.id, by_name=staff.name))
    await db.flush()
    return violation


async def load_violation(db: AsyncSession, staff: Staff, violation_id: int) -> Violation:
    """The violation if its client is one ``staff`` may see (404 otherwise, as for clients)."""
    violation = await db.get(Violation, violation_id)
    if violation is None or violation.office_id != staff.office_id:
        raise not_found("violation")
    require_client(staff, violation.client)
    return violation


async def client_violations(db: AsyncSession, client_id: int) -> list[Violation]:
    return list((await db.execute(select(Violation).where(Violation.client_id == client_id).order_by(Violation.occurred_on, Violation.id))).scalars())


def violation_facts(violation: Violation) -> dict:
    """What a letter of the violation's path prints about it (signed with the letter)."""
    return {"violation": {"id": violation.id, "kind": violation.kind.value, "date": violation.occurred_on.isoformat(),
                          "what_happened": violation.description}}


async def take_step(db: AsyncSession, signer: HeadSigner | None, staff: Staff, violation: Violation, to: ViolationState, note: str | None,
                    reason: str | None, today: date, tz: str) -> ViolationStep:
    """Move the violation to ``to`` (the rules above); issue its letter. ``signer``
    is needed only for a step that issues a letter. The caller commits and audits."""
    require_guidance(staff)
    note, reason = _text(note, "note"), _text(reason, "reason")
    current = violation.state
    if current == ViolationState.keputusan:
        raise conflict("violation-closed", "The violation has its keputusan; it takes no further step.")
    if ORDER.index(to) <= ORDER.index(current):
        raise DomainError(ErrorKind.conflict, "step-backward", f"The violation is at {current.value}; a step goes forward only.", state=current.value)
    if to == ViolationState.keputusan and violation.decision is None:
        raise DomainError(ErrorKind.conflict, "needs-sitting", "A keputusan follows the decision of a sidang TPP; this case has not been decided at one.",
                          state=current.value)
    if ORDER.index(to) > ORDER.index(current) + 1:
        skipped = [s.value for s in ORDER[ORDER.index(current) + 1:ORDER.index(to)]]
        if not reason:
            raise DomainError(ErrorKind.conflict, "step-skipped", f"Going from {current.value} to {to.value} skips {', '.join(skipped)}; give the reason (field reason).",
                              state=current.value, skipped=skipped)
        if staff.role != Role.supervisor:
            raise DomainError(ErrorKind.forbidden, "skip-needs-supervisor", "Only a supervisor records the reason a step is skipped.")
    elif reason:
        reason = ""  # nothing skipped: a reason would be kept for nothing
    moved = await db.execute(update(Violation).where(Violation.id == violation.id, Violation.state == current).values(state=to))
    if moved.rowcount != 1:
        raise conflict("step-conflict", "The violation moved meanwhile; reload it.")
    letter_id = None
    if to in STEP_LETTERS:
        if signer is None:
            raise DomainError(ErrorKind.conflict, "letter-key-missing", "No letter signing key.", key="error.letter_key_missing")
        client = violation.client
        letter = await issue_letter(db, signer, staff, client, STEP_LETTERS[to], today, tz, note or None, extra=violation_facts(violation))
        letter_id = letter.id
    step = ViolationStep(violation_id=violation.id, from_state=current.value, to_state=to.value, note=note, skip_reason=reason,
                         by_id=staff.id, by_name=staff.name, letter_id=letter_id)
    db.add(step)
    await db.flush()
    await db.refresh(violation)
    return step
