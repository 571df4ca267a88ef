"""Clients (klien) and the caseload."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import (
    Client,
    ClientCategory,
    GuidanceSession,
    Program,
    Role,
    Staff,
)
from server.domain.access import scope_clients
from server.domain.errors import DomainError, ErrorKind
from server.domain.office.areas import match_kelurahan


async def create_client(
    db: AsyncSession,
    actor: Staff,
    *,
    name: str,
    register_number: str,
    program: Program,
    supervision_start: date,
    supervision_end: date,
    reporting_interval_days: int,
    kelurahan: str,
    phone: str = "",
    officer_id: int | None = None,
    category: ClientCategory = ClientCategory.adult,
    employment: str = "",
    street: str = "",
    rt_rw: str = "",
    stage_plan: list[dict] | None = None,
) -> Client:
    if actor.role == Role.pk:
        if officer_id not in (None, actor.id):
            raise DomainError(ErrorKind.forbidden, "forbidden", "A PK can only add clients to their own caseload.")
        officer_id = actor.id
    else:
        if officer_id is None:
            raise DomainError(ErrorKind.invalid, "invalid-body", "officer_id: required when a supervisor or admin adds a client", fields={"officer_id": "required"})
        officer = await db.get(Staff, officer_id)
        if officer is None or officer.office_id != actor.office_id or officer.role != Role.pk or not officer.active:
            raise DomainError(ErrorKind.invalid, "invalid-body", "officer_id: no active PK with that id in this office", fields={"officer_id": "unknown"})
    if supervision_end < supervision_start:
        raise DomainError(ErrorKind.invalid, "invalid-body", "supervision_end: must not be before supervision_start", fields={"supervision_end": "before start"})
    taken = await db.scalar(
        select(func.count()).select_from(Client).where(Client.office_id == actor.office_id, Client.register_number == register_number)
    )
    if taken:
        raise DomainError(ErrorKind.conflict, "duplicate-register-number", f"A client with register number {register_number} already exists.")
    # Matched to the office's working area in any case; free text while none is configured.
    area = await match_kelurahan(db, actor.office_id, kelurahan)
    area_id = area.id if area else None
    kelurahan = area.name if area else kelurahan
    client = Client(
        office_id=actor.office_id,
        officer_id=officer_id,
        register_number=register_number,
        name=name,
        category=category,
        program=program,
        supervision_start=supervision_start,
        supervision_end=supervision_end,
        reporting_interval_days=reporting_interval_days,
        kelurahan=kelurahan,
        area_id=area_id,
        phone=phone,
        employment=employment,
        street=street,
        rt_rw=rt_rw,
        stage_plan=stage_plan,
    )
    db.add(client)
    try:
        await db.flush()
    except IntegrityError:
        # Two adds of one number at once both passed the count above; the unique
        # (office, register_number) refuses the second. The caller's session rolls back.
        raise DomainError(ErrorKind.conflict, "duplicate-register-number", f"A client with register number {register_number} already exists.") from None
    return client


async def caseload(db: AsyncSession, staff: Staff) -> list[tuple[Client, list[GuidanceSession]]]:
    clients = (await db.execute(scope_clients(select(Client), staff).order_by(Client.name))).scalars().all()
    if not clients:
        return []
    ids = [c.id for c in clients]
    sessions = (
        await db.execute(select(GuidanceSession).where(GuidanceSession.client_id.in_(ids)).order_by(GuidanceSession.scheduled_at))
    ).scalars().all()
    by_client: dict[int, list[GuidanceSession]] = {i: [] for i in ids}
    for s in sessions:
        by_client[s.client_id].append(s)
    return [(c, by_client[c.id]) for c in clients]


async def client_sessions(db: AsyncSession, client_id: int) -> list[GuidanceSession]:
    return list(
        (await db.execute(select(GuidanceSession).where(GuidanceSession.client_id == client_id).order_by(GuidanceSession.scheduled_at.desc())))
        .scalars()
        .all()
    )
