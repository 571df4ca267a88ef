"""A site supervisor's personal link: the person at a community-service
placement who logs the hours of the clients placed there.

Like the client's own link (server/domain/outreach/portal.py): signed (the token
is recomputed from the row, server/security/sitepass.py), expiring (``days``
from issue, at most a year), revocable (``revoked_at``, checked on every
request, so a revocation holds at once). A link reaches only the clients whose
current sentence is community service at its placement, and shows them only
what the supervisor needs: name, hours ordered, approved, pending, balance, and
the entries made there. Issuing and revoking is guidance (a PK or a supervisor
of the office), audited by the caller."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Client, Staff, utcnow
from server.db.partners import Partner, Sentence, SentenceKind, ServiceHours, SiteLink
from server.domain.access import require_guidance
from server.domain.errors import DomainError, ErrorKind, not_found
from server.domain.partners.sentences import HoursSummary, summary
from server.security import sitepass

MAX_DAYS = 366


async def issue(db: AsyncSession, staff: Staff, partner: Partner, *, name: str, days: int, now: datetime | None = None) -> SiteLink:
    require_guidance(staff)
    if not partner.active:
        raise DomainError(ErrorKind.conflict, "partner-inactive", "This partner no longer works with the office.")
    now = now or utcnow()
    link = SiteLink(office_id=partner.office_id, partner_id=partner.id, name=name, salt=sitepass.new_salt(), created_at=now, created_by_id=staff.id,
                    expires_at=now + timedelta(days=min(days, MAX_DAYS)))
    db.add(link)
    await db.flush()
    return link


async def links_of(db: AsyncSession, partner_id: int) -> list[SiteLink]:
    return list((await db.execute(select(SiteLink).where(SiteLink.partner_id == partner_id).order_by(SiteLink.id.desc()))).scalars())


async def get_link(db: AsyncSession, staff: Staff, link_id: int) -> SiteLink:
    link = await db.get(SiteLink, link_id)
    if link is None or link.office_id != staff.office_id:
        raise not_found("site link")
    return link


def revoke(staff: Staff, link: SiteLink, now: datetime | None = None) -> bool:
    """Revoke it; False when it already was (the first revocation stays)."""
    require_guidance(staff)
    if link.revoked_at is not None:
        return False
    link.revoked_at = now or utcnow()
    return True


def live(link: SiteLink) -> bool:
    return link.revoked_at is None and link.expires_at > utcnow()


def check_live(link: SiteLink | None, now: datetime) -> SiteLink:
    if link is None:
        raise DomainError(ErrorKind.not_found, "invalid-token", "This link is not valid.")
    if link.revoked_at is not None:
        raise DomainError(ErrorKind.gone, "link-revoked", "This link was revoked; ask the Bapas for a new one.")
    if link.expires_at <= now:
        raise DomainError(ErrorKind.gone, "link-expired", "This link has expired; ask the Bapas for a new one.")
    return link


async def open_link(db: AsyncSession, secret: str, token: str, now: datetime | None = None) -> SiteLink:
    now = now or utcnow()
    link_id = sitepass.token_link_id(token)
    link = await db.get(SiteLink, link_id) if link_id is not None else None
    if link is not None and not sitepass.token_matches(secret, token, link.id, link.salt):
        link = None
    link = check_live(link, now)
    link.last_opened_at = now
    return link


async def link_from_cookie(db: AsyncSession, secret: str, cookie: str | None) -> SiteLink:
    link_id = sitepass.decode_cookie(secret, cookie)
    if link_id is None:
        raise DomainError(ErrorKind.not_found, "invalid-token", "Open the link the Bapas sent you.")
    return check_live(await db.get(SiteLink, link_id), utcnow())


@dataclass
class PlacedClient:
    client: Client
    hours: HoursSummary
    entries: list[ServiceHours]


async def placed_clients(db: AsyncSession, link: SiteLink, today) -> list[PlacedClient]:
    """The clients whose sentence is community service at the link's placement,
    still under supervision, with their hours and the entries made there."""
    rows = await db.execute(
        select(Client, Sentence).join(Sentence, Sentence.client_id == Client.id)
        .where(Sentence.placement_id == link.partner_id, Sentence.kind == SentenceKind.pidana_kerja_sosial,
               Client.office_id == link.office_id, Client.supervision_end >= today)
        .order_by(Client.name, Client.id)
    )
    out = []
    for client, sentence in rows.all():
        hours = await summary(db, sentence)
        assert hours is not None
        entries = list((await db.execute(select(ServiceHours).where(ServiceHours.client_id == client.id).order_by(ServiceHours.date.desc()).limit(14))).scalars())
        out.append(PlacedClient(client, hours, entries))
    return out


async def placed_client(db: AsyncSession, link: SiteLink, client_id: int) -> Client:
    """A client the link reaches, or not found: another placement's client does not exist for it."""
    client = await db.get(Client, client_id)
    sentence = await db.scalar(select(Sentence).where(Sentence.client_id == client_id)) if client is not None else None
    if client is None or sentence is None or client.office_id != link.office_id or sentence.placement_id != link.partner_id \
            or sentence.kind != SentenceKind.pidana_kerja_sosial:
        raise not_found("client")
    return client
