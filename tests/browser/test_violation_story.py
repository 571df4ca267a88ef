"""A client misses three periods in a row: the caseload flags it, the PK
confirms the proposed violation and issues teguran 1, moves it on to the
sidang TPP, the Kasie opens the sitting, decides and closes it; the record,
the letters and the risalah show it. Real server, real Chromium."""

from __future__ import annotations

import re
import subprocess
import sys
from datetime import timedelta

import pytest
from playwright.async_api import expect

from tests.browser.conftest import PK_PASSWORD, PK_USERNAME, REPO
from tests.clock import office_today
from tests.conftest import server_env

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.clock]

KASIE, OTHER_PK, PASSWORD = "kasie.budi", "pk.dewi", "kata sandi kasie yang panjang"


def add_staff(live_server, username: str, role: str, name: str) -> None:
    env = server_env()
    env["BIMBING_DATABASE_URL"] = f"sqlite+aiosqlite:///{live_server.log.parent / 'bimbing.db'}"
    done = subprocess.run([sys.executable, "-m", "server", "user", "add", "--username", username, "--role", role, "--name", name],
                          input=PASSWORD + "\n", env=env, cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


async def signed_in(browser, live_server, username: str, password: str):
    ctx = await browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900}, locale="id-ID")
    page = await ctx.new_page()
    await page.goto("/login")
    await page.fill("input[name=username]", username)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")
    await expect(page).to_have_url(re.compile(r"/(caseload|audit|evaluation)?$"))
    return page


