"""The recorder cannot be pointed at the server itself or its networks (issue #12):
the console's record-offer loses those ICE candidates before aiortc sees them."""

from __future__ import annotations

import ipaddress

import pytest

from server.media.ice_filter import candidate_allowed, filter_offer, parse_networks

OWN = parse_networks(["192.0.2.0/24", "10.20.0.0/16", "fd00::/64"])


@pytest.mark.parametrize(
    "address, allowed, ok",
    [
        ("127.0.0.1", (), False),  # loopback
        ("127.8.9.10", (), False),
        ("::1", (), False),
        ("0.0.0.0", (), False),  # unspecified
        ("::", (), False),
        ("169.254.169.254", (), False),  # link-local (cloud metadata)
        ("fe80::1", (), False),
        ("224.0.0.251", (), False),  # multicast
        ("240.0.0.1", (), False),  # reserved
        ("::ffff:127.0.0.1", (), False),  # loopback dressed as IPv6
        ("::ffff:10.20.1.1", (), False),
        ("192.0.2.7", (), False),  # the server's own network
        ("10.20.3.4", (), False),
        ("fd00::99", (), False),
        ("192.0.2.7", ("192.0.2.0/24",), True),  # ... unless the operator allowed it (office LAN)
        ("127.0.0.1", ("0.0.0.0/0",), False),  # loopback never
        ("redis.internal", (), False),  # a name our DNS would resolve
        ("localhost", (), False),
        ("x" * 300 + ".local", (), False),
        ("3f1c2a9e-1111-2222-3333-444455556666.local", (), True),  # a browser's mDNS name
        ("203.0.113.50", (), True),  # the officer's public address
        ("198.51.100.7", (), True),
        ("2001:db8::5", (), True),
    ],
)
def test_which_candidate_addresses_the_recorder_may_try(address, allowed, ok):
    assert candidate_allowed(address, OWN, parse_networks(allowed)) is ok


def test_the_offer_keeps_everything_but_the_refused_candidates():
    offer = (
        "v=0\r\no=- 1 1 IN IP4 0.0.0.0\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n"
        "a=candidate:1 1 udp 2130706431 127.0.0.1 6379 typ host\r\n"
        "a=candidate:2 1 udp 2130706431 192.0.2.2 5432 typ host\r\n"
        "a=candidate:3 1 udp 1694498815 203.0.113.50 40000 typ srflx raddr 192.0.2.2 rport 40000\r\n"
        "a=candidate:4 1 tcp 1518280447 169.254.169.254 80 typ host tcptype passive\r\n"
        "a=candidate:broken\r\n"
        "a=rtpmap:111 opus/48000/2\r\n"
    )
    kept, dropped = filter_offer(offer, (), OWN)
    assert dropped == 4
    assert [line.split()[4] for line in kept.splitlines() if line.startswith("a=candidate:")] == ["203.0.113.50"]
    assert "a=rtpmap:111 opus/48000/2\r\n" in kept and kept.startswith("v=0\r\n")


def test_the_servers_own_networks_are_read_from_its_interfaces():
    from server.media.ice_filter import server_networks

    assert any(ipaddress.ip_address("127.0.0.1") in net for net in server_networks())
