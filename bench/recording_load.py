"""Benchmark: does a recorded call slow everyone else's signaling?

Signaling relay latency (one-way, as bench/relay.py measures it) over
``--rooms`` signaling-only rooms while 0, 2 and 4 recorded calls run on the same
server, with the recorder **in the web process** (``BIMBING_RECORDER_PROCESSES=0``,
the way it was before issue 13) and **in a recorder process** (the default of
``bimbing serve``). Runs are interleaved (for each count: in process, then
recorder process) so both see the same machine load.

Each recorded call is two aiortc peers (tests/peers.py: 160x120 generated video
at 30 fps and Opus audio each way) plus the officer's two uploads to the
recorder, exactly as tests/test_recording.py drives them. They run in a
separate loader process (this file with ``--loader``), so that their encoding
does not share this process's event loop with the latency measurement.

    .venv/bin/python bench/recording_load.py                     # 0, 2, 4 calls; 100 rooms
    .venv/bin/python bench/recording_load.py --calls 0,4 --rooms 200 --rate 300
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psutil  # noqa: E402

from bench.common import (  # noqa: E402
    PK_PASSWORD,
    PK_USERNAME,
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
from bench.relay import run_bimbing  # noqa: E402
from server.media.ice_filter import server_networks  # noqa: E402

# The loader's peers run on this machine: the recorder may reach its networks
# (by default it ignores ICE candidates there, and no upload ever arrived).
OWN_NETWORKS = ",".join(str(n) for n in server_networks())

MODES = {"in web process": "0", "recorder process": "1"}


# ---- the loader (a subprocess): K recorded calls until its stdin closes ----------------


async def loader(base: str) -> None:
    from tests.peers import CallPeer, connected_call, party_http, sign_in, until
    from tests.test_recording import RecordingOfficer

    seeded = json.loads(sys.stdin.readline())
    calls = []
    https = []
    try:
        for s in seeded:
            pk, phone = party_http(base), party_http(base)
            https += [pk, phone]
            await sign_in(pk, PK_USERNAME, PK_PASSWORD)
            async with phone.get(f"/j/{s['token']}", allow_redirects=False) as resp:
                assert resp.status == 303, resp.status
            officer = RecordingOfficer(pk, s["session_id"], "officer")
            client = CallPeer(phone, s["session_id"], "client")
            calls.append((officer, client))
            await officer.join()
            await client.join()
            await connected_call(officer, client, timeout=60)
            reply = await officer.start_recording()
            assert reply["type"] == "record-answer", reply
            await until(lambda o=officer: o.uploading, 60, what="the upload to the recorder")
        print("READY", flush=True)
        # Until the bench closes our stdin.
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)
        for officer, _client in calls:
            await officer.end()
    finally:
        for officer, client in calls:
            await officer.close()
            await client.close()
        for http in https:
            await http.close()


# ---- the bench ------------------------------------------------------------------------


def recorder_cpu(server) -> float:
    """CPU seconds of the server's recorder processes (its children), 0 with none."""
    total = 0.0
    for child in psutil.Process(server.proc.pid).children(recursive=True):
        try:
            t = child.cpu_times()
            total += t.user + t.system
        except psutil.NoSuchProcess:
            pass
    return total


def make_load(calls: int, figures: dict):
    async def load(server):
        if calls == 0:
            figures["recorder_cpu0"] = 0.0

            async def nothing():
                figures["recorder_cpu"] = 0.0

            return nothing
        seeded = await seed_video_sessions(server, calls, record=True)
        proc = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--loader", server.base,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        )
        proc.stdin.write((json.dumps([{"session_id": s.session_id, "token": s.token} for s in seeded]) + "\n").encode())
        await proc.stdin.drain()
        line = await asyncio.wait_for(proc.stdout.readline(), 180)
        if line.strip() != b"READY":
            raise RuntimeError(f"the loader did not get its calls recording: {line!r}")
        # Let the recorders settle into their steady state before measuring.
        await asyncio.sleep(3)
        figures["recorder_cpu0"] = recorder_cpu(server)
        figures["t0"] = time.perf_counter()

        async def stop():
            figures["recorder_cpu"] = recorder_cpu(server) - figures["recorder_cpu0"]
            figures["t1"] = time.perf_counter()
            proc.stdin.close()
            try:
                await asyncio.wait_for(proc.wait(), 60)
            except asyncio.TimeoutError:
                proc.kill()
                await proc.wait()

        return stop

    return load


