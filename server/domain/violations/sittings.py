"""Sidang TPP: a sitting of the Tim Pengamat Pemasyarakatan at the Bapas,
which decides the cases on its agenda (issue 21).

A supervisor opens it with its day, the members present (staff of the
office) and the agenda: violations at ``sidang_tpp`` and other cases about a
client (a stage change, another matter). Each case gets a decision and its
reasons: a violation ``dilanjutkan``, ``pencabutan`` or ``selesai``, another
case ``disetujui``, ``ditolak`` or ``ditunda``. The sitting closes only with a
quorum (the office's ``tpp_quorum``, server/domain/record/rules.py; 409
``no-quorum``) and every case decided (409 ``undecided-cases``). Closing:

- gives each violation decided its decision (so its ``keputusan`` may follow);
- issues the risalah, a letter of the office (letterhead, number, QR,
  ``/v/{code}``) printing the members and every decision with its reasons;
- for each ``pencabutan``, issues the notification letters to the Kanwil and
  to the Kejaksaan Negeri about that client.

Each decision is then in the client's record (``client_decisions``).
"""

from __future__ import annotations

from datetime import date, datetime, timezone

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.audit.signing import HeadSigner
from server.db.casework import TppCase, TppSitting, Violation
from server.db.models import Client, Letter, LetterKind, Office, Role, Staff, ViolationDecision, ViolationState
from server.domain.access import can_see_client, require_guidance, require_role
from server.domain.documents.letters import issue_letter, issue_office_letter
from server.domain.errors import DomainError, ErrorKind, conflict, invalid, not_found
from server.domain.record.rules import office_rules
from server.domain.violations.path import violation_facts

CASE_KINDS = ("pelanggaran", "perubahan_tahap", "lainnya")
VIOLATION_DECISIONS = tuple(d.value for d in ViolationDecision)
OTHER_DECISIONS = ("disetujui", "ditolak", "ditunda")
TEXT_MAX = 4000
MAX_CASES = 100


def _require_chair(staff: Staff) -> None:
    # The Kasie (a supervisor) runs the sitting; an admin runs no guidance at all.
    require_guidance(staff)
    require_role(staff, Role.supervisor)


async def open_sitting(db: AsyncSession, staff: Staff, held_on: date, member_ids: list[int], agenda: list[dict]) -> TppSitting:
    """Open a sitting (the caller commits and audits). ``agenda`` items are
    ``{"violation_id"}`` or ``{"client_id", "kind", "subject"}``."""
    _require_chair(staff)
    members = list(dict.fromkeys(member_ids))
    if len(members) != len(member_ids):
        raise invalid("member_ids", "a member is listed twice")
    found = set((await db.execute(select(Staff.id).where(Staff.id.in_(members), Staff.office_id == staff.office_id, Staff.active.is_(True)))).scalars()) if members else set()
    if found != set(members):
        raise invalid("member_ids", "each member is an active staff member of this office")
    if not agenda:
        raise invalid("agenda", "a sitting has at least one case")
    if len(agenda) > MAX_CASES:
        raise invalid("agenda", f"at most {MAX_CASES} cases")
    sitting = TppSitting(office_id=staff.office_id, held_on=held_on, member_ids=members, status="open", created_by_id=staff.id)
    db.add(sitting)
    await db.flush()
    seen: set[int] = set()
    for item in agenda:
        if item.get("violation_id") is not None:
            violation = await db.get(Violation, item["violation_id"])
            if violation is None or violation.office_id != staff.office_id:
                raise invalid("agenda", f"no violation {item['violation_id']} in this office", code="invalid-body")
            if violation.state != ViolationState.sidang_tpp or violation.decision is not None:
                raise DomainError(ErrorKind.conflict, "not-at-sidang", f"Violation {violation.id} is at {violation.state.value}, not waiting for a sidang TPP.",
                                  violation_id=violation.id)
            if violation.id in seen or await _on_open_agenda(db, violation.id):
                raise DomainError(ErrorKind.conflict, "already-on-agenda", f"Violation {violation.id} is already on an open sitting's agenda.", violation_id=violation.id)
            seen.add(violation.id)
            db.add(TppCase(sitting_id=sitting.id, client_id=violation.client_id, kind="pelanggaran", violation_id=violation.id,
                           subject=violation.description[:TEXT_MAX], reasons="", letter_ids=[]))
        else:
            client = await db.get(Client, item.get("client_id") or 0)
            if client is None or client.office_id != staff.office_id:
                raise invalid("agenda", f"no client {item.get('client_id')} in this office")
            kind = item.get("kind") or "lainnya"
            if kind not in CASE_KINDS[1:]:
                raise invalid("agenda", f"a case without a violation is one of {', '.join(CASE_KINDS[1:])}")
            subject = " ".join((item.get("subject") or "").split())
            if not subject or len(subject) > TEXT_MAX:
                raise invalid("agenda", "each other case says what it is about (subject)")
            db.add(TppCase(sitting_id=sitting.id, client_id=client.id, kind=kind, subject=subject, reasons="", letter_ids=[]))
    await db.flush()
    await db.refresh(sitting, ["cases"])
    return sitting


async def _on_open_agenda(db: AsyncSession, violation_id: int) -> bool:
    return await db.scalar(
        select(TppCase.id).join(TppSitting, TppSitting.id == TppCase.sitting_id).where(TppCase.violation_id == violation_id, TppSitting.status == "open")
    ) is not None


