"""Referrals of a client to a partner, and the partner's report.

A referral moves ``dirujuk`` → ``diterima`` | ``ditolak``, ``diterima`` →
``berjalan``, ``berjalan`` → ``selesai`` with an outcome; nothing else (409
``illegal-transition``). Each move is a ``ReferralStep`` by a named person and
an audit entry (the caller's). ``goal_id`` names the goal of the client's case
plan the referral serves, when the PK gives one: a goal of the plan as it
stands (its latest version), of this client, or 400 ``unknown-goal``.

The partner's report is a file kept as recordings are: sealed with a data key
of its own under the recordings master key (server/media/crypto.py), named by
the server inside ``recordings_dir``; read back only by the client's PK or a
supervisor of the office, each reading audited by the caller. Who may see the
client may see the referral (an admin reads, a PK only their own); moving one
is guidance (PK or supervisor)."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Client, Role, Staff, utcnow
from server.db.partners import (
    Referral,
    ReferralOutcome,
    ReferralReport,
    ReferralStatus,
    ReferralStep,
)
from server.domain.access import require_client, require_guidance
from server.domain.errors import DomainError, ErrorKind, conflict, not_found
from server.domain.guidance.plans import latest_plan
from server.domain.partners.directory import usable_partner
from server.media import crypto

S = ReferralStatus
NEXT: dict[ReferralStatus, tuple[ReferralStatus, ...]] = {
    S.dirujuk: (S.diterima, S.ditolak),
    S.diterima: (S.berjalan,),
    S.berjalan: (S.selesai,),
    S.ditolak: (),
    S.selesai: (),
}
FINAL = (S.ditolak, S.selesai)

MAX_REPORT_BYTES = 1_000_000
# What a partner's report may be, told by its first bytes as well as its type.
REPORT_TYPES = {"application/pdf": (b"%PDF-", "pdf"), "image/jpeg": (b"\xff\xd8\xff", "jpg"), "image/png": (b"\x89PNG\r\n\x1a\n", "png")}


async def plan_goals(db: AsyncSession, client_id: int) -> dict[int, dict]:
    """The goals of the client's case plan as it stands (latest version), by id."""
    plan = await latest_plan(db, client_id)
    return {g["id"]: g for g in (plan.goals if plan else [])}


async def create(db: AsyncSession, staff: Staff, client: Client, *, partner_id: int, purpose: str, goal_id: int | None = None,
                 now: datetime | None = None) -> Referral:
    require_guidance(staff)
    partner = await usable_partner(db, client.office_id, partner_id, "partner_id")
    if goal_id is not None and goal_id not in await plan_goals(db, client.id):
        # Another client's goal is as unknown as none: the answer names neither.
        raise DomainError(ErrorKind.invalid, "unknown-goal", "goal_id: not a goal of this client's case plan", fields={"goal_id": "not a goal of this client's case plan"},
                          key="error.unknown_goal")
    now = now or utcnow()
    referral = Referral(client_id=client.id, partner_id=partner.id, purpose=purpose, goal_id=goal_id, status=S.dirujuk,
                        created_at=now, created_by_id=staff.id, updated_at=now)
    db.add(referral)
    await db.flush()
    db.add(ReferralStep(referral_id=referral.id, from_status="", to_status=S.dirujuk.value, note="", by_id=staff.id, at=now))
    await db.flush()
    return referral


async def for_client(db: AsyncSession, client_id: int) -> list[Referral]:
    return list((await db.execute(select(Referral).where(Referral.client_id == client_id).order_by(Referral.id))).scalars())


async def get_referral(db: AsyncSession, staff: Staff, referral_id: int) -> Referral:
    """The referral if its client is one the caller may see (404 otherwise)."""
    referral = await db.get(Referral, referral_id)
    if referral is None:
        raise not_found("referral")
    try:
        require_client(staff, referral.client)
    except DomainError:
        raise not_found("referral") from None
    return referral


async def step(db: AsyncSession, staff: Staff, referral: Referral, to: ReferralStatus, *, note: str = "", outcome: ReferralOutcome | None = None,
               now: datetime | None = None) -> ReferralStep:
    """Move the referral to ``to``. The move is made only from the status it was
    read in (a conditional UPDATE), so two people moving it at once make one step."""
    require_guidance(staff)
    current = referral.status
    if to not in NEXT[current]:
        raise DomainError(ErrorKind.conflict, "illegal-transition", f"A referral that is {current.value} cannot become {to.value}.",
                          key="error.referral_transition", params={"from": current.value, "to": to.value}, current=current.value)
    if to == S.selesai and outcome is None:
        raise DomainError(ErrorKind.invalid, "invalid-body", "outcome: required to close a referral (berhasil, sebagian, tidak_berhasil)",
                          fields={"outcome": "required"}, key="error.referral_outcome")
    if to != S.selesai and outcome is not None:
        raise DomainError(ErrorKind.invalid, "invalid-body", "outcome: only a referral that ends (selesai) has one", fields={"outcome": "only with selesai"})
    now = now or utcnow()
    moved = await db.execute(
        update(Referral).where(Referral.id == referral.id, Referral.status == current)
        .values(status=to, outcome=outcome, updated_at=now).execution_options(synchronize_session=False)
    )
    if moved.rowcount != 1:
        raise conflict("illegal-transition", "The referral was moved by someone else meanwhile; reload it.")
    row = ReferralStep(referral_id=referral.id, from_status=current.value, to_status=to.value, note=note, by_id=staff.id, at=now)
    db.add(row)
    await db.flush()
    return row


