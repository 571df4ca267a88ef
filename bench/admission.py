"""Benchmark: how many rooms the server admits per second, on SQLite and on
PostgreSQL, and (with ``--base DIR``) the same against another checkout of
``server/`` in the same run, interleaved.

A room is the real protocol, as bench/relay.py opens it: officer ``join``,
client ``join`` -> ``waiting``, ``client-waiting`` -> ``admit``, ``admitted``
and ``peer-joined`` to both; ``--concurrency`` rooms at a time (default 50).
Join links are exchanged (``GET /j/{token}``) before the clock starts and
timed on their own. The baseline for a room's work is the bare relay of
bench/relay.py, which pairs the same sockets with no rules and no log.

    .venv/bin/python bench/admission.py                                 # 500 rooms, SQLite and PostgreSQL
    .venv/bin/python bench/admission.py --base /tmp/base --repeat 3     # against the code in /tmp/base/server
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bench_parser, machine, parse_bench_args, print_table, raise_nofile, write_results  # noqa: E402
from bench.relay import run_baseline, run_bimbing  # noqa: E402


async def main(rooms: int, databases: list[str], base: str | None, repeat: int, concurrency: int) -> None:
    raise_nofile()
    print(f"# rooms admitted per second, {rooms} rooms, {concurrency} at a time, {machine()}", flush=True)
    variants = {"this tree": {}}
    if base:
        # The other tree's server/ comes first on the path of the server process.
        variants = {"base": {"PYTHONPATH": os.path.abspath(base)}, "this tree": {}}
    rows = []
    for round_ in range(repeat):
        for database in databases:
            for name, env in variants.items():
                print(f"\n## round {round_ + 1}, {database}, {name}", flush=True)
                r = await run_bimbing(rooms, 1, 1000.0, concurrency, env={"BIMBING_RECORDER_PROCESSES": "0", **env}, database=database)
                rows.append([round_ + 1, database, name, f"{rooms / r.setup_s:.0f}", f"{r.setup_cpu_s / rooms * 1000:.1f}", f"{rooms / r.links_s:.0f}"])
                print(f"  {name}: {rooms / r.setup_s:.0f} rooms/s, {r.setup_cpu_s / rooms * 1000:.1f} ms server CPU per room, {rooms / r.links_s:.0f} links/s", flush=True)
        bare = (await run_baseline(rooms, 1, 1000.0, concurrency))[0]
        rows.append([round_ + 1, "-", "bare relay (pairing only)", f"{rooms / bare.setup_s:.0f}", "", ""])
    print("\n# all runs")
    print_table(
        ["round", "database", "server", "rooms admitted/s", "server CPU ms/room", "links exchanged/s"],
        rows,
        caption=f"{rooms} rooms, {concurrency} opened at a time; each round runs every configuration once, interleaved.",
    )
    write_results("admission", "Rooms admitted per second", "bench/admission.py " + " ".join(sys.argv[1:]))


if __name__ == "__main__":
    parser = bench_parser(__doc__)
    parser.add_argument("--rooms", type=int, default=500)
    parser.add_argument("--databases", default="sqlite,postgres")
    parser.add_argument("--base", help="a folder holding another server/ (and webclient/) to compare with")
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--concurrency", type=int, default=50)
    args = parse_bench_args(parser)
    dbs = [d for d in args.databases.split(",") if d in ("sqlite", "postgres")]
    if not dbs or not 1 <= args.rooms <= 5000 or not 1 <= args.repeat <= 10:
        parser.error("--databases sqlite,postgres; --rooms 1..5000; --repeat 1..10")
    asyncio.run(main(args.rooms, dbs, args.base, args.repeat, args.concurrency))
