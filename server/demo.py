"""The demo office: Bapas Kelas I Jakarta Timur-Utara with its working area,
a supervisor, an admin, two PKs and twenty clients with months of history,
their stages, and for most an assessment, a case plan and the goals rated at
sessions (server/demo_guidance.py).

Seeded once per database; the logins (random passwords) are kept beside the
database so that every later ``bimbing demo`` prints the same ones.
"""

from __future__ import annotations

import json
import os
import random
import secrets
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from server.audit.chain import AuditLog
from server.db.engine import make_engine, make_sessionmaker
from server.db.migrate import upgrade
from server.db.models import (
    TOPICS,
    Area,
    AreaLevel,
    Client,
    ClientCategory,
    Evidence,
    GuidanceSession,
    MobileEvent,
    MobileInvitation,
    NoteVersion,
    Office,
    Outcome,
    Program,
    Role,
    SessionEvent,
    SessionMode,
    SessionStatus,
    Staff,
    evidence_for,
)
from server.demo_guidance import seed_guidance
from server.domain.fieldwork.mobile_planner import CADENCE_KEY
from server.domain.office.areas import JAKARTA_TIMUR_UTARA, read_area_file
from server.security.passwords import Passwords
from server.settings import Settings

OFFICE_NAME = "Bapas Kelas I Jakarta Timur-Utara"

# The working area ships as the file `bimbing area load` takes (server/data/).
WORKING_AREA = read_area_file(JAKARTA_TIMUR_UTARA)

STAFF = [
    ("kasie", "Dra. Ratna Wulandari", Role.supervisor),
    ("admin", "Agus Setiawan", Role.admin),
    ("pk.sari", "Sari Handayani, S.Sos.", Role.pk),
    ("pk.budi", "Budi Santoso, S.H.", Role.pk),
]

FIRST = ["Andi", "Rizky", "Dedi", "Hendra", "Yusuf", "Fajar", "Wahyu", "Agus", "Joko", "Bayu", "Siti", "Dewi", "Rina", "Putri",
         "Ilham", "Arif", "Dimas", "Eko", "Rahmat", "Taufik", "Nur", "Lestari"]
LAST = ["Saputra", "Pratama", "Hidayat", "Nugroho", "Kurniawan", "Setiadi", "Gunawan", "Wijaya", "Ramadhan", "Firmansyah",
        "Syahputra", "Maulana", "Hasibuan", "Siregar", "Lubis"]
JOBS = ["Ojek daring", "Buruh pelabuhan", "Nelayan", "Pedagang kaki lima", "Karyawan bengkel", "Belum bekerja", "Kuli bangunan",
        "Pelajar SMK", "Penjaga toko", "Sopir angkot"]
NOTES = [
    "Klien hadir tepat waktu. Membahas pekerjaan sebagai {job}; penghasilan cukup untuk kebutuhan keluarga.",
    "Klien menyampaikan kendala biaya transportasi. Disarankan tetap lapor melalui panggilan video.",
    "Bimbingan kepribadian: kesadaran hukum dan tanggung jawab kepada keluarga. Klien kooperatif.",
    "Klien mengikuti pengajian rutin di lingkungan rumah. Hubungan dengan tetangga baik.",
    "Membahas rencana pelatihan keterampilan las di BLK. Klien antusias.",
    "Klien sempat sakit minggu lalu; kondisi membaik. Tidak ada pelanggaran syarat.",
    "Kunjungan ke rumah: bertemu orang tua klien, lingkungan mendukung reintegrasi.",
    "Klien bekerja shift malam; sesi dipindah ke pagi hari atas permintaan klien.",
]


