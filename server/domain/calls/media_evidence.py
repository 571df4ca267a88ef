"""When a call's time counts: the rule that one party alone cannot fake.

A party's ``media-state`` is its own word. Its heartbeat (``ping``) also carries
the packets and bytes it has *received* per kind (``getStats()`` inbound-rtp),
and a party can only receive what the other one really sends. So the server
counts connected time only while both parties say ``connected`` **and** both
report their inbound packets increasing: a lying side that claims ``connected``
with no media leaves the honest side's counters flat, and a side whose counters
freeze (the media stopped, or it stopped telling) closes the interval.

This module is pure (no database, no clock, no I/O): both call logs (the
in-process one in server/domain/calls/call_log.py and the Redis-shared one) keep one
``flow`` record per role in their call state and pass it through :func:`judge`.
"""

from __future__ import annotations

from typing import Any, Mapping

KINDS = ("audio", "video")
CONNECTED_STATES = frozenset({"connected", "completed"})

# Why a side's media no longer counts (the ``reason`` of the closing event).
FROZEN = "frozen"  # its inbound packets did not increase since its last report
CONTRADICTORY = "contradictory"  # its counters went backwards, or bytes and packets disagree


def totals(inbound: Mapping[str, Mapping[str, int]] | None) -> tuple[int, int | None]:
    """(packets, bytes) received, summed over the kinds; bytes is None when a
    kind reported none (aiortc gives packets only)."""
    packets = 0
    bytes_: int | None = 0
    for kind in KINDS:
        counters = (inbound or {}).get(kind)
        if not counters:
            continue
        packets += int(counters.get("packets", 0) or 0)
        if counters.get("bytes") is None:
            bytes_ = None
        elif bytes_ is not None:
            bytes_ += int(counters["bytes"])
    return packets, bytes_


def judge(previous: Mapping[str, Any] | None, inbound: Mapping[str, Mapping[str, int]], *, fresh: bool = False) -> dict[str, Any]:
    """One side's new flow record from its previous one and its new counters.

    ``fresh`` says the side's peer connection is new since the previous report
    (its ICE state left ``connected`` in between), so counters restarting from
    zero are expected rather than contradictory. The record is JSON-able:
    ``{"packets", "bytes", "flowing", "reason"}``; ``reason`` is None while
    flowing, else why not."""
    packets, bytes_ = totals(inbound)
    before_packets = int((previous or {}).get("packets", 0) or 0)
    before_bytes = (previous or {}).get("bytes", 0)
    if previous is None or fresh:
        before_packets, before_bytes = 0, 0
    with_bytes = bytes_ is not None and before_bytes is not None
    if packets < before_packets or (with_bytes and bytes_ < before_bytes):
        flowing, reason = False, CONTRADICTORY
    elif packets == before_packets:
        flowing, reason = False, FROZEN
    elif with_bytes and bytes_ <= before_bytes:
        # Packets arrived but carried nothing: an RTP packet has a payload.
        flowing, reason = False, CONTRADICTORY
    else:
        flowing, reason = True, None
    return {"packets": packets, "bytes": bytes_, "flowing": flowing, "reason": reason}


def counting(media: Mapping[str, str], flow: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether the call's time counts now: both parties connected, and both
    parties' last reports show media arriving."""
    return all(media.get(role) in CONNECTED_STATES and bool((flow.get(role) or {}).get("flowing")) for role in ("officer", "client"))


def stop_reason(flow: Mapping[str, Mapping[str, Any]]) -> tuple[str, str] | None:
    """(role, reason) of the first side whose media does not count, if any."""
    for role in ("officer", "client"):
        record = flow.get(role) or {}
        if not record.get("flowing"):
            return role, str(record.get("reason") or FROZEN)
    return None
