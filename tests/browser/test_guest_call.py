"""A third person by link in real Chromium (issue 22): the PK and the client are
in a call; the PK issues a link for the client's penjamin from the console; the
penjamin opens it on a phone, checks camera and microphone, waits and is
admitted on its own; the three decode each other's video on every pair, each
page showing the third person in a tile; the record and the session's page
list the penjamin with role, name and from-to."""

from __future__ import annotations

import re

import pytest
from playwright.async_api import expect

from tests.browser.test_video_call import (
    ANDROID_CHROME,
    RECORD_PEER_CONNECTIONS,
    admit_and_see_video,
    client_opens_link_on_phone,
    pk_starts_video_session,
    poll,
    watch_for_errors,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Per live peer connection of the page: video frames decoded and audio packets received.
PER_PAIR = """
async () => {
  const out = [];
  for (const pc of window.__peerConnections || []) {
    if (pc.connectionState === "closed") continue;
    let video = 0, audio = 0;
    (await pc.getStats()).forEach((s) => {
      if (s.type !== "inbound-rtp") return;
      if (s.kind === "video") video += s.framesDecoded || 0; else audio += s.packetsReceived || 0;
    });
    out.push([video, audio]);
  }
  return out;
}
"""


async def every_pair_flows(page, who: str) -> None:
    """Two live peer connections on the page, each decoding video and receiving audio, and still rising."""
    first = await poll(lambda: page.evaluate(PER_PAIR), lambda pairs: len(pairs) == 2 and all(v > 0 and a > 0 for v, a in pairs),
                       timeout=30, what=f"{who}: media on both pairs")
    await poll(lambda: page.evaluate(PER_PAIR), lambda pairs: len(pairs) == 2 and all(v >= f[0] + 20 for (v, _), f in zip(pairs, first)),
               timeout=30, what=f"{who}: video still coming on both pairs")


async def test_a_penjamin_joins_by_link_and_the_three_see_each_other(browser, live_server, artifacts):
    errors: list[str] = []
    call = await pk_starts_video_session(browser, live_server, {
        "name": "Andi Pratama", "register_number": "PAS.2026.0777", "supervision_start": "2026-02-02",
        "supervision_end": "2027-02-02", "reporting_interval_days": "14", "kelurahan": "Pulau Pari",
    }, errors)
    pk = call.pk
    phone = await client_opens_link_on_phone(browser, live_server, call)
    await phone.click("#start-check")
    await phone.click("#enter")
    await admit_and_see_video(call)
    # A two-party call loads no guest code.
    assert not await phone.evaluate("performance.getEntriesByType('resource').some((e) => e.name.includes('guestmesh'))")

    # --- the PK issues the penjamin's link from the console -----------------------------------------
    await pk.select_option("#guest-role", "penjamin")
    await pk.fill("#guest-name", "Ibu Sumarni")
    await pk.click("#guest-issue")
    url_box = pk.locator("#guest-links .guest-url")
    await expect(url_box).to_have_value(re.compile(re.escape(live_server.url) + r"/g/[\w-]+$"))
    guest_link = await url_box.input_value()

    # --- the penjamin opens it on a phone, checks the devices, waits -------------------------------------
    ctx = await browser.new_context(viewport={"width": 390, "height": 780}, device_scale_factor=2, is_mobile=True, has_touch=True,
                                    user_agent=ANDROID_CHROME, locale="id-ID")
    await ctx.grant_permissions(["camera", "microphone"], origin=live_server.url)
    await ctx.add_init_script(RECORD_PEER_CONNECTIONS)
    guest = await ctx.new_page()
    watch_for_errors(guest, "guest", errors)
    await guest.goto(guest_link)
    assert guest.url == live_server.url + "/guest"  # the token left the address bar
    await expect(guest.locator("#guest-as")).to_contain_text("Penjamin: Ibu Sumarni")
    await expect(guest.locator("#kendala")).to_have_count(0)
    await guest.click("#start-check")
    await expect(guest.locator("#enter")).to_be_enabled()
    await guest.click("#enter")
    await expect(guest.locator("#waiting-title")).to_have_text("Menunggu PK")

    # --- the PK sees the penjamin waiting, apart from the client, and admits ---------------------------
    await expect(pk.locator("#guest-notice")).to_be_visible()
    await expect(pk.locator("#guest-waiting-list")).to_contain_text("Penjamin menunggu: Ibu Sumarni")
    await pk.screenshot(path=artifacts / "guest-1-console-waiting.png", full_page=True)
    await pk.click("#guest-waiting-list .admit-guest")
    await expect(pk.locator("#guest-notice")).to_be_hidden()
    await expect(guest.locator("#step-call")).to_be_visible()

    # --- three parties: every page decodes both others, each shows the third in a tile --------------------
    for page, who in ((guest, "the penjamin"), (pk, "the PK"), (phone, "the client")):
        await every_pair_flows(page, who)
    await expect(pk.locator("#tiles .tile figcaption")).to_have_text("Penjamin: Ibu Sumarni")
    await expect(phone.locator("#tiles .tile figcaption")).to_have_text("Ibu Sumarni")  # the client's page: the name (its first load stays small)
    await expect(guest.locator("#tiles .tile figcaption")).to_have_text("Klien")
    for page in (pk, phone, guest):
        await poll(lambda page=page: page.evaluate("document.querySelector('#tiles .tile video').videoWidth"), lambda w: w > 0,
                   what="the tile's picture")
    await poll(lambda: guest.evaluate("document.getElementById('remote').videoWidth"), lambda w: w > 0, what="the PK's picture on the guest's page")
    await guest.screenshot(path=artifacts / "guest-2-in-call.png")
    await phone.screenshot(path=artifacts / "guest-3-client-sees-guest.png")
    await pk.screenshot(path=artifacts / "guest-4-console-three.png", full_page=True)

    # --- the record lists the penjamin with its stay and media evidence --------------------------------
    async def guests():
        return (await call.session())["guests"]

    listed = await poll(guests, lambda g: g and g[0]["attended"] and g[0]["attended"][0]["media"]["video_packets"] > 0,
                        what="the penjamin's media evidence in the record")
    assert (listed[0]["role"], listed[0]["name"]) == ("penjamin", "Ibu Sumarni")

    # --- the PK ends the session: everyone is told, the session's page lists the penjamin from-to ------------
    await pk.click("#end")
    await expect(pk.locator("#ended")).to_be_visible()
    await expect(guest.locator("#final-title")).to_have_text("Sesi selesai")
    await expect(phone.locator("#final-title")).to_have_text("Sesi selesai")
    stay = (await poll(guests, lambda g: g[0]["attended"][0]["to"], what="the penjamin's stay closed"))[0]["attended"][0]
    assert stay["from"] < stay["to"]
    await pk.click("#view-session")
    await expect(pk.locator('[data-field="guests"] li[data-role="penjamin"]')).to_contain_text("Ibu Sumarni")
    await expect(pk.locator('[data-field="guests"] .guest-stay')).to_contain_text("hadir")
    assert errors == []
