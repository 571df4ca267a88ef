"""The schema of who helps a client and what a court ordered (issue 21): the
office's partners (mitra), referrals to them with their steps and the
partners' reports, a client's sentence (pidana kerja sosial or pidana
pengawasan), the community-service hours logged against it, and the site
supervisors' personal links.

A module of its own beside ``server.db.models`` (which it builds on), so the
model file stays one a reader can hold; ``server/db/__init__.py`` imports it,
so whoever imports the schema gets these tables too (migration 0017).
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import (
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from server.db.models import Base, Client, Staff, _enum, utcnow


class PartnerKind(str, enum.Enum):
    pokmas_lipas = "pokmas_lipas"  # Kelompok Masyarakat Peduli Pemasyarakatan
    griya_abhipraya = "griya_abhipraya"
    blk_lpk = "blk_lpk"  # job-training centres (Balai Latihan Kerja / Lembaga Pelatihan Kerja)
    puskesmas = "puskesmas"
    bnn = "bnn"  # Badan Narkotika Nasional: drug cases
    pemberi_kerja = "pemberi_kerja"  # an employer
    tempat_kerja_sosial = "tempat_kerja_sosial"  # a community-service work site (placement)
    lainnya = "lainnya"


class ReferralStatus(str, enum.Enum):
    dirujuk = "dirujuk"  # referred, the partner has not answered
    diterima = "diterima"  # the partner took the client
    ditolak = "ditolak"  # the partner declined (final)
    berjalan = "berjalan"  # the programme is under way
    selesai = "selesai"  # ended, with an outcome (final)


class ReferralOutcome(str, enum.Enum):
    berhasil = "berhasil"  # the client completed what the referral was for
    sebagian = "sebagian"  # partly
    tidak_berhasil = "tidak_berhasil"  # did not complete it


class SentenceKind(str, enum.Enum):
    pidana_kerja_sosial = "pidana_kerja_sosial"  # community service: hours at a placement
    pidana_pengawasan = "pidana_pengawasan"  # supervision for a term


class HoursStatus(str, enum.Enum):
    pending = "pending"  # entered, waiting for the PK: counts for nothing yet
    approved = "approved"  # the PK approved it: counts against the order
    rejected = "rejected"  # the PK refused it (with a reason); the day may be entered again


class Partner(Base):
    """An organisation of the office's network (mitra)."""

    __tablename__ = "partner"
    __table_args__ = (UniqueConstraint("office_id", "name", name="uq_partner_office_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[PartnerKind] = mapped_column(_enum(PartnerKind, "partner_kind"))
    contact: Mapped[str] = mapped_column(String(200), default="")
    address: Mapped[str] = mapped_column(String(300), default="")
    kelurahan: Mapped[str] = mapped_column(String(100), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))


class Referral(Base):
    """A client referred to a partner (server/domain/partners/referrals.py).
    ``goal_id`` is the goal of the client's case plan it serves, when there is
    one (checked to be the client's own); ``goal_ref`` is the free reference of
    referrals made before migration 0018, kept as they were written."""

    __tablename__ = "referral"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"), index=True)
    purpose: Mapped[str] = mapped_column(Text)
    goal_ref: Mapped[str] = mapped_column(String(100), default="")
    goal_id: Mapped[int | None] = mapped_column(ForeignKey("plan_goal.id"), index=True)
    status: Mapped[ReferralStatus] = mapped_column(_enum(ReferralStatus, "referral_status"), default=ReferralStatus.dirujuk)
    outcome: Mapped[ReferralOutcome | None] = mapped_column(_enum(ReferralOutcome, "referral_outcome"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    client: Mapped[Client] = relationship(lazy="joined")
    partner: Mapped[Partner] = relationship(lazy="joined")
    steps: Mapped[list[ReferralStep]] = relationship(order_by="ReferralStep.id", lazy="selectin")
    reports: Mapped[list[ReferralReport]] = relationship(order_by="ReferralReport.id", lazy="selectin")


class ReferralStep(Base):
    """One move of a referral, by a named person; never updated."""

    __tablename__ = "referral_step"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    from_status: Mapped[str] = mapped_column(String(16))
    to_status: Mapped[str] = mapped_column(String(16))
    note: Mapped[str] = mapped_column(Text, default="")
    by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    at: Mapped[datetime] = mapped_column(default=utcnow)

    by: Mapped[Staff] = relationship(lazy="joined")


class ReferralReport(Base):
    """The partner's report on a referral: a file sealed as recordings are
    (server/media/crypto.py) under a server-made ``path`` in ``recordings_dir``;
    ``sha256`` is of the ciphertext."""

    __tablename__ = "referral_report"

    id: Mapped[int] = mapped_column(primary_key=True)
    referral_id: Mapped[int] = mapped_column(ForeignKey("referral.id"), index=True)
    path: Mapped[str] = mapped_column(String(128), unique=True)
    content_type: Mapped[str] = mapped_column(String(32))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    uploaded_at: Mapped[datetime] = mapped_column(default=utcnow)
    uploaded_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))


class Sentence(Base):
    """A client's sentence under UU 1/2023, one per client (``PUT`` replaces it).
    Kerja sosial: ``hours_ordered`` at the ``placement`` (a partner), a
    ``site_supervisor`` there, ``max_hours_per_day`` (8 unless the order says
    otherwise). Pengawasan: ``term_months`` and the ``conditions``. Both: the
    court's ``verdict_date`` and the ``start_date`` the sentence runs from (null
    for sentences recorded before migration 0018)."""

    __tablename__ = "sentence"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), unique=True)
    kind: Mapped[SentenceKind] = mapped_column(_enum(SentenceKind, "sentence_kind"))
    hours_ordered: Mapped[int | None] = mapped_column(Integer)
    placement_id: Mapped[int | None] = mapped_column(ForeignKey("partner.id"), index=True)
    site_supervisor: Mapped[str] = mapped_column(String(200), default="")
    max_hours_per_day: Mapped[int] = mapped_column(Integer, default=8)
    term_months: Mapped[int | None] = mapped_column(Integer)
    conditions: Mapped[str] = mapped_column(Text, default="")
    verdict_date: Mapped[date | None] = mapped_column(Date)
    start_date: Mapped[date | None] = mapped_column(Date)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))

    placement: Mapped[Partner | None] = relationship(lazy="joined")


