"""Benchmark: signaling relay latency and server memory per connection for N
concurrent rooms, against a bare aiohttp WebSocket relay/echo server.

For each N (``--rooms``, default 100,1000,5000), on a fresh server:

* **bimbing**: ``bimbing serve`` as a subprocess (tmp SQLite database). N video
  sessions are bulk-inserted with SQLAlchemy, their join tokens minted with
  the server's code and secret, and each token exchanged for a join pass with
  ``GET /j/{token}``. The PK signs in once (``POST /api/login``). Each room is
  then an officer WebSocket and a client WebSocket: ``join``, ``waiting`` /
  ``client-waiting``, ``admit``, ``admitted`` / ``peer-joined`` - the real
  protocol. Memory: the server's RSS (psutil) just before the first WebSocket
  and after all rooms are admitted, divided by the 2N connections.
  Latency: officers send ``candidate`` messages whose candidate string carries
  the send time (``time.perf_counter_ns``); the client reads the relayed copy.
  Both ends are in this process, so one clock: **one-way** latency, officer ->
  server -> client.
* **baseline**: a bare aiohttp WebSocket server (defined in this file, run as
  its own subprocess) with the same 2N connections, paired two per room. It
  relays each text frame verbatim to the other socket of the room (**one-way**
  latency, measured exactly like the real server), and echoes frames whose
  type is ``echo`` back to the sender (reported as **round trip / 2**). Same
  messages (same size), same rate, same count.

Messages: ``--messages-per-room`` per room (default 10), sent round-robin over
the rooms at a fixed aggregate ``--rate`` (default 1000 messages/s, the same
for both servers; per room that is at most 10/s at N=100, under the server's
50/s limit). Latency therefore includes queueing at that load, on a machine
where the server and this process share the cores.

    .venv/bin/python bench/relay.py                          # 100, 1000, 5000 rooms
    .venv/bin/python bench/relay.py --rooms 100,1000 --messages-per-room 20
"""

from __future__ import annotations

import asyncio
import collections
import json
import shutil
import signal
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402
import psutil  # noqa: E402
from aiohttp import WSMsgType, web  # noqa: E402

from bench.common import (  # noqa: E402
    PK_PASSWORD,
    PK_USERNAME,
    BimbingServer,
    _raise_nofile_in_child,
    bench_parser,
    free_port,
    machine,
    ms,
    note,
    parse_bench_args,
    percentile,
    print_table,
    raise_nofile,
    read_gc_log,
    read_stalls,
    seed_video_sessions,
    stop_process,
    wait_http,
    write_results,
)

RECEIVE_TIMEOUT = 30.0
MARK = "bench-ts-"
MiB = 1024 * 1024


# ---- the baseline server ---------------------------------------------------------


def baseline_app() -> web.Application:
    """A bare relay: two sockets per room; text frames go verbatim to the other
    one, except ``{"type":"echo"...`` frames, which go back to the sender."""
    rooms: dict[str, dict[str, web.WebSocketResponse]] = {}

    async def relay(request: web.Request) -> web.WebSocketResponse:
        room_id, side = request.match_info["room"], request.match_info["side"]
        other = "client" if side == "officer" else "officer"
        ws = web.WebSocketResponse(max_msg_size=256 * 1024, autoping=True)
        await ws.prepare(request)
        room = rooms.setdefault(room_id, {})
        room[side] = ws
        if other in room:
            for sock in (room[side], room[other]):
                await sock.send_str('{"type":"paired"}')
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    break
                if msg.data.startswith('{"type":"echo"'):
                    await ws.send_str(msg.data)
                else:
                    peer = room.get(other)
                    if peer is not None and not peer.closed:
                        await peer.send_str(msg.data)
        finally:
            if room.get(side) is ws:
                del room[side]
            if not room:
                rooms.pop(room_id, None)
        return ws

    async def healthz(_request):
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/ws/{room}/{side}", relay)
    app.router.add_get("/healthz", healthz)
    return app


