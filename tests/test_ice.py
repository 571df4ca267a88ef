"""ICE servers from settings, with TURN credentials coturn's use-auth-secret accepts."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path

import pytest

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


def test_malformed_ice_urls_are_refused_at_start_up(tmp_path):
    """A browser throws in ``new RTCPeerConnection`` on a malformed URL, so no call
    would start: the server refuses to start instead, saying which setting."""
    from server.settings import ConfigError

    env = {"BIMBING_DATA_DIR": str(tmp_path), "BIMBING_SECRET_KEY": "x" * 40}
    good = Settings.from_env({**env, "BIMBING_STUN_URLS": "stun:turn.bapas.example:3478",
                              "BIMBING_TURN_URLS": "turn:turn.bapas.example:3478?transport=udp, turns:turn.bapas.example:443?transport=tcp,turn:[2001:db8::1]"})
    assert good.turn_urls == ("turn:turn.bapas.example:3478?transport=udp", "turns:turn.bapas.example:443?transport=tcp", "turn:[2001:db8::1]")
    for name, bad in (("TURN_URLS", "turns://turn.bapas.example:443"), ("TURN_URLS", "stun:turn.bapas.example"),
                      ("TURN_URLS", "turn:turn.bapas.example:70000"), ("TURN_URLS", "turn:turn.bapas.example?transport=tls"),
                      ("STUN_URLS", "stun:turn.bapas.example?transport=udp"), ("STUN_URLS", "turn:turn.bapas.example")):
        with pytest.raises(ConfigError) as refused:
            Settings.from_env({**env, f"BIMBING_{name}": bad})
        assert f"BIMBING_{name}" in str(refused.value) and repr(bad) in str(refused.value)


def test_the_compose_file_offers_turn_over_tls_on_443():
    """docker-compose.yml: coturn takes TLS on 443 with a certificate, and the app
    hands out TURN over UDP, TCP and TLS on 443 (docs/deploy.md, "TLS and TURN")."""
    compose = (Path(__file__).resolve().parents[1] / "docker-compose.yml").read_text()
    urls = next(line for line in compose.splitlines() if "BIMBING_TURN_URLS:" in line)
    assert "?transport=udp" in urls and "?transport=tcp" in urls
    assert re.search(r"turns:\$\{[^}]+\}\}?:443\?transport=tcp", urls), urls
    assert "--tls-listening-port=${TURN_TLS_PORT:-443}" in compose
    assert "--cert=/etc/coturn/certs/fullchain.pem" in compose and "--pkey=/etc/coturn/certs/privkey.pem" in compose
