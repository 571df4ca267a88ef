"""A shaped link between this machine and a client in its own network namespace.

The kernel here has no ``netem`` (PITFALLS 9), so a poor mobile link is built from
what it has: a network namespace joined to the host by a veth pair, ``tc tbf`` on
each end for the rate and a queue (400 ms, like a congested cell), and an
``nftables`` rule with ``numgen random`` on each end's output for random loss.
Bringing the host-side veth down and up makes a clean outage; giving the
namespace's end a new address is a change of network (Wi-Fi to mobile data).

Everything here is named with one prefix and a per-run suffix, lives on a
private /29 no interface of this machine uses, and is removed in ``close()``; a
stale namespace of the same prefix (a killed run) is removed at the next start.

Needs root and ``ip``, ``tc``, ``nft`` (``apt-get install -y iproute2 nftables``).
Elsewhere ``require_shaping()`` skips; with CI=true it fails (tests/services.py).
"""

from __future__ import annotations

import ipaddress
import os
import random
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PREFIX = "bimreach"


def _run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=20)
    if check and done.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}): {done.stderr.strip()}")
    return done


def shaping_missing() -> str | None:
    """Why a shaped link cannot be built here, or None when it can."""
    if os.geteuid() != 0:
        return "shaped-link tests need root (network namespaces, tc, nftables)"
    for tool in ("ip", "tc", "nft"):
        if shutil.which(tool) is None:
            return f"{tool} not found (apt-get install -y iproute2 nftables)"
    return None


def require_shaping() -> None:
    from tests.services import unavailable

    why = shaping_missing()
    if why:
        unavailable("a shaped network link", why)


