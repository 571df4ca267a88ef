"""Benchmark: from a client opening the join link to ICE connected.

Two aiortc peers (officer and client, ``RTCConfiguration(iceServers=[])``,
each sending the generated 160x120 video and Opus audio of tests/peers.py)
hold a call through the real server: ``bimbing serve`` as a subprocess on
127.0.0.1 with a tmp SQLite database, real WebSockets. The officer is already
in the room and admits as soon as ``client-waiting`` arrives. The clock starts
when the client sends ``GET /j/{token}`` (first hop; the 303 sets the join
pass) and stops when both peers' ``iceConnectionState`` is connected.

Split: link -> waiting (link exchange, WebSocket handshake, ``join``, the
client receives ``waiting``), waiting -> admitted (``client-waiting`` reaches
the officer, who sends ``admit``; the client receives ``admitted``), admitted
-> connected (``peer-joined``, offer, answer through the server, ICE checks).

Baseline, in the same run and interleaved with it: the same two peers with
the offer and answer handed over directly in one process (no server), from
creating the peer connections to both connected.

    .venv/bin/python bench/join_to_connected.py               # 10 repetitions
    .venv/bin/python bench/join_to_connected.py --reps 30 --warmup 2
    .venv/bin/python bench/join_to_connected.py --base /tmp/base   # also the server/ in /tmp/base, interleaved
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

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
    seed_video_sessions,
    write_results,
)
from aiortc import RTCConfiguration, RTCPeerConnection  # noqa: E402

from tests.peers import CONNECTED, CallPeer, SmallVideo, Tone, close_pc, party_http, sign_in  # noqa: E402

STEP_TIMEOUT = 20.0


async def settle(pc) -> None:
    """Untimed: let DTLS finish before closing, or aiortc's connect task trips over
    the closed transport ("Task exception was never retrieved")."""
    deadline = time.monotonic() + 10
    while pc is not None and pc.connectionState not in ("connected", "failed", "closed") and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


class TimedPeer(CallPeer):
    """A CallPeer that stamps the moment its ICE connection state becomes connected."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.connected_at: float | None = None
        self.connected = asyncio.Event()

    async def _new_pc(self) -> None:
        await super()._new_pc()
        pc = self.pc

        @pc.on("iceconnectionstatechange")
        def _stamp():
            if pc.iceConnectionState in CONNECTED and self.connected_at is None:
                self.connected_at = time.perf_counter()
                self.connected.set()


async def through_server(server: BimbingServer, pk_http, sid: int, token: str) -> dict[str, float]:
    officer = TimedPeer(pk_http, sid, "officer")
    phone = party_http(server.base)
    client = TimedPeer(phone, sid, "client")
    admitter = None
    try:
        await officer.join(STEP_TIMEOUT)

        async def admit_when_waiting():
            waiting = await officer.next("client-waiting", STEP_TIMEOUT)
            await officer.admit(waiting["device"])

        admitter = asyncio.create_task(admit_when_waiting())
        await asyncio.sleep(0)  # the officer is listening before the clock starts

        t0 = time.perf_counter()
        async with phone.get(f"/j/{token}", allow_redirects=False) as resp:
            await resp.read()
            if resp.status != 303:
                raise RuntimeError(f"/j/ answered {resp.status}")
        await client.join(STEP_TIMEOUT)
        await client.next("waiting", STEP_TIMEOUT)
        t_waiting = time.perf_counter()
        await client.next("admitted", STEP_TIMEOUT)
        t_admitted = time.perf_counter()
        await asyncio.wait_for(asyncio.gather(officer.connected.wait(), client.connected.wait()), STEP_TIMEOUT)
        t_connected = max(officer.connected_at, client.connected_at)
        await admitter
        await settle(officer.pc)
        await settle(client.pc)
        return {
            "total": t_connected - t0,
            "link->waiting": t_waiting - t0,
            "waiting->admitted": t_admitted - t_waiting,
            "admitted->connected": t_connected - t_admitted,
        }
    finally:
        if admitter is not None and not admitter.done():
            admitter.cancel()
        try:
            if not officer.closed:
                await officer.send({"type": "end"})
                await officer.next("session-ended", 5)
        except AssertionError:
            pass
        await client.close()
        await officer.close()
        await phone.close()