async def load_sitting(db: AsyncSession, staff: Staff, sitting_id: int) -> TppSitting:
    """A sitting of the caller's office; a PK sees none (it holds other PKs' clients)."""
    require_role(staff, Role.supervisor, Role.admin)
    sitting = await db.get(TppSitting, sitting_id)
    if sitting is None or sitting.office_id != staff.office_id:
        raise not_found("sitting")
    return sitting


async def office_sittings(db: AsyncSession, staff: Staff) -> list[TppSitting]:
    require_role(staff, Role.supervisor, Role.admin)
    return list((await db.execute(select(TppSitting).where(TppSitting.office_id == staff.office_id).order_by(TppSitting.held_on.desc(), TppSitting.id.desc()))).scalars())


async def decide_case(db: AsyncSession, staff: Staff, sitting: TppSitting, case_id: int, decision: str, reasons: str) -> TppCase:
    _require_chair(staff)
    if sitting.status != "open":
        raise conflict("sitting-closed", "The sitting is closed; its decisions stand as the risalah printed them.")
    case = next((c for c in sitting.cases if c.id == case_id), None)
    if case is None:
        raise not_found("case")
    allowed = VIOLATION_DECISIONS if case.violation_id is not None else OTHER_DECISIONS
    if decision not in allowed:
        raise invalid("decision", f"one of {', '.join(allowed)}")
    reasons = (reasons or "").strip()
    if not reasons or len(reasons) > TEXT_MAX:
        raise invalid("reasons", "every decision gives its reasons")
    case.decision, case.reasons, case.decided_by_id, case.decided_at = decision, reasons, staff.id, datetime.now(timezone.utc)
    await db.flush()
    return case


async def close_sitting(db: AsyncSession, signer: HeadSigner, staff: Staff, sitting: TppSitting, today: date, tz: str) -> list[Letter]:
    """Close with a quorum and every case decided; issue the risalah and the
    pencabutan letters; give each violation its decision. The caller commits
    and audits. Returns the letters issued, the risalah first."""
    _require_chair(staff)
    if sitting.status != "open":
        raise conflict("sitting-closed", "The sitting is already closed.")
    rules = await office_rules(db, sitting.office_id, tz)
    if len(sitting.member_ids) < rules.tpp_quorum:
        raise DomainError(ErrorKind.conflict, "no-quorum", f"{len(sitting.member_ids)} members present; the office's quorum is {rules.tpp_quorum}.",
                          present=len(sitting.member_ids), quorum=rules.tpp_quorum)
    undecided = [c.id for c in sitting.cases if c.decision is None]
    if undecided:
        raise DomainError(ErrorKind.conflict, "undecided-cases", "Every case on the agenda needs its decision before the sitting closes.", case_ids=undecided)
    # Two closes at once: only the one that finds it open goes on.
    moved = await db.execute(update(TppSitting).where(TppSitting.id == sitting.id, TppSitting.status == "open").values(status="closed"))
    if moved.rowcount != 1:
        raise conflict("sitting-closed", "The sitting is already closed.")
    office = await db.get(Office, sitting.office_id)
    names = dict((await db.execute(select(Staff.id, Staff.name).where(Staff.id.in_(sitting.member_ids)))).all())
    tpp = {"held_on": sitting.held_on.isoformat(), "sitting_id": sitting.id}
    issued: list[Letter] = []
    printed_cases = []
    for case in sitting.cases:
        client = case.client
        printed_cases.append({"client": client.name, "register_number": client.register_number, "kind": case.kind, "subject": case.subject,
                              "decision": case.decision, "reasons": case.reasons})
        if case.violation_id is None:
            continue
        violation = await db.get(Violation, case.violation_id)
        violation.decision = ViolationDecision(case.decision)
        violation.decided_sitting_id = sitting.id
        if violation.decision == ViolationDecision.pencabutan:
            facts = {**violation_facts(violation), "tpp": {**tpp, "decision": case.decision, "reasons": case.reasons}}
            for kind in (LetterKind.pencabutan_kanwil, LetterKind.pencabutan_kejari):
                letter = await issue_letter(db, signer, staff, client, kind, today, tz, None, extra=facts)
                case.letter_ids = [*case.letter_ids, letter.id]
                issued.append(letter)
    risalah = await issue_office_letter(db, signer, staff, office, LetterKind.risalah_tpp, today, {
        "tpp": {**tpp, "members": [names.get(i, "") for i in sitting.member_ids], "quorum": rules.tpp_quorum},
        "cases": printed_cases,
    })
    sitting.status, sitting.closed_by_id, sitting.closed_at, sitting.risalah_letter_id = "closed", staff.id, datetime.now(timezone.utc), risalah.id
    await db.flush()
    return [risalah, *issued]


async def client_decisions(db: AsyncSession, staff: Staff, client: Client) -> list[tuple[TppCase, TppSitting]]:
    """The decisions of closed sittings about ``client``: their place in the client's record."""
    if not can_see_client(staff, client):
        return []
    rows = await db.execute(
        select(TppCase, TppSitting).join(TppSitting, TppSitting.id == TppCase.sitting_id)
        .where(TppCase.client_id == client.id, TppSitting.status == "closed").order_by(TppSitting.held_on, TppCase.id)
    )
    return [(case, sitting) for case, sitting in rows.all()]
