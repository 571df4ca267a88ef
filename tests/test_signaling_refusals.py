"""Refusals, as a table: every hostile or mistaken connection or message gets
its documented error code (docs/signaling.md §4), only that connection is
ever closed, and afterwards the PK and the client still negotiate in the
same room."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import pytest

from server.security import joinpass
from tests.conftest import seed_office
from tests.peers import Stage, offer_answer_works, stage


def _pass(settings, session_id: int, version: int, *, expires_in: timedelta = timedelta(hours=1), device: str = "feedfacecafebeef") -> str:
    grant = joinpass.ClientPass(session_id, version, device, datetime.now(timezone.utc) + expires_in)
    return joinpass.encode(settings.secret_key, grant)


async def _with_pass(st: Stage, value: str):
    http = await st.browser()
    http.cookie_jar.update_cookies({joinpass.COOKIE: value})
    return http


# ---- who may join ------------------------------------------------------------------
# Each builder returns (browser, role, session id); the expected error closes that socket.

async def expired_pass(st, settings, db_url):
    return await _with_pass(st, _pass(settings, st.session_id, 2, expires_in=timedelta(seconds=-5))), "client", None


async def tampered_pass(st, settings, db_url):
    good = _pass(settings, st.session_id, 2)
    body, sig = good.split(".")
    forged = joinpass._b64(json.dumps({"s": st.session_id, "v": 2, "d": "attacker", "exp": 4102444800}).encode())
    return await _with_pass(st, f"{forged}.{sig}"), "client", None


async def revoked_pass(st, settings, db_url):
    # Signed correctly, but for link_version 1: the PK reissued the link (now 2).
    return await _with_pass(st, _pass(settings, st.session_id, 1)), "client", None


async def foreign_pass(st, settings, db_url):
    # A valid pass for another session, used on this one.
    other = await _another_session(st)
    return await _with_pass(st, _pass(settings, other, 1)), "client", None


async def no_pass(st, settings, db_url):
    return await st.browser(), "client", None


async def another_pk(st, settings, db_url):
    return await st.browser("pk2"), "officer", None


async def staff_of_another_office(st, settings, db_url):
    await seed_office(db_url, name="Bapas Lain", prefix="x_")
    return await st.browser("x_kasie"), "officer", None


async def nobody_signed_in_as_officer(st, settings, db_url):
    return await st.browser(), "officer", None


async def supervisor_while_pk_holds_the_place(st, settings, db_url):
    return await st.browser("kasie"), "officer", None


async def pass_for_a_closed_session(st, settings, db_url):
    other = await _another_session(st)
    async with st.pk.post(f"/api/sessions/{other}/end") as resp:
        assert resp.status == 200
    return await _with_pass(st, _pass(settings, other, 1)), "client", other


async def _another_session(st: Stage) -> int:
    async with st.pk.post("/api/sessions", json={"client_id": st.session["client_id"], "mode": "video"}) as resp:
        assert resp.status == 201
        return (await resp.json())["id"]


JOIN_REFUSALS = [
    ("expired join pass", expired_pass, "link-expired"),
    ("tampered join pass", tampered_pass, "unauthorized"),
    ("revoked link (link_version bumped)", revoked_pass, "link-revoked"),
    ("pass for another session", foreign_pass, "forbidden"),
    ("no pass at all", no_pass, "unauthorized"),
    ("PK who does not own the client", another_pk, "forbidden"),
    ("staff of another office", staff_of_another_office, "forbidden"),
    ("officer join without signing in", nobody_signed_in_as_officer, "unauthorized"),
    ("second staff member while the PK is in", supervisor_while_pk_holds_the_place, "room-full"),
    ("pass for an ended session", pass_for_a_closed_session, "session-closed"),
]


@pytest.mark.parametrize("builder, code", [pytest.param(b, c, id=name) for name, b, c in JOIN_REFUSALS])
async def test_intruder_is_refused_and_the_room_still_works(aiohttp_server, settings, office, database_url, builder, code):
    async with stage(aiohttp_server, settings, office, reissue=True) as st:
        officer, client = await st.officer_and_admitted_client()
        http, role, session_id = await builder(st, settings, database_url)
        intruder = st.peer(http, role, session_id=session_id)
        await intruder.connect()
        await intruder.send({"type": "join", "role": role})
        error = await intruder.next("error")
        assert error["code"] == code and error["message"]
        assert await intruder.wait_closed() == 1008
        assert "welcome" not in intruder.types()
        await offer_answer_works(officer, client)
        assert officer.types().count("peer-left") == 0 and client.types().count("peer-left") == 0


# ---- what a joined connection may send ----------------------------------------------------

@dataclass
class Abuse:
    sender: str  # officer | client | waiting (a second device in the waiting room)
    frames: list[str | bytes]
    code: str
    closes: bool = False


ABUSES = {
    "malformed JSON": Abuse("client", ['{"type": "offer", "sdp": '], "bad-message"),
    "not an object": Abuse("officer", ['["offer"]'], "bad-message"),
    "binary frame": Abuse("client", [b"\x00\x01"], "bad-message"),
    "oversized message (70 KiB)": Abuse("officer", [json.dumps({"type": "offer", "sdp": "a" * 70_000})], "too-large"),
    "sdp over 32 KiB": Abuse("client", [json.dumps({"type": "answer", "sdp": "a" * 40_000})], "too-large"),
    "candidate over 1 KiB": Abuse("client", [json.dumps({"type": "candidate", "candidate": {"candidate": "c" * 2000}})], "too-large"),
    "unknown type": Abuse("officer", ['{"type": "kick", "who": "client"}'], "unknown-type"),
    "unknown field": Abuse("client", ['{"type": "ping", "extra": 1}'], "bad-message"),
    "wrong field type": Abuse("client", ['{"type": "media-state", "state": 3}'], "bad-message"),
    "second join": Abuse("client", ['{"type": "join", "role": "officer"}'], "already-joined"),
    "client tries to admit": Abuse("client", ['{"type": "admit"}'], "forbidden"),
    "client tries to end": Abuse("client", ['{"type": "end"}'], "forbidden"),
    "relay from a waiting client": Abuse("waiting", ['{"type": "offer", "sdp": "v=0"}'], "not-admitted"),
    "flood": Abuse("waiting", ['{"type": "ping"}'] * 300, "rate-limited", closes=True),
    "repeated abuse": Abuse("waiting", ["nonsense"] * 12, "bad-message", closes=True),
}


# Message handling does not touch the database: these run on SQLite only.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("abuse", [pytest.param(a, id=name) for name, a in ABUSES.items()])
async def test_bad_message_gets_its_error_and_the_room_keeps_working(aiohttp_server, settings, office, abuse: Abuse):
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        if abuse.sender == "waiting":
            tablet = await st.browser(join_url=st.session["client_join_url"])
            sender = st.peer(tablet, "client")
            await sender.join()
            await sender.next("waiting")
        else:
            sender = officer if abuse.sender == "officer" else client
        for frame in abuse.frames:
            await sender.send_raw(frame)
        error = await sender.next("error")
        assert error["code"] == abuse.code, error
        if abuse.closes:
            assert await sender.wait_closed() == 1008
        else:
            assert (await sender.ping()) == {"type": "pong"}
        await offer_answer_works(officer, client)


async def test_a_message_before_join_closes_only_that_connection(aiohttp_server, settings, office):
    async with stage(aiohttp_server, settings, office) as st:
        officer, client = await st.officer_and_admitted_client()
        stranger = st.peer(await st.browser(), "client")
        await stranger.connect()
        await stranger.send({"type": "offer", "sdp": "v=0"})
        assert (await stranger.next("error"))["code"] == "not-joined"
        assert await stranger.wait_closed() == 1008
        await offer_answer_works(officer, client)