class BaselineServer:
    def __init__(self):
        self.port = free_port()
        self.proc: asyncio.subprocess.Process | None = None
        self.log = Path(f"/tmp/bimbing-bench-baseline-{self.port}.log")

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        with open(self.log, "wb") as log:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable, __file__, "--baseline-server", str(self.port),
                stdout=log, stderr=log, preexec_fn=_raise_nofile_in_child,
            )
        await wait_http(f"{self.base}/healthz", self.proc, self.log)

    def rss(self) -> int:
        return psutil.Process(self.proc.pid).memory_info().rss

    def cpu_seconds(self) -> float:
        t = psutil.Process(self.proc.pid).cpu_times()
        return t.user + t.system

    async def stop(self) -> None:
        await stop_process(self.proc)
        self.log.unlink(missing_ok=True)


# ---- the bench side ---------------------------------------------------------------


@dataclass
class Sink:
    latencies: list[float] = field(default_factory=list)
    other: collections.Counter = field(default_factory=collections.Counter)


async def receive_json(ws: aiohttp.ClientWebSocketResponse, what: str) -> dict:
    msg = await asyncio.wait_for(ws.receive(), RECEIVE_TIMEOUT)
    if msg.type != WSMsgType.TEXT:
        raise RuntimeError(f"{what}: socket ended ({msg.type.name}, close code {ws.close_code})")
    return json.loads(msg.data)


async def expect(ws: aiohttp.ClientWebSocketResponse, kind: str, what: str) -> dict:
    message = await receive_json(ws, what)
    if message.get("type") != kind:
        raise RuntimeError(f"{what}: expected {kind}, got {message}")
    return message


async def reader(ws: aiohttp.ClientWebSocketResponse, sink: Sink) -> None:
    async for msg in ws:
        now = time.perf_counter_ns()
        if msg.type != WSMsgType.TEXT:
            break
        data = msg.data
        i = data.find(MARK)
        if i >= 0:
            j = i + len(MARK)
            k = j
            while k < len(data) and data[k].isdigit():
                k += 1
            sink.latencies.append((now - int(data[j:k])) / 1e9)
        else:
            try:
                sink.other[json.loads(data).get("type", "?")] += 1
            except ValueError:
                sink.other["non-json"] += 1


def candidate_frame(seq: int) -> str:
    # A realistic trickle candidate; the timestamp rides in the candidate string.
    return json.dumps({
        "type": "candidate",
        "candidate": {
            "candidate": f"candidate:1 1 udp 2122260223 192.168.1.20 {40000 + seq % 20000} typ host generation 0 {MARK}{time.perf_counter_ns()}",
            "sdpMid": "0",
            "sdpMLineIndex": 0,
        },
    })


def echo_frame(seq: int) -> str:
    frame = candidate_frame(seq)
    return '{"type":"echo"' + frame[len('{"type": "candidate"'):]


async def send_paced(senders: list[aiohttp.ClientWebSocketResponse], per_socket: int, rate: float, make, deadline: float) -> tuple[int, float]:
    """``per_socket`` frames to each sender, round-robin, at ``rate`` frames/s overall."""
    start = time.perf_counter()
    sent = 0
    for _ in range(per_socket):
        for ws in senders:
            delay = start + sent / rate - time.perf_counter()
            if delay > 0.001:
                await asyncio.sleep(delay)
            if time.perf_counter() > deadline:
                return sent, time.perf_counter() - start
            if not ws.closed:
                await ws.send_str(make(sent))
                sent += 1
    return sent, time.perf_counter() - start


