"""The office's partners (mitra): Pokmas Lipas, Griya Abhipraya, BLK/LPK,
Puskesmas, BNN, employers, community-service work sites.

Every staff member of the office reads the list (a PK refers to a partner, an
admin may read the office's records); only the Kasie (supervisor) adds or
changes a partner: the office's network is the office's decision, not one
PK's. An admin runs no guidance (``no-guidance-role``). Another office's
partner does not exist for the caller (404)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Role, Staff, utcnow
from server.db.partners import Partner, PartnerKind
from server.domain.access import require_guidance
from server.domain.errors import DomainError, ErrorKind, conflict, not_found

FIELDS = ("name", "kind", "contact", "address", "kelurahan", "active")


def require_partner_manager(staff: Staff) -> None:
    require_guidance(staff)
    if staff.role != Role.supervisor:
        raise DomainError(ErrorKind.forbidden, "forbidden", "Partners are added and changed by the Kasie (supervisor).")


async def office_partners(db: AsyncSession, office_id: int, *, active_only: bool = False) -> list[Partner]:
    query = select(Partner).where(Partner.office_id == office_id)
    if active_only:
        query = query.where(Partner.active)
    return list((await db.execute(query.order_by(Partner.name, Partner.id))).scalars())


async def get_partner(db: AsyncSession, staff: Staff, partner_id: int) -> Partner:
    partner = await db.get(Partner, partner_id)
    if partner is None or partner.office_id != staff.office_id:
        raise not_found("partner")
    return partner


async def usable_partner(db: AsyncSession, office_id: int, partner_id: int, field: str) -> Partner:
    """A partner of the office still working with it, named in a body's ``field``."""
    partner = await db.get(Partner, partner_id)
    if partner is None or partner.office_id != office_id or not partner.active:
        raise DomainError(ErrorKind.invalid, "invalid-body", f"{field}: no such active partner in this office", fields={field: "no such active partner"},
                          key="error.partner_unknown")
    return partner


async def add_partner(db: AsyncSession, staff: Staff, *, name: str, kind: PartnerKind, contact: str = "", address: str = "", kelurahan: str = "",
                      now: datetime | None = None) -> Partner:
    require_partner_manager(staff)
    partner = Partner(office_id=staff.office_id, name=name, kind=kind, contact=contact, address=address, kelurahan=kelurahan, active=True,
                      created_at=now or utcnow(), created_by_id=staff.id)
    try:
        async with db.begin_nested():
            db.add(partner)
    except IntegrityError:
        raise conflict("partner-exists", f"The office already has a partner named {name!r}.") from None
    return partner


async def change_partner(db: AsyncSession, staff: Staff, partner: Partner, changes: dict) -> dict:
    """Apply ``changes`` (fields of FIELDS); what changed, as {field: [old, new]}."""
    require_partner_manager(staff)
    changed = {}
    for field, value in changes.items():
        old = getattr(partner, field)
        if field in FIELDS and old != value:
            changed[field] = [old.value if isinstance(old, PartnerKind) else old, value.value if isinstance(value, PartnerKind) else value]
            setattr(partner, field, value)
    try:
        async with db.begin_nested():
            await db.flush()
    except IntegrityError:
        raise conflict("partner-exists", "The office already has a partner of that name.") from None
    return changed


def partner_dict(p: Partner) -> dict:
    return {"id": p.id, "name": p.name, "kind": p.kind.value, "contact": p.contact, "address": p.address, "kelurahan": p.kelurahan, "active": p.active}