async def test_three_missed_periods_go_from_the_alert_to_a_decided_sitting(browser, live_server, artifacts):
    add_staff(live_server, KASIE, "supervisor", "Budi Santoso, S.H.")
    add_staff(live_server, OTHER_PK, "pk", "Dewi Lestari, S.Psi.")
    # Weekly reporting from three weeks ago, never came: the third period ended yesterday.
    start = office_today() - timedelta(days=21)
    pk = await signed_in(browser, live_server, PK_USERNAME, PK_PASSWORD)
    await pk.goto("/clients/new")
    for name, value in {"name": "Rahmat Hidayat", "register_number": "PAS.2026.0777", "supervision_start": start.isoformat(),
                        "supervision_end": (start + timedelta(days=365)).isoformat(), "reporting_interval_days": "7", "kelurahan": "Pulau Pari"}.items():
        await pk.fill(f'form input[name="{name}"]', value)
    await pk.select_option("select[name=program]", "PB")
    await pk.click("form.stack button[type=submit]")
    await expect(pk).to_have_url(re.compile(r"/clients/\d+$"))
    client_id = int(pk.url.rsplit("/", 1)[1])

    # --- the PK: the caseload flags it; the client's page proposes the violation ------------------
    await pk.goto("/caseload")
    flag = pk.locator(f'a.tiga-kali-berturut[href="/clients/{client_id}#violations"]')
    await expect(flag).to_have_text("Tidak wajib lapor 3 kali berturut-turut")
    await flag.click()
    alert = pk.locator("#violations article.alert")
    await expect(alert).to_contain_text("3 periode berturut-turut terlewat")
    await alert.locator("button.primary").click()
    violation = pk.locator("#violations article.violation")
    await expect(violation).to_have_attribute("data-state", "dicatat")
    await expect(pk.locator("#violations article.alert")).to_have_count(0)

    # teguran 1, with its letter; then on to the sidang TPP, one step at a time
    await violation.locator("select[name=to]").select_option("teguran_1")
    await violation.locator("input[name=note]").fill("Wajib datang melapor pekan ini.")
    await violation.locator("button[type=submit]").click()
    await expect(violation).to_have_attribute("data-state", "teguran_1")
    letter_link = violation.locator('ol.steps a[href^="/letters/"]')
    await expect(letter_link).to_have_count(1)
    for to in ("teguran_2", "bap", "sidang_tpp"):
        await violation.locator("select[name=to]").select_option(to)
        await violation.locator("button[type=submit]").click()
        await expect(violation).to_have_attribute("data-state", to)
    # keputusan before a sitting: refused, with the reason in Indonesian
    await violation.locator("select[name=to]").select_option("keputusan")
    await violation.locator("button[type=submit]").click()
    await expect(pk.locator("main")).to_contain_text("setelah kasus diputus dalam sidang TPP")
    await pk.goto(f"/clients/{client_id}")
    await letter_link.first.click()
    await expect(pk.locator("#letter")).to_have_attribute("data-kind", "teguran_1")
    await expect(pk.locator("#letter-violation")).to_contain_text("Tidak wajib lapor 3 kali berturut-turut")
    await pk.screenshot(path=artifacts / "teguran-1.png", full_page=True)

    # --- the Kasie: opens the sitting with three members, decides, closes -------------------------
    kasie = await signed_in(browser, live_server, KASIE, PASSWORD)
    await kasie.goto("/tpp-sittings")
    form = kasie.locator("#sitting-form")
    for label in ("Budi Santoso, S.H.", "Dewi Lestari, S.Psi.", "Sari Handayani, S.Sos."):
        await form.get_by_label(label).check()
    await expect(form.locator("input[name=violation_ids]")).to_have_count(1)
    await form.locator("button[type=submit]").click()
    await expect(kasie).to_have_url(re.compile(r"/tpp-sittings/\d+$"))
    case = kasie.locator("#cases li")
    await case.locator("select[name=decision]").select_option("pencabutan")
    await case.locator("input[name=reasons]").fill("Tiga kali tidak lapor dan tidak dapat dihubungi.")
    await case.locator("button[type=submit]").click()
    await expect(case).to_have_attribute("data-decision", "pencabutan")
    await kasie.click("#close-form button")
    await expect(kasie).to_have_url(re.compile(r"/tpp-sittings/\d+/risalah$"))
    await expect(kasie.locator("#risalah-cases")).to_contain_text("Tiga kali tidak lapor")
    await expect(kasie.locator("#risalah-members")).to_contain_text("Dewi Lestari, S.Psi.")
    await kasie.screenshot(path=artifacts / "risalah-tpp.png", full_page=True)
    # "Cetak" prints (print.js: the CSP runs no inline onclick); window.print counted, not opened.
    await kasie.evaluate("() => { window.__printed = 0; window.print = () => { window.__printed += 1; }; }")
    await kasie.get_by_role("button", name="Cetak").click()
    assert await kasie.evaluate("() => window.__printed") == 1
    verify = await kasie.locator("article.surat p.muted").last.text_content()
    public = await (await browser.new_context()).new_page()
    await public.goto(verify.strip())
    await expect(public.locator("#verify-status")).to_have_attribute("data-status", "valid")

    # --- the record: the keputusan follows the sitting; the letters are there ------------------------
    await pk.goto(f"/clients/{client_id}")
    await violation.locator("select[name=to]").select_option("keputusan")
    await violation.locator("button[type=submit]").click()
    await expect(violation).to_have_attribute("data-state", "keputusan")
    await expect(violation.locator('[data-field="decision"]')).to_have_text("Pencabutan")
    letters = pk.locator("#letters li")
    # Newest first: the two notifications of the sitting's close, then the path's own letters.
    await expect(letters).to_have_text([re.compile(p) for p in ("Pemberitahuan Pencabutan kepada Kejaksaan Negeri", "Pemberitahuan Pencabutan kepada Kanwil",
                                                                 "Berita Acara Pemeriksaan", "Surat Teguran II", "Surat Teguran I ")])

    # --- the evaluation: the Kasie counts the violation at its keputusan and the sitting's decision ---
    await kasie.goto("/evaluation")
    row = kasie.locator('#table-violations tr[data-kind="tidak_wajib_lapor"]')
    await expect(row).to_have_count(1)
    await expect(kasie.locator('#table-violations td[data-state="keputusan"]')).to_have_text("1")
    await expect(kasie.locator('#eval-tpp dd[data-tpp="held"]')).to_have_text("1")
    await expect(kasie.locator('#eval-tpp dd[data-decision="pencabutan"]')).to_have_text("1")
    await kasie.screenshot(path=artifacts / "evaluation-violations.png", full_page=True)
