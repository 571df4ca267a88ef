"""The demo office shows field work to a new user: a mobile-counseling day
held with its roll call (a walk-in among them), the next one planned with
invitations, a home visit reported and one planned that the client is told of,
and the working area loaded from the shipped file; and it books no client twice
at once (the rule of server/domain/record/appointments.py)."""

from __future__ import annotations

import secrets
from datetime import datetime, time, timedelta
from itertools import combinations

from sqlalchemy import func, select

from server.db.models import Area, Client, Evidence, GuidanceSession, MobileEvent, MobileInvitation, SessionMode, SessionStatus
from server.demo import seed_demo
from server.domain.record.appointments import appointments
from server.settings import Settings
from tests.clock import OFFICE_TZ, office_today
from tests.foundation import database


async def test_the_demo_seeds_mobile_days_and_home_visits(tmp_path):
    url = f"sqlite+aiosqlite:///{tmp_path / 'demo.db'}"
    settings = Settings(database_url=url, secret_key=secrets.token_urlsafe(48), data_dir=tmp_path / "data",
                        recordings_dir=tmp_path / "rec", audit_signing_key_path=tmp_path / "data" / "audit.key")
    await seed_demo(settings)
    async with database(url) as db:
        events = (await db.execute(select(MobileEvent).order_by(MobileEvent.date))).scalars().all()
        assert len(events) == 2 and all(e.date.weekday() == 5 for e in events)
        assert (events[1].date - events[0].date).days == 14
        for e in events:
            assert await db.scalar(select(func.count()).select_from(MobileInvitation).where(MobileInvitation.event_id == e.id)) >= 1
        roll = (await db.execute(select(GuidanceSession).where(GuidanceSession.mobile_event_id == events[0].id))).scalars().all()
        assert roll and {(s.evidence, s.mode) for s in roll} == {(Evidence.roll_call, SessionMode.mobile)}
        visits = (await db.execute(select(GuidanceSession).where(GuidanceSession.mode == SessionMode.home_visit, GuidanceSession.visit_reason != ""))).scalars().all()
        assert {s.status for s in visits} == {SessionStatus.ended, SessionStatus.scheduled}
        assert any(s.met_with and s.findings for s in visits)
        assert [s.notify_client for s in visits if s.status == SessionStatus.scheduled] == [True]
        invited = set((await db.execute(select(MobileInvitation.client_id).where(MobileInvitation.event_id == events[0].id))).scalars())
        assert len({s.client_id for s in roll} - invited) == 1  # one walk-in
        assert await db.scalar(select(func.count()).select_from(Area)) == 43
        # No client is booked twice at once: no two days, nor a day and a session, overlap.
        ids = list((await db.execute(select(Client.id))).scalars())
        booked = await appointments(db, ids, datetime.combine(office_today() - timedelta(days=30), time.min, OFFICE_TZ), None, "Asia/Jakarta")
        assert any(a.event for a in booked) and any(a.session for a in booked)
        for a, b in combinations(booked, 2):
            if a.client_id == b.client_id and (a.event or b.event):
                assert not a.overlaps(b.start, b.end), (a, b)
