"""Retention covers every table with personal data (issue 23, item 9): the
models are walked for tables that hold it, each must be listed in
server/audit/personal_data.py and in docs/deploy.md with its period, and a
row of each listed table, aged past its period, is gone after
``bimbing audit retention`` while a fresh one stays — on both databases."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta
from pathlib import Path

from sqlalchemy import Column, ForeignKey, Integer, MetaData, String, Table, select

from server.audit.chain import GENESIS, AuditLog, entry_hash
from server.audit.personal_data import KEPT_TABLES, PERSONAL_DATA
from server.audit.retention import apply_retention
from server.db.casework import (
    AlertDecision,
    TppCase,
    TppSitting,
    Violation,
    ViolationStep,
)
from server.db.chat import ChatMessage
from server.db.signing import SessionDocument
from server.db.guests import GuestAttendance, SessionGuest
from server.db.engine import make_engine, make_sessionmaker
from server.db.enums import (
    Agreement,
    Evidence,
    GoalRating,
    PlanStatus,
    RiskCategory,
    ViolationKind,
)
from server.db.guidance import Assessment, CasePlan, GoalProgress, PlanGoal
from server.db.models import (
    AuditEntry,
    Base,
    Client,
    ClientCategory,
    GuidanceSession,
    Kendala,
    Letter,
    LetterKind,
    MobileEvent,
    MobileInvitation,
    NoteVersion,
    NotifyOutbox,
    PortalLink,
    Program,
    Recording,
    ReminderMark,
    SessionEvent,
    SessionMode,
    SessionStatus,
    StaffSession,
)
from server.db.partners import (
    Partner,
    PartnerKind,
    Referral,
    ReferralReport,
    ReferralStatus,
    ReferralStep,
    Sentence,
    SentenceKind,
    ServiceHours,
    SiteLink,
)
from server.domain.partners.referrals import seal_report
from server.media import crypto
from tests.audit_support import add_session
from tests.clock import office_today
from tests.foundation import database

DEPLOY = Path(__file__).resolve().parent.parent / "docs" / "deploy.md"

# What makes a table hold personal data: its rows are about one client (a
# foreign key to the client, or to a row that is about one: a session, a
# letter...), or a column names, reaches or describes a person. Staff foreign
# keys that only say who acted (created_by_id...) do not make a row personal;
# the staff row itself does.
PERSON_COLUMNS = {
    "name", "phone", "register_number", "street", "rt_rw", "nip", "username", "password_hash", "token_hash",
    "signer_name", "signer_nip", "client_initials", "notes", "message", "reply", "text", "findings", "follow_up",
    "printed", "actor",
}
# Their "name" is an office's or a place's.
NAME_IS_NO_PERSON = {"office", "area"}


def about_a_client(metadata: MetaData) -> set[str]:
    """The client's table and every table that points at it, directly or through another."""
    found = {"client"}
    while True:
        more = {t.name for t in metadata.tables.values() if any(fk.target_fullname.split(".")[0] in found for fk in t.foreign_keys)} - found
        if not more:
            return found
        found |= more


def personal_tables(metadata: MetaData) -> set[str]:
    found = set()
    clients = about_a_client(metadata)
    for table in metadata.tables.values():
        columns = {c.name for c in table.columns} & PERSON_COLUMNS
        if table.name in NAME_IS_NO_PERSON:
            columns.discard("name")
        if table.name in clients or columns:
            found.add(table.name)
    return found


def test_every_table_with_personal_data_has_a_retention_rule():
    missing = personal_tables(Base.metadata) - set(PERSONAL_DATA)
    assert missing == set(), f"tables with personal data and no retention rule in server/audit/personal_data.py: {sorted(missing)}"
    assert set(PERSONAL_DATA) <= set(Base.metadata.tables), "a retention rule names a table that does not exist"


