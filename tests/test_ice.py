"""ICE servers from settings, with TURN credentials coturn's use-auth-secret accepts."""

from __future__ import annotations

import base64
import hashlib
import hmac

from server.settings import Settings
from server.signaling.ice import ice_servers, turn_credentials
from tests.peers import stage


def test_no_ice_servers_unless_configured():
    # An empty list, not a public STUN server (PITFALLS 4).
    assert ice_servers(Settings(secret_key="x" * 40), "client-1-ab") == []


def test_turn_credentials_are_what_coturn_recomputes():
    settings = Settings(
        secret_key="x" * 40,
        stun_urls=("stun:turn.bapas.example:3478",),
        turn_urls=("turn:turn.bapas.example:3478?transport=udp", "turns:turn.bapas.example:5349"),
        turn_secret="coturn-static-auth-secret",
        turn_ttl_seconds=600,
    )
    servers = ice_servers(settings, "client-7-ab12", now=1_800_000_000)
    assert servers[0] == {"urls": ["stun:turn.bapas.example:3478"]}
    turn = servers[1]
    assert turn["urls"] == ["turn:turn.bapas.example:3478?transport=udp", "turns:turn.bapas.example:5349"]
    assert turn["username"] == "1800000600:client-7-ab12"
    # coturn (use-auth-secret): password = base64(HMAC-SHA1(static-auth-secret, username))
    expected = base64.b64encode(hmac.new(b"coturn-static-auth-secret", turn["username"].encode(), hashlib.sha1).digest()).decode()
    assert turn["credential"] == expected


def test_turn_credentials_live_at_most_an_hour():
    username, _ = turn_credentials("s", "officer-1-2", ttl_seconds=86_400, now=1000)
    assert username == "4600:officer-1-2"


def test_turn_needs_both_urls_and_secret():
    assert ice_servers(Settings(secret_key="x" * 40, turn_urls=("turn:t:3478",)), "p") == []


async def test_each_party_gets_its_own_turn_credentials_in_welcome(aiohttp_server, settings, office):
    settings = settings.with_(turn_urls=("turn:127.0.0.1:3478",), turn_secret="shared-secret", stun_urls=("stun:127.0.0.1:3478",))
    async with stage(aiohttp_server, settings, office) as st:
        officer = st.peer(st.pk, "officer")
        client = st.peer(st.phone, "client")
        officer_turn = (await officer.join())["ice_servers"][1]
        client_welcome = await client.join()
        client_turn = client_welcome["ice_servers"][1]
        assert officer_turn["username"].endswith(f":officer-{st.session_id}-{officer_turn['username'].rsplit('-', 1)[1]}")
        assert client_turn["username"].endswith(f":client-{st.session_id}-{client_welcome['device']}")
        assert officer_turn["credential"] != client_turn["credential"]
