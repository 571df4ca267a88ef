"""First words on a poor link (issue 25): a client who taps the join link on a
32 kbit/s link with 5% loss hears the PK, and is heard, soon enough not to hang
up and call on WhatsApp instead.

The call runs as bench/first_words.py runs it (tests/browser/first_words_support.py):
the client's Chromium in a network namespace behind a shaped veth (tc tbf,
400 ms queue, nftables random drop; PITFALLS 9), the client tapping each button
the moment it works, the PK admitting at once; the clock stops when both pages
have received 50 audio packets. Also here: the bench itself at its smallest size
(tests/test_benches.py), beside the other browser tests.

Needs root, ``ip``/``tc``/``nft`` and Chromium: elsewhere these skip, with
CI=true they fail.
"""

from __future__ import annotations

import asyncio

import pytest

from tests.browser.first_words_support import PTIME_NOW, _until, first_words, idle_rtt, new_phone
from tests.browser.reach_support import ReachServer, browser_args
from tests.netshape import ShapedLink, require_shaping
from tests.services import require_chromium
from tests.test_benches import run_smallest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# Measured by bench/first_words.py at 32 kbit/s with 5% loss, first visit, on the
# shared 2-core VM at load average 20-27: the code before issue 25 (c1de3fc) took
# 19.2 s (and 18.9 s with half of this work), 17.3 s in the issue's own run; this
# code 15.3 s (at load 25-27). This test itself, 2026-12-06 18:05 UTC at load
# 8-12: 18.5 s on c1de3fc (fails), 11.1 s on this code; 20:32-20:56 UTC at load 9-17:
# 16.7 and 16.6 s on main's code without issue 25 (525fdf9); 11.5, 11.3 and 14.9 s
# on this code (11.4 s in the bench's run, bench/results/first_words.md). The old
# code sits near its floor, set by its bytes (24 KB before the first tap: 17.2 s of
# bytes and round trips at this rate), so a bound of 16.5 s failed it by only
# 0.05 s; this code varies with the loss (a lost SYN or DTLS flight costs 1-3 s:
# floor 11.7 s, 14.9 s measured once). The bound sits between the two: it fails
# the old code by half a second at best and leaves this code a second over its
# slowest run (15.3 s, the first version at load 25-27).
FIRST_VISIT_BOUND_S = 16.0
# A roomy start ends with the first words (webclient/call.js, FIRST_WORDS_PACKETS),
# with one offer and answer over the shaped link; a bound for waiting.
LEAN_WITHIN_S = 30.0


@pytest.fixture
async def shaped(tmp_path):
    require_shaping()
    chromium = require_chromium()
    link = ShapedLink(32, 5).open(chromium)
    try:
        server = ReachServer(link, tmp_path / "server").start()
        try:
            from playwright.async_api import async_playwright

            async with async_playwright() as pw:
                args = browser_args(server.url)
                pk = await pw.chromium.launch(executable_path=chromium, headless=True, args=args)
                phone = await pw.chromium.launch(executable_path=link.chromium_wrapper, headless=True, args=args)
                try:
                    yield link, server, pk, phone
                finally:
                    await phone.close()
                    await pk.close()
        finally:
            server.stop()
    finally:
        link.close()


async def test_a_first_visit_at_32_kbits_and_5_percent_loss_hears_each_other_within_the_bound(shaped):
    """A first visit hears within the bound; a second first visit (a new phone)
    is allowed when the first lost to the loss itself. Random 5% loss on TCP
    before its first round-trip sample costs retransmission timeouts that
    double (1, 2, 4 s): a CI run at load 15 (9af4c4f, 2026-12-07 06:47 UTC) took
    10.8 s to fetch the 16 KB before the first tap (floor 4.0 s) and 18.4 s in
    all. The code before issue 25 cannot pass either call: its bytes alone take
    17.2 s at this rate, over the bound."""
    link, server, pk_browser, phone_browser = shaped
    totals: list[float] = []
    for n in (1, 2):
        fw = await _first_visit(link, server, pk_browser, phone_browser, n)
        assert fw.total is not None, fw.note
        totals.append(fw.total)
        if fw.total <= FIRST_VISIT_BOUND_S:
            break
    assert min(totals) <= FIRST_VISIT_BOUND_S, f"{', '.join(f'{t:.1f}' for t in totals)} s from the tap on the link to both hearing each other"
    # A link this thin starts with 60 ms packets each way: their headers would fill it.
    assert fw.ptimes == (60, 60), fw.ptimes


