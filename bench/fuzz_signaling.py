"""Signaling fuzz at scale: a million hypothesis-drawn messages (valid and
malformed, from both parties) through a real ``bimbing serve`` (issue #12).

The same strategies and reconnecting parties as tests/test_signaling_fuzz.py
(tests/signaling_fuzz.py), against a server subprocess (bench/common.py), in
``--rooms`` rooms at once. Pass conditions, checked at the end: no handshake
answered 5xx, no ``Traceback`` or ``ERROR`` in the server's log, and every room
still works for a fresh officer and client (admit, offer/answer relayed, ping).

    .venv/bin/python bench/fuzz_signaling.py                      # 1,000,000 messages
    .venv/bin/python bench/fuzz_signaling.py --messages 20000 --rooms 8

Every message is drawn by hypothesis (sequences of 250 per example,
tests/signaling_fuzz.py). A worker process draws the next chunk while the
current one is played, so drawing (~1 ms a message) and the server overlap.
The result goes to bench/results/fuzz_signaling.md.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402

from bench.common import PK_PASSWORD, PK_USERNAME, BimbingServer, bench_parser, machine, note, parse_bench_args, print_table, seed_video_sessions, write_results  # noqa: E402
from tests.peers import CallPeer, offer_answer_works  # noqa: E402
from tests.signaling_fuzz import WINDOW, Party, play  # noqa: E402
from tests.signaling_fuzz import draw_messages  # noqa: E402


async def run(total: int, rooms: int, chunk: int, seed: int, command: str, keep: bool = False) -> int:
    server = BimbingServer(keep=keep, BIMBING_JOIN_OPENS_PER_WINDOW="1000000")
    loop = asyncio.get_running_loop()
    drawer = ProcessPoolExecutor(1)

    def draw(first: int):
        return loop.run_in_executor(drawer, draw_messages, min(chunk, total - first), seed + first)

    await server.setup_and_start()  # before the sessions: the server's port is known once it listens
    pk = aiohttp.ClientSession(server.base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    phones = [aiohttp.ClientSession(server.base, cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in range(rooms)]
    parties: list[Party] = []
    failures: list[str] = []
    try:
        seeded = await seed_video_sessions(server, rooms)
        async with pk.post("/api/login", json={"username": PK_USERNAME, "password": PK_PASSWORD}) as resp:
            assert resp.status == 200
        for s, phone in zip(seeded, phones):
            async with phone.get(f"/j/{s.token}", allow_redirects=False) as resp:
                assert resp.status == 303, resp.status
        pairs = [(Party(pk, server.base, s.session_id, "officer"), Party(phone, server.base, s.session_id, "client")) for s, phone in zip(seeded, phones)]
        parties = [x for pair in pairs for x in pair]
        sent, start = 0, time.perf_counter()
        print(f"seed {seed}", flush=True)
        drawing = draw(0)
        while sent < total:
            messages = await drawing
            if sent + len(messages) < total:
                drawing = draw(sent + len(messages))
            share = -(-len(messages) // rooms)
            await asyncio.gather(*(play(o, c, messages[i * share:(i + 1) * share]) for i, (o, c) in enumerate(pairs)))
            sent += len(messages)
            rate = sent / (time.perf_counter() - start)
            print(f"  {sent:,} messages, {rate:,.0f}/s, {sum(x.connects for x in parties):,} (re)connections", flush=True)
        for party in parties:
            await party.close()
        bad = [s for x in parties for s in x.handshake_statuses if s >= 500]
        if bad:
            failures.append(f"handshakes answered {bad[:5]}")
        # Played, not written into closed sockets: as tests/test_signaling_fuzz.py asks.
        answered = sum(x.answered for x in parties)
        if answered < sent // 4:
            failures.append(f"only {answered:,} of {sent:,} frames in windows the server answered to the end")
        for s, phone in zip(seeded, phones):
            officer, client = CallPeer(pk, s.session_id, "officer", webrtc=False), CallPeer(phone, s.session_id, "client", webrtc=False)
            try:
                await officer.join()
                await client.join()
                if (await client.next_of(("admitted", "waiting")))["type"] == "waiting":
                    await officer.admit((await officer.next("client-waiting"))["device"])
                    await client.next("admitted")
                await offer_answer_works(officer, client)
                await client.ping()
            except AssertionError as exc:
                failures.append(f"room {s.session_id} unusable: {exc}; the officer got {officer.received}")
            finally:
                await officer.close()
                await client.close()
        log = server.log.read_text()
        for marker in ("Traceback", " ERROR "):
            if marker in log:
                failures.append(f"{marker.strip()} in the server log: {log[log.index(marker) - 300:][:1500]}")
        took = time.perf_counter() - start
        connects = sum(x.connects for x in parties)
        handshakes = [s for x in parties for s in x.handshake_statuses]
        print(f"\n{machine()}" + (f"\nserver folder kept: {server.dir}" if keep else ""))
        print_table(
            ["run", "messages", "answered", "rooms", "seconds", "messages/s", "(re)connections", "refused handshakes", "5xx", "result"],
            [["bimbing serve", f"{sent:,}", f"{answered:,}", rooms, f"{took:.0f}", f"{sent / took:,.0f}", f"{connects:,}", len(handshakes), len(bad), "PASS" if not failures else "FAIL"]],
            caption=f"Hypothesis-drawn signaling messages (seed {seed}), played by both parties of each room, in windows of "
            f"{WINDOW} closed by a ping ('answered': frames in windows the server answered to the end); pass = no 5xx, "
            "no Traceback or ERROR in the server log, every room usable afterwards (admit, offer/answer, ping).",
        )
        for failure in failures:
            note(f"- {failure}")
        write_results("fuzz_signaling", "Signaling fuzz: hypothesis-drawn messages through a real server", command)
        return 1 if failures else 0
    finally:
        drawer.shutdown(cancel_futures=True)
        for party in parties:
            await party.close()
        await server.stop()
        for http in (pk, *phones):
            await http.close()


def main() -> None:
    parser = bench_parser(__doc__)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=20_000, help="messages drawn by hypothesis at a time")
    parser.add_argument("--seed", type=int, default=None, help="repeat a run's draw (printed at its start)")
    parser.add_argument("--keep", action="store_true", help="keep the server's folder (database, log) and print where")
    args = parse_bench_args(parser)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    command = "bench/fuzz_signaling.py " + " ".join(sys.argv[1:])
    sys.exit(asyncio.run(run(args.messages, args.rooms, args.chunk, seed, command.strip(), args.keep)))


if __name__ == "__main__":
    main()
