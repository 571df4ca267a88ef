"""Reach over the signaling protocol (issue #11): the ``reach`` step goes to the
other side, and a ``media-state`` that says how long the media had already
stopped (``stalled_ms``) closes the logged interval that much earlier, so an
outage the page waited out is logged without its time being counted."""

from __future__ import annotations

import asyncio
import time

from tests.peers import report_media_arriving, session_json, stage, until


async def last_event(st, kind: str) -> dict:
    """The session record once its latest event is ``kind``."""
    async def check():
        record = await session_json(st.pk, st.session_id)
        return record if record["events"][-1]["kind"] == kind else None

    return await until(check, what=f"the log's latest event to be {kind}")


async def test_the_step_goes_to_the_other_side_with_who_sent_it(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        await client.send({"type": "reach", "step": "audio"})
        assert await officer.next("reach") == {"type": "reach", "step": "audio", "from": "client"}
        await officer.send({"type": "reach", "step": "low"})
        assert await client.next("reach") == {"type": "reach", "step": "low", "from": "officer"}
        # an unknown step is refused, with the protocol's error
        await client.send({"type": "reach", "step": "turbo"})
        assert (await client.next("error"))["code"] == "bad-message"


async def test_a_waiting_client_cannot_send_a_step(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer = st.peer(st.pk, "officer")
        await officer.join()
        client = st.peer(st.phone, "client")
        await client.join()
        await client.next("waiting")
        await client.send({"type": "reach", "step": "audio"})
        assert (await client.next("error"))["code"] == "not-admitted"


async def test_a_stall_reported_late_is_not_counted(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        await officer.send({"type": "media-state", "state": "connected"})
        await client.send({"type": "media-state", "state": "connected"})
        # The server opens the interval somewhere between these two instants,
        # and closes it somewhere between the next two: on a loaded machine
        # each gap can stretch by seconds, so the test bounds the figure by
        # what it timed rather than by the 1.5 s it meant to wait.
        opened_after = time.monotonic()
        await report_media_arriving(officer, client)
        await last_event(st, "media_connected")
        opened_before = time.monotonic()
        await asyncio.sleep(1.5)
        # the client's media stopped 1.2 s ago; it reports only now
        closed_after = time.monotonic()
        await client.send({"type": "media-state", "state": "disconnected", "stalled_ms": 1200})
        record = await last_event(st, "disconnected")
        closed_before = time.monotonic()
        seconds = record["events"][-1]["detail"]["seconds"]
        # the time connected, less the 1.2 s of stall: never the whole of it
        # (the log keeps milliseconds: a millisecond of slack each way)
        assert closed_after - opened_before - 1.2 - 0.001 <= seconds <= closed_before - opened_after - 1.2 + 0.001, seconds
        assert seconds > 0
        assert abs(record["duration_seconds"] - seconds) <= 0.501
        # a stall longer than the interval is cut at its start, never before
        await client.send({"type": "media-state", "state": "connected"})
        await client.send({"type": "ping", "inbound": {"audio": {"packets": 60, "bytes": 4800}}})
        record = await last_event(st, "reconnected")
        await client.send({"type": "media-state", "state": "failed", "stalled_ms": 60000})
        record = await last_event(st, "disconnected")
        assert record["events"][-1]["detail"]["seconds"] == 0
        # out of range: refused
        await client.send({"type": "media-state", "state": "failed", "stalled_ms": 60001})
        assert (await client.next("error"))["code"] == "bad-message"
