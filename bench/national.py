"""Benchmark: one deployment for every Bapas (issue 24): N rooms across two
``bimbing serve`` processes sharing the real PostgreSQL and the real Redis on
this machine, signaling only (no media), beside one process on the same
PostgreSQL with no Redis, in the same run.

Two processes (``BIMBING_REDIS_URL``, a prefix of this run's own): every room
has its officer on one process and its client on the other (alternating), so
every step of admission and every relayed message crosses Redis. One process:
both sockets on it, rooms in memory. Both: the same N sessions' worth of work
(bulk-inserted video sessions, join links exchanged with ``GET /j/{token}``
before the clock starts), the real protocol as bench/relay.py opens a room
(officer ``join``, client ``join`` -> ``waiting``, ``client-waiting`` ->
``admit``, ``admitted`` and ``peer-joined`` to both), ``--concurrency`` rooms
at a time; then officers send ``candidate`` messages at ``--rate`` in all and
the clients read them (one-way latency, one clock: both ends in this process).

Figures: rooms admitted per second, server CPU per room (both processes
summed), relay one-way p50/p99/max, messages lost, RSS per process.

    .venv/bin/python bench/national.py                          # 5,000 rooms
    .venv/bin/python bench/national.py --rooms 1000 --concurrency 50
"""

from __future__ import annotations

import asyncio
import json
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import redis.asyncio as aioredis  # noqa: E402

from bench.common import (  # noqa: E402
    PK_PASSWORD,
    PK_USERNAME,
    BimbingServer,
    bench_parser,
    machine,
    ms,
    note,
    parse_bench_args,
    percentile,
    print_table,
    raise_nofile,
    seed_video_sessions,
    write_results,
)
from bench.relay import Sink, bounded, candidate_frame, expect, latency_phase, reader  # noqa: E402

REDIS_URL = "redis://127.0.0.1:6379/0"
MiB = 1024 * 1024


@dataclass
class Outcome:
    name: str
    processes: int
    rooms: int
    admitted: int = 0
    setup_s: float = 0.0
    links_s: float = 0.0
    setup_cpu_s: float = 0.0
    latencies: list[float] = field(default_factory=list)
    sent: int = 0
    rss_mib: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    # Messages read in the latency phase that were no relayed candidate, by type (an
    # ``error`` is the server refusing a relay, e.g. ``no-peer``).
    other: dict = field(default_factory=dict)


def second_process(first: BimbingServer) -> BimbingServer:
    """Another ``bimbing serve`` on the first one's database, secret and Redis prefix."""
    other = BimbingServer()  # its own tmp folder (port file, log); the database is the first's
    other.env = {**first.env, "BIMBING_DATA_DIR": str(other.dir / "data")}
    other.database_url = first.database_url
    return other


