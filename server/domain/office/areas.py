"""The office's working area (city → kecamatan → kelurahan) and matching a
client's kelurahan to it.

An office whose area is not configured yet takes kelurahan names as typed;
once it is, a name is matched case-insensitively and an unknown one refused.
``load_area`` reads the JSON file ``bimbing area load FILE`` takes (the shape of
``server/data/jakarta-timur-utara.json``: ``{"office": NAME, "area": {city:
{kecamatan: [kelurahan, ...]}}}``) and adds what is missing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from server.db.models import Area, AreaLevel, Client
from server.domain.errors import DomainError, ErrorKind

DATA_DIR = Path(__file__).resolve().parents[2] / "data"
JAKARTA_TIMUR_UTARA = DATA_DIR / "jakarta-timur-utara.json"


@dataclass(frozen=True)
class Kelurahan:
    id: int
    name: str
    kecamatan: str
    city: str


def read_area_file(path: Path) -> dict[str, dict[str, list[str]]]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DomainError(ErrorKind.invalid, "bad-area-file", f"Cannot read the area file: {exc}") from None
    area = data.get("area") if isinstance(data, dict) else None
    if not isinstance(area, dict) or not all(
        isinstance(kecs, dict) and all(isinstance(kels, list) and all(isinstance(k, str) and k.strip() for k in kels) for kels in kecs.values())
        for kecs in area.values()
    ):
        raise DomainError(ErrorKind.invalid, "bad-area-file", 'The area file must be {"area": {city: {kecamatan: [kelurahan, ...]}}}.')
    return area


async def load_area(db: AsyncSession, office_id: int, area: dict[str, dict[str, list[str]]]) -> int:
    """Add the cities, kecamatan and kelurahan the office lacks; returns how many
    nodes were added. Existing nodes are kept (clients point at them)."""
    added = 0

    async def node(level: AreaLevel, name: str, parent_id: int | None) -> int:
        nonlocal added
        found = await db.scalar(select(Area.id).where(Area.office_id == office_id, Area.level == level, Area.name == name, Area.parent_id.is_(None) if parent_id is None else Area.parent_id == parent_id))
        if found:
            return found
        row = Area(office_id=office_id, level=level, name=name.strip(), parent_id=parent_id)
        db.add(row)
        await db.flush()
        added += 1
        return row.id

    for city, kecamatans in area.items():
        city_id = await node(AreaLevel.city, city, None)
        for kec, kels in kecamatans.items():
            kec_id = await node(AreaLevel.kecamatan, kec, city_id)
            for kel in kels:
                await node(AreaLevel.kelurahan, kel, kec_id)
    await link_unmatched_clients(db, office_id)
    return added


async def kelurahan_list(db: AsyncSession, office_id: int) -> list[Kelurahan]:
    areas = {a.id: a for a in (await db.execute(select(Area).where(Area.office_id == office_id))).scalars()}
    out = []
    for a in areas.values():
        if a.level != AreaLevel.kelurahan:
            continue
        kec = areas.get(a.parent_id) if a.parent_id else None
        city = areas.get(kec.parent_id) if kec and kec.parent_id else None
        out.append(Kelurahan(a.id, a.name, kec.name if kec else "", city.name if city else ""))
    return sorted(out, key=lambda k: (k.city, k.kecamatan, k.name))


async def match_kelurahan(db: AsyncSession, office_id: int, name: str) -> Area | None:
    """The office's kelurahan of that name (any case); None when the office has no
    area configured. An unknown name in a configured area is refused."""
    clean = " ".join(name.split())
    found = (await db.execute(
        select(Area).where(Area.office_id == office_id, Area.level == AreaLevel.kelurahan, func.lower(Area.name) == clean.lower()).order_by(Area.id).limit(1)
    )).scalar_one_or_none()
    if found is not None:
        return found
    configured = await db.scalar(select(Area.id).where(Area.office_id == office_id, Area.level == AreaLevel.kelurahan).limit(1))
    if configured:
        raise DomainError(ErrorKind.invalid, "unknown-kelurahan", f"kelurahan: {clean!r} is not in the office's working area", key="error.unknown_kelurahan", fields={"kelurahan": "not in the working area"})
    return None


async def link_unmatched_clients(db: AsyncSession, office_id: int) -> int:
    areas = (await db.execute(select(Area).where(Area.office_id == office_id, Area.level == AreaLevel.kelurahan))).scalars().all()
    by_name = {" ".join(a.name.split()).lower(): a for a in sorted(areas, key=lambda a: -a.id)}
    linked = 0
    for client in (await db.execute(select(Client).where(Client.office_id == office_id, Client.area_id.is_(None)))).scalars():
        area = by_name.get(" ".join(client.kelurahan.split()).lower())
        if area is not None:
            client.area_id = area.id
            client.kelurahan = area.name
            linked += 1
    return linked


async def unmatched_clients(db: AsyncSession, office_id: int) -> list[Client]:
    """Clients whose kelurahan is not in the configured area: for the admin to fix."""
    configured = await db.scalar(select(Area.id).where(Area.office_id == office_id, Area.level == AreaLevel.kelurahan).limit(1))
    if not configured:
        return []
    return list((await db.execute(select(Client).where(Client.office_id == office_id, Client.area_id.is_(None)).order_by(Client.kelurahan, Client.name))).scalars())