def _stale(name: str, prefix: str) -> bool:
    """Ours (``prefix`` + PID + ``x`` + suffix) and its process is gone. Another
    run (a bench beside the tests) keeps its link while it lives."""
    if not name.startswith(prefix) or "x" not in name[len(prefix):]:
        return False
    pid = name[len(prefix):].split("x", 1)[0]
    if not pid.isdigit():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def remove_stale() -> None:
    """Namespaces, veths and nft tables left by a killed run of ours (our prefix only)."""
    for line in _run("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split()[0] if line.split() else ""
        if _stale(name, PREFIX):
            _run("ip", "netns", "del", name, check=False)
    for line in _run("ip", "-o", "link", "show", check=False).stdout.splitlines():
        parts = line.split(":")
        name = parts[1].strip().split("@")[0] if len(parts) > 1 else ""
        if _stale(name, "brh"):  # deleting the namespace usually takes its peer along
            _run("ip", "link", "del", name, check=False)
    tables = _run("nft", "list", "tables", check=False).stdout.split()
    for i, word in enumerate(tables):
        if i >= 2 and _stale(word, PREFIX):
            _run("nft", "delete", "table", tables[i - 1], word, check=False)


def _free_subnet() -> ipaddress.IPv4Network:
    """A /29 in 10.213.0.0/16 that no interface on this machine uses."""
    used = [ipaddress.ip_interface(w).network for line in _run("ip", "-o", "-4", "addr", "show").stdout.splitlines()
            for w in line.split() if "/" in w and w[0].isdigit()]
    for _ in range(200):
        net = ipaddress.ip_network(f"10.213.{random.randrange(256)}.{random.randrange(32) * 8}/29")
        if not any(net.overlaps(u) for u in used):
            return net
    raise RuntimeError("no free private /29 for the shaped link")


@dataclass
class ShapedLink:
    """One client namespace behind a shaped veth. ``host_addr`` is where the server
    listens; the client's Chromium runs inside ``namespace`` (``chromium_wrapper``)."""

    rate_kbit: int
    loss_pct: float
    # PID first (remove_stale() spares a living run's link), then a per-link suffix;
    # interface names must stay within 15 characters.
    tag: str = field(default_factory=lambda: f"{os.getpid()}x{random.randrange(100):02d}")
    namespace: str = ""
    host_if: str = ""
    ns_if: str = ""
    host_addr: str = ""
    client_addr: str = ""
    subnet: ipaddress.IPv4Network | None = None
    chromium_wrapper: str = ""
    _tmp: str = ""

    def open(self, chromium: str = "/usr/bin/chromium") -> "ShapedLink":
        remove_stale()
        self.namespace = f"{PREFIX}{self.tag}"
        self.host_if, self.ns_if = f"brh{self.tag}", f"brc{self.tag}"
        self.subnet = _free_subnet()
        hosts = list(self.subnet.hosts())
        self.host_addr, self.client_addr = str(hosts[0]), str(hosts[1])
        plen = self.subnet.prefixlen
        try:
            _run("ip", "netns", "add", self.namespace)
            _run("ip", "link", "add", self.host_if, "type", "veth", "peer", "name", self.ns_if)
            _run("ip", "link", "set", self.ns_if, "netns", self.namespace)
            _run("ip", "addr", "add", f"{self.host_addr}/{plen}", "dev", self.host_if)
            _run("ip", "link", "set", self.host_if, "up")
            self._ns("ip", "addr", "add", f"{self.client_addr}/{plen}", "dev", self.ns_if)
            self._ns("ip", "link", "set", self.ns_if, "up")
            self._ns("ip", "link", "set", "lo", "up")
            for table, ifname, inside in ((f"{PREFIX}{self.tag}h", self.host_if, False), (f"{PREFIX}{self.tag}c", self.ns_if, True)):
                nft = (lambda *a: self._ns("nft", *a)) if inside else (lambda *a: _run("nft", *a))
                nft("add", "table", "inet", table)
                nft("add", "chain", "inet", table, "out", "{ type filter hook output priority 0 ; }")
            self.shape(self.rate_kbit, self.loss_pct)
            self._tmp = tempfile.mkdtemp(prefix=f"{PREFIX}-")
            wrapper = Path(self._tmp) / "chromium-in-namespace"
            # Playwright starts this as the browser; it talks to it over inherited pipes,
            # which `ip netns exec` keeps.
            wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {self.namespace} {chromium} "$@"\n')
            wrapper.chmod(0o755)
            self.chromium_wrapper = str(wrapper)
        except BaseException:
            self.close()
            raise
        return self

    def _ns(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return _run("ip", "netns", "exec", self.namespace, *args, check=check)

    def shape(self, rate_kbit: int, loss_pct: float) -> None:
        """Set the rate (each way, with a 400 ms queue) and the random loss (each way)."""
        self.rate_kbit, self.loss_pct = rate_kbit, loss_pct
        tbf = ("root", "tbf", "rate", f"{rate_kbit}kbit", "burst", "3000", "latency", "400ms")
        _run("tc", "qdisc", "replace", "dev", self.host_if, *tbf)
        self._ns("tc", "qdisc", "replace", "dev", self.ns_if, *tbf)
        for table, ifname, inside in ((f"{PREFIX}{self.tag}h", self.host_if, False), (f"{PREFIX}{self.tag}c", self.ns_if, True)):
            nft = (lambda *a: self._ns("nft", *a)) if inside else (lambda *a: _run("nft", *a))
            nft("flush", "chain", "inet", table, "out")
            if loss_pct > 0:
                nft("add", "rule", "inet", table, "out", "oifname", ifname, "numgen", "random", "mod", "1000",
                    "<", str(int(round(loss_pct * 10))), "drop")

    def only_tcp_to(self, *ports: int) -> None:
        """A network that lets nothing out but TCP to ``ports`` on the host end (a
        hotel or office firewall that allows only TCP 443): every UDP datagram the
        namespace sends is dropped, and so is TCP to any other port (or from any
        listening port of the namespace: no direct ICE-TCP path either). In a chain
        of its own, so ``shape()`` leaves it be."""
        table = f"{PREFIX}{self.tag}c"
        allowed = "{ " + ", ".join(str(p) for p in ports) + " }"
        self._ns("nft", "add", "chain", "inet", table, "only", "{ type filter hook output priority 1 ; }")
        self._ns("nft", "add", "rule", "inet", table, "only", "oifname", self.ns_if, "meta", "l4proto", "udp", "counter", "drop")
        self._ns("nft", "add", "rule", "inet", table, "only", "oifname", self.ns_if, "tcp", "dport", "!=", allowed, "drop")

    def dropped_udp_packets(self) -> int:
        """UDP datagrams the namespace tried to send and ``only_tcp_to`` dropped."""
        out = self._ns("nft", "list", "chain", "inet", f"{PREFIX}{self.tag}c", "only").stdout
        return sum(int(line.split("packets")[1].split()[0]) for line in out.splitlines() if "udp" in line and "packets" in line)

    def set_up(self, up: bool) -> None:
        """Outage: the host-side veth down (nothing passes either way), then up again."""
        _run("ip", "link", "set", self.host_if, "up" if up else "down")
        if up:
            # Bringing a link up re-adds no qdisc settings, but make sure the rate holds.
            self.shape(self.rate_kbit, self.loss_pct)

    def move_client(self) -> str:
        """A change of network, make-before-break as a phone does it (mobile data
        is up before Wi-Fi goes): the client's end gets the next free address of
        the subnet, then loses the old one, so it is never without an address (no
        ``offline`` event). Everything bound to the old address (the ICE
        candidate pair, the signaling socket) is dead from then on, silently; a
        new connection from the new address works."""
        assert self.subnet is not None
        hosts = [str(h) for h in self.subnet.hosts()]
        new = hosts[hosts.index(self.client_addr) + 1]
        plen = self.subnet.prefixlen
        # Deleting a primary address deletes the secondary ones of its subnet too,
        # unless they are promoted.
        self._ns("sh", "-c", f"echo 1 > /proc/sys/net/ipv4/conf/{self.ns_if}/promote_secondaries")
        self._ns("ip", "addr", "add", f"{new}/{plen}", "dev", self.ns_if)
        self._ns("ip", "addr", "del", f"{self.client_addr}/{plen}", "dev", self.ns_if)
        self.client_addr = new
        return new

    def client_upload_bytes(self) -> int:
        """Bytes the client's end has put on the wire (frames, all headers included)."""
        out = self._ns("tc", "-s", "qdisc", "show", "dev", self.ns_if).stdout
        words = out.split()
        return int(words[words.index("Sent") + 1]) if "Sent" in words else 0

    def close(self) -> None:
        if self.namespace:
            _run("ip", "netns", "del", self.namespace, check=False)
        if self.host_if:
            _run("ip", "link", "del", self.host_if, check=False)
            _run("nft", "delete", "table", "inet", f"{PREFIX}{self.tag}h", check=False)
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)

    def __enter__(self) -> "ShapedLink":
        return self.open()

    def __exit__(self, *exc) -> None:
        self.close()
