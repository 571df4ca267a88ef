"""Reminders through an office gateway (``BIMBING_NOTIFY_URL``): a real local HTTP
server that answers 500, then hangs past the timeout, then recovers, and a real
``bimbing serve`` process killed and started again in the middle. Nothing is
lost and nothing is accepted twice; the admin sees the failures."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from server.db.models import GuidanceSession, NotifyOutbox, SessionMode, SessionStatus, utcnow
from tests.foundation import database
from tests.peers import party_http, sign_in, until
from tests.test_restart import ServerProcess

pytestmark = [pytest.mark.slow, pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)]
WIB = ZoneInfo("Asia/Jakarta")


class Gateway:
    """Per idempotency key: the 1st request gets 500, the 2nd hangs past the
    sender's timeout, every later one 200. Records everything it was sent."""

    def __init__(self):
        self.requests: list[tuple[str, str]] = []  # (key, what it answered)
        self.seen: Counter[str] = Counter()
        self.hanging = asyncio.Event()

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = request.headers["Idempotency-Key"]
        assert body["idempotency_key"] == key and body["to"].startswith("62") and body["text"]
        self.seen[key] += 1
        n = self.seen[key]
        if n == 1:
            self.requests.append((key, "500"))
            return web.Response(status=500, text="gateway down")
        if n == 2:
            self.requests.append((key, "hang"))
            self.hanging.set()
            await asyncio.sleep(8)  # well past the sender's 3 s
            return web.Response(status=503)
        self.requests.append((key, "200"))
        return web.json_response({"accepted": key})

    def accepted(self) -> Counter[str]:
        return Counter(k for k, what in self.requests if what == "200")


async def serve_gateway(app: web.Application) -> tuple[web.AppRunner, int]:
    """A gateway (any aiohttp app) on 127.0.0.1, a port the system picked; the
    caller cleans the runner up."""
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, runner.addresses[0][1]


async def test_the_outbox_survives_gateway_failures_and_a_restart(tmp_path, settings, office, database_url):
    c1 = office.clients["c1"]

    gateway = Gateway()
    app = web.Application()
    app.router.add_post("/send", gateway.handle)
    runner, gport = await serve_gateway(app)
    server = ServerProcess(tmp_path, settings, BIMBING_NOTIFY_URL=f"http://127.0.0.1:{gport}/send",
                           # 3 s, not 1: this gateway answers from the test's own event loop, which a
                           # loaded machine (a parallel run) can hold past 1 s, and its 500 then reads as a timeout.
                           BIMBING_NOTIFY_TIMEOUT_SECONDS="3", BIMBING_NOTIFY_POLL_SECONDS="1")
    try:
        await server.start()
        async with party_http(server.base) as admin:
            await sign_in(admin, "admin")
            # An appointment half an hour from now: its reminder (this morning's, or, just
            # before midnight, the day-before one) is due now, at any hour. Booked only once
            # the admin is signed in: a 500 is the last error for about 4 s (1 s back-off, then
            # the 3 s hang), and a sign-in on a loaded machine (Argon2) took 4.8 s; between
            # 17:00 and 01:00 UTC no overdue reminder (08:00 office time) is there to show one.
            async with database(database_url) as db:
                when = utcnow() + timedelta(minutes=30)
                db.add(GuidanceSession(office_id=c1.office_id, client_id=c1.id, officer_id=c1.officer_id, mode=SessionMode.office,
                                       status=SessionStatus.scheduled, scheduled_at=when))
                await db.commit()
            # First attempts fail with 500; the admin sees it.
            await until(lambda: any(what == "500" for _k, what in gateway.requests), timeout=30, what="a first attempt")

            async def failure_listed():
                async with admin.get("/api/notify/outbox") as resp:
                    body = await resp.json()
                return [p for p in body["problems"] if p["last_error"] == "HTTP 500"]

            problems = await until(failure_listed, timeout=15, what="the failure in the admin's view")
            assert problems[0]["state"] == "pending" and problems[0]["attempts"] == 1
            async with admin.get("/admin/notify") as resp:
                assert resp.status == 200 and "HTTP 500" in await resp.text()

        # The gateway hangs on the second attempt: kill the server right then.
        await asyncio.wait_for(gateway.hanging.wait(), 30)
        await server.kill()
        async with database(database_url) as db:
            rows = list((await db.execute(NotifyOutbox.__table__.select())).all())
        assert rows and all(r.state == "pending" for r in rows)  # nothing lost with the process

        await server.start()
        keys = {r.key for r in rows}

        async def all_sent():
            async with database(database_url) as db:
                states = [r.state for r in (await db.execute(NotifyOutbox.__table__.select())).all()]
            return states and all(s == "sent" for s in states)

        await until(all_sent, timeout=40, what="every reminder delivered")
        # A few more polls: a delivered reminder is never sent again.
        polls = len(gateway.requests)
        await asyncio.sleep(2.5)
        assert len(gateway.requests) == polls
        accepted = gateway.accepted()
        assert set(accepted) >= keys and all(n == 1 for n in accepted.values())
        for key in keys:
            assert [what for k, what in gateway.requests if k == key] == ["500", "hang", "200"]
        async with database(database_url) as db:
            sent = {r.key: r for r in (await db.execute(NotifyOutbox.__table__.select())).all()}
        # 2 or 3: the hung attempt's outcome is lost when the process was killed during it.
        assert all(sent[k].attempts in (2, 3) and sent[k].last_error == "" for k in keys)
    finally:
        await server.kill()
        await runner.cleanup()
