"""Networks that block UDP (issue 22): a call through TURN over TLS.

The client's Chromium runs in a network namespace whose firewall lets out
nothing but TCP to the server's web port and to the TURN server's TLS port
(443 when it can be bound here): every UDP datagram is dropped, as on an
office or hotel network that allows only TCP 443. A real coturn
(tests/browser/turn_support.py) listens on the host end; the server hands both
pages its URLs and use-auth-secret credentials in ``welcome``, and nobody
configures anything in the pages: the client's Chromium, finding no UDP path,
falls back to its relay over TLS by itself.

Needs root, ``ip``/``tc``/``nft``, Chromium and coturn: elsewhere these skip,
with CI=true they fail (.ci/run installs coturn).
"""

from __future__ import annotations

import asyncio
import time

import pytest

from tests.browser.reach_support import ReachServer, browser_args, start_call
from tests.browser.turn_support import TurnServer, require_turnserver
from tests.netshape import ShapedLink, require_shaping
from tests.peers import MEDIA_SETTLE
from tests.services import require_chromium

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# The page's latest peer connection: its configuration, the selected candidate
# pair with both candidates, and what it received and sent of each kind.
CALL_PATH = """
async () => {
  const pc = (window.__peerConnections || []).at(-1);
  if (!pc) return null;
  const config = pc.getConfiguration();
  const stats = new Map();
  (await pc.getStats()).forEach((s) => stats.set(s.id, s));
  const out = {policy: config.iceTransportPolicy, urls: config.iceServers.flatMap((s) => [].concat(s.urls)),
               ice: pc.iceConnectionState, pair: null, frames: 0, audioPackets: 0, videoPackets: 0, framesSent: 0};
  for (const s of stats.values()) {
    if (s.type === "transport" && s.selectedCandidatePairId) {
      const pair = stats.get(s.selectedCandidatePairId);
      const local = stats.get(pair.localCandidateId), remote = stats.get(pair.remoteCandidateId);
      out.pair = {state: pair.state, local: {type: local.candidateType, protocol: local.protocol, relayProtocol: local.relayProtocol || null},
                  remote: {type: remote.candidateType, protocol: remote.protocol}};
    }
    if (s.type === "inbound-rtp" && s.kind === "video") { out.frames += s.framesDecoded || 0; out.videoPackets += s.packetsReceived || 0; }
    if (s.type === "inbound-rtp" && s.kind === "audio") out.audioPackets += s.packetsReceived || 0;
    if (s.type === "outbound-rtp" && s.kind === "video") out.framesSent += s.framesEncoded || 0;
  }
  return out;
}
"""


@pytest.fixture(scope="module")
def blocked(tmp_path_factory):
    """A client namespace that can reach only TCP to the web port and TURN's TLS
    port, a coturn and a server on its host end."""
    require_shaping()
    chromium = require_chromium()
    turnserver = require_turnserver()
    link = ShapedLink(8000, 0).open(chromium)
    try:
        turn = TurnServer(link.host_addr, tmp_path_factory.mktemp("turn")).start(turnserver)
        try:
            server = ReachServer(link, tmp_path_factory.mktemp("turn-call"), env={
                "BIMBING_TURN_URLS": ",".join(turn.urls), "BIMBING_TURN_SECRET": turn.secret}).start()
            try:
                link.only_tcp_to(server.port, turn.tls_port)
                yield link, server, turn, chromium
            finally:
                server.stop()
        finally:
            turn.stop()
    finally:
        link.close()


@pytest.fixture
async def browsers(blocked):
    link, server, turn, chromium = blocked
    from playwright.async_api import async_playwright

    async with async_playwright() as pw:
        args = [*browser_args(server.url), *turn.chromium_args]
        pk = await pw.chromium.launch(executable_path=chromium, headless=True, args=args)
        phone = await pw.chromium.launch(executable_path=link.chromium_wrapper, headless=True, args=args)
        try:
            yield pk, phone
        finally:
            await phone.close()
            await pk.close()


async def _flowing(call, timeout: float) -> tuple[dict, dict]:
    """Both pages decode video and receive audio, rising over one sample, on a
    candidate pair each side's own check has confirmed. The side that did not
    nominate the pair may use it as soon as the other side's nominating check
    arrives, before the answer to its own check came back (the pair is then
    ``in-progress``): through a relay over TLS on a loaded machine that answer
    can come after the first media."""
    deadline = time.monotonic() + timeout
    before = await asyncio.gather(call.pk.evaluate(CALL_PATH), call.phone.evaluate(CALL_PATH))
    while time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        now = await asyncio.gather(call.pk.evaluate(CALL_PATH), call.phone.evaluate(CALL_PATH))
        if all(
            b and a and b["frames"] > a["frames"] and b["audioPackets"] > a["audioPackets"] and (b["pair"] or {}).get("state") == "succeeded"
            for a, b in zip(before, now)
        ):
            return now[0], now[1]
        before = now
    raise TimeoutError(f"no media both ways on a confirmed path within {timeout} s: {before}")


async def test_a_client_whose_network_allows_only_tcp_443_talks_through_turn_over_tls(blocked, browsers):
    link, server, turn, _ = blocked
    lines: list[str] = []
    call = await start_call(*browsers, server, console_lines=lines)
    try:
        admitted = time.monotonic()
        pk, phone = await _flowing(call, timeout=MEDIA_SETTLE)
        flowing = time.monotonic()
        entered = next(t for t, what in call.timeline if what == "device check passed")
        print(f"TURN/TLS on port {turn.tls_port}: media both ways {flowing - call.t_link - entered:.1f} s after the client "
              f"entered (join), {flowing - admitted:.1f} s after the PK admitted; {link.dropped_udp_packets()} UDP datagrams dropped")
        print("client's path:", phone["pair"], "PK's path:", pk["pair"])

        # The pages use every ICE server the server gave, with the policy left at "all".
        for page in (pk, phone):
            assert page["policy"] == "all"
            assert set(turn.urls) <= set(page["urls"]), page["urls"]
        # The client's media goes through its relay over TLS, and the PK sees the relay.
        assert phone["pair"]["state"] == "succeeded"
        assert phone["pair"]["local"] == {"type": "relay", "protocol": "udp", "relayProtocol": "tls"}, phone["pair"]
        assert pk["pair"]["remote"]["type"] == "relay", pk["pair"]
        # UDP really was tried, and dropped.
        assert link.dropped_udp_packets() > 0
        # Both ways, more than a trickle: frames and packets keep arriving.
        pk2, phone2 = await _flowing(call, timeout=10)
        assert phone2["frames"] > phone["frames"] and pk2["frames"] > pk["frames"]
        assert min(pk2["videoPackets"], phone2["videoPackets"], pk2["audioPackets"], phone2["audioPackets"]) > 0

        # The server observed the call: its interval opened on both sides' evidence.
        deadline = time.monotonic() + MEDIA_SETTLE
        while "media_connected" not in (kinds := [e["kind"] for e in (await call.session())["events"]]) and time.monotonic() < deadline:
            await asyncio.sleep(0.5)
        assert "media_connected" in kinds, kinds
    except BaseException:
        print("\n".join(lines[-60:]))
        print(turn.log.read_text()[-3000:])
        raise
    finally:
        await call.close()
