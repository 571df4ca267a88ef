"""Adding staff from the command line (the API path is in web/api/staff.py)."""

from __future__ import annotations

from sqlalchemy import select

from server.audit.chain import AuditLog
from server.db.engine import make_engine, make_sessionmaker
from server.db.models import Office, Role
from server.domain.errors import DomainError
from server.domain.office.staff import add_staff
from server.security.passwords import Passwords
from server.settings import Settings

DEFAULT_OFFICE = "Bapas"


async def add_user(settings: Settings, *, username: str, role: str, name: str, password: str, office_name: str | None = None) -> int:
    engine = make_engine(settings.database_url)
    try:
        sessionmaker = make_sessionmaker(engine)
        async with sessionmaker() as db:
            query = select(Office).order_by(Office.id).limit(1)
            if office_name:
                query = select(Office).where(Office.name == office_name)
            office = await db.scalar(query)
            if office is None:
                office = Office(name=office_name or DEFAULT_OFFICE, timezone=settings.timezone)
                db.add(office)
                await db.flush()
            # A command of its own, not the web process: hashing here blocks nobody.
            # The domain refuses a taken username (nothing is committed then).
            try:
                staff = await add_staff(db, office.id, username, name, Role(role), Passwords.from_settings(settings).hash(password))
            except DomainError as exc:
                raise ValueError(exc.message) from None
            await db.commit()
            staff_id = staff.id
        await AuditLog.from_settings(sessionmaker, settings).record("staff.create", actor="cli", target_type="staff", target_id=staff_id, detail={"username": username, "role": role})
        return staff_id
    finally:
        await engine.dispose()
