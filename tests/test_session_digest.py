"""The evaluation keeps each client's sessions between calls
(server/domain/record/session_digest.py). The head of office reloads the page after a
PK logged a session, an operator corrected one by hand or a session moved to
another client: the next call shows it, exactly as a process that never saw
the office before would, and only the clients whose sessions changed are read
again. The database itself marks them (triggers, migration 0008)."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

from sqlalchemy import select, text

from server.db.engine import make_engine, make_sessionmaker
from server.db.models import (
    Client,
    Evidence,
    GuidanceSession,
    Outcome,
    SessionMode,
    SessionStatus,
    Staff,
)
from server.domain.documents.evaluation import evaluate
from server.domain.documents.evaluation_figures import EvaluationFilter
from server.domain.record.session_digest import digest_for
from tests.foundation import database
from tests.test_evaluation import TZ, WIB, seed

RANGE = EvaluationFilter(date(2025, 3, 1), date(2025, 5, 31))
TODAY = date(2025, 6, 2)


class Office:
    """One engine that keeps its digest across calls, as a server process does."""

    def __init__(self, database_url: str, office):
        self.engine = make_engine(database_url)
        self.maker = make_sessionmaker(self.engine)
        self.kasie_id = office.staff["kasie"].id

    async def evaluation(self) -> tuple[dict, int]:
        """The evaluation, and how many clients' sessions have been read from the database so far."""
        async with self.maker() as db:
            kasie = await db.get(Staff, self.kasie_id)
            ev = await evaluate(db, kasie, RANGE, TZ, TODAY)
            return ev.as_dict(), digest_for(db).reads


async def never_seen_before(database_url: str, office) -> dict:
    """The same call in a process with no digest yet."""
    fresh = Office(database_url, office)
    try:
        return (await fresh.evaluation())[0]
    finally:
        await fresh.engine.dispose()


async def run_sql(database_url: str, statement: str, **params) -> None:
    async with database(database_url) as db:
        await db.execute(text(statement), params)
        await db.commit()


async def revisions(database_url: str) -> dict[int, int]:
    async with database(database_url) as db:
        return dict((await db.execute(select(Client.id, Client.sessions_revision))).all())


def in_range(s: GuidanceSession) -> bool:
    return date(2025, 3, 5) <= s.scheduled_at.astimezone(WIB).date() <= date(2025, 5, 25)


async def test_every_write_is_seen_at_the_next_call_and_only_its_clients_are_read_again(database_url, office):
    data = await seed(database_url, office)
    held = [s for s in data["sessions"] if in_range(s) and s.status == SessionStatus.ended and s.started_at == s.scheduled_at]
    attended = next(s for s in held if s.outcome == Outcome.attended)
    bare = next(s for s in held if s.notes == "" and s.id != attended.id)
    gone = next(s for s in held if s.id not in (attended.id, bare.id) and s.client_id != attended.client_id)
    moved = next(s for s in held if s.id not in (attended.id, bare.id, gone.id) and s.client_id != gone.client_id)
    other_client = next(c for c in data["clients"] if c.id != moved.client_id and c.officer_id != moved.officer_id)
    shortened = next(c for c in data["clients"] if c.supervision_start < date(2025, 3, 1) and c.supervision_end > date(2025, 5, 1) and c.id != other_client.id)
    pk1 = office.staff["pk1"]

    kept = Office(database_url, office)
    try:
        figures, reads = await kept.evaluation()
        assert figures == await never_seen_before(database_url, office)
        everyone = reads
        # A second call with nothing written reads no session again.
        assert await kept.evaluation() == (figures, everyone)

        async def logged_by_the_orm():
            async with database(database_url) as db:
                client = await db.get(Client, attended.client_id)
                when = datetime(2025, 4, 20, 2, 0, tzinfo=timezone.utc)
                db.add(GuidanceSession(office_id=office.id, client_id=client.id, officer_id=pk1.id, mode=SessionMode.office, evidence=Evidence.reported,
                                       status=SessionStatus.ended, scheduled_at=when, started_at=when, ended_at=when + timedelta(minutes=20),
                                       duration_seconds=1200, outcome=Outcome.attended, notes="Datang ke kantor."))
                await db.commit()

        writes = [
            # (story, the write, clients whose sessions are read again)
            ("a PK logs an office session", logged_by_the_orm, 1),
            ("an operator marks an attended session a no-show by hand",
             lambda: run_sql(database_url, "UPDATE guidance_session SET outcome = 'no_show' WHERE id = :id", id=attended.id), 1),
            ("a PK writes the notes of a session that had none",
             lambda: run_sql(database_url, "UPDATE guidance_session SET notes = 'Catatan susulan.' WHERE id = :id", id=bare.id), 1),
            ("a session is deleted", lambda: run_sql(database_url, "DELETE FROM guidance_session WHERE id = :id", id=gone.id), 1),
            ("a session entered for the wrong client is moved to another",
             lambda: run_sql(database_url, "UPDATE guidance_session SET client_id = :to WHERE id = :id", to=other_client.id, id=moved.id), 2),
            # The client's own row is read at every call: its parts are redone, no session is read.
            ("a client's supervision ends early",
             lambda: run_sql(database_url, "UPDATE client SET supervision_end = :end WHERE id = :id", end=date(2025, 4, 1), id=shortened.id), 0),
        ]
        for story, write, clients_read in writes:
            await write()
            after, now_read = await kept.evaluation()
            assert after == await never_seen_before(database_url, office), story
            # Each write shows in the office's figures, except a move, which may leave them as they were.
            assert after != figures or clients_read == 2, f"{story}: the figures did not change"
            assert now_read - reads == clients_read, story
            figures, reads = after, now_read
    finally:
        await kept.engine.dispose()


async def test_the_database_raises_a_clients_revision_only_for_what_the_evaluation_reads(database_url, office):
    data = await seed(database_url, office)
    s = data["sessions"][0]
    before = await revisions(database_url)
    # A call's heartbeat stamps and its link version are not read: no client row is written.
    await run_sql(database_url, "UPDATE guidance_session SET last_heartbeat_at = :at, link_version = link_version + 1 WHERE id = :id",
                  at=datetime(2025, 4, 1, tzinfo=timezone.utc), id=s.id)
    assert await revisions(database_url) == before
    await run_sql(database_url, "UPDATE guidance_session SET duration_seconds = duration_seconds + 1 WHERE id = :id", id=s.id)
    after = await revisions(database_url)
    assert after[s.client_id] > before[s.client_id]
    assert {cid: rev for cid, rev in after.items() if cid != s.client_id} == {cid: rev for cid, rev in before.items() if cid != s.client_id}