async def wait_received(sink: Sink, expected: int, timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while len(sink.latencies) < expected and time.perf_counter() < deadline:
        await asyncio.sleep(0.05)


@dataclass
class Result:
    name: str
    rooms: int
    setup_s: float
    rss_before: int
    rss_after: int
    latencies: list[float]
    sent: int
    send_s: float
    cpu_s: float
    other: dict
    note: str = ""
    links_s: float = 0.0  # exchanging the N join links
    setup_cpu_s: float = 0.0  # server CPU while the rooms were opened and admitted

    @property
    def per_connection(self) -> float:
        return (self.rss_after - self.rss_before) / (2 * self.rooms)


async def bounded(concurrency: int, jobs):
    sem = asyncio.Semaphore(concurrency)

    async def one(job):
        async with sem:
            return await job

    return await asyncio.gather(*(one(j) for j in jobs))


async def latency_phase(pairs, per_room: int, rate: float, make) -> tuple[Sink, int, float]:
    """Readers on every distinct socket, officers send; returns what arrived."""
    sink = Sink()
    sockets = {id(ws): ws for pair in pairs for ws in pair}
    readers = [asyncio.create_task(reader(ws, sink)) for ws in sockets.values()]
    try:
        expected = len(pairs) * per_room
        budget = expected / rate * 3 + 60
        sent, took = await send_paced([p[0] for p in pairs], per_room, rate, make, time.perf_counter() + budget)
        await wait_received(sink, sent, 30)
        return sink, sent, took
    finally:
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)


PROFILE_DIR: list[Path] = []


def _py_spy() -> str:
    """py-spy beside this Python, else the one on PATH (a shared venv may lack it)."""
    beside = Path(sys.executable).with_name("py-spy")
    return str(beside) if beside.exists() else (shutil.which("py-spy") or str(beside))


async def start_profile(server, name: str):
    """With --profile DIR: py-spy samples the server (100 Hz) into DIR/<name>.txt
    (collapsed stacks, the input of flamegraph tools), until stop_profile."""
    if not PROFILE_DIR:
        return None
    out = PROFILE_DIR[0] / f"{name}.txt"
    proc = await asyncio.create_subprocess_exec(
        _py_spy(), "record", "--pid", str(server.proc.pid), "--rate", "100",
        "--format", "raw", "--output", str(out), "--nonblocking",
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )
    await asyncio.sleep(1)  # it attaches
    return proc


async def stop_profile(proc) -> None:
    if proc is None:
        return
    proc.send_signal(signal.SIGINT)  # py-spy writes its file on SIGINT
    try:
        await asyncio.wait_for(proc.wait(), 30)
    except asyncio.TimeoutError:
        proc.kill()
        await proc.wait()


