"""Signaling fuzz at scale: a million hypothesis-drawn messages (valid and
malformed, from both parties) through a real ``bimbing serve`` (issue #12).

The same strategies and reconnecting parties as tests/test_signaling_fuzz.py
(tests/signaling_fuzz.py), against a server subprocess (bench/common.py), in
``--rooms`` rooms at once. Pass conditions, checked at the end: no handshake
answered 5xx, no ``Traceback`` or ``ERROR`` in the server's log, and every room
still works for a fresh officer and client (admit, offer/answer relayed, ping).

    .venv/bin/python bench/fuzz_signaling.py                      # 1,000,000 messages
    .venv/bin/python bench/fuzz_signaling.py --messages 20000 --rooms 8
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp  # noqa: E402

from bench.common import PK_PASSWORD, PK_USERNAME, BimbingServer, machine, seed_video_sessions  # noqa: E402
from tests.peers import CallPeer, offer_answer_works  # noqa: E402
from tests.signaling_fuzz import Party, play  # noqa: E402
from tests.test_signaling_fuzz import draw_messages  # noqa: E402


async def run(total: int, rooms: int, chunk: int) -> int:
    server = BimbingServer(BIMBING_JOIN_OPENS_PER_WINDOW="1000000")
    pk = aiohttp.ClientSession(server.base, cookie_jar=aiohttp.CookieJar(unsafe=True))
    phones = [aiohttp.ClientSession(server.base, cookie_jar=aiohttp.CookieJar(unsafe=True)) for _ in range(rooms)]
    parties: list[Party] = []
    failures: list[str] = []
    try:
        server.setup()
        await server.start()
        seeded = await seed_video_sessions(server, rooms)
        async with pk.post("/api/login", json={"username": PK_USERNAME, "password": PK_PASSWORD}) as resp:
            assert resp.status == 200
        for s, phone in zip(seeded, phones):
            async with phone.get(f"/j/{s.token}", allow_redirects=False) as resp:
                assert resp.status == 303, resp.status
        pairs = [(Party(pk, server.base, s.session_id, "officer"), Party(phone, server.base, s.session_id, "client")) for s, phone in zip(seeded, phones)]
        parties = [x for pair in pairs for x in pair]
        sent, start = 0, time.perf_counter()
        while sent < total:
            n = min(chunk, total - sent)
            messages = draw_messages(n)
            share = max(len(messages) // rooms, 1)
            await asyncio.gather(*(play(o, c, messages[i * share:(i + 1) * share]) for i, (o, c) in enumerate(pairs)))
            sent += n
            rate = sent / (time.perf_counter() - start)
            print(f"  {sent:,} messages, {rate:,.0f}/s, {sum(x.connects for x in parties):,} (re)connections", flush=True)
        for party in parties:
            await party.close()
        bad = [s for x in parties for s in x.handshake_statuses if s >= 500]
        if bad:
            failures.append(f"handshakes answered {bad[:5]}")
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
                failures.append(f"room {s.session_id} unusable: {exc}")
            finally:
                await officer.close()
                await client.close()
        log = server.log.read_text()
        for marker in ("Traceback", " ERROR "):
            if marker in log:
                failures.append(f"{marker.strip()} in the server log: {log[log.index(marker) - 300:][:1500]}")
        took = time.perf_counter() - start
        print(f"\n{machine()}\n{sent:,} messages in {took:.0f} s ({sent / took:,.0f}/s) over {rooms} rooms, "
              f"{sum(x.connects for x in parties):,} (re)connections; " + ("PASS" if not failures else "FAIL"))
        for failure in failures:
            print("  -", failure)
        return 1 if failures else 0
    finally:
        for party in parties:
            await party.close()
        await server.stop()
        for http in (pk, *phones):
            await http.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--rooms", type=int, default=8)
    parser.add_argument("--chunk", type=int, default=20_000, help="messages drawn by hypothesis at a time")
    args = parser.parse_args()
    sys.exit(asyncio.run(run(args.messages, args.rooms, args.chunk)))


if __name__ == "__main__":
    main()
