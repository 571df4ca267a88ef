"""A client's structured address: the kelurahan chosen from the office's
working area (matched by name in any case through the API; free text while no
area is configured), ``bimbing area load``, and the migration that links the
kelurahan typed before."""

from __future__ import annotations

from sqlalchemy import text

from server.db.engine import make_engine
from server.db.migrate import downgrade, upgrade
from server.db.models import Client, Office
from server.domain.office.areas import (
    JAKARTA_TIMUR_UTARA,
    load_area,
    read_area_file,
    unmatched_clients,
)
from tests.foundation import CLIENT_BODY, database, row_counts
from tests.test_cli import bimbing, cli_env


async def _load_demo_area(database_url: str, office_id: int) -> int:
    async with database(database_url) as db:
        added = await load_area(db, office_id, read_area_file(JAKARTA_TIMUR_UTARA))
        await db.commit()
        return added


async def test_the_api_matches_the_kelurahan_to_the_area_in_any_case(client, office, other_office, sign_in, database_url):
    assert await _load_demo_area(database_url, office.id) == 3 + 10 + 30
    await sign_in(client, "pk1")
    resp = await client.post("/api/clients", json=dict(CLIENT_BODY, kelurahan="  pulo GEBANG ", street="Jl. Raya Pulo Gebang No. 5", rt_rw="003/007"))
    assert resp.status == 201, await resp.text()
    data = await resp.json()
    assert (data["kelurahan"], data["street"], data["rt_rw"]) == ("Pulo Gebang", "Jl. Raya Pulo Gebang No. 5", "003/007") and data["area_id"]
    before = await row_counts(database_url)
    resp = await client.post("/api/clients", json=dict(CLIENT_BODY, register_number="PAS.2026.9002", kelurahan="Atlantis"))
    assert resp.status == 400 and (await resp.json())["error"] == "unknown-kelurahan"
    assert await row_counts(database_url) == before
    # The form offers the area's kelurahan to choose from.
    form = await (await client.get("/clients/new")).text()
    assert '<select name="kelurahan"' in form and ">Pulau Tidung</option>" in form
    # Another office with no area configured takes the name as typed.
    await sign_in(client, "x_kasie")
    resp = await client.post("/api/clients", json=dict(CLIENT_BODY, kelurahan="Atlantis", officer_id=other_office.staff["pk1"].id))
    assert resp.status == 201 and (await resp.json())["area_id"] is None


async def test_the_migration_links_typed_kelurahan_and_lists_the_rest(database_url):
    engine = make_engine(database_url)
    try:
        await downgrade(engine, "0002")
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO office (id, name, city, timezone, settings, created_at) VALUES (1, 'Bapas', '', 'Asia/Jakarta', '{}', '2026-01-01 00:00:00')"))
            await conn.execute(text("INSERT INTO staff (id, office_id, username, name, role, password_hash, active, created_at) VALUES (1, 1, 'pk', 'PK', 'pk', 'x', true, '2026-01-01 00:00:00')"))
            await conn.execute(text("INSERT INTO area (id, office_id, parent_id, level, name) VALUES (1, 1, NULL, 'city', 'Jakarta Timur'), (2, 1, 1, 'kecamatan', 'Cakung'), (3, 1, 2, 'kelurahan', 'Cakung Barat')"))
            for cid, kel in ((1, "  cakung BARAT "), (2, "Cakung Barat"), (3, "Cakung Barrat")):
                await conn.execute(text(
                    "INSERT INTO client (id, office_id, officer_id, register_number, name, category, program, supervision_start, supervision_end, "
                    "reporting_interval_days, kelurahan, phone, employment, created_at) VALUES "
                    "(:id, 1, 1, :reg, :name, 'adult', 'PB', '2026-01-01', '2026-12-31', 14, :kel, '', '', '2026-01-01 00:00:00')"),
                    {"id": cid, "reg": f"R{cid}", "name": f"K{cid}", "kel": kel})
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = dict((await conn.execute(text("SELECT id, area_id FROM client ORDER BY id"))).all())
        assert rows == {1: 3, 2: 3, 3: None}
    finally:
        await engine.dispose()
    async with database(database_url) as db:
        assert [c.register_number for c in await unmatched_clients(db, 1)] == ["R3"]
        assert (await db.get(Office, 1)).name == "Bapas" and (await db.get(Client, 1)).kelurahan.strip().lower() == "cakung barat"


def test_area_load_on_the_command_line(tmp_path):
    env = cli_env(f"sqlite:///{tmp_path / 'area.db'}", tmp_path)
    assert bimbing("db", "upgrade", env=env).returncode == 0
    assert bimbing("user", "add", "--username", "admin", "--role", "admin", env=env, stdin="kata sandi yang panjang\n").returncode == 0
    first = bimbing("area", "load", str(JAKARTA_TIMUR_UTARA), env=env)
    assert first.returncode == 0, first.stderr
    assert "Added 43 areas." in first.stdout
    again = bimbing("area", "load", str(JAKARTA_TIMUR_UTARA), env=env)
    assert again.returncode == 0 and "Added 0 areas." in again.stdout
    bad = tmp_path / "bad.json"
    bad.write_text('{"area": ["Koja"]}')
    refused = bimbing("area", "load", str(bad), env=env)
    assert refused.returncode != 0 and "area file" in refused.stderr


async def test_the_admin_fixes_an_unmatched_kelurahan(client, office, sign_in, database_url):
    from tests.fieldwork_support import add_client
    from tests.test_pages import csrf_token

    await _load_demo_area(database_url, office.id)
    typo = await add_client(database_url, office, "typo", kelurahan="Pulo Gebangg")
    await sign_in(client, "admin")
    page = await (await client.get("/admin/areas")).text()
    assert f'data-client-id="{typo}"' in page
    async with database(database_url) as db:
        from sqlalchemy import select

        from server.db.models import Area

        pulo = await db.scalar(select(Area.id).where(Area.office_id == office.id, Area.name == "Pulo Gebang"))
    before = await row_counts(database_url)
    refused = await client.post(f"/admin/areas/clients/{typo}", data={"csrf_token": csrf_token(page), "area_id": "999999"})
    assert refused.status == 400 and await row_counts(database_url) == before
    resp = await client.post(f"/admin/areas/clients/{typo}", data={"csrf_token": csrf_token(page), "area_id": str(pulo)}, allow_redirects=False)
    assert resp.status == 302
    data = await (await client.get(f"/api/clients/{typo}")).json()
    assert (data["kelurahan"], data["area_id"]) == ("Pulo Gebang", pulo)
    assert f'data-client-id="{typo}"' not in await (await client.get("/admin/areas")).text()