async def main(calls_list: list[int], rooms: int, per_room: int, rate: float, repeat: int) -> None:
    raise_nofile()
    print(f"# relay latency with recorded calls running, {rooms} rooms, {machine()}", flush=True)
    rows = []
    p99s: dict[tuple[int, str], list[float]] = {}
    cpus: dict[tuple[int, str], list[float]] = {}
    for calls, mode, processes in [(c, m, p) for _ in range(repeat) for c in calls_list for m, p in MODES.items()]:
        print(f"\n## {calls} recorded calls, recorder: {mode}", flush=True)
        figures: dict = {}
        result = await run_bimbing(
            rooms, per_room, rate, 50, env={"BIMBING_RECORDER_PROCESSES": processes, "BIMBING_RECORDER_ALLOW_NETWORKS": OWN_NETWORKS},
            load=make_load(calls, figures), name=f"{calls} calls, recorder {mode}",
        )
        lat = result.latencies
        p99s.setdefault((calls, mode), []).append(percentile(lat, 99))
        cpus.setdefault((calls, mode), []).append(result.cpu_s / max(result.send_s, 1e-9))
        rows.append([
            calls, mode, ms(percentile(lat, 50)), ms(percentile(lat, 90)), ms(percentile(lat, 99)),
            ms(max(lat) if lat else float("nan")), sum(1 for x in lat if x > 0.1), f"{result.sent}/{result.sent - len(lat)}",
            f"{result.cpu_s / max(result.send_s, 1e-9):.2f}", f"{figures.get('recorder_cpu', 0.0) / max(result.send_s, 1e-9):.2f}",
        ])
        print_table(["recorded calls", "recorder", "p50", "p90", "p99", "max", ">100ms", "sent/lost", "web CPU-s/s", "recorder CPU-s/s"], rows[-1:], keep=False)
    print("\n# all runs")
    print_table(
        ["recorded calls", "recorder", "p50", "p90", "p99", "max", ">100ms", "sent/lost", "web CPU-s/s", "recorder CPU-s/s"],
        rows,
        caption=f"Relay one-way latency in ms over {rooms} signaling rooms ({per_room} messages each at {rate:.0f}/s) while the recorded calls run; "
        "CPU in CPU-seconds per second of the latency phase, of the web process and of its recorder processes.",
    )
    if repeat > 1:
        print_table(
            ["recorded calls", "recorder", "p99 median", "p99 of each run", "web CPU-s/s median"],
            [[c, m, ms(percentile(p99s[c, m], 50)), " / ".join(ms(x) for x in p99s[c, m]), f"{percentile(cpus[c, m], 50):.2f}"] for c in calls_list for m in MODES],
            caption=f"Over {repeat} interleaved runs: the median of the runs' p99 (ms).",
        )
    note("Each recorded call: two aiortc peers with 160x120 generated video at 30 fps and Opus each way, and the officer's two uploads (one file per party), run by a loader process.")
    write_results("recording_load", "Signaling relay while recorded calls run: recorder in the web process and in a recorder process", "bench/recording_load.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--loader":
        asyncio.run(loader(sys.argv[2]))
        sys.exit(0)
    parser = bench_parser(__doc__)
    parser.add_argument("--calls", default="0,2,4", help="comma-separated counts of recorded calls (default 0,2,4)")
    parser.add_argument("--rooms", type=int, default=100, help="signaling-only rooms measured (default 100)")
    parser.add_argument("--messages-per-room", type=int, default=20)
    parser.add_argument("--rate", type=float, default=200.0, help="aggregate messages per second (default 200)")
    parser.add_argument("--repeat", type=int, default=1, help="interleaved rounds of every configuration (default 1)")
    args = parse_bench_args(parser)
    counts = [int(c) for c in args.calls.split(",") if c.strip()]
    if not counts or any(not 0 <= c <= 8 for c in counts) or not 1 <= args.rooms <= 2000:
        parser.error("--calls: 0..8 each; --rooms: 1..2000")
    asyncio.run(main(counts, args.rooms, args.messages_per_room, args.rate, max(1, min(args.repeat, 10))))
