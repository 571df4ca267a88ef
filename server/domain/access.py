"""Who may see and change what. A PK owns their caseload; supervisors and
admins see the whole office. Queries are scoped here, once.

Duty separation (DESIGN.md, "Users"): the admin manages staff accounts and
settings and does not run guidance. An admin may read the office's records
but not log, annotate or end sessions, nor issue, reissue or revoke join
links (:func:`require_guidance`); docs/api.md "Who may do what" is the table."""

from __future__ import annotations

from sqlalchemy import Select

from server.db.models import Client, GuidanceSession, Role, Staff
from server.domain.errors import DomainError, ErrorKind, not_found


def scope_clients(query: Select, staff: Staff) -> Select:
    query = query.where(Client.office_id == staff.office_id)
    if staff.role == Role.pk:
        query = query.where(Client.officer_id == staff.id)
    return query


def scope_sessions(query: Select, staff: Staff) -> Select:
    query = query.where(GuidanceSession.office_id == staff.office_id)
    if staff.role == Role.pk:
        query = query.where(GuidanceSession.officer_id == staff.id)
    return query


def can_see_client(staff: Staff, client: Client) -> bool:
    if client.office_id != staff.office_id:
        return False
    return staff.role != Role.pk or client.officer_id == staff.id


def can_see_session(staff: Staff, session: GuidanceSession) -> bool:
    if session.office_id != staff.office_id:
        return False
    return staff.role != Role.pk or session.officer_id == staff.id


def require_client(staff: Staff, client: Client | None) -> Client:
    # Another PK's client is a 404, not a 403: its existence is not disclosed.
    if client is None or not can_see_client(staff, client):
        raise not_found("client")
    return client


def require_session(staff: Staff, session: GuidanceSession | None) -> GuidanceSession:
    if session is None or not can_see_session(staff, session):
        raise not_found("session")
    return session


def require_role(staff: Staff, *roles: Role) -> None:
    if staff.role not in roles:
        raise DomainError(ErrorKind.forbidden, "forbidden", "Your role may not do that.")


def runs_guidance(staff: Staff) -> bool:
    return staff.role in (Role.pk, Role.supervisor)


def require_guidance(staff: Staff) -> None:
    """Running guidance (sessions, notes, join links, the client's personal link,
    letters, kendala answers, reminders, field work) is a PK's or supervisor's act."""
    if not runs_guidance(staff):
        raise DomainError(ErrorKind.forbidden, "no-guidance-role", "Admins manage staff and settings; guidance is run by PKs and supervisors.")