def test_the_walk_finds_a_new_table_about_a_client():
    # Guards the walk itself: a new table must not pass because the rule saw nothing.
    metadata = MetaData()
    for name in ("office", "area", "staff", "client"):
        Base.metadata.tables[name].to_metadata(metadata)
    Table("client_note", metadata, Column("id", Integer, primary_key=True), Column("client_id", ForeignKey("client.id")))
    Table("client_note_reading", metadata, Column("id", Integer, primary_key=True), Column("note_id", ForeignKey("client_note.id")))
    Table("guarantor", metadata, Column("id", Integer, primary_key=True), Column("phone", String(32)))
    Table("kelurahan_stat", metadata, Column("id", Integer, primary_key=True), Column("total", Integer), Column("area_id", ForeignKey("area.id")))
    assert personal_tables(metadata) == {"client", "staff", "client_note", "client_note_reading", "guarantor"}


def _retention_section() -> str:
    text = DEPLOY.read_text(encoding="utf-8")
    start = text.index("## Retention of personal data")
    end = text.find("\n## ", start + 1)
    return text[start:end if end > 0 else None]


def test_deploy_md_lists_each_table_with_its_period_and_what_removes_it():
    rows = {}
    for line in _retention_section().splitlines():
        match = re.match(r"\| `([a-z_]+)` \| (.+?) \| (.+) \|$", line)
        if match:
            rows[match.group(1)] = (match.group(2), match.group(3))
    assert set(rows) == set(PERSONAL_DATA)
    for table, kept in PERSONAL_DATA.items():
        assert rows[table] == (kept.period, kept.removed_by), table


