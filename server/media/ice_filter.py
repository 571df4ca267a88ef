"""Which ICE candidates of the console's offer the recorder may try.

The recorder (recorder.py) is a WebRTC peer *on the server*: every candidate in
the officer's ``record-offer`` makes it send STUN checks, and then media, to
that address and port. Unfiltered, a signed-in officer (or a hijacked console)
could point it at the server itself or at the networks only the server reaches
(the database, Redis, an admin interface): a small request forgery from inside
(issue #12). So before the offer reaches aiortc its ``a=candidate`` lines are
checked, and a candidate is dropped when its address is

* loopback, unspecified, link-local, multicast or reserved — never a browser;
* in a network of one of the server's own interfaces (read with ifaddr, which
  aioice itself uses), unless the operator allowed that network with
  ``BIMBING_RECORDER_ALLOW_NETWORKS`` (an office LAN the server also sits on);
* a host name other than an mDNS ``.local`` name (browsers hide their LAN
  address behind one; anything else would be resolved by our DNS).

Relay (TURN) candidates are addresses of our own TURN server and pass when
that is public; coturn's own ``denied-peer-ip`` guards what lies behind it.
"""

from __future__ import annotations

import ipaddress
from functools import lru_cache
from typing import Iterable

import ifaddr

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=1)
def server_networks() -> tuple[Network, ...]:
    """The networks of this machine's interfaces (cached: they do not change under a running server)."""
    out = []
    for adapter in ifaddr.get_adapters():
        for ip in adapter.ips:
            address = ip.ip if isinstance(ip.ip, str) else ip.ip[0]
            try:
                out.append(ipaddress.ip_network(f"{address}/{ip.network_prefix}", strict=False))
            except ValueError:
                continue
    return tuple(out)


def parse_networks(values: Iterable[str]) -> tuple[Network, ...]:
    return tuple(ipaddress.ip_network(v.strip(), strict=False) for v in values if v.strip())


def candidate_allowed(address: str, own: Iterable[Network], allowed: Iterable[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip("[]"))
    except ValueError:
        return address.lower().endswith(".local") and len(address) <= 255
    if ip.is_loopback or ip.is_unspecified or ip.is_link_local or ip.is_multicast or ip.is_reserved:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        return candidate_allowed(str(ip.ipv4_mapped), own, allowed)
    if any(ip in net for net in allowed if net.version == ip.version):
        return True
    return not any(ip in net for net in own if net.version == ip.version)


def filter_offer(sdp: str, allowed: Iterable[Network] = (), own: Iterable[Network] | None = None) -> tuple[str, int]:
    """The offer without the candidates the recorder must not try; and how many were dropped."""
    own = server_networks() if own is None else tuple(own)
    allowed = tuple(allowed)
    kept, dropped = [], 0
    for line in sdp.splitlines(keepends=True):
        if line.startswith("a=candidate:"):
            parts = line.split()
            # a=candidate:<foundation> <component> <transport> <priority> <address> <port> typ <type> ...
            if len(parts) < 8 or not candidate_allowed(parts[4], own, allowed):
                dropped += 1
                continue
        kept.append(line)
    return "".join(kept), dropped
