"""Issue 20's story in Chromium: a PK assesses a client, writes a three-goal
plan the client agrees to, the Kasie countersigns it; three sessions of
different modes rate the goals; the record draws each goal's line, the
laporan perkembangan prints the ratings, and the client's own page shows the
goals without the risk category. Real ``bimbing serve``, real Chromium."""

from __future__ import annotations

import re
import secrets
from datetime import timedelta

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PK_PASSWORD, PK_USERNAME, _bimbing
from tests.browser.test_video_call import watch_for_errors
from tests.clock import OFFICE_TZ, office_today, utc_now
from tests.conftest import server_env

pytestmark = [pytest.mark.browser, pytest.mark.clock]

KASIE_USERNAME, KASIE_PASSWORD = "kasie.progress", "kata sandi kasie yang panjang"


async def signed_in(browser, live_server, username: str, password: str, errors: list[str]):
    ctx = await browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="id-ID")
    page = await ctx.new_page()
    watch_for_errors(page, username, errors)
    await page.goto("/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/(caseload|audit)$"))  # a PK's start page, a supervisor's
    return page


async def test_a_pk_plans_with_the_client_the_kasie_countersigns_and_sessions_rate_the_goals(browser, live_server, artifacts):
    errors: list[str] = []
    # The Kasie's account, added to the live server's database as an office would (bimbing user add).
    root = live_server.log.parent
    env = server_env()
    env.update(BIMBING_DATABASE_URL=f"sqlite+aiosqlite:///{root / 'bimbing.db'}", BIMBING_DATA_DIR=str(root / "data"),
               BIMBING_RECORDINGS_DIR=str(root / "recordings"), BIMBING_SECRET_KEY=secrets.token_urlsafe(48))
    _bimbing(env, "user", "add", "--username", KASIE_USERNAME, "--role", "supervisor", "--name", "Kasie Bimbingan", stdin=KASIE_PASSWORD + "\n")
    pk = await signed_in(browser, live_server, PK_USERNAME, PK_PASSWORD, errors)
    today = office_today()

    # --- a client made without an interval: the office's stages ---------------------------------
    await pk.goto("/clients/new")
    for name, value in {"name": "Joko Prasetyo", "register_number": "PAS.2026.2020", "supervision_start": (today - timedelta(days=40)).isoformat(),
                        "supervision_end": (today + timedelta(days=320)).isoformat(), "kelurahan": "Pulo Gebang"}.items():
        await pk.fill(f'form input[name="{name}"]', value)
    await pk.click("form.stack button[type=submit]")
    await expect(pk).to_have_url(re.compile(r"/clients/\d+$"))
    client_id = int(pk.url.rsplit("/", 1)[1])
    await expect(pk.locator("#stage-now")).to_have_attribute("data-stage", "awal")

    # --- the assessment, then the plan with three goals -------------------------------------------
    await pk.click("#asesmen summary")
    await pk.select_option("#assessment-form select[name=category]", "sedang")
    for need in ("pekerjaan", "keluarga", "NAPZA"):
        await pk.check(f'#assessment-form input[name=needs][value="{need}"]')
    await pk.click("#assessment-form button[type=submit]")
    await expect(pk.locator("#latest-assessment")).to_have_attribute("data-category", "sedang")
    await pk.click("#plan summary")
    for i, (need, text, steps) in enumerate((("pekerjaan", "Bekerja tetap di bengkel", "Daftar BLK\nMagang di bengkel"),
                                             ("keluarga", "Rukun kembali dengan istri", "Mediasi bersama penjamin"),
                                             ("NAPZA", "Bebas narkoba", "Tes urin di Puskesmas"))):
        await pk.fill(f'input[name="goal-{i}-text"]', text)
        await pk.select_option(f'select[name="goal-{i}-need"]', need)
        await pk.fill(f'textarea[name="goal-{i}-steps"]', steps)
    await pk.select_option("#plan-form select[name=agreement]", "setuju")
    await pk.click("#plan-form button[type=submit]")
    await expect(pk.locator("#plan-status")).to_have_attribute("data-status", "draft")
    goal_ids = [int(g) for g in await pk.locator("#goals > li").evaluate_all("els => els.map(e => e.dataset.goalId)")]
    assert len(goal_ids) == 3

    # --- the Kasie countersigns ---------------------------------------------------------------------
    kasie = await signed_in(browser, live_server, KASIE_USERNAME, KASIE_PASSWORD, errors)
    await kasie.goto(f"/clients/{client_id}")
    await kasie.click("#approve-form button")
    await expect(kasie.locator("#plan-status")).to_have_attribute("data-status", "approved")

    # --- three sessions of different modes rate the goals (as logged after the fact) ---------------------
    for hours, mode, ratings in ((70, "office", ["tetap", "tetap", "maju"]), (40, "home_visit", ["maju", "tetap", "maju"]),
                                 (3, "phone", ["tercapai", "maju", "maju"])):
        at = (utc_now() - timedelta(hours=hours)).astimezone(OFFICE_TZ).isoformat(timespec="seconds")
        resp = await pk.request.post("/api/sessions", data={"client_id": client_id, "mode": mode, "scheduled_at": at, "outcome": "attended",
                                                            "duration_minutes": 30,
                                                            "progress": [{"goal_id": g, "rating": r} for g, r in zip(goal_ids, ratings)]})
        assert resp.status == 201, await resp.text()

    # --- the record draws each goal's line; the laporan prints the ratings ------------------------------
    await pk.goto(f"/clients/{client_id}")
    first = pk.locator(f'#goals > li[data-goal-id="{goal_ids[0]}"]')
    await expect(first).to_have_attribute("data-reached", "true")
    await expect(first.locator("svg.goal-chart circle")).to_have_count(3)
    assert await first.locator("svg.goal-chart circle").evaluate_all("els => els.map(e => e.dataset.rating)") == ["tetap", "maju", "tercapai"]
    await pk.screenshot(path=artifacts / "record-progress.png", full_page=True)
    await pk.click("#progress-report-link")
    await expect(pk.locator("#laporan-perkembangan")).to_contain_text("Laporan perkembangan klien")
    await expect(pk.locator(f'#report-goals .goal[data-goal-id="{goal_ids[2]}"] [data-rating]')).to_have_count(3)
    await pk.screenshot(path=artifacts / "laporan-perkembangan.png", full_page=True)

    # --- the client's own page: goals and next steps, no risk category ------------------------------------
    url = (await (await pk.request.post(f"/api/clients/{client_id}/portal-link")).json())["url"]
    phone_ctx = await browser.new_context(viewport={"width": 360, "height": 740}, is_mobile=True, has_touch=True, locale="id-ID")
    phone = await phone_ctx.new_page()
    watch_for_errors(phone, "phone", errors)
    await phone.goto(url)
    goals = phone.locator("#my-goals")
    await expect(goals).to_contain_text("Bekerja tetap di bengkel")
    await expect(goals).to_contain_text("Sudah tercapai")
    await expect(goals).to_contain_text("Mediasi bersama penjamin")
    assert "sedang" not in (await goals.inner_text()).lower() and "risiko" not in (await phone.content()).lower()
    await phone.screenshot(path=artifacts / "client-goals.png", full_page=True)
    assert errors == []