async def _aged_and_fresh(settings, office, now) -> tuple[dict[str, int], dict[str, int]]:
    """A row of every listed table past its period, and one within it. Periods:
    sessions, kendala, clients and sittings 400 days, outreach 30 days, audit 730 days."""
    c1 = office.clients["c1"]
    pk = office.staff["pk1"]
    old, past_outreach, recent = now - timedelta(days=405), now - timedelta(days=35), now - timedelta(days=5)
    today = office_today()
    aged: dict[str, int] = {}
    fresh: dict[str, int] = {}
    aged["guidance_session"] = await add_session(settings.database_url, c1, scheduled_at=old, versions=[(old + timedelta(hours=1), "Catatan lama")])
    fresh["guidance_session"] = await add_session(settings.database_url, c1, scheduled_at=recent, versions=[(recent + timedelta(hours=1), "Catatan baru")])
    async with database(settings.database_url) as db:
        for key, sid in (("aged", aged["guidance_session"]), ("fresh", fresh["guidance_session"])):
            rows = aged if key == "aged" else fresh
            rows["session_event"] = await db.scalar(select(SessionEvent.id).where(SessionEvent.session_id == sid).limit(1))
            rows["note_version"] = await db.scalar(select(NoteVersion.id).where(NoteVersion.session_id == sid))
            recording = Recording(session_id=sid, party="officer", path=f"s{sid}-officer-{secrets.token_hex(4)}.mp4.enc", status="ready")
            db.add(recording)
            await db.flush()
            rows["recording"] = recording.id
            line = ChatMessage(session_id=sid, sender="client", device="3f9c0a1b2c3d4e5f", text="Pak, sinyal saya putus", delivered=True)
            db.add(line)
            await db.flush()
            rows["chat_message"] = line.id
            signed = SessionDocument(office_id=office.id, session_id=sid, client_id=c1.id, kind="kontrak_bimbingan", version=1 if key == "aged" else 2,
                                     revision=1, title="KONTRAK BIMBINGAN", body="Teks.", particulars={"nama": c1.name}, status="pending",
                                     code=secrets.token_urlsafe(18), created_by_id=pk.id)
            db.add(signed)
            await db.flush()
            rows["session_document"] = signed.id
            guest = SessionGuest(session_id=sid, role="penjamin", name="Ibu Penjamin", token_hash=f"{sid:064x}", issued_by=pk.id)
            db.add(guest)
            await db.flush()
            rows["session_guest"] = guest.id
            stay = GuestAttendance(guest_id=guest.id, session_id=sid)
            db.add(stay)
            await db.flush()
            rows["guest_attendance"] = stay.id
        # A client whose supervision ended before the period: gone with all that is theirs.
        gone = Client(office_id=office.id, officer_id=pk.id, register_number="REG-OLD", name="Klien Lama", category=ClientCategory.adult,
                      program=Program.pb, supervision_start=today - timedelta(days=900), supervision_end=today - timedelta(days=405),
                      reporting_interval_days=30, kelurahan="Cakung Barat", phone="081200001111")
        db.add(gone)
        await db.flush()
        aged["client"], fresh["client"] = gone.id, c1.id
        gone_session = GuidanceSession(office_id=office.id, client_id=gone.id, officer_id=pk.id, mode=SessionMode.office, status=SessionStatus.ended,
                                       scheduled_at=old, started_at=old, ended_at=old + timedelta(minutes=30), notes="", topics=[], created_at=old)
        db.add(gone_session)
        await db.flush()
        letter = lambda client_id, seq, at: Letter(  # noqa: E731
            office_id=office.id, client_id=client_id, kind=LetterKind.keterangan, year=at.year, seq=seq, number=f"W.{seq}", issued_on=at.date(),
            issued_at=at, signer_name="Kasie", office_name="Bapas Uji", client_initials="K.L.", code=secrets.token_urlsafe(16), key_id="k", signature="s")
        # The risalah of a sitting past its period: a letter of no client, gone with its sitting.
        letters = [letter(gone.id, 900001, old), letter(c1.id, 900002, recent), letter(None, 900003, old)]
        db.add_all(letters)
        await db.flush()
        aged["letter"], fresh["letter"], risalah = (x.id for x in letters)
        # Sittings of the sidang TPP: one past its period (gone with its risalah and its case about c1), one recent (kept).
        sittings = [TppSitting(office_id=office.id, held_on=today - timedelta(days=405), member_ids=[pk.id], status="closed", created_by_id=pk.id,
                               created_at=old, closed_by_id=pk.id, closed_at=old, risalah_letter_id=risalah),
                    TppSitting(office_id=office.id, held_on=today - timedelta(days=5), member_ids=[pk.id], created_by_id=pk.id, created_at=recent)]
        db.add_all(sittings)
        await db.flush()
        aged["tpp_sitting"], fresh["tpp_sitting"] = (x.id for x in sittings)
        db.add(TppCase(sitting_id=aged["tpp_sitting"], client_id=c1.id, kind="lainnya", subject="Perubahan tahap", letter_ids=[]))
        # A violation of each client, with its step (and the letter it issued), the alert it confirmed and its case at the
        # recent sitting: the gone client's go with them; c1's stay, and c1's, decided by the old sitting, forgets it.
        for rows, client_id, decided_by in ((aged, gone.id, None), (fresh, c1.id, aged["tpp_sitting"])):
            violation = Violation(office_id=office.id, client_id=client_id, kind=ViolationKind.tidak_wajib_lapor, occurred_on=today - timedelta(days=40),
                                  description="Tidak wajib lapor tiga kali berturut-turut", evidence=Evidence.reported, alert_key="tiga-kali-berturut-x",
                                  decided_sitting_id=decided_by, created_by_id=pk.id)
            db.add(violation)
            await db.flush()
            casework = [ViolationStep(violation_id=violation.id, from_state="dicatat", to_state="teguran_1", by_id=pk.id, by_name="PK Satu",
                                      letter_id=rows["letter"]),
                        AlertDecision(client_id=client_id, alert_key="tiga-kali-berturut-x", decision="confirmed", violation_id=violation.id, decided_by_id=pk.id),
                        TppCase(sitting_id=fresh["tpp_sitting"], client_id=client_id, kind="pelanggaran", violation_id=violation.id, subject="Wajib lapor",
                                letter_ids=[])]
            db.add_all(casework)
            await db.flush()
            rows["violation"] = violation.id
            rows["violation_step"], rows["alert_decision"], rows["tpp_case"] = (x.id for x in casework)
        # Partners (kept), a site supervisor's link expired before the outreach period (gone) and a live one (kept).
        partner = Partner(office_id=office.id, name="Taman Kota Cakung", kind=PartnerKind.tempat_kerja_sosial)
        db.add(partner)
        await db.flush()
        site_links = [SiteLink(office_id=office.id, partner_id=partner.id, name="Pak Mandor", salt="d" * 32, created_at=old, expires_at=past_outreach),
                      SiteLink(office_id=office.id, partner_id=partner.id, name="Bu Mandor", salt="e" * 32, created_at=recent, expires_at=now + timedelta(days=300))]
        db.add_all(site_links)
        await db.flush()
        aged["site_link"], fresh["site_link"] = (x.id for x in site_links)
        # Each client's referral with its step and its sealed report, sentence and hours (c1's entered through the old link).
        for rows, client_id in ((aged, gone.id), (fresh, c1.id)):
            referral = Referral(client_id=client_id, partner_id=partner.id, purpose="Pelatihan kerja", status=ReferralStatus.selesai)
            db.add(referral)
            await db.flush()
            name, size, sha256 = seal_report(settings.recordings_dir, crypto.load_master_key(settings), referral.id, "pdf", b"%PDF-1.4 laporan mitra")
            partnership = [ReferralStep(referral_id=referral.id, from_status="dirujuk", to_status="diterima", by_id=pk.id),
                           ReferralReport(referral_id=referral.id, path=name, content_type="application/pdf", size=size, sha256=sha256, uploaded_by_id=pk.id),
                           Sentence(client_id=client_id, kind=SentenceKind.pidana_kerja_sosial, hours_ordered=120, placement_id=partner.id),
                           ServiceHours(client_id=client_id, date=today - timedelta(days=10), minutes=240, task="Menyapu taman", site_link_id=aged["site_link"])]
            db.add_all(partnership)
            await db.flush()
            rows["referral"] = referral.id
            rows["referral_step"], rows["referral_report"], rows["sentence"], rows["service_hours"] = (x.id for x in partnership)
        # Each client's assessment and case plan with one goal, rated at a session: the gone client's at their own
        # session; c1's kept goal rated at c1's recent session (kept) and at the old one (gone with that session).
        for rows, client_id, session_id in ((aged, gone.id, gone_session.id), (fresh, c1.id, fresh["guidance_session"])):
            assessment = Assessment(office_id=office.id, client_id=client_id, assessed_on=today - timedelta(days=200), instrument="RRI", score=12.0,
                                    category=RiskCategory.sedang, needs=["pekerjaan"], notes="Belum bekerja", author_id=pk.id)
            goal = PlanGoal(client_id=client_id)
            db.add_all([assessment, goal])
            await db.flush()
            plan = CasePlan(office_id=office.id, client_id=client_id, version=1, status=PlanStatus.approved, agreement=Agreement.setuju,
                            goals=[{"id": goal.id, "need": "pekerjaan", "text": "Mendapat pekerjaan tetap", "steps": []}],
                            assessment_id=assessment.id, author_id=pk.id, approved_by_id=pk.id, approved_at=old)
            db.add(plan)
            db.add(GoalProgress(client_id=client_id, session_id=session_id, goal_id=goal.id, rating=GoalRating.maju, note="Melamar kerja", rated_by_id=pk.id))
            await db.flush()
            rows["assessment"], rows["plan_goal"], rows["case_plan"] = assessment.id, goal.id, plan.id
        # Each referral serves its client's goal (referral.goal_id): the gone client's referral must go before its goal.
        for rows in (aged, fresh):
            (await db.get(Referral, rows["referral"])).goal_id = rows["plan_goal"]
        await db.flush()
        c1_old_rating = GoalProgress(client_id=c1.id, session_id=aged["guidance_session"], goal_id=fresh["plan_goal"], rating=GoalRating.tetap,
                                     note="Belum ada lowongan", rated_by_id=pk.id)
        db.add(c1_old_rating)
        await db.flush()
        # Kendala: one sent before the period (gone), one within it that asked to move the old session (kept, unlinked).
        db.add_all([Kendala(client_id=c1.id, kind="illness", message="Sakit", created_at=old),
                    Kendala(client_id=c1.id, kind="work_shift", message="Shift malam", session_id=aged["guidance_session"],
                            new_session_id=aged["guidance_session"], created_at=now - timedelta(days=300))])
        # Reminders: marked and queued before the outreach period (gone) and within it (kept).
        for at, tag in ((past_outreach, "old"), (recent, "new")):
            db.add(ReminderMark(key=f"overdue-c{c1.id}-{tag}", client_id=c1.id, kind="overdue", sent_at=at))
            db.add(NotifyOutbox(key=f"overdue-c{c1.id}-{tag}", client_id=c1.id, kind="overdue", phone="6281200000000",
                                text="Yth. Klien c1, Anda sudah terlambat wajib lapor 12 hari.", created_at=at, next_attempt_at=at))
        # A mark and a queued reminder of the gone client's session, still within the outreach period.
        db.add(ReminderMark(key=f"day_before-{gone_session.id}-1", client_id=gone.id, session_id=gone_session.id, kind="day_before", sent_at=recent))
        # Links: one expired and one revoked before the period (gone), the live one (kept).
        db.add_all([PortalLink(client_id=c1.id, salt="a" * 32, created_at=old, expires_at=past_outreach),
                    PortalLink(client_id=c1.id, salt="b" * 32, created_at=old, expires_at=now + timedelta(days=300), revoked_at=past_outreach),
                    PortalLink(client_id=c1.id, salt="c" * 32, created_at=recent, expires_at=now + timedelta(days=300))])
        # Invitations: to a day before the period (gone) and to a day ahead (kept).
        for day in (today - timedelta(days=35), today + timedelta(days=6)):
            event = MobileEvent(office_id=office.id, date=day, start_time="09:00", end_time="12:00", kelurahan="Cakung Barat", officer_ids=[pk.id])
            db.add(event)
            await db.flush()
            db.add(MobileInvitation(event_id=event.id, client_id=c1.id))
        # Sign-ins: an expired one (gone) and a live one (kept).
        db.add_all([StaffSession(staff_id=pk.id, token_hash="e" * 64, created_at=past_outreach, expires_at=past_outreach + timedelta(hours=12)),
                    StaffSession(staff_id=pk.id, token_hash="f" * 64, created_at=now, expires_at=now + timedelta(hours=12))])
        # The audit trail: two entries older than its period, one fresh.
        prev = GENESIS
        for seq, at in ((1, now - timedelta(days=800)), (2, now - timedelta(days=799)), (3, recent)):
            e = AuditEntry(seq=seq, at=at, actor_id=pk.id, actor="pk1", action="client.view", target_type="client", target_id=str(c1.id), detail={}, prev_hash=prev)
            e.hash = entry_hash(e)
            prev = e.hash
            db.add(e)
        await db.commit()

        def ids(model, *where):
            return select(model.id).where(*where).order_by(model.id)

        kendala = (await db.execute(ids(Kendala))).scalars().all()
        aged["kendala"], fresh["kendala"] = kendala
        aged["reminder_mark"], fresh["reminder_mark"] = (await db.execute(ids(ReminderMark, ReminderMark.client_id == c1.id))).scalars().all()
        aged["notify_outbox"], fresh["notify_outbox"] = (await db.execute(ids(NotifyOutbox))).scalars().all()
        links = (await db.execute(ids(PortalLink))).scalars().all()
        aged["portal_link"], fresh["portal_link"] = links[0], links[2]
        aged["mobile_invitation"], fresh["mobile_invitation"] = (await db.execute(ids(MobileInvitation))).scalars().all()
        aged["staff_session"], fresh["staff_session"] = (await db.execute(ids(StaffSession))).scalars().all()
        aged["goal_progress"] = c1_old_rating.id
        fresh["goal_progress"] = await db.scalar(select(GoalProgress.id).where(GoalProgress.session_id == fresh["guidance_session"]))
        entries = (await db.execute(ids(AuditEntry))).scalars().all()
        aged["audit_entry"], fresh["audit_entry"] = entries[0], entries[2]
    return aged, fresh


