"""Benchmark: does a burst of failed sign-ins stall the server? (issue #12)

A real ``bimbing serve`` (bench/common.py: tmp SQLite, CLI-made PK) with one
video room in progress: the officer and the client are admitted and the officer
relays ``candidate`` frames to the client at ``--relay-rate`` per second, their
send time in the candidate string (one clock, one-way latency). Meanwhile one
probe asks ``GET /healthz`` back to back. Two phases of ``--seconds`` each:

* **rest**: only the probe and the relay;
* **during**: plus ``--parallel`` (default 20) sign-ins with wrong passwords
  kept in flight the whole phase. Each attempt uses a fresh username and a
  fresh ``X-Forwarded-For`` address (``BIMBING_TRUST_PROXY=true``), so no limit
  refuses it early and every one costs a full Argon2 verification: the worst
  case for the event loop, not the easy one.

It prints a markdown table (p50/p99 of both, and p99 during / p99 at rest) and
with ``--out FILE`` appends it there. ``--server-root DIR`` runs the server from
another checkout (its ``server`` package first on ``PYTHONPATH``), to measure
the code before the fix:

    git worktree add /tmp/base-12 aadbd2a
    .venv/bin/python bench/login_burst.py --server-root /tmp/base-12 --label before
    .venv/bin/python bench/login_burst.py --label after
"""

from __future__ import annotations

import asyncio
import itertools
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
from aiohttp import WSMsgType  # noqa: E402

from bench.common import PK_PASSWORD, PK_USERNAME, BimbingServer, bench_parser, machine, ms, percentile, seed_video_sessions  # noqa: E402

MARK = "t="


async def expect(ws, kind: str) -> dict:
    while True:
        msg = await asyncio.wait_for(ws.receive(), 30)
        if msg.type != WSMsgType.TEXT:
            raise RuntimeError(f"socket ended waiting for {kind}: {msg.type.name}")
        data = json.loads(msg.data)
        if data.get("type") == kind:
            return data


