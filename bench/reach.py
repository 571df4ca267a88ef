"""Benchmark: a call over a poor mobile link, tuned (webclient/reach.js) beside the untuned baseline.

The client's Chromium runs in its own network namespace behind a veth pair
shaped each way with ``tc tbf`` (rate, 400 ms queue) and ``nftables`` random
drop (tests/netshape.py; PITFALLS 9). The PK's Chromium runs on this machine.
For each rate x loss, and for each of two modes in the same run:

- ``tuned``: the pages as shipped (Opus fitted to the link, automatic steps);
- ``baseline``: the same pages with ``sessionStorage['bimbing.reach'] = 'off'``:
  Chromium's default audio and video settings, no automatic steps.

Per condition: time from the tap on the link to the client's first PK audio,
concealment each way (``concealedSamples / totalSamplesReceived`` over a window
after the call settles), the client's upload on the wire (the qdisc's byte
counter: every header included), the recovery after a 10 s outage (link down,
then up: seconds until audio packets flow again both ways), and the session
log's ``disconnected`` events (the deliberate outage's one counted apart).

Needs root (namespaces, tc, nftables) and /usr/bin/chromium. Everything stays
on this machine: a private /29 on a veth pair of our own.

    .venv/bin/python bench/reach.py                          # the full grid (about 40 minutes)
    .venv/bin/python bench/reach.py --rates 32 --losses 5    # one condition
    .venv/bin/python bench/reach.py --out bench/reach-results.md
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.browser.reach_support import (  # noqa: E402
    ReachServer,
    audio_back_after,
    browser_args,
    disconnections,
    measure_window,
    start_call,
    wait_first_audio,
)
from tests.netshape import ShapedLink, shaping_missing  # noqa: E402

CHROMIUM = "/usr/bin/chromium"


def pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def sec(x: float | None) -> str:
    return "–" if x is None else f"{x:.1f} s"


async def one_condition(pk_browser, phone_browser, server, link, rate, loss, tuned, args, n) -> dict:
    link.shape(rate, loss)
    row = {"rate": rate, "loss": loss, "mode": "tuned" if tuned else "baseline"}
    call = None
    try:
        call = await start_call(pk_browser, phone_browser, server, tuned=tuned, n=n)
        try:
            row["first_audio"] = await wait_first_audio(call, timeout=60)
        except TimeoutError:
            row["first_audio"] = None
            row["note"] = "no audio within 60 s"
            return row
        await asyncio.sleep(args.settle)
        w = await measure_window(call, link, args.window)
        row.update(officer_hears=w.officer_hears_concealed, client_hears=w.client_hears_concealed, upload=w.client_upload_kbps)
        before = disconnections(await call.session())
        link.set_up(False)
        await asyncio.sleep(args.outage)
        link.set_up(True)
        t_return = time.monotonic()
        try:
            row["recovery"] = await audio_back_after(call, t_return, timeout=30)
        except TimeoutError:
            row["recovery"] = None
        await asyncio.sleep(2)
        after = disconnections(await call.session())
        row["disconnects"] = before
        row["outage_disconnects"] = after - before
        await call.pk.request.post(f"/api/sessions/{call.session_id}/end", data={})
    except Exception as exc:  # one broken condition must not lose the whole grid
        row["note"] = f"{type(exc).__name__}: {str(exc)[:120]}"
    finally:
        if call:
            await call.close()
    return row


def table(rows: list[dict], outage: float) -> str:
    head = ("| link | loss | mode | concealed: PK hears | concealed: client hears | first audio | "
            f"client upload | recovery after {outage:g} s outage | disconnects (+ outage) |")
    lines = [head, "|" + "---|" * 9]
    for r in rows:
        upload = f"{r['upload']:.1f} kbit/s" if r.get("upload") is not None else "–"
        disc = f"{r['disconnects']} (+{r['outage_disconnects']})" if "disconnects" in r else "–"
        note = f" {r['note']}" if r.get("note") else ""
        lines.append(f"| {r['rate']} kbit/s | {r['loss']}% | {r['mode']} | {pct(r.get('officer_hears'))} | "
                     f"{pct(r.get('client_hears'))} | {sec(r.get('first_audio'))} | {upload} | "
                     f"{sec(r.get('recovery'))} | {disc}{note} |")
    return "\n".join(lines)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rates", default="24,32,48,64,128", help="kbit/s each way, comma-separated")
    parser.add_argument("--losses", default="0,2,5,10", help="percent each way, comma-separated")
    parser.add_argument("--modes", default="baseline,tuned")
    parser.add_argument("--settle", type=float, default=10.0, help="seconds after first audio before measuring")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of the concealment window")
    parser.add_argument("--outage", type=float, default=10.0)
    parser.add_argument("--out", default="", help="also write the markdown table to this file")
    args = parser.parse_args()
    why = shaping_missing()
    if why:
        print(f"bench/reach.py: {why}", file=sys.stderr)
        return 2
    from playwright.async_api import async_playwright

    rates = [int(x) for x in args.rates.split(",")]
    losses = [float(x) if "." in x else int(x) for x in args.losses.split(",")]
    modes = [m.strip() for m in args.modes.split(",")]
    started = datetime.now(timezone.utc)
    rows: list[dict] = []
    link = ShapedLink(rates[0], losses[0]).open(CHROMIUM)
    server = ReachServer(link, Path(tempfile.mkdtemp(prefix="bimbing-reach-"))).start()
    try:
        async with async_playwright() as pw:
            args_ = browser_args(server.url)
            pk_browser = await pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=args_)
            phone_browser = await pw.chromium.launch(executable_path=link.chromium_wrapper, headless=True, args=args_)
            n = 0
            for rate in rates:
                for loss in losses:
                    # baseline and tuned back to back, so both see the same machine load
                    for mode in modes:
                        n += 1
                        row = await one_condition(pk_browser, phone_browser, server, link, rate, loss, mode == "tuned", args, n)
                        rows.append(row)
                        print(table([row], args.outage).splitlines()[-1], flush=True)
            await pk_browser.close()
            await phone_browser.close()
    finally:
        server.stop()
        link.close()
    text = (f"Run {started:%Y-%m-%d %H:%M} UTC on {platform.node()} ({platform.machine()}, "
            f"{len(__import__('os').sched_getaffinity(0))} cores), settle {args.settle:g} s, window {args.window:g} s, "
            f"outage {args.outage:g} s.\n\n" + table(rows, args.outage) + "\n")
    print()
    print(text)
    if args.out:
        Path(args.out).write_text(text)
    # A condition that broke (no audio, or an error: its note) fails the run, its table written.
    return 1 if any(row.get("note") for row in rows) else 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
