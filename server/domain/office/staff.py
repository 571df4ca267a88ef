"""Staff accounts of an office.

The caller hashes the password (``server.security.passwords``): the web process
through its worker pool before it opens the database, the CLI directly. Argon2
takes ~100 ms of CPU on purpose, which neither the event loop nor a held
database connection should wait out (issue #12)."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Role, Staff
from server.domain.errors import DomainError, ErrorKind


async def add_staff(db: AsyncSession, office_id: int, username: str, name: str, role: Role, password_hash: str, nip: str = "") -> Staff:
    if await db.scalar(select(func.count()).select_from(Staff).where(Staff.username == username)):
        raise DomainError(ErrorKind.conflict, "username-taken", f"The username {username} is taken.")
    staff = Staff(office_id=office_id, username=username, name=name, role=role, password_hash=password_hash, nip=nip)
    db.add(staff)
    try:
        await db.flush()
    except IntegrityError:
        # Two adds of one username at once both passed the count above; the unique
        # username refuses the second. The caller's session rolls back.
        raise DomainError(ErrorKind.conflict, "username-taken", f"The username {username} is taken.") from None
    return staff
