"""Changes to a staff account that end its sign-ins, shared by the JSON API
(``PATCH /api/staff/{id}``, ``POST /api/me/password``) and the pages (the
admin's staff page, the change-password page).

Deactivation, a role change and any password change delete every sign-in of
that staff member and close their call sockets (issue #12: sign-ins survived
deactivation and came back to life on reactivation; credentials are checked at
``join`` only). A password set by an admin is a *reset*: the staff member must
choose their own at the next sign-in. Each change is one audit entry.

Passwords are hashed and verified in the worker pool (server/security/passwords.py)
while no database connection is held: a burst of resets waiting for the two
Argon2 threads would otherwise hold a pooled connection each.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from sqlalchemy import update

from server.db.models import Role, Staff
from server.domain.errors import DomainError, ErrorKind, invalid, not_found
from server.keys import audit_key, db_key, passwords_key, rooms_key
from server.security.auth import end_staff_sessions, start_session


def signs_out(changes: dict) -> bool:
    """Changes after which the staff member must sign in again."""
    return changes.get("active") is False or "role" in changes or "password" in changes


async def change_account(
    request: web.Request, me: Staff, staff_id: int, *, name: str | None = None, role: Role | None = None,
    active: bool | None = None, password: str | None = None, nip: str | None = None,
) -> tuple[Staff, dict[str, Any]]:
    """An admin changes a staff member of their office. Validate, then mutate."""
    password_hash = await request.app[passwords_key].hash(password) if password else None
    async with request.app[db_key]() as db:
        staff = await db.get(Staff, staff_id)
        if staff is None or staff.office_id != me.office_id:
            raise not_found("staff member")
        if staff.id == me.id and (active is False or (role is not None and role != Role.admin)):
            raise DomainError(ErrorKind.conflict, "self-lockout", "You cannot deactivate or demote your own account.")
        changes: dict[str, Any] = {k: v for k, v in (("name", name), ("role", role), ("active", active), ("nip", nip)) if v is not None and getattr(staff, k) != v}
        for key, value in changes.items():
            setattr(staff, key, value)
        if password_hash:
            staff.password_hash = password_hash
            # Someone else chose it: the owner replaces it at the next sign-in.
            staff.must_change_password = staff.id != me.id
            changes["password"] = "reset" if staff.id != me.id else "changed"
        sign_out = signs_out(changes)
        if sign_out:
            await end_staff_sessions(db, staff.id)
        await db.commit()
    if sign_out:
        await request.app[rooms_key].close_staff(staff.id)
    detail = {k: (v.value if isinstance(v, Role) else v) for k, v in changes.items()}
    if changes:
        await request.app[audit_key].record("staff.update", actor=me, target_type="staff", target_id=staff.id, detail=detail)
    return staff, changes


async def change_own_password(request: web.Request, me: Staff, current: str, new: str, response: web.StreamResponse) -> None:
    """The signed-in staff member replaces their password: every sign-in ends,
    this browser gets a fresh one on ``response``."""
    workers = request.app[passwords_key]
    if new == current:
        raise invalid("new_password", "choose a password other than the current one")
    wrong = DomainError(ErrorKind.forbidden, "wrong-password", "The current password is wrong.", fields={"current_password": "wrong"})
    async with request.app[db_key]() as db:
        staff = await db.get(Staff, me.id)
    if staff is None or not await workers.verify(staff.password_hash, current):
        raise wrong
    old_hash, new_hash = staff.password_hash, await workers.hash(new)
    async with request.app[db_key]() as db:
        # Only over the hash just verified: an admin's reset or a deactivation
        # while Argon2 ran wins, and the current password counts as wrong.
        changed = await db.execute(
            update(Staff).where(Staff.id == me.id, Staff.password_hash == old_hash, Staff.active.is_(True)).values(password_hash=new_hash, must_change_password=False)
        )
        if changed.rowcount != 1:
            raise wrong
        await end_staff_sessions(db, staff.id)
        await db.commit()
    staff.password_hash, staff.must_change_password = new_hash, False
    await request.app[rooms_key].close_staff(me.id)
    await start_session(request, response, staff)
    await request.app[audit_key].record("staff.password_change", actor=staff, target_type="staff", target_id=staff.id)