async def reload(db: AsyncSession, referral_id: int) -> Referral:
    """The referral as the database holds it now (after a conditional UPDATE), steps and reports with it."""
    query = select(Referral).where(Referral.id == referral_id).execution_options(populate_existing=True)
    return (await db.execute(query)).scalars().one()


# --- the partner's report -----------------------------------------------------------


def report_type(content_type: str, data: bytes) -> str:
    """The file's extension, or a refusal: a PDF, JPEG or PNG, as its bytes say."""
    if content_type not in REPORT_TYPES:
        raise DomainError(ErrorKind.unsupported, "unsupported-media-type", "A report is a PDF, JPEG or PNG file.", key="error.report_type")
    magic, ext = REPORT_TYPES[content_type]
    if not data.startswith(magic):
        raise DomainError(ErrorKind.invalid, "report-not-that-type", f"The file is not a {content_type} file.", key="error.report_type")
    if len(data) > MAX_REPORT_BYTES:
        raise DomainError(ErrorKind.too_large, "body-too-large", f"A report is at most {MAX_REPORT_BYTES} bytes.", key="error.report_too_large")
    return ext


def may_read_report(staff: Staff, referral: Referral) -> bool:
    """As recordings (server/domain/calls/recordings.may_play): the client's PK or
    a supervisor of the office; an admin manages accounts and reads no reports."""
    client = referral.client
    if client.office_id != staff.office_id:
        return False
    return staff.role == Role.supervisor or (staff.role == Role.pk and client.officer_id == staff.id)


def seal_report(directory: Path, master_key: bytes, referral_id: int, ext: str, data: bytes) -> tuple[str, int, str]:
    """Seal the file into the folder; its name, ciphertext size and SHA-256. Blocking."""
    directory.mkdir(parents=True, exist_ok=True)
    name = f"ref{int(referral_id)}-report-{secrets.token_hex(8)}.{ext}.enc"
    size, sha256 = crypto.encrypt_stream(io.BytesIO(data), crypto.safe_path(directory, name), master_key)
    return name, size, sha256


async def attach_report(db: AsyncSession, staff: Staff, referral: Referral, *, name: str, content_type: str, size: int, sha256: str,
                        now: datetime | None = None) -> ReferralReport:
    require_guidance(staff)
    if referral.status == S.ditolak:
        raise conflict("referral-declined", "The partner declined this referral: there is no report to keep.")
    report = ReferralReport(referral_id=referral.id, path=name, content_type=content_type, size=size, sha256=sha256,
                            uploaded_at=now or utcnow(), uploaded_by_id=staff.id)
    db.add(report)
    await db.flush()
    return report


def report_plaintext(directory: Path, master_key: bytes, report: ReferralReport) -> Iterator[bytes]:
    return crypto.decrypt_chunks(crypto.safe_path(directory, report.path), master_key)


def goal_dict(goal_id: int | None, goals: dict[int, dict]) -> dict | None:
    """The referral's goal as the plan words it now; a goal dropped from the plan since keeps its id alone."""
    if goal_id is None:
        return None
    g = goals.get(goal_id)
    return {"id": goal_id, "need": g["need"], "text": g["text"]} if g else {"id": goal_id, "need": None, "text": None}


def referral_dict(r: Referral, tz_iso, goals: dict[int, dict] | None = None) -> dict:
    """The referral as the API answers it; ``tz_iso`` formats a moment, ``goals``
    are the client's plan goals (``plan_goals``) that word its goal."""
    return {
        "id": r.id, "client_id": r.client_id,
        "partner": {"id": r.partner.id, "name": r.partner.name, "kind": r.partner.kind.value},
        "purpose": r.purpose, "goal_id": r.goal_id, "goal": goal_dict(r.goal_id, goals or {}),
        # The free text of a referral made before goals were referred to by id (migration 0018); null since.
        "goal_ref": r.goal_ref or None, "status": r.status.value,
        "outcome": r.outcome.value if r.outcome else None,
        "created_at": tz_iso(r.created_at), "updated_at": tz_iso(r.updated_at),
        "next": [s.value for s in NEXT[r.status]],
        "steps": [{"from": s.from_status or None, "to": s.to_status, "note": s.note, "by": {"id": s.by_id, "name": s.by.name}, "at": tz_iso(s.at)} for s in r.steps],
        "reports": [{"id": rep.id, "content_type": rep.content_type, "size": rep.size, "sha256": rep.sha256, "uploaded_at": tz_iso(rep.uploaded_at),
                     "url": f"/referral-reports/{rep.id}"} for rep in r.reports],
    }