async def direct_handover() -> float:
    """The same two peers, offer/answer handed over in-process; creation -> both connected."""
    stamps: dict[str, float] = {}
    done = asyncio.Event()
    media: list[asyncio.Task] = []

    async def drain(track):
        try:
            while True:
                await track.recv()
        except Exception:
            pass

    def make(name: str) -> RTCPeerConnection:
        pc = RTCPeerConnection(RTCConfiguration(iceServers=[]))
        pc.addTrack(Tone())
        pc.addTrack(SmallVideo())

        @pc.on("iceconnectionstatechange")
        def _stamp():
            if pc.iceConnectionState in CONNECTED and name not in stamps:
                stamps[name] = time.perf_counter()
                if len(stamps) == 2:
                    done.set()

        @pc.on("track")
        def _track(track):
            media.append(asyncio.create_task(drain(track)))

        return pc

    t0 = time.perf_counter()
    officer, client = make("officer"), make("client")
    try:
        await officer.setLocalDescription(await officer.createOffer())
        await client.setRemoteDescription(officer.localDescription)
        await client.setLocalDescription(await client.createAnswer())
        await officer.setRemoteDescription(client.localDescription)
        await asyncio.wait_for(done.wait(), STEP_TIMEOUT)
        took = max(stamps.values()) - t0
        await settle(officer)
        await settle(client)
        return took
    finally:
        await close_pc(officer)
        await close_pc(client)
        for task in media:
            task.cancel()
        await asyncio.gather(*media, return_exceptions=True)


def summary(values: list[float]) -> list[str]:
    return [ms(statistics.median(values)), ms(percentile(values, 90)), ms(min(values)), ms(max(values))]


async def main(reps: int, warmup: int, keep: bool, base: str | None = None) -> None:
    print(f"# join link -> ICE connected, {reps} repetitions (+{warmup} warm-up), {machine()}")
    # --base: another checkout's server/ first on the server's path, measured in the same
    # run, interleaved with this tree's and the direct handover (one load for all three).
    variants = ([("base", {"PYTHONPATH": os.path.abspath(base)})] if base else []) + [("", {})]
    servers: list[tuple[str, BimbingServer]] = []
    https = []
    try:
        plans = []
        for name, env in variants:
            server = BimbingServer(keep=keep, **env)
            servers.append((name, server))
            await server.setup_and_start()
            seeded = await seed_video_sessions(server, reps + warmup)
            pk_http = party_http(server.base)
            https.append(pk_http)
            await sign_in(pk_http, PK_USERNAME, PK_PASSWORD)
            plans.append((name, server, pk_http, seeded))
        rows: dict[str, list[dict[str, float]]] = {name: [] for name, _ in variants}
        baseline: list[float] = []
        for i in range(reps + warmup):
            # Interleaved so all see the same machine load.
            measured = {name: await through_server(server, pk_http, seeded[i].session_id, seeded[i].token) for name, server, pk_http, seeded in plans}
            base_took = await direct_handover()
            if i >= warmup:
                for name, figures in measured.items():
                    rows[name].append(figures)
                baseline.append(base_took)
        print()
        print("all figures in ms; 'through server' starts at GET /j/{token}, 'baseline' at creating the two peer connections")
        table = []
        for name, _env in variants:
            label = f"through server ({name}): link -> connected" if name else "through server: link -> connected"
            part = [[phase, *summary([r[phase] for r in rows[name]])] for phase in ("link->waiting", "waiting->admitted", "admitted->connected", "total")]
            part[-1][0] = label
            for row in part[:-1]:
                row[0] = "  split: " + row[0]
            part.insert(0, part.pop())
            table.extend(part)
        table.append(["baseline: direct handover, no server", *summary(baseline)])
        print_table(["", "median", "p90", "min", "max"], table, caption=f"All figures in ms, {reps} repetitions (+{warmup} warm-up); 'through server' starts at GET /j/{{token}}, 'baseline' at creating the two peer connections.")
        print()
        for name, _env in variants:
            overhead = statistics.median([r["total"] for r in rows[name]]) - statistics.median(baseline)
            negotiation = statistics.median([r["admitted->connected"] for r in rows[name]]) - statistics.median(baseline)
            who = f" ({name})" if name else ""
            note(f"Server path{who} minus baseline (medians): link->connected {ms(overhead)} ms; admitted->connected {ms(negotiation)} ms.")
        write_results("join_to_connected", "Join link -> both peers ICE connected", "bench/join_to_connected.py " + " ".join(sys.argv[1:]))
    finally:
        for pk_http in https:
            await pk_http.close()
        for _name, server in servers:
            await server.stop()


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("--reps", type=int, default=10, help="measured repetitions (default 10)")
    parser.add_argument("--warmup", type=int, default=1, help="unmeasured repetitions first (default 1)")
    parser.add_argument("--keep", action="store_true", help="keep the tmp folder (database, server log)")
    parser.add_argument("--base", metavar="DIR", help="also the server of another checkout (DIR/server), interleaved in the same run")
    args = parse_bench_args(parser)
    if not 1 <= args.reps <= 1000 or not 0 <= args.warmup <= 10:
        parser.error("--reps must be 1..1000, --warmup 0..10")
    asyncio.run(main(args.reps, args.warmup, args.keep, args.base))
