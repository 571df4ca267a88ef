"""Where the demo office's guidance is going (issue 20): stages for every client,
and for most an assessment, a case plan (countersigned by the Kasie for all
but one, which waits as a draft) and the goals rated at the sessions since.

The stages split each supervision into thirds; the first keeps the client's
own reporting interval (the demo's history was held on it), the later ones
take the office's default intervals, so the caseload shows clients in the
awal, lanjutan and akhir stages and wajib lapor thinning out as they go.
"""

from __future__ import annotations

import random
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select

from server.db.enums import Agreement, GoalRating, Outcome, PlanStatus, RiskCategory
from server.db.guidance import Assessment, CasePlan, GoalProgress, PlanGoal
from server.db.models import Client, GuidanceSession, Staff
from server.domain.guidance.settings import DEFAULT_NEEDS, DEFAULT_STAGE_INTERVALS
from server.domain.guidance.stages import default_stage_plan

GOALS = {
    "pekerjaan": ("Mendapat pekerjaan tetap", ["Ikut pelatihan di BLK", "Melamar ke tiga tempat kerja"], "BLK Jakarta Timur"),
    "keuangan": ("Menabung untuk kebutuhan keluarga", ["Membuka rekening tabungan", "Mencatat pengeluaran harian"], "Penjamin (istri)"),
    "tempat tinggal": ("Tinggal di alamat tetap yang dilaporkan", ["Melapor ke RT setempat"], "Ketua RT"),
    "keluarga": ("Memperbaiki hubungan dengan keluarga", ["Makan bersama keluarga tiap pekan"], "Penjamin (orang tua)"),
    "pergaulan": ("Menjauhi lingkungan pergaulan lama", ["Ikut kegiatan karang taruna"], "Pokmas Lipas"),
    "NAPZA": ("Tetap bersih dari NAPZA", ["Tes urin berkala", "Konseling di BNN"], "BNN Kota Jakarta Timur"),
    "sikap dan perilaku": ("Mengendalikan emosi saat ada masalah", ["Latihan menenangkan diri sebelum bertindak"], ""),
    "pendidikan": ("Menyelesaikan Paket C", ["Mendaftar di PKBM terdekat"], "PKBM Cakung"),
    "kesehatan": ("Berobat rutin ke Puskesmas", ["Kontrol bulanan"], "Puskesmas Cakung"),
}
# How a goal's line usually runs, session by session: flat, then moving, sometimes reached.
LINES = [["tetap", "maju", "maju", "tercapai"], ["tetap", "tetap", "maju", "maju"], ["maju", "mundur", "tetap", "maju"], ["tetap", "maju", "tercapai"]]


def demo_stage_plan(start: date, end: date, interval: int) -> list[dict]:
    return default_stage_plan(start, end, {**DEFAULT_STAGE_INTERVALS, "awal": interval})


async def seed_guidance(db, staff: dict[str, Staff], clients: list[Client], today: date, tz: str, rng: random.Random) -> None:
    zone = ZoneInfo(tz)
    kasie = staff["kasie"]
    for n, client in enumerate(clients):
        client.stage_plan = demo_stage_plan(client.supervision_start, client.supervision_end, client.reporting_interval_days)
        # Assessed a week into supervision; a client who began days ago is not assessed yet.
        assessed_on = client.supervision_start + timedelta(days=7)
        if assessed_on > today - timedelta(days=7) or n % 7 == 6:
            continue
        needs = rng.sample(list(DEFAULT_NEEDS), k=rng.choice([2, 3]))
        category = rng.choice([RiskCategory.rendah, RiskCategory.sedang, RiskCategory.sedang, RiskCategory.tinggi])
        db.add(Assessment(office_id=client.office_id, client_id=client.id, assessed_on=assessed_on, instrument="rri", score=float(rng.randint(4, 30)),
                          category=category, needs=needs, notes="Hasil RRI dan asesmen kebutuhan kriminogenik.", author_id=client.officer_id,
                          created_at=datetime.combine(assessed_on, time(10, 0), zone)))
        await db.flush()
        goal_rows = [PlanGoal(client_id=client.id, created_at=datetime.combine(assessed_on, time(11, 0), zone)) for _ in needs]
        db.add_all(goal_rows)
        await db.flush()
        goals = []
        for need, row in zip(needs, goal_rows):
            text, steps, helpers = GOALS[need]
            goals.append({"id": row.id, "need": need, "need_reason": "", "text": text, "steps": steps,
                          "target_date": (assessed_on + timedelta(days=120)).isoformat(), "helpers": helpers})
        written = datetime.combine(assessed_on + timedelta(days=2), time(10, 0), zone)
        draft = n % 5 == 4
        db.add(CasePlan(office_id=client.office_id, client_id=client.id, version=1, status=PlanStatus.draft if draft else PlanStatus.approved,
                        goals=goals, agreement=Agreement.setuju, author_id=client.officer_id, updated_at=written,
                        approved_by_id=None if draft else kasie.id, approved_at=None if draft else written + timedelta(days=1), created_at=written))
        # Each goal rated at the sessions held since the plan, along one of the usual lines.
        held = (await db.execute(select(GuidanceSession).where(GuidanceSession.client_id == client.id, GuidanceSession.outcome == Outcome.attended,
                                                               GuidanceSession.scheduled_at > written).order_by(GuidanceSession.scheduled_at))).scalars().all()
        for row in goal_rows:
            line = rng.choice(LINES)
            for session, rating in zip(held, line):
                db.add(GoalProgress(client_id=client.id, session_id=session.id, goal_id=row.id, rating=GoalRating(rating),
                                    note="" if rating != "tercapai" else "Tujuan tercapai.", rated_by_id=client.officer_id,
                                    rated_at=(session.ended_at or session.scheduled_at) + timedelta(minutes=5)))
    await db.flush()