async def run_bimbing(n: int, per_room: int, rate: float, concurrency: int, gc_log: bool = False, env: dict | None = None, load=None, name: str = "bimbing server: relay, one-way", database: str = "sqlite") -> Result:
    """``load``: an optional ``async (server) -> async stop()`` started after the
    rooms are admitted and running through the latency phase (bench/recording_load.py)."""
    server = BimbingServer(gc_log=gc_log, database=database, **(env or {}))
    await server.setup_and_start()  # before the sessions: the server's port is known once it listens
    stop_load = None
    connector_o = aiohttp.TCPConnector(limit=0)
    connector_c = aiohttp.TCPConnector(limit=0)
    officer_http = aiohttp.ClientSession(server.base, connector=connector_o, cookie_jar=aiohttp.CookieJar(unsafe=True))
    client_http = aiohttp.ClientSession(server.base, connector=connector_c, cookie_jar=aiohttp.DummyCookieJar())
    pairs: list[tuple] = []
    try:
        t = time.perf_counter()
        seeded = await seed_video_sessions(server, n)
        print(f"  bimbing: seeded {n} sessions in {time.perf_counter() - t:.1f} s", flush=True)

        async def exchange(s):
            async with client_http.get(f"/j/{s.token}", allow_redirects=False) as resp:
                await resp.read()
                if resp.status != 303:
                    raise RuntimeError(f"/j/ for session {s.session_id}: {resp.status}")
                return s.session_id, resp.cookies["bimbing_join"].value

        t = time.perf_counter()
        passes = await bounded(concurrency, [exchange(s) for s in seeded])
        links_s = time.perf_counter() - t
        print(f"  bimbing: exchanged {n} join links in {links_s:.1f} s", flush=True)
        async with officer_http.post("/api/login", json={"username": PK_USERNAME, "password": PK_PASSWORD}) as resp:
            assert resp.status == 200, await resp.text()

        await asyncio.sleep(1)
        rss_before = server.rss()

        async def open_room(sid: int, join_pass: str):
            url = f"/ws/sessions/{sid}"
            officer = await officer_http.ws_connect(url, autoping=True)
            await officer.send_str('{"type":"join","role":"officer"}')
            await expect(officer, "welcome", f"officer {sid}")
            client = await client_http.ws_connect(url, autoping=True, headers={"Cookie": f"bimbing_join={join_pass}"})
            pairs.append((officer, client))
            await client.send_str('{"type":"join","role":"client"}')
            await expect(client, "welcome", f"client {sid}")
            await expect(client, "waiting", f"client {sid}")
            waiting = await expect(officer, "client-waiting", f"officer {sid}")
            await officer.send_str(json.dumps({"type": "admit", "device": waiting["device"]}))
            await expect(client, "admitted", f"client {sid}")
            await expect(client, "peer-joined", f"client {sid}")
            await expect(officer, "peer-joined", f"officer {sid}")
            # Read until the latency phase: aiohttp answers the server's heartbeat
            # pings only while a socket is read, and a setup longer than the
            # heartbeat timeout (20 s; 28 s at load 7.5) had the server close the
            # first rooms ('Cannot write to closing transport').
            keepalive.extend(asyncio.create_task(reader(ws, idle)) for ws in (officer, client))

        idle = Sink()
        keepalive: list[asyncio.Task] = []

        profiler = await start_profile(server, f"setup-{n}")
        t = setup_t0 = time.perf_counter()
        setup_cpu0 = server.cpu_seconds()
        await bounded(concurrency, [open_room(sid, jp) for sid, jp in passes])
        setup_s = time.perf_counter() - t
        setup_cpu = server.cpu_seconds() - setup_cpu0
        await stop_profile(profiler)
        await asyncio.sleep(1)
        rss_after = server.rss()
        print(f"  bimbing: {n} rooms admitted in {setup_s:.1f} s", flush=True)

        try:
            if load is not None:
                # Still read while the load starts: one that took longer than the heartbeat
                # timeout to start had the server close the idle rooms (recording_load.py at load 11).
                stop_load = await load(server)
        finally:
            for task in keepalive:
                task.cancel()
            await asyncio.gather(*keepalive, return_exceptions=True)
        cpu0 = server.cpu_seconds()
        t0 = time.perf_counter()
        profiler = await start_profile(server, f"relay-{n}")
        sink, sent, took = await latency_phase(pairs, per_room, rate, candidate_frame)
        await stop_profile(profiler)
        cpu = server.cpu_seconds() - cpu0
        if gc_log:
            setup_full = [t for g, t in read_gc_log(server.gc_log, setup_t0, t0) if g == 2]
            note(f"- {name.split(':')[0]} at {n} rooms, server GC while the rooms opened: {len(setup_full)} full (gen 2) collections, "
                 f"longest {max(setup_full, default=0) * 1000:.0f} ms, total {sum(setup_full) * 1000:.0f} ms")
            collections_ = read_gc_log(server.gc_log, t0, time.perf_counter())
            gen2 = [t for g, t in collections_ if g == 2]
            young = [t for g, t in collections_ if g != 2]
            note(f"- {name.split(':')[0]} at {n} rooms, server GC during the latency phase: {len(gen2)} full (gen 2) collections, "
                  f"longest {max(gen2, default=0) * 1000:.0f} ms; {len(young)} younger ones over 5 ms, longest "
                  f"{max(young, default=0) * 1000:.0f} ms; total {sum(t for _, t in collections_) * 1000:.0f} ms")
            stalls = sorted(read_stalls(server.gc_log, t0, time.perf_counter()), reverse=True)
            note(f"- {name.split(':')[0]} at {n} rooms, server loop callbacks over 20 ms during the latency phase: {len(stalls)}"
                 + (f", longest {stalls[0][0] * 1000:.0f} ms ({stalls[0][1]})" if stalls else ""))
        return Result(name, n, setup_s, rss_before, rss_after, sink.latencies, sent, took, cpu, dict(sink.other), links_s=links_s, setup_cpu_s=setup_cpu)
    finally:
        if stop_load is not None:
            await stop_load()
        t = time.perf_counter()
        await server.stop()  # SIGTERM with every room still open: the shutdown path, bounded
        stop_s = time.perf_counter() - t
        print(f"  bimbing: server stopped (SIGTERM with {len(pairs)} rooms open) in {stop_s:.1f} s", flush=True)
        await bounded(200, [ws.close() for pair in pairs for ws in pair])
        await officer_http.close()
        await client_http.close()