async def test_a_first_visit_on_a_roomier_weak_link_starts_with_20_ms_packets_and_hears_within_a_second_of_sound_then_goes_lean(shaped):
    """At 64 kbit/s with 2% loss the page still starts in sound only, but measures
    room for Chromium's 20 ms packets (webclient/devicecheck.js, ROOMY_LINK_KBPS):
    its join says so, both sides ask for them, and the 50 packets that make the
    first words take about one second of sound. In the 60 ms packets of a thinner
    link they cannot take less than three (50 x 60 ms, sent as spoken), which is
    what this link had before this start (2.7-2.8 s of its 7.0-7.4 s: the stated run of
    c641c06 and a run of the code before it, docs/webclient.md "Short packets where they fit").
    A second first visit is allowed when the loss cost the first one its measure.
    Once the first words are heard both sides go to 60 ms packets (webclient/call.js,
    FIRST_WORDS_PACKETS): the page's measure can overshoot (38 kbit/s read on a
    32 kbit/s link on a loaded machine, where 20 ms packets filled the link and a
    quarter of the sound was concealed each way for the rest of the call)."""
    link, server, pk_browser, phone_browser = shaped
    link.shape(64, 2)
    lean: list[tuple] = []

    async def goes_lean(pk, phone_page):
        async def both_lean():
            now = tuple(await asyncio.gather(pk.evaluate(PTIME_NOW), phone_page.evaluate(PTIME_NOW)))
            lean[:] = [now]
            return now == (60, 60)

        await _until(both_lean, LEAN_WITHIN_S, "both sides in 60 ms packets after the first words", period=0.5)

    for n in (1, 2):
        fw = await _first_visit(link, server, pk_browser, phone_browser, n, then=goes_lean)
        assert fw.total is not None, fw.note
        print(f"the page measured {fw.page_kbps} kbit/s; Opus packets (PK, phone): {fw.ptimes} ms")
        if fw.ptimes == (20, 20):
            break
    assert fw.sound_only_start
    assert fw.ptimes == (20, 20), (fw.page_kbps, fw.ptimes)
    fifty = next(secs for name, secs, *_ in fw.phases if name == "50 packets")
    assert fifty < 2.5, f"50 packets took {fifty:.1f} s"
    assert lean == [(60, 60)], lean


async def _first_visit(link, server, pk_browser, phone_browser, n: int, then=None):
    phone = await new_phone(phone_browser, server.url)
    lines: list[str] = []
    try:
        fw = await first_words(pk_browser, phone, server, link, visit="first", n=n, rtt=idle_rtt(link), timeout=60,
                               console_lines=lines, then=then)
    finally:
        await phone.context.close()
    print(f"first visit {n}:")
    for name, secs, down, up, floor, _, _ in fw.phases:
        print(f"{name:30} {secs if secs is None else round(secs, 2)!s:>6} s  floor {floor if floor is None else round(floor, 2)!s:>6} s  "
              f"down {down} B up {up} B")
    print(f"link opened -> both hear each other: {fw.total} s (floor {fw.total_floor}); page bytes to ready {fw.page_bytes_ready}")
    if fw.note:
        print("\n".join(lines[-60:]))
    return fw


def test_the_first_words_bench_runs_at_its_smallest_size(tmp_path):
    run_smallest("first_words.py", tmp_path)