class ServiceHours(Base):
    """The hours a client worked on one day at their placement. One standing entry
    per client and day: the partial unique index is what makes two devices
    entering the same day at once count once (PITFALLS 11), and a rejected entry
    steps aside so the day can be entered again. Stored in minutes."""

    __tablename__ = "service_hours"
    __table_args__ = (
        Index("uq_service_hours_client_day", "client_id", "date", unique=True,
              sqlite_where=text("status <> 'rejected'"), postgresql_where=text("status <> 'rejected'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("client.id"), index=True)
    date: Mapped[date] = mapped_column(Date)
    minutes: Mapped[int] = mapped_column(Integer)
    task: Mapped[str] = mapped_column(String(300))
    status: Mapped[HoursStatus] = mapped_column(_enum(HoursStatus, "hours_status"), default=HoursStatus.pending)
    # Who entered it: a staff member, or a site supervisor through their link.
    entered_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    site_link_id: Mapped[int | None] = mapped_column(ForeignKey("site_link.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    decided_at: Mapped[datetime | None]
    reason: Mapped[str] = mapped_column(String(300), default="")


class SiteLink(Base):
    """A site supervisor's personal link to log hours for the clients placed at
    their placement: signed like the client's own link (the token is the id and
    an HMAC of it and ``salt``, server/security/sitepass.py), expiring, revocable."""

    __tablename__ = "site_link"

    id: Mapped[int] = mapped_column(primary_key=True)
    office_id: Mapped[int] = mapped_column(ForeignKey("office.id"))
    partner_id: Mapped[int] = mapped_column(ForeignKey("partner.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    salt: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_opened_at: Mapped[datetime | None]

    partner: Mapped[Partner] = relationship(lazy="joined")
