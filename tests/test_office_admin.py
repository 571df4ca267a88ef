"""The admin keeps the office's letterhead: the profile form (audited, behind
CSRF, admin only) and the logo upload (PNG or JPEG by content, size-limited,
stored under a server-made name, served to signed-in staff)."""

from __future__ import annotations

import re
import struct
import zlib

import aiohttp
import pytest

from server.db.models import Office
from tests.audit_support import audit_entries
from tests.foundation import database
from tests.test_pages import csrf_token


def tiny_png() -> bytes:
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"\x00\xff\x00\x00"  # one red pixel, filter byte first
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def logo_form(token: str, data: bytes, filename: str, content_type: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("logo", data, filename=filename, content_type=content_type)
    return form


async def test_the_admin_edits_the_profile_and_the_change_is_audited(client, office, sign_in, database_url):
    await sign_in(client, "admin")
    page = await (await client.get("/admin/office")).text()
    assert 'id="office-profile"' in page
    token = csrf_token(page)
    form = {"csrf_token": token, "name": "Bapas Kelas I Jakarta Timur-Utara", "address": "Jl. Raya Bekasi Km. 18", "phone": "021-4600000",
            "email": "", "letter_prefix": "W10.PAS.PAS.10-PK.01.05", "head_name": "Dra. Siti Rahayu", "head_nip": "197001011990032001"}
    resp = await client.post("/admin/office", data=form, allow_redirects=False)
    assert (resp.status, resp.headers["Location"]) == (302, "/admin/office?saved=1")
    async with database(database_url) as db:
        stored = await db.get(Office, office.id)
        assert stored.name == "Bapas Kelas I Jakarta Timur-Utara"
        assert stored.settings["profile"]["head_nip"] == "197001011990032001"
    [entry] = await audit_entries(database_url, "office.profile")
    assert entry.detail["address"] == {"old": "", "new": "Jl. Raya Bekasi Km. 18"} and "email" not in entry.detail

    saved = await stored_profile(database_url, office.id)
    # Too long: refused with the catalogue's sentence, nothing saved (the new name with it).
    bad = await client.post("/admin/office", data={**form, "name": "Nama Yang Ditolak", "address": "x" * 301})
    assert bad.status == 400 and "Isian tidak valid." in await bad.text()
    # No token: refused before anything is read.
    assert (await client.post("/admin/office", data={k: v for k, v in {**form, "name": "Tanpa Token"}.items() if k != "csrf_token"})).status == 403
    assert await stored_profile(database_url, office.id) == saved
    assert len(await audit_entries(database_url, "office.profile")) == 1


async def stored_profile(database_url: str, office_id: int) -> tuple[str, dict]:
    """The office's name and settings as the database holds them."""
    async with database(database_url) as db:
        stored = await db.get(Office, office_id)
        return stored.name, stored.settings


@pytest.mark.parametrize("who", ["pk1", "kasie"])
async def test_only_the_admin_reaches_the_profile(client, office, sign_in, database_url, who):
    await sign_in(client, who)
    assert (await client.get("/admin/office")).status == 403
    before = await stored_profile(database_url, office.id)
    token = csrf_token(await (await client.get("/caseload")).text())
    assert (await client.post("/admin/office", data={"csrf_token": token, "name": "Dirampas"})).status == 403
    # Refused, and nothing changed: the name is the seeded office's, nothing audited.
    assert await stored_profile(database_url, office.id) == before and before[0] == "Bapas Uji"
    assert await audit_entries(database_url, "office.profile") == []


async def test_the_logo_is_checked_stored_under_a_server_name_and_served(client, office, sign_in, database_url, settings):
    await sign_in(client, "admin")
    token = csrf_token(await (await client.get("/admin/office")).text())
    assert (await client.get("/office/logo")).status == 404  # none yet

    # A script named .png is not an image; a big file is refused; neither is stored.
    resp = await client.post("/admin/office/logo", data=logo_form(token, b"<script>alert(1)</script>", "logo.png", "image/png"))
    assert resp.status == 415 and "PNG atau JPEG" in await resp.text()
    resp = await client.post("/admin/office/logo", data=logo_form(token, b"\x89PNG\r\n\x1a\n" + b"0" * (settings.max_logo_bytes + 1), "big.png", "image/png"))
    assert resp.status == 413
    assert not (settings.data_dir / "office").exists() or list((settings.data_dir / "office").iterdir()) == []

    png = tiny_png()
    resp = await client.post("/admin/office/logo", data=logo_form(token, png, "../../etc/passwd.png", "image/png"), allow_redirects=False)
    assert resp.status == 302
    async with database(database_url) as db:
        path = (await db.get(Office, office.id)).settings["profile"]["logo_path"]
    assert re.fullmatch(r"office/logo-[0-9a-f]{16}\.png", path)
    assert (settings.data_dir / path).read_bytes() == png
    [entry] = await audit_entries(database_url, "office.logo")
    assert entry.detail["logo_path"] == path

    # Any signed-in staff member (letters, reports) gets it; nobody else.
    await sign_in(client, "pk1")
    got = await client.get("/office/logo")
    assert got.status == 200 and got.headers["Content-Type"] == "image/png" and await got.read() == png
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        anon = await http.get(client.make_url("/office/logo"), allow_redirects=False)
        assert anon.status == 302

    # A logo_path pointing out of the data folder is never served.
    async with database(database_url) as db:
        o = await db.get(Office, office.id)
        o.settings = {**o.settings, "profile": {**o.settings["profile"], "logo_path": "../../../../etc/hostname"}}
        await db.commit()
    assert (await client.get("/office/logo")).status == 404


async def test_the_admin_sets_the_tpp_quorum_and_guidance_settings_on_the_settings_page(client, office, sign_in, database_url):
    await sign_in(client, "admin")
    page = await (await client.get("/admin/settings")).text()
    assert 'name="tpp_quorum"' in page and "Kuorum sidang TPP" in page and 'name="stage_lanjutan"' in page and "pekerjaan\nkeuangan" in page
    token = csrf_token(page)
    form = {"csrf_token": token, "min_report_minutes": "10", "tpp_quorum": "5", "stage_awal": "30", "stage_lanjutan": "45", "stage_akhir": "90",
            "reassessment_days": "120", "needs": "pekerjaan\nkeluarga\n judi \n"}
    resp = await client.post("/admin/settings/rules", data=form, allow_redirects=False)
    assert (resp.status, resp.headers.get("Location")) == (302, "/admin/settings")
    settings = await (await client.get("/api/office/settings")).json()
    assert (settings["tpp_quorum"], settings["stage_intervals"], settings["reassessment_days"], settings["needs"]) == (
        5, {"awal": 30, "lanjutan": 45, "akhir": 90}, 120, ["pekerjaan", "keluarga", "judi"])
    [entry] = await audit_entries(database_url, "office.settings")
    assert entry.detail["tpp_quorum"] == {"old": 3, "new": 5} and entry.detail["stage_intervals"]["new"]["lanjutan"] == 45

    # Bad input: 400, the page again with a sentence in Indonesian naming the setting, and nothing saved (not even the valid fields beside it).
    for bad, sentence in (({"tpp_quorum": "0"}, "Kuorum sidang TPP: bilangan bulat 1 sampai 50 anggota."),
                          ({"tpp_quorum": "٥"}, "Kuorum sidang TPP"), ({"stage_akhir": "400"}, "Selang tahap akhir"),
                          ({"reassessment_days": "abc"}, "Asesmen ulang"), ({"needs": "a\nA"}, "Bidang kebutuhan"), ({"needs": "  "}, "Bidang kebutuhan")):
        refused = await client.post("/admin/settings/rules", data={**form, "min_report_minutes": "20", **bad}, allow_redirects=False)
        text = await refused.text()
        assert refused.status == 400 and 'id="rules-error"' in text and sentence in text, bad
    assert await (await client.get("/api/office/settings")).json() == settings
    # No token: refused before anything is read.
    assert (await client.post("/admin/settings/rules", data={k: v for k, v in form.items() if k != "csrf_token"})).status == 403
