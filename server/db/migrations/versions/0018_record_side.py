"""stages for clients made before them; a referral's goal by key; a sentence's verdict and start dates

Revision ID: 0018
Revises: 0017

Issue 20: every client made before stages (``client.stage_plan`` null) gets
them, so that every view (record, caseload, reminders, reports, evaluation)
names the client's stage. They are derived as a new client's are, the
supervision split into thirds on the office's intervals, with one rule more:
**no period already past is cut again.** A stage that has begun by the day of
the migration keeps the client's own ``reporting_interval_days`` and begins on
a boundary of the periods the client already had (the first one on or after
its third), so every period that has begun stays the period it was, with the
status it had; a stage still ahead takes the office's interval from its third.
(The same rule as moving a stage: only what has not begun changes.) A client
whose term ends before it starts is left as it is: the API refuses such a term.

Issue 21: ``referral.goal_id`` refers to a goal of the client's case plan by
key (``plan_goal.id``); the free ``goal_ref`` stays for referrals made before,
and one whose text was a goal's id of the same client is tied to that goal.
``sentence.verdict_date`` and ``sentence.start_date``: the court's verdict and
the day the sentence begins (null for sentences recorded before).
"""
import os
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from alembic import op

revision = '0018'
down_revision = '0017'
branch_labels = None
depends_on = None

STAGES = ("awal", "lanjutan", "akhir")
DEFAULT_INTERVALS = {"awal": 30, "lanjutan": 60, "akhir": 90}

client = sa.table('client', sa.column('id', sa.Integer), sa.column('office_id', sa.Integer), sa.column('supervision_start', sa.Date),
                  sa.column('supervision_end', sa.Date), sa.column('reporting_interval_days', sa.Integer), sa.column('stage_plan', sa.JSON))
office = sa.table('office', sa.column('id', sa.Integer), sa.column('settings', sa.JSON))
referral = sa.table('referral', sa.column('id', sa.Integer), sa.column('client_id', sa.Integer), sa.column('goal_ref', sa.String),
                    sa.column('goal_id', sa.Integer))
plan_goal = sa.table('plan_goal', sa.column('id', sa.Integer), sa.column('client_id', sa.Integer))


def office_intervals(settings) -> dict[str, int]:
    stored = ((settings or {}).get("guidance") or {}).get("stage_intervals") or {}
    return {s: int(stored.get(s, DEFAULT_INTERVALS[s])) for s in STAGES}


def derived_stages(start: date, end: date, interval: int, intervals: dict[str, int], today: date) -> list[dict]:
    """The stages of a client kept on ``interval`` until ``today`` (see the module's docstring)."""
    interval = max(interval, 1)
    length = (end - start).days + 1
    thirds = [start, start + timedelta(days=length // 3), start + timedelta(days=2 * length // 3)]
    plan: list[dict] = []
    for stage, third in zip(STAGES, thirds):
        first, every = third, intervals[stage]
        if third <= today:
            # Begun: on the client's own cut, from the first period boundary on or after its third.
            first = start + timedelta(days=-(-(third - start).days // interval) * interval)
            if first <= today:
                every = interval
        if plan:
            first = max(first, date.fromisoformat(plan[-1]["start"]) + timedelta(days=1))
        plan.append({"stage": stage, "start": first.isoformat(), "interval_days": every, "planned_start": first.isoformat(), "moves": []})
    return plan


def office_today() -> date:
    # The office's day, as the server counts it (Settings.timezone reads the same variable).
    return datetime.now(ZoneInfo(os.environ.get("BIMBING_TIMEZONE") or "Asia/Jakarta")).date()


def upgrade() -> None:
    conn = op.get_bind()
    today = office_today()
    settings = {row.id: row.settings for row in conn.execute(sa.select(office.c.id, office.c.settings))}
    rows = conn.execute(sa.select(client.c.id, client.c.office_id, client.c.supervision_start, client.c.supervision_end,
                                  client.c.reporting_interval_days, client.c.stage_plan)).all()
    for row in rows:
        # Both SQL NULL and a JSON null read as None: either is a client without stages.
        if row.stage_plan or row.supervision_end < row.supervision_start:
            continue
        plan = derived_stages(row.supervision_start, row.supervision_end, row.reporting_interval_days, office_intervals(settings.get(row.office_id)), today)
        conn.execute(client.update().where(client.c.id == row.id).values(stage_plan=plan, reporting_interval_days=plan[0]["interval_days"]))

    # Plain ADD COLUMN on SQLite (no rebuild of a table others refer to); the key is declared where the database can add one.
    if conn.dialect.name == "sqlite":
        op.execute("ALTER TABLE referral ADD COLUMN goal_id INTEGER REFERENCES plan_goal (id)")
    else:
        op.add_column('referral', sa.Column('goal_id', sa.Integer(), nullable=True))
        op.create_foreign_key('fk_referral_goal_id_plan_goal', 'referral', 'plan_goal', ['goal_id'], ['id'])
    op.create_index(op.f('ix_referral_goal_id'), 'referral', ['goal_id'], unique=False)
    goals = {(r.id, r.client_id) for r in conn.execute(sa.select(plan_goal.c.id, plan_goal.c.client_id))}
    for r in conn.execute(sa.select(referral.c.id, referral.c.client_id, referral.c.goal_ref)).all():
        found = re.fullmatch(r"\s*(\d{1,12})\s*", r.goal_ref or "")
        if found and (int(found.group(1)), r.client_id) in goals:
            conn.execute(referral.update().where(referral.c.id == r.id).values(goal_id=int(found.group(1))))

    op.add_column('sentence', sa.Column('verdict_date', sa.Date(), nullable=True))
    op.add_column('sentence', sa.Column('start_date', sa.Date(), nullable=True))


def downgrade() -> None:
    conn = op.get_bind()
    op.drop_column('sentence', 'start_date')
    op.drop_column('sentence', 'verdict_date')
    op.drop_index(op.f('ix_referral_goal_id'), table_name='referral')
    if conn.dialect.name == "sqlite":
        op.execute("ALTER TABLE referral DROP COLUMN goal_id")
    else:
        op.drop_constraint('fk_referral_goal_id_plan_goal', 'referral', type_='foreignkey')
        op.drop_column('referral', 'goal_id')
    # The stages derived here stay: a client who has them is counted by them, and
    # 0017's schema holds them as it holds a new client's.
