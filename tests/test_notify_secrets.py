"""The reminder gateway keeps its secret and each office's outbox to itself
(issue 23, item 5), and says nothing about supervision unless the office chose
to (item 9). Real local gateways that fail as real ones do (a redirect loop, a
redirect elsewhere, 500, no answer in time, 401) in front of the real app, on
both databases; and a real ``bimbing serve`` whose log is read for the key."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from dataclasses import replace
from datetime import timedelta

import pytest
from aiohttp import web
from sqlalchemy import select

from server.app import create_app
from server.db.models import GuidanceSession, NotifyOutbox, SessionMode, SessionStatus, utcnow
from server.domain.outreach.wording import NEUTRAL_TEXT
from server.security.redact import redact_url, redact_urls
from server.settings import ConfigError, Settings
from tests.audit_support import add_session, audit_entries
from tests.foundation import OFFICE_SETTINGS, database
from tests.peers import party_http, until
from tests.peers import sign_in as sign_in_http
from tests.test_notify_gateway import serve_gateway
from tests.test_pages import csrf_token
from tests.test_restart import ServerProcess

SECRET = "k3y-0f-th3-g4t3w4y"
PASSWORD = "p4ssw0rd-0f-th3-g4t3w4y"


class FailingGateway:
    """POST /{what}: ``loop`` answers 302 back to itself (key and all), ``moved``
    307 to another server, ``down`` 500, ``slow`` answers after the sender gave
    up, ``locked`` 401 without the right credential in ``header``, ``ok`` 200.
    Counts every request and keeps what it was sent."""

    def __init__(self, token: str | None = None, header: str = "Authorization", elsewhere: str = ""):
        self.token, self.header, self.elsewhere = token, header, elsewhere
        self.hits: Counter[str] = Counter()
        self.received: list[tuple[str, dict, dict, str | None]] = []  # (what, headers, body, the query's key)

    async def handle(self, request: web.Request) -> web.Response:
        what = request.match_info["what"]
        self.hits[what] += 1
        body = await request.json() if request.can_read_body else {}
        self.received.append((what, dict(request.headers), body, request.query.get("key")))
        if what == "loop":
            raise web.HTTPFound(str(request.url))  # with its query: the key
        if what == "moved":
            raise web.HTTPTemporaryRedirect(self.elsewhere)
        if what == "down":
            return web.Response(status=500, text="gateway down")
        if what == "slow":
            await asyncio.sleep(4)  # past the sender's 1 s
            return web.Response(status=200)
        if what == "locked":
            expected = f"Bearer {self.token}" if self.header.lower() == "authorization" else self.token
            if request.headers.get(self.header) != expected:
                return web.json_response({"error": "unauthorized"}, status=401)
        return web.json_response({"accepted": body.get("idempotency_key")})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{what}", self.handle)
        return app


async def _due_reminders(database_url: str, *offices) -> None:
    """An appointment half an hour from now for every client: its reminder (this
    morning's, or just before midnight the day-before one) is due now, at any hour.
    Each client attended yesterday, so no overdue reminder joins them at 08:00."""
    for office in offices:
        for c in office.clients.values():
            await add_session(database_url, c, scheduled_at=utcnow() - timedelta(days=1))
    async with database(database_url) as db:
        when = utcnow() + timedelta(minutes=30)
        for office in offices:
            for c in office.clients.values():
                db.add(GuidanceSession(office_id=c.office_id, client_id=c.id, officer_id=c.officer_id, mode=SessionMode.office,
                                       status=SessionStatus.scheduled, scheduled_at=when))
        await db.commit()


async def _rows(database_url: str) -> list[NotifyOutbox]:
    async with database(database_url) as db:
        return list((await db.execute(select(NotifyOutbox).order_by(NotifyOutbox.id))).scalars())


async def _sender(aiohttp_client, settings, url: str, **changes):
    app = create_app(replace(settings, notify_url=url, notify_poll_seconds=0.2, notify_timeout_seconds=1, **changes))
    return await aiohttp_client(app)


@pytest.fixture
async def gateway_server():
    runners = []

    async def start(gateway: FailingGateway) -> int:
        runner, port = await serve_gateway(gateway.app())
        runners.append(runner)
        return port

    yield start
    for runner in runners:
        await runner.cleanup()


@pytest.mark.parametrize("what", ["loop", "moved", "down", "slow", "locked"])
async def test_each_gateway_failure_is_one_failed_attempt_with_a_clear_error_and_no_key(aiohttp_client, settings, office, database_url, gateway_server, sign_in, what):
    catcher = FailingGateway()
    cport = await gateway_server(catcher)
    gateway = FailingGateway(token="the-right-one", elsewhere=f"http://127.0.0.1:{cport}/ok?key={SECRET}")
    port = await gateway_server(gateway)
    await _due_reminders(database_url, office)
    http = await _sender(aiohttp_client, settings, f"http://127.0.0.1:{port}/{what}?key={SECRET}", notify_max_attempts=2)

    async def all_failed():
        rows = await _rows(database_url)
        return rows if rows and all(r.state == "failed" for r in rows) else None

    rows = await until(all_failed, timeout=30, what="every reminder failed twice")
    expected = {
        "loop": f"HTTP 302: redirect to http://127.0.0.1:{port}/loop not followed (set BIMBING_NOTIFY_URL to the gateway's final address)",
        "moved": f"HTTP 307: redirect to http://127.0.0.1:{cport}/ok not followed (set BIMBING_NOTIFY_URL to the gateway's final address)",
        "down": "HTTP 500",
        "slow": "timeout after 1s",
        "locked": "HTTP 401: the gateway refused the credential (BIMBING_NOTIFY_TOKEN)",
    }[what]
    assert {(r.attempts, r.last_error) for r in rows} == {(2, expected)}
    # One request per attempt: nothing followed, nothing re-posted elsewhere.
    assert gateway.hits[what] == 2 * len(rows)
    assert catcher.hits == Counter()
    # The key in the URL's query still reaches the gateway; it reaches nobody else.
    assert {key for _w, _h, _b, key in gateway.received} == {SECRET}
    await sign_in(http, "admin")
    api = await (await http.get("/api/notify/outbox")).text()
    page = await (await http.get("/admin/notify")).text()
    assert expected in json.loads(api)["problems"][0]["last_error"] and expected.split(" (")[0] in page
    assert SECRET not in api and SECRET not in page and not any(SECRET in r.last_error for r in rows)


@pytest.mark.parametrize("header", ["Authorization", "X-Api-Key"])
async def test_the_gateways_credential_goes_in_its_header_never_in_the_url(aiohttp_client, settings, office, database_url, gateway_server, header):
    gateway = FailingGateway(token="t0k3n-0f-th3-0ff1c3", header=header)
    port = await gateway_server(gateway)
    await _due_reminders(database_url, office)
    await _sender(aiohttp_client, settings, f"http://127.0.0.1:{port}/locked", notify_token="t0k3n-0f-th3-0ff1c3", notify_token_header=header)

    async def all_sent():
        rows = await _rows(database_url)
        return rows if rows and all(r.state == "sent" for r in rows) else None

    rows = await until(all_sent, timeout=20, what="every reminder taken by the locked gateway")
    assert all(r.attempts == 1 for r in rows)
    sent = [(h, b) for w, h, b, _k in gateway.received if w == "locked"]
    expected = "Bearer t0k3n-0f-th3-0ff1c3" if header == "Authorization" else "t0k3n-0f-th3-0ff1c3"
    assert sent and all(h[header] == expected and "t0k3n" not in json.dumps(b) for h, b in sent)


async def test_each_office_sees_its_own_outbox_and_no_other(aiohttp_client, settings, office, other_office, database_url, gateway_server, sign_in):
    gateway = FailingGateway()
    port = await gateway_server(gateway)
    await _due_reminders(database_url, office, other_office)
    http = await _sender(aiohttp_client, settings, f"http://127.0.0.1:{port}/down", notify_max_attempts=1)
    ours = {c.id for c in office.clients.values()}
    theirs = {c.id for c in other_office.clients.values()}

    async def both_failed():
        rows = await _rows(database_url)
        clients = {r.client_id for r in rows if r.state == "failed"}
        return rows if ours <= clients and theirs <= clients and all(r.state == "failed" for r in rows) else None

    rows = await until(both_failed, timeout=20, what="every office's reminders failed")
    for who, own, foreign in (("kasie", ours, theirs), ("x_admin", theirs, ours)):
        await sign_in(http, who)
        body = await (await http.get("/api/notify/outbox")).json()
        own_rows = [r for r in rows if r.client_id in own]
        assert body["counts"] == {"pending": 0, "sent": 0, "failed": len(own_rows)}, who
        assert {p["key"] for p in body["problems"]} == {r.key for r in own_rows}, who
        page = await (await http.get("/admin/notify")).text()
        assert all(r.key in page for r in own_rows) and not any(r.key in page for r in rows if r.client_id in foreign), who


async def test_the_gateway_gets_neutral_words_unless_the_office_chose_the_full_text(client, aiohttp_client, settings, office, other_office, database_url, gateway_server, sign_in):
    # The other office's supervisor turns the full text on before the sender starts (its
    # clients' overdue reminders are due at once, and a reminder's text is fixed when it is
    # queued); this office leaves the default.
    await sign_in(client, "x_kasie")
    resp = await client.put("/api/office/settings", json={"reminder_full_text": True})
    assert resp.status == 200 and await resp.json() == {**OFFICE_SETTINGS, "reminder_full_text": True}
    gateway = FailingGateway()
    port = await gateway_server(gateway)
    await _sender(aiohttp_client, settings, f"http://127.0.0.1:{port}/ok")
    await _due_reminders(database_url, office, other_office)
    ours = {c.id for c in office.clients.values()}
    every = ours | {c.id for c in other_office.clients.values()}

    async def all_sent():
        rows = await _rows(database_url)
        return rows if {r.client_id for r in rows} == every and all(r.state == "sent" for r in rows) else None

    rows = await until(all_sent, timeout=20, what="both offices' reminders delivered")
    texts = {b["idempotency_key"]: b["text"] for _w, _h, b, _k in gateway.received}
    for r in rows:
        if r.client_id in ours:
            assert texts[r.key] == r.text == NEUTRAL_TEXT
        else:
            # The full text: the client's name, and the appointment or the lateness.
            assert texts[r.key] == r.text and texts[r.key].startswith("Yth. Klien c")
            assert "bimbingan di kantor Bapas" in texts[r.key] or "terlambat wajib lapor" in texts[r.key]


async def test_the_office_setting_for_the_full_text_is_guarded_validated_and_audited(client, office, sign_in, database_url):
    await sign_in(client, "pk1")
    assert await (await client.get("/api/office/settings")).json() == OFFICE_SETTINGS
    assert (await client.put("/api/office/settings", json={"reminder_full_text": True})).status == 403
    await sign_in(client, "kasie")
    for bad in ({"reminder_full_text": "yes"}, {"reminder_full_text": 1}, {"reminder_full_text": None}, {}, {"reminder_text": True}):
        resp = await client.put("/api/office/settings", json=bad)
        assert resp.status == 400, bad
        assert (await resp.json())["error"] == "invalid-body"
    resp = await client.put("/api/office/settings", json={"reminder_full_text": True})
    assert resp.status == 200 and await resp.json() == {**OFFICE_SETTINGS, "reminder_full_text": True}
    # Setting one field leaves the other; the page's form (checkbox unticked) turns it off.
    resp = await client.put("/api/office/settings", json={"min_report_minutes": 12})
    assert await resp.json() == {**OFFICE_SETTINGS, "min_report_minutes": 12, "reminder_full_text": True}
    await sign_in(client, "admin")
    page = await (await client.get("/admin/settings")).text()
    assert 'name="reminder_full_text" checked' in page and "Kirim teks pengingat lengkap lewat gateway" in page
    token = csrf_token(page)
    posted = await client.post("/admin/settings/rules", data={"csrf_token": token, "min_report_minutes": "12"}, allow_redirects=False)
    assert posted.status == 302
    assert await (await client.get("/api/office/settings")).json() == {**OFFICE_SETTINGS, "min_report_minutes": 12}
    changes = [e.detail for e in await audit_entries(database_url, "office.settings")]
    assert changes == [{"reminder_full_text": {"old": False, "new": True}}, {"min_report_minutes": {"old": 10, "new": 12}},
                       {"reminder_full_text": {"old": True, "new": False}}]


@pytest.mark.slow
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_key_in_the_gateways_url_never_reaches_the_log_the_outbox_or_its_pages(tmp_path, settings, office, database_url, gateway_server):
    """The issue's reproduction: a redirect loop at a URL with a user, a password
    and a key. A real ``bimbing serve``, its log read whole."""
    gateway = FailingGateway()
    port = await gateway_server(gateway)
    await _due_reminders(database_url, office)
    server = ServerProcess(tmp_path, settings, BIMBING_NOTIFY_URL=f"http://bimbing:{PASSWORD}@127.0.0.1:{port}/loop?key={SECRET}",
                           BIMBING_NOTIFY_TIMEOUT_SECONDS="3", BIMBING_NOTIFY_POLL_SECONDS="1", BIMBING_NOTIFY_MAX_ATTEMPTS="3")
    try:
        await server.start()

        async def all_failed():
            rows = await _rows(database_url)
            return rows if rows and all(r.state == "failed" for r in rows) else None

        rows = await until(all_failed, timeout=40, what="every reminder failed three times")
        assert gateway.hits["loop"] == 3 * len(rows)  # one request per attempt, not eleven
        # The key and the password did reach the gateway: a URL credential still works.
        assert all(h.get("Authorization", "").startswith("Basic ") and key == SECRET for _w, h, _b, key in gateway.received)
        async with party_http(server.base) as admin:
            await sign_in_http(admin, "admin")
            async with admin.get("/api/notify/outbox") as resp:
                api = await resp.text()
            async with admin.get("/admin/notify") as resp:
                page = await resp.text()
    finally:
        await server.kill()
    log = server.log.read_text()
    assert f"redirect to http://127.0.0.1:{port}/loop not followed" in log and f"http://127.0.0.1:{port}/loop" in api
    stored = " ".join(f"{r.last_error} {r.text} {r.key}" for r in rows)
    for where, text in (("log", log), ("api", api), ("page", page), ("database", stored)):
        assert SECRET not in text and PASSWORD not in text, where


@pytest.mark.parametrize(
    "given, shown",
    [
        ("http://u:p@127.0.0.1:8080/send?key=s3cr3t#frag", "http://127.0.0.1:8080/send"),
        ("https://GW.example/send;v=1?api_key=s3cr3t", "https://gw.example/send;v=1"),
        ("/send?key=s3cr3t", "/send"),
        ("http://[::1]:9/a?b=s3cr3t", "http://[::1]:9/a"),
        ("http://u:p@[bad/x?s3cr3t", "<url>"),
        ("", ""),
    ],
)
def test_a_url_is_shown_without_user_query_or_fragment(given, shown):
    assert redact_url(given) == shown


def test_every_url_in_a_message_is_cut_the_same_way():
    message = ("TooManyRedirects: 302, message='', url=URL('http://u:p@127.0.0.1:5/loop?key=s3cr3t'); "
               "then \"https://gw.example/x?token=s3cr3t\" and ws://h/p?t=s3cr3t, no URL: key=plain")
    assert redact_urls(message) == ("TooManyRedirects: 302, message='', url=URL('http://127.0.0.1:5/loop'); "
                                    "then \"https://gw.example/x\" and ws://h/p, no URL: key=plain")


@pytest.mark.parametrize(
    "env, refused",
    [
        ({"BIMBING_NOTIFY_URL": f"ftp://gw.example/send?key={SECRET}"}, "must be an http:// or https:// address"),
        ({"BIMBING_NOTIFY_URL": f"http://gw.example:port/send?key={SECRET}"}, "must be an http:// or https:// address"),
        ({"BIMBING_NOTIFY_URL": f"http://u:{SECRET}@gw.example/send", "BIMBING_NOTIFY_TOKEN": "t"}, "keep the credential in one of them"),
        ({"BIMBING_NOTIFY_URL": "http://gw.example/send", "BIMBING_NOTIFY_TOKEN": f"{SECRET}\r\nX-Evil: 1"}, "printable ASCII"),
        ({"BIMBING_NOTIFY_URL": "http://gw.example/send", "BIMBING_NOTIFY_TOKEN_HEADER": "Idempotency-Key"}, "must be an HTTP header name"),
        ({"BIMBING_NOTIFY_URL": "http://gw.example/send", "BIMBING_NOTIFY_TOKEN_HEADER": "X Api"}, "must be an HTTP header name"),
    ],
)
def test_the_gateway_settings_refuse_what_would_leak_or_break_and_never_repeat_the_secret(tmp_path, env, refused):
    with pytest.raises(ConfigError, match=refused) as caught:
        Settings.from_env({"BIMBING_SECRET_KEY": "s" * 48, "BIMBING_DATA_DIR": str(tmp_path), **env})
    assert SECRET not in str(caught.value)


def test_the_gateway_settings_read_a_token_and_its_header(tmp_path):
    settings = Settings.from_env({"BIMBING_SECRET_KEY": "s" * 48, "BIMBING_DATA_DIR": str(tmp_path), "BIMBING_NOTIFY_URL": "https://gw.example/send",
                                  "BIMBING_NOTIFY_TOKEN": "abc def", "BIMBING_NOTIFY_TOKEN_HEADER": "X-Api-Key", "BIMBING_OUTREACH_RETENTION_DAYS": "3"})
    assert (settings.notify_token, settings.notify_token_header, settings.outreach_retention_days) == ("abc def", "X-Api-Key", 7)