async def run_baseline(n: int, per_room: int, rate: float, concurrency: int) -> list[Result]:
    server = BaselineServer()
    http = aiohttp.ClientSession(server.base, connector=aiohttp.TCPConnector(limit=0), cookie_jar=aiohttp.DummyCookieJar())
    pairs: list[tuple] = []
    try:
        await server.start()
        await asyncio.sleep(1)
        rss_before = server.rss()

        async def open_room(i: int):
            officer = await http.ws_connect(f"/ws/{i}/officer", autoping=True)
            client = await http.ws_connect(f"/ws/{i}/client", autoping=True)
            pairs.append((officer, client))
            await expect(officer, "paired", f"baseline officer {i}")
            await expect(client, "paired", f"baseline client {i}")

        t = time.perf_counter()
        await bounded(concurrency, [open_room(i) for i in range(n)])
        setup_s = time.perf_counter() - t
        await asyncio.sleep(1)
        rss_after = server.rss()
        print(f"  baseline: {n} rooms paired in {setup_s:.1f} s", flush=True)

        cpu0 = server.cpu_seconds()
        sink, sent, took = await latency_phase(pairs, per_room, rate, candidate_frame)
        cpu = server.cpu_seconds() - cpu0
        relay = Result("baseline: bare relay, one-way", n, setup_s, rss_before, rss_after, sink.latencies, sent, took, cpu, dict(sink.other))

        cpu0 = server.cpu_seconds()
        echo_pairs = [(o, o) for o, _c in pairs]
        sink, sent, took = await latency_phase(echo_pairs, per_room, rate, echo_frame)
        cpu = server.cpu_seconds() - cpu0
        echo = Result("baseline: bare echo, RTT/2", n, setup_s, rss_before, rss_after, [x / 2 for x in sink.latencies], sent, took, cpu, dict(sink.other))
        return [relay, echo]
    finally:
        # Sockets first: the bare server's shutdown waits for its open WebSocket
        # handlers, so stopping it first cost the 15 s stop_process allows, every size.
        await bounded(200, [ws.close() for pair in pairs for ws in pair])
        await server.stop()
        await http.close()


def report(results: list[Result], per_room: int, rate: float, keep: bool = True) -> None:
    print()
    caption = f"Latency in ms at {rate:.0f} msg/s offered, {per_room} msgs per room; memory = RSS growth / connections (2 per room)."
    print(caption)
    rows = []
    for r in results:
        lost = r.sent - len(r.latencies)
        rows.append([
            r.name, r.rooms, 2 * r.rooms, f"{r.setup_s:.1f}",
            ms(percentile(r.latencies, 50)), ms(percentile(r.latencies, 90)), ms(percentile(r.latencies, 99)),
            ms(max(r.latencies) if r.latencies else float("nan")),
            sum(1 for x in r.latencies if x > 0.1),
            f"{r.sent}/{lost}", f"{r.sent / r.send_s:.0f}" if r.send_s else "n/a",
            f"{r.cpu_s / max(r.sent, 1) * 1e6:.0f}",
            f"{r.rss_before / MiB:.1f}", f"{r.rss_after / MiB:.1f}", f"{r.per_connection / 1024:.1f}",
        ])
    print_table(
        ["", "rooms", "conns", "setup s", "p50", "p90", "p99", "max", ">100ms", "sent/lost", "msg/s", "srv CPU us/msg", "RSS0 MiB", "RSS1 MiB", "KiB/conn"],
        rows,
        caption=caption,
        keep=keep,
    )
    for r in results:
        if r.other:
            print(f"  {r.name} @ {r.rooms}: other messages received: {r.other}")