async def seed_demo(settings: Settings, *, clients: int = 20, rng_seed: int = 2026) -> list[dict[str, str]]:
    engine = make_engine(settings.database_url)
    try:
        await upgrade(engine)
        sessionmaker = make_sessionmaker(engine)
        logins_path = settings.data_dir / "demo-logins.json"
        async with sessionmaker() as db:
            existing = await db.scalar(select(Office.id).where(Office.name == OFFICE_NAME))
            if existing is not None and logins_path.exists():
                return json.loads(logins_path.read_text())
            if existing is not None:
                raise RuntimeError(f"The database already holds {OFFICE_NAME} but {logins_path} is missing; use another database for the demo.")
            logins = await _seed(db, settings, clients, random.Random(rng_seed))
            await db.commit()
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(logins_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(logins, fh, indent=1)
        await AuditLog.from_settings(sessionmaker, settings).record("demo.seed", actor="cli", detail={"clients": clients})
        return logins
    finally:
        await engine.dispose()


async def _seed(db, settings: Settings, n_clients: int, rng: random.Random) -> list[dict[str, str]]:
    tz = ZoneInfo(settings.timezone)
    office = Office(name=OFFICE_NAME, city="Jakarta", timezone=settings.timezone, settings={"mobile_counseling": "second Saturday"})
    db.add(office)
    await db.flush()
    kelurahan: list[Area] = []
    for city, kecamatans in WORKING_AREA.items():
        c = Area(office_id=office.id, level=AreaLevel.city, name=city)
        db.add(c)
        await db.flush()
        for kec, kels in kecamatans.items():
            k = Area(office_id=office.id, level=AreaLevel.kecamatan, name=kec, parent_id=c.id)
            db.add(k)
            await db.flush()
            for kel in kels:
                a = Area(office_id=office.id, level=AreaLevel.kelurahan, name=kel, parent_id=k.id)
                db.add(a)
                kelurahan.append(a)
    await db.flush()

    logins = []
    staff: dict[str, Staff] = {}
    passwords = Passwords.from_settings(settings)
    for username, name, role in STAFF:
        password = secrets.token_urlsafe(9)
        s = Staff(office_id=office.id, username=username, name=name, role=role, password_hash=passwords.hash(password))
        db.add(s)
        staff[username] = s
        logins.append({"username": username, "password": password, "role": role.value, "name": name})
    await db.flush()
    pks = [staff["pk.sari"], staff["pk.budi"]]

    today = datetime.now(tz).date()
    programs = [Program.pb, Program.pb, Program.pb, Program.cb, Program.cmb, Program.asimilasi, Program.diversi]
    used_names = set()
    for i in range(n_clients):
        while True:
            name = f"{rng.choice(FIRST)} {rng.choice(LAST)}"
            if name not in used_names:
                used_names.add(name)
                break
        program = rng.choice(programs)
        child = program in (Program.diversi, Program.pengawasan)
        start = today - timedelta(days=rng.randint(20, 240))
        end = start + timedelta(days=rng.choice([180, 270, 365, 540]))
        interval = rng.choice([7, 14, 14, 30])
        area = rng.choice(kelurahan)
        job = rng.choice(JOBS)
        client = Client(
            office_id=office.id,
            officer_id=pks[i % 2].id,
            register_number=f"PAS.{start.year}.{1000 + i}",
            name=name,
            category=ClientCategory.child if child else ClientCategory.adult,
            program=program,
            supervision_start=start,
            supervision_end=end,
            reporting_interval_days=interval,
            kelurahan=area.name,
            area_id=area.id,
            phone=f"+62 812-{rng.randint(1000, 9999)}-{rng.randint(1000, 9999)}",
            employment=job,
        )
        db.add(client)
        await db.flush()
        # Some clients slip: stop their history early so that they show as overdue.
        reliability = rng.choice([0.95, 0.9, 0.85, 0.6])
        stop_early = rng.random() < 0.25
        day = start
        islander = area.name.startswith("Pulau")
        while day < today - timedelta(days=1):
            if stop_early and day > today - timedelta(days=interval * 3):
                break
            if islander:
                mode = rng.choice([SessionMode.video, SessionMode.video, SessionMode.video, SessionMode.mobile])
            else:
                mode = rng.choice([SessionMode.video, SessionMode.video, SessionMode.office, SessionMode.office, SessionMode.home_visit, SessionMode.mobile])
            when = datetime.combine(day, time(rng.randint(8, 15), rng.choice([0, 15, 30, 45])), tz)
            roll = rng.random()
            outcome = Outcome.attended if roll < reliability else (Outcome.excused if roll < reliability + 0.05 else Outcome.no_show)
            await _history_session(db, client, pks[i % 2], mode, when, outcome, rng, job)
            day += timedelta(days=interval + rng.randint(-2, 2))
    await db.flush()
    await _field_work(db, office, staff, today, settings.timezone)
    made = (await db.execute(select(Client).where(Client.office_id == office.id).order_by(Client.id))).scalars().all()
    await seed_guidance(db, staff, list(made), today, settings.timezone, rng)
    return logins


async def _field_work(db, office: Office, staff: dict[str, Staff], today, tz: str) -> None:
    """A mobile-counseling day held last cadence Saturday (with its roll call), the
    next one planned with its invitations, a home visit reported and one planned."""
    clients = (await db.execute(select(Client).where(Client.office_id == office.id).order_by(Client.id))).scalars().all()
    by_kel: dict[str, list[Client]] = {}
    for c in clients:
        by_kel.setdefault(c.kelurahan, []).append(c)
    busiest = sorted(by_kel, key=lambda k: (-len(by_kel[k]), k))
    # The cadence: every 14 days on Saturday, anchored on the Saturday before the demo's first day.
    anchor = today - timedelta(days=(today.weekday() - 5) % 7 or 7)
    office.settings = {**(office.settings or {}), CADENCE_KEY: {"anchor": (anchor - timedelta(days=14 * 10)).isoformat(), "every_days": 14}}
    duty = [staff["pk.sari"].id, staff["pk.budi"].id]
    past = MobileEvent(office_id=office.id, date=anchor, start_time="08:00", end_time="12:00", kelurahan=busiest[0],
                       area_id=by_kel[busiest[0]][0].area_id, venue=f"Kantor Kelurahan {busiest[0]}", topic="Kesadaran hukum",
                       client_note="Bawa KTP dan kartu bimbingan.", officer_ids=duty, created_by_id=staff["kasie"].id)
    upcoming = MobileEvent(office_id=office.id, date=anchor + timedelta(days=14), start_time="08:00", end_time="12:00",
                           kelurahan=busiest[1], area_id=by_kel[busiest[1]][0].area_id, venue=f"Balai Warga {busiest[1]}",
                           topic="Keterampilan kerja", client_note="Bawa KTP.", officer_ids=duty, created_by_id=staff["kasie"].id)
    db.add_all([past, upcoming])
    await db.flush()
    zone = ZoneInfo(tz)
    for event in (past, upcoming):
        for c in by_kel[event.kelurahan]:
            db.add(MobileInvitation(event_id=event.id, client_id=c.id, added_by_id=staff["kasie"].id))
    start = datetime.combine(past.date, time(8, 0), zone)
    # All but one of the invited came, and one client of the next kelurahan walked in:
    # the roll call counts walk-ins apart ("n dari m diundang hadir · 1 datang tanpa undangan").
    came = (by_kel[past.kelurahan][:-1] or by_kel[past.kelurahan]) + by_kel[busiest[1]][:1]
    for n, c in enumerate(came):
        at = start + timedelta(minutes=7 * n)
        s = GuidanceSession(office_id=office.id, client_id=c.id, officer_id=c.officer_id, mode=SessionMode.mobile, evidence=Evidence.roll_call,
                            status=SessionStatus.ended, scheduled_at=start, started_at=at, ended_at=at, duration_seconds=0, outcome=Outcome.attended,
                            location=f"{past.venue}, {past.kelurahan}", mobile_event_id=past.id, checked_in_by_id=duty[0],
                            checkin_key=f"demo-{past.id}-{c.id}", created_by_id=duty[0], created_at=at)
        db.add(s)
        await db.flush()
        for kind in ("created", "checked_in", "ended"):
            db.add(SessionEvent(session_id=s.id, kind=kind, actor="officer", at=at, detail={}))
    # A home visit reported yesterday, and one planned for tomorrow that the client is told of
    # (today's reminders show it). Tomorrow is never the next mobile day (7 to 13 days
    # ahead), so the demo books no client twice.
    visited, planned = clients[0], clients[1]
    when = datetime.combine(today - timedelta(days=1), time(10, 0), zone)
    visit = GuidanceSession(office_id=office.id, client_id=visited.id, officer_id=visited.officer_id, mode=SessionMode.home_visit,
                            evidence=Evidence.reported, status=SessionStatus.ended, scheduled_at=when, started_at=when,
                            ended_at=when + timedelta(minutes=40), duration_seconds=2400, outcome=Outcome.attended,
                            location=f"Rumah klien, Kel. {visited.kelurahan}", met_with=["client", "family", "rt_rw"], client_present=True,
                            findings="Klien tinggal bersama ibu dan adik. Ketua RT membenarkan klien aktif di kegiatan warga.",
                            follow_up="Ajukan pelatihan kerja di BLK bulan depan.", visit_reason="address_check",
                            notes="Alamat sesuai data. Lingkungan mendukung.", created_by_id=visited.officer_id, created_at=when - timedelta(days=3),
                            outcome_entered_at=when + timedelta(minutes=50))
    plan = GuidanceSession(office_id=office.id, client_id=planned.id, officer_id=planned.officer_id, mode=SessionMode.home_visit,
                           evidence=Evidence.reported, status=SessionStatus.scheduled, scheduled_at=datetime.combine(today + timedelta(days=1), time(9, 30), zone),
                           location=f"Kel. {planned.kelurahan}", visit_reason="unreachable", notify_client=True,
                           created_by_id=planned.officer_id, created_at=when)
    db.add_all([visit, plan])
    await db.flush()
    for s, kinds in ((visit, ("created", "visit_planned", "completed", "ended")), (plan, ("created", "visit_planned"))):
        for kind in kinds:
            db.add(SessionEvent(session_id=s.id, kind=kind, actor="officer", at=s.created_at, detail={}))
    # The report's notes have their history, as any session's written through the app.
    db.add(NoteVersion(session_id=visit.id, notes=visit.notes, outcome=Outcome.attended.value, topics=[], author_id=visited.officer_id,
                       created_at=visit.ended_at + timedelta(minutes=10)))
    visit.notes_updated_at = visit.ended_at + timedelta(minutes=10)


async def _history_session(db, client: Client, pk: Staff, mode: SessionMode, when: datetime, outcome: Outcome, rng: random.Random, job: str) -> None:
    attended = outcome == Outcome.attended
    minutes = rng.randint(12, 45) if attended else 0
    if attended and mode == SessionMode.video and rng.random() < 0.08:
        minutes = rng.randint(1, 3)  # a call that barely happened: shows up as an anomaly
    notes = rng.choice(NOTES).format(job=job.lower()) if attended and rng.random() > 0.07 else ""
    if outcome == Outcome.excused:
        notes = "Klien izin: " + rng.choice(["sakit", "bekerja shift", "tidak ada ongkos kapal", "urusan keluarga"]) + "."
    topics = rng.sample(TOPICS, k=rng.randint(1, 3)) if attended else []
    status = SessionStatus.ended
    session = GuidanceSession(
        office_id=client.office_id,
        client=client,
        officer_id=pk.id,
        mode=mode,
        evidence=evidence_for(mode),
        status=status,
        scheduled_at=when,
        started_at=when if attended or mode != SessionMode.video else None,
        ended_at=when + timedelta(minutes=minutes) if attended else when,
        duration_seconds=minutes * 60 + (rng.randint(0, 59) if minutes else 0),
        notes=notes,
        outcome=outcome,
        topics=topics,
        location={SessionMode.office: "Kantor Bapas", SessionMode.home_visit: f"Rumah klien, {client.kelurahan}", SessionMode.mobile: f"Kantor Kelurahan {client.kelurahan}"}.get(mode, ""),
        created_at=when - timedelta(days=2),
        created_by_id=pk.id,
        notes_updated_at=when + timedelta(minutes=minutes + 5) if notes else None,
        # Planned two days ahead, its outcome entered as the meeting ended: no late entry.
        outcome_entered_at=when + timedelta(minutes=minutes + 5),
    )
    db.add(session)
    await db.flush()
    events = [("created", "officer", when - timedelta(days=2))]
    if mode == SessionMode.video:
        events.append(("link_issued", "officer", when - timedelta(days=2)))
        if attended:
            events += [
                ("officer_joined", "officer", when - timedelta(minutes=2)),
                ("link_opened", "client", when - timedelta(minutes=1)),
                ("client_waiting", "client", when - timedelta(seconds=50)),
                ("admitted", "officer", when - timedelta(seconds=20)),
                ("media_connected", "system", when),
            ]
        events.append(("ended", "officer", when + timedelta(minutes=minutes)))
    else:
        events.append(("ended", "officer", when + timedelta(minutes=minutes)))
    for kind, actor, at in events:
        db.add(SessionEvent(session_id=session.id, kind=kind, actor=actor, at=at, detail={}))
    if notes or topics:
        db.add(NoteVersion(session_id=session.id, notes=notes, outcome=outcome.value, topics=topics, author_id=pk.id, created_at=session.notes_updated_at or when))
