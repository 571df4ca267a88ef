"""Staff accounts of an office."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Role, Staff
from server.domain.errors import DomainError, ErrorKind
from server.security.passwords import hash_password


async def add_staff(db: AsyncSession, office_id: int, username: str, name: str, role: Role, password: str, nip: str = "") -> Staff:
    if await db.scalar(select(func.count()).select_from(Staff).where(Staff.username == username)):
        raise DomainError(ErrorKind.conflict, "username-taken", f"The username {username} is taken.")
    staff = Staff(office_id=office_id, username=username, name=name, role=role, password_hash=hash_password(password), nip=nip)
    db.add(staff)
    await db.flush()
    return staff