MODELS = {m.__tablename__: m for m in (Client, GuidanceSession, SessionEvent, NoteVersion, Recording, Kendala, Letter, ReminderMark, NotifyOutbox,
                                         PortalLink, MobileInvitation, StaffSession, AuditEntry, Violation, ViolationStep, AlertDecision, TppSitting,
                                         TppCase, Referral, ReferralStep, ReferralReport, Sentence, ServiceHours, SiteLink, Assessment,
                                         CasePlan, PlanGoal, GoalProgress, ChatMessage, SessionDocument, SessionGuest, GuestAttendance)}


async def _present(database_url: str, rows: dict[str, int]) -> dict[str, bool]:
    async with database(database_url) as db:
        return {table: await db.scalar(select(MODELS[table].id).where(MODELS[table].id == row_id)) is not None for table, row_id in rows.items()}


async def test_retention_removes_every_kind_of_personal_data_past_its_period_and_keeps_the_rest(settings, office, now):
    settings = settings.with_(session_retention_days=400, outreach_retention_days=30, audit_retention_days=730)
    aged, fresh = await _aged_and_fresh(settings, office, now)
    # Every table retention removes from has a row of each age here.
    assert set(aged) == set(fresh) == set(PERSONAL_DATA) - set(KEPT_TABLES)
    assert all((await _present(settings.database_url, aged)).values())

    engine = make_engine(settings.database_url)
    try:
        sm = make_sessionmaker(engine)
        dry = await apply_retention(sm, settings, AuditLog.from_settings(sm, settings), now=now, dry_run=True)
        assert all((await _present(settings.database_url, aged)).values())  # a dry run removes nothing
        result = await apply_retention(sm, settings, AuditLog.from_settings(sm, settings), now=now)
    finally:
        await engine.dispose()

    assert await _present(settings.database_url, aged) == {table: False for table in aged}
    assert await _present(settings.database_url, fresh) == {table: True for table in fresh}
    # The gone client's session went with them; the kendala that pointed at the old session stays, unlinked.
    assert result.sessions_removed == 2 and dry.sessions_removed == 2
    assert dry.personal == result.personal
    # The gone client's letter and the old sitting's risalah; the gone client's case and c1's at the old sitting.
    assert result.personal["client"] == 1 and result.personal["letter"] == 2 and result.personal["portal_link"] == 2
    assert result.personal["tpp_case"] == 2
    # c1's rating at the old session and the gone client's at theirs, each before its session.
    assert result.personal["goal_progress"] == 2
    async with database(settings.database_url) as db:
        kept = await db.get(Kendala, fresh["kendala"])
        assert (kept.session_id, kept.new_session_id) == (None, None)
        # What pointed at a removed sitting or site link stays, forgetting it.
        assert (await db.get(Violation, fresh["violation"])).decided_sitting_id is None
        assert (await db.get(ServiceHours, fresh["service_hours"])).site_link_id is None
        assert await db.scalar(select(Partner.id)) is not None
        assert await db.scalar(select(ReminderMark.id).where(ReminderMark.client_id == aged["client"])) is None
        # Nothing of the gone client's case plan is left, rated at any session.
        assert await db.scalar(select(GoalProgress.id).where(GoalProgress.client_id == aged["client"])) is None
    assert "Personal data:" in result.summary() and "1 client" in result.summary()
    # The gone client's sealed referral report went with its row; c1's is still there.
    assert [p.name.split("-")[0] for p in Path(settings.recordings_dir).glob("ref*.enc")] == [f"ref{fresh['referral']}"]