async def run(name: str, rooms: int, concurrency: int, per_room: int, rate: float, processes: int) -> Outcome:
    out = Outcome(name, processes, rooms)
    env = {"BIMBING_RECORDER_PROCESSES": "0"}
    prefix = f"bench-national-{secrets.token_hex(4)}"
    if processes == 2:
        env.update(BIMBING_REDIS_URL=REDIS_URL, BIMBING_REDIS_PREFIX=prefix)
    first = BimbingServer(database="postgres", **env)
    servers = [first]
    sessions: list[aiohttp.ClientSession] = []
    pairs: list[tuple] = []
    keepalive: list[asyncio.Task] = []
    try:
        await first.setup_and_start()
        if processes == 2:
            servers.append(second_process(first))
            await servers[1].start()
        seeded = await seed_video_sessions(first, rooms)
        print(f"  {name}: {len(servers)} server(s) up, {rooms} sessions seeded", flush=True)

        def http(cookies: bool) -> aiohttp.ClientSession:
            jar = aiohttp.CookieJar(unsafe=True) if cookies else aiohttp.DummyCookieJar()
            s = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), cookie_jar=jar)
            sessions.append(s)
            return s

        officer_http, client_http = http(True), http(False)

        async def exchange(i: int, s):
            base = servers[(i + 1) % len(servers)].base  # where this room's client will be
            async with client_http.get(f"{base}/j/{s.token}", allow_redirects=False) as resp:
                await resp.read()
                if resp.status != 303:
                    raise RuntimeError(f"/j/ for session {s.session_id}: {resp.status}")
                return i, s.session_id, resp.cookies["bimbing_join"].value

        t = time.perf_counter()
        passes = await bounded(concurrency, [exchange(i, s) for i, s in enumerate(seeded)])
        out.links_s = time.perf_counter() - t
        print(f"  {name}: {rooms} join links exchanged in {out.links_s:.1f} s", flush=True)
        # One sign-in: the staff session is a database row, good on either process
        # (cookies ignore the port).
        async with officer_http.post(f"{first.base}/api/login", json={"username": PK_USERNAME, "password": PK_PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()

        idle = Sink()

        async def open_room(i: int, sid: int, join_pass: str):
            officer_base = servers[i % len(servers)].base
            client_base = servers[(i + 1) % len(servers)].base
            try:
                officer = await officer_http.ws_connect(f"{officer_base}/ws/sessions/{sid}", autoping=True)
                await officer.send_str('{"type":"join","role":"officer"}')
                await expect(officer, "welcome", f"officer {sid}")
                client = await client_http.ws_connect(
                    f"{client_base}/ws/sessions/{sid}", autoping=True, headers={"Cookie": f"bimbing_join={join_pass}"}
                )
                pairs.append((officer, client))
                await client.send_str('{"type":"join","role":"client"}')
                await expect(client, "welcome", f"client {sid}")
                await expect(client, "waiting", f"client {sid}")
                waiting = await expect(officer, "client-waiting", f"officer {sid}")
                await officer.send_str(json.dumps({"type": "admit", "device": waiting["device"]}))
                await expect(client, "admitted", f"client {sid}")
                await expect(client, "peer-joined", f"client {sid}")
                await expect(officer, "peer-joined", f"officer {sid}")
            except Exception as exc:  # counted and named; the other rooms go on
                if len(out.failures) < 5:
                    out.failures.append(f"room {sid}: {type(exc).__name__}: {exc}")
                return
            out.admitted += 1
            # Read until the latency phase, so that the server's heartbeat pings are answered.
            keepalive.extend(asyncio.create_task(reader(ws, idle)) for ws in (officer, client))

        cpu0 = sum(s.cpu_seconds() for s in servers)
        t = time.perf_counter()
        await bounded(concurrency, [open_room(i, sid, jp) for i, sid, jp in passes])
        out.setup_s = time.perf_counter() - t
        out.setup_cpu_s = sum(s.cpu_seconds() for s in servers) - cpu0
        out.rss_mib = [s.rss() / MiB for s in servers]
        print(f"  {name}: {out.admitted}/{rooms} rooms admitted in {out.setup_s:.1f} s", flush=True)
        for task in keepalive:
            task.cancel()
        await asyncio.gather(*keepalive, return_exceptions=True)
        admitted_pairs = [p for p in pairs if not p[0].closed and not p[1].closed]
        sink, out.sent, _took = await latency_phase(admitted_pairs, per_room, rate, candidate_frame)
        out.latencies = sink.latencies
        out.other = dict(sink.other)
        print(f"  {name}: {len(out.latencies)}/{out.sent} messages relayed", flush=True)
        return out
    finally:
        # The sockets dropped at once (closing the client sessions aborts their
        # connections): a close handshake each, 10,000 of them, is not measured here.
        for s in sessions:
            await s.close()
        for server in reversed(servers):
            await server.stop()  # the first drops the database
        if processes == 2:
            r = aioredis.from_url(REDIS_URL)
            try:
                keys = [k async for k in r.scan_iter(match=f"{prefix}*", count=1000)]
                if keys:
                    await r.delete(*keys)
            finally:
                await r.aclose()


async def main(rooms: int, concurrency: int, per_room: int, rate: float) -> int:
    limit = raise_nofile()
    print(f"# national scale: {rooms} rooms, {concurrency} at a time, {machine()}, open-file limit {limit}", flush=True)
    if 2 * rooms + 200 > limit:
        print(f"  needs ~{2 * rooms + 200} open files, the limit is {limit}")
        return 1
    results = []
    for name, processes in (("two processes, Redis", 2), ("one process, no Redis", 1)):
        print(f"\n## {name}", flush=True)
        try:
            results.append(await run(name, rooms, concurrency, per_room, rate, processes))
        except Exception as exc:
            results.append(Outcome(name, processes, rooms, failures=[f"{type(exc).__name__}: {exc}"]))
            print(f"  {name}: FAILED {results[-1].failures[0]}", flush=True)
    rows = []
    failures = []
    for r in results:
        lat = r.latencies or [float("nan")]
        rows.append([
            r.name, r.rooms, f"{r.admitted}", f"{r.admitted / r.setup_s:.0f}" if r.setup_s else "n/a",
            f"{r.setup_cpu_s / max(r.admitted, 1) * 1000:.1f}", f"{r.rooms / r.links_s:.0f}" if r.links_s else "n/a",
            ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(max(lat)), f"{r.sent}/{r.sent - len(r.latencies)}",
            " + ".join(f"{x:.0f}" for x in r.rss_mib),
        ])
        if r.admitted < r.rooms:
            failures.append(f"{r.name}: {r.rooms - r.admitted} of {r.rooms} rooms not admitted")
        if r.sent and len(r.latencies) < r.sent:
            failures.append(f"{r.name}: {r.sent - len(r.latencies)} of {r.sent} messages not relayed")
        failures.extend(f"{r.name}: {f}" for f in r.failures)
        if r.other:
            note(f"- {r.name}: other messages read while relaying: {r.other}")
    print()
    print_table(
        ["", "rooms", "admitted", "rooms admitted/s", "server CPU ms/room", "links/s", "relay p50", "p99", "max", "sent/lost", "RSS MiB"],
        rows,
        caption=(
            f"PostgreSQL on this machine for both; {concurrency} rooms opened at a time; relay latency in ms, "
            f"one-way officer -> client, {per_room} messages per room at {rate:.0f} msg/s in all; "
            "two processes: every room's officer on one and its client on the other; CPU summed over the processes."
        ),
    )
    for failure in failures:
        note(f"- FAILED: {failure}")
    write_results("national", "National scale: two processes on Redis and PostgreSQL", "bench/national.py " + " ".join(sys.argv[1:]))
    return 1 if failures else 0


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("--rooms", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=50, help="rooms being opened at once (default 50)")
    parser.add_argument("--messages-per-room", type=int, default=2)
    parser.add_argument("--rate", type=float, default=1000.0, help="aggregate messages per second (default 1000)")
    args = parse_bench_args(parser)
    if not 1 <= args.rooms <= 20000 or not 1 <= args.concurrency <= 1000 or not 1 <= args.messages_per_room <= 100 or not 1 <= args.rate <= 100000:
        parser.error("--rooms 1..20000, --concurrency 1..1000, --messages-per-room 1..100, --rate 1..100000")
    sys.exit(asyncio.run(main(args.rooms, args.concurrency, args.messages_per_room, args.rate)))