async def open_room(server: BimbingServer, officer_http, client_http):
    seeded = (await seed_video_sessions(server, 1))[0]
    async with client_http.get(f"/j/{seeded.token}", allow_redirects=False) as resp:
        assert resp.status == 303, resp.status
        join_pass = resp.cookies["bimbing_join"].value
    async with officer_http.post("/api/login", json={"username": PK_USERNAME, "password": PK_PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()
    url = f"/ws/sessions/{seeded.session_id}"
    officer = await officer_http.ws_connect(url)
    await officer.send_str('{"type":"join","role":"officer"}')
    await expect(officer, "welcome")
    client = await client_http.ws_connect(url, headers={"Cookie": f"bimbing_join={join_pass}"})
    await client.send_str('{"type":"join","role":"client"}')
    await expect(client, "waiting")
    waiting = await expect(officer, "client-waiting")
    await officer.send_str(json.dumps({"type": "admit", "device": waiting["device"]}))
    await expect(client, "peer-joined")
    return officer, client


async def measure(server, officer, client, http, seconds: float, rate: float, burst: int) -> dict:
    stop = asyncio.Event()
    health: list[float] = []
    relay: list[float] = []
    answers: dict[int, int] = {}
    counter = itertools.count()

    async def probe():
        while not stop.is_set():
            t = time.perf_counter()
            async with http.get("/healthz") as resp:
                await resp.read()
            health.append(time.perf_counter() - t)
            await asyncio.sleep(0.01)

    async def send():
        n = 0
        start = time.perf_counter()
        while not stop.is_set():
            frame = {"type": "candidate", "candidate": {"candidate": f"candidate:1 1 udp 2122260223 192.168.1.20 40000 typ host {MARK}{time.perf_counter_ns()}", "sdpMid": "0", "sdpMLineIndex": 0}}
            await officer.send_str(json.dumps(frame))
            n += 1
            await asyncio.sleep(max(0.0, start + n / rate - time.perf_counter()))

    async def receive():
        async for msg in client:
            now = time.perf_counter_ns()
            if msg.type != WSMsgType.TEXT:
                break
            i = msg.data.find(MARK)
            if i >= 0:
                j = i + len(MARK)
                k = j
                while msg.data[k].isdigit():
                    k += 1
                relay.append((now - int(msg.data[j:k])) / 1e9)

    async def guesser():
        while not stop.is_set():
            n = next(counter)
            headers = {"X-Forwarded-For": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}"}
            async with http.post("/api/login", json={"username": f"tebak{n}", "password": "salah sekali"}, headers=headers) as resp:
                await resp.read()
                answers[resp.status] = answers.get(resp.status, 0) + 1

    tasks = [asyncio.create_task(c) for c in (probe(), send(), receive())]
    tasks += [asyncio.create_task(guesser()) for _ in range(burst)]
    await asyncio.sleep(seconds)
    stop.set()
    await asyncio.sleep(1)  # let the last relayed frames arrive
    tasks[2].cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return {"health": health, "relay": relay, "answers": answers}


def failures(rest: dict, during: dict) -> list[str]:
    """What the server failed to do, whatever the timings: answer /healthz and
    relay frames in both phases, and answer every failed sign-in with 401 or 429."""
    out = [f"no /healthz answered {phase}" for phase, data in (("at rest", rest), ("during the burst", during)) if not data["health"]]
    out += [f"no relayed frame arrived {phase}" for phase, data in (("at rest", rest), ("during the burst", during)) if not data["relay"]]
    if not during["answers"]:
        out.append("no failed sign-in was answered during the burst")
    wrong = {status: n for status, n in during["answers"].items() if status not in (401, 429)}
    if wrong:
        out.append(f"failed sign-ins answered {wrong}")
    return out


async def run(args) -> tuple[str, list[str]]:
    env = {"BIMBING_TRUST_PROXY": "true"}
    if args.server_root:
        env["PYTHONPATH"] = str(Path(args.server_root).resolve())
    server = BimbingServer(**env)
    await server.setup_and_start()  # before the sessions: the server's port is known once it listens
    officer_http = aiohttp.ClientSession(server.base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    client_http = aiohttp.ClientSession(server.base, cookie_jar=aiohttp.DummyCookieJar())
    probe_http = aiohttp.ClientSession(server.base, connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.DummyCookieJar())
    try:
        officer, client = await open_room(server, officer_http, client_http)
        rest = await measure(server, officer, client, probe_http, args.seconds, args.relay_rate, 0)
        during = await measure(server, officer, client, probe_http, args.seconds, args.relay_rate, args.parallel)
    finally:
        await server.stop()
        for s in (officer_http, client_http, probe_http):
            await s.close()
    label = args.label or ("server from " + args.server_root if args.server_root else "this checkout")
    lines = [
        f"**{label}** — {machine()}; {args.seconds:.0f} s per phase, relay {args.relay_rate:.0f} frames/s, {args.parallel} parallel failed sign-ins",
        "",
        "| what | phase | n | p50 ms | p99 ms | p99 during / at rest |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for what in ("health", "relay"):
        name = "`/healthz`" if what == "health" else "relay one-way"
        p99_rest = percentile(rest[what], 99)
        for phase, data in (("rest", rest), ("during", during)):
            p99 = percentile(data[what], 99)
            ratio = f"{p99 / p99_rest:.1f}×" if phase == "during" else ""
            lines.append(f"| {name} | {phase} | {len(data[what])} | {ms(percentile(data[what], 50))} | {ms(p99)} | {ratio} |")
    total = sum(during["answers"].values())
    lines += ["", f"Failed sign-ins answered during the burst: {total} ({', '.join(f'{k}: {v}' for k, v in sorted(during['answers'].items()))}), {total / args.seconds:.1f}/s.", ""]
    failed = failures(rest, during)
    lines += [f"- FAILED: {failure}" for failure in failed]
    return "\n".join(lines), failed


def main() -> int:
    parser = bench_parser(__doc__)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--parallel", type=int, default=20)
    parser.add_argument("--relay-rate", type=float, default=20.0)
    parser.add_argument("--server-root", help="run the server from this checkout (e.g. the base commit's worktree)")
    parser.add_argument("--label")
    parser.add_argument("--out", help="append the markdown table to this file")
    args = parser.parse_args()
    table, failed = asyncio.run(run(args))
    print(table)
    if args.out:
        with open(args.out, "a", encoding="utf-8") as fh:
            fh.write(table + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
