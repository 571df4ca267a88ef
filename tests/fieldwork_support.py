"""Helpers for the field-work tests: the office's today, clients in chosen
kelurahan, and counting what was written."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from server.db.models import Client, ClientCategory, GuidanceSession, Program
from tests.foundation import database

WIB = ZoneInfo("Asia/Jakarta")


def office_today() -> date:
    return datetime.now(WIB).date()


async def add_client(database_url: str, office, key: str, *, pk: str = "pk1", kelurahan: str = "Cakung Barat", started_days_ago: int = 60,
                     ends_in_days: int = 300, interval: int = 14, area_id: int | None = None) -> int:
    async with database(database_url) as db:
        today = office_today()
        c = Client(office_id=office.id, officer_id=office.staff[pk].id, register_number=f"REG-{key}", name=f"Klien {key}",
                   category=ClientCategory.adult, program=Program.pb, supervision_start=today - timedelta(days=started_days_ago),
                   supervision_end=today + timedelta(days=ends_in_days), reporting_interval_days=interval, kelurahan=kelurahan,
                   phone="0812-3456-7890", area_id=area_id)
        db.add(c)
        await db.commit()
        return c.id


async def event_sessions(database_url: str, event_id: int) -> list[GuidanceSession]:
    async with database(database_url) as db:
        return list((await db.execute(select(GuidanceSession).where(GuidanceSession.mobile_event_id == event_id).order_by(GuidanceSession.id))).scalars())


async def session_count(database_url: str) -> int:
    async with database(database_url) as db:
        return await db.scalar(select(func.count()).select_from(GuidanceSession))


def event_body(office, **changes) -> dict:
    body = {"date": office_today().isoformat(), "start_time": "08:00", "end_time": "12:00", "kelurahan": "Cakung Barat",
            "venue": "Kantor Kelurahan Cakung Barat", "officer_ids": [office.staff["pk1"].id], "topic": "Kesadaran hukum",
            "client_note": "Bawa KTP dan kartu bimbingan."}
    body.update(changes)
    return body
