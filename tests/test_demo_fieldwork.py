"""The demo office shows field work to a new user: a mobile-counseling day
held with its roll call, the next one planned with invitations, a home visit
reported and one planned, and the working area loaded from the shipped file."""

from __future__ import annotations

import secrets

from sqlalchemy import func, select

from server.db.models import Area, Evidence, GuidanceSession, MobileEvent, MobileInvitation, SessionMode, SessionStatus
from server.demo import seed_demo
from server.settings import Settings
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
        assert await db.scalar(select(func.count()).select_from(Area)) == 43