async def main(rooms: list[int], per_room: int, rate: float, concurrency: int, gc_log: bool, base: str | None = None) -> int:
    """0 when the server admitted every room and relayed every message at every size."""
    limit = raise_nofile()
    print(f"# signaling relay, rooms {rooms}, {machine()}, open-file limit {limit}")
    results: list[Result] = []
    failures: list[str] = []
    # --base: another checkout's server first, then this tree's, then the bare relay: one run, one load.
    servers = ([(f"bimbing server (base {Path(base).name}): relay, one-way", {"PYTHONPATH": str(Path(base).resolve())})] if base else []) + [
        ("bimbing server: relay, one-way", {})
    ]
    for n in rooms:
        if 2 * n + 200 > limit:
            failures.append(f"{n} rooms: needs ~{2 * n + 200} open files, the limit is {limit}")
            print(f"  skipping {failures[-1]}")
            continue
        print(f"\n## {n} rooms", flush=True)
        batch = []
        for name, env in servers:
            try:
                batch.append(await run_bimbing(n, per_room, rate, concurrency, gc_log, env=env, name=name))
                if len(batch[-1].latencies) < batch[-1].sent:
                    failures.append(f"{n} rooms: {batch[-1].sent - len(batch[-1].latencies)} of {batch[-1].sent} messages not relayed")
            except Exception as exc:  # report what limited it, measure the rest, fail at the end
                failures.append(f"{n} rooms ({name}): {type(exc).__name__}: {exc}")
                print(f"  bimbing at {failures[-1]}", flush=True)
        batch.extend(await run_baseline(n, per_room, rate, concurrency))
        report(batch, per_room, rate, keep=False)
        results.extend(batch)
    print("\n# all sizes")
    report(results, per_room, rate)
    for failure in failures:
        note(f"- FAILED at {failure}")
    write_results("relay", "Signaling relay: latency, CPU and memory per connection", "bench/relay.py " + " ".join(sys.argv[1:]))
    return 1 if failures else 0


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--baseline-server":
        web.run_app(baseline_app(), host="127.0.0.1", port=int(sys.argv[2]), print=None, access_log=None)
        sys.exit(0)
    parser = bench_parser(__doc__)
    parser.add_argument("--rooms", default="100,1000,5000", help="comma-separated room counts (default 100,1000,5000)")
    parser.add_argument("--messages-per-room", type=int, default=10)
    parser.add_argument("--rate", type=float, default=1000.0, help="aggregate messages per second (default 1000)")
    parser.add_argument("--concurrency", type=int, default=50, help="rooms being set up at once (default 50)")
    parser.add_argument("--gc-log", action="store_true", help="diagnostic: log the server's slow garbage collections")
    parser.add_argument("--base", metavar="DIR", help="also run the server of another checkout (DIR/server) first, in the same run")
    parser.add_argument("--profile", metavar="DIR", help="diagnostic: py-spy samples of the server's setup and relay phases into DIR")
    args = parse_bench_args(parser)
    try:
        sizes = [int(x) for x in args.rooms.split(",") if x.strip()]
    except ValueError:
        parser.error("--rooms takes integers, e.g. 100,1000")
    if not sizes or any(not 1 <= s <= 20000 for s in sizes):
        parser.error("each room count must be 1..20000")
    if not 1 <= args.messages_per_room <= 1000 or not 1 <= args.rate <= 100000 or not 1 <= args.concurrency <= 1000:
        parser.error("--messages-per-room 1..1000, --rate 1..100000, --concurrency 1..1000")
    if args.profile:
        PROFILE_DIR.append(Path(args.profile))
        PROFILE_DIR[0].mkdir(parents=True, exist_ok=True)
    sys.exit(asyncio.run(main(sizes, args.messages_per_room, args.rate, args.concurrency, args.gc_log, args.base)))
