"""The two ways a frame is read (server/signaling/protocol.py, issue 24): the
quick one (pydantic-core parses and checks the JSON in one pass) and the careful
one (``json.loads``, then the checks, each refusal with its own code). ``parse``
takes the quick way and falls back to the careful one when it refuses, so a
peer must see no difference: whatever the quick way accepts, the careful way
accepts as the same message, and ``parse`` answers every frame exactly as the
careful way does. And a relayed frame is the sender's object plus ``from``,
valid as the server's relayed message."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from server.signaling import protocol as p
from tests.signaling_fuzz import frame as fuzz_frame
from tests.signaling_fuzz import json_values, valid


def _outcome(read, frame):
    try:
        return ("accepted", read(frame))
    except p.ProtocolError as exc:
        return ("refused", exc.code, exc.message)


def _quick(frame):
    """The quick way alone, as ``parse`` tries it first (None: refused)."""
    try:
        return p._peer_adapter.validate_json(frame, strict=True)
    except ValidationError:
        return None


# The same objects written the ways a browser or a hostile peer might: other
# spacing, non-ASCII kept, keys repeated (the last one counts for both JSON
# readers), numbers written as floats, escapes, NaN, a byte-order mark,
# trailing junk.
def _respell(obj: dict, how: str) -> str:
    if how == "spaced":
        return json.dumps(obj, indent=2) + "\n \t"
    if how == "unicode":
        return json.dumps(obj, ensure_ascii=False)
    if how == "repeated-type":
        return '{"type": "ping", ' + json.dumps(obj)[1:]
    if how == "repeated-last":
        text = json.dumps(obj)
        return text[:-1] + ', "type": ' + json.dumps(obj.get("type")) + "}" if len(obj) else text
    if how == "floats":
        return json.dumps(obj).replace(": 0", ": 0.0").replace(": 1", ": 1e0")
    if how == "escaped":
        return json.dumps(obj).replace("a", "\\u0061").replace("o", "\\ud800")
    if how == "nan":
        return json.dumps({**obj, "stalled_ms": float("nan")})
    if how == "bom":
        return "\ufeff" + json.dumps(obj)
    if how == "junk":
        return json.dumps(obj) + " x"
    if how == "control":
        return json.dumps(obj).replace('"type"', '"ty\x01pe"')
    return json.dumps(obj)


HOW = ["plain", "spaced", "unicode", "repeated-type", "repeated-last", "floats", "escaped", "nan", "bom", "junk", "control"]
objects = st.one_of(valid, st.dictionaries(st.text(max_size=12), json_values, max_size=4))
respelled = st.builds(_respell, objects, st.sampled_from(HOW))


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(frame=st.one_of(fuzz_frame, respelled))
@example(frame='{"type":"candidate","candidate":null,"candidate":{"candidate":"x"}}')
@example(frame='{"type":"ping","inbound":{"audio":{"packets":1e3}}}')
@example(frame='{"type":"offer","sdp":"\\ud800"}')
@example(frame='{"type":"hangup","type":"end"}')
@example(frame="x" * (p.MAX_MESSAGE_BYTES // 4 + 1))
@example(frame="\U0001f600" * (p.MAX_MESSAGE_BYTES // 4 + 1))
def test_the_quick_way_accepts_nothing_the_careful_way_refuses_and_parse_answers_as_the_careful_way(frame):
    careful = _outcome(p.parse_checked, frame)
    assert _outcome(p.parse, frame) == careful
    quick = _quick(frame) if isinstance(frame, str) and len(frame.encode("utf-8", "surrogatepass")) <= p.MAX_MESSAGE_BYTES else None
    if quick is not None:
        assert careful == ("accepted", quick)


relayed_objects = st.one_of(
    st.builds(lambda s: {"type": "offer", "sdp": s}, st.text(max_size=200)),
    st.builds(lambda s: {"type": "answer", "sdp": s}, st.text(max_size=200)),
    st.builds(
        lambda c, m, i, u: {"type": "candidate", "candidate": {"candidate": c, **m, **i, **u}},
        st.text(max_size=120),
        st.sampled_from([{}, {"sdpMid": None}, {"sdpMid": "0"}]),
        st.sampled_from([{}, {"sdpMLineIndex": None}, {"sdpMLineIndex": 1}]),
        st.sampled_from([{}, {"usernameFragment": "abcd"}]),
    ),
    st.just({"type": "candidate", "candidate": None}),
    st.builds(lambda s: {"type": "reach", "step": s}, st.sampled_from(["full", "low", "audio"])),
)
RELAYED_MODELS = {"offer": p.RelayedOffer, "answer": p.RelayedAnswer, "candidate": p.RelayedCandidate, "reach": p.RelayedReach}


@settings(max_examples=500, deadline=None)
@given(obj=relayed_objects, how=st.sampled_from(["plain", "spaced", "unicode"]), sender=st.sampled_from(["officer", "client"]))
def test_a_relayed_frame_is_the_senders_object_plus_from_and_valid_as_the_servers_message(obj, how, sender):
    frame = _respell(obj, how)
    message = p.parse(frame)
    assert isinstance(message, p.RELAYED)
    out = p.relayed(frame, sender)
    assert json.loads(out) == {**obj, "from": sender}
    # Nothing invented: the fields the sender left out stay out (no nulls added).
    relayed = RELAYED_MODELS[obj["type"]].model_validate_json(out, strict=True)
    assert relayed.from_ == sender


guest_signals = st.builds(
    lambda to, signal: {"type": "guest-signal", "to": to, "signal": signal},
    st.sampled_from(["officer", "client", "guest:12"]),
    relayed_objects,
)


@settings(max_examples=300, deadline=None)
@given(obj=guest_signals, how=st.sampled_from(["plain", "spaced", "unicode"]), sender=st.sampled_from(["officer", "client", "guest:7"]))
def test_a_relayed_guest_signal_is_the_senders_object_plus_from_as_offers_are(obj, how, sender):
    """A guest's signals were parsed and written again (json.dumps); now they go as
    the sender wrote them, like offer/answer/candidate (issue 24)."""
    frame = _respell(obj, how)
    assert isinstance(p.parse(frame), p.GuestSignal)
    out = p.relayed(frame, sender)
    assert json.loads(out) == {**obj, "from": sender}
    # The sender's own text, untouched, with `from` as the last member.
    assert out.startswith(frame.rstrip(" \t\r\n")[:-1])
    relayed = p.RelayedGuestSignal.model_validate_json(out, strict=True)
    assert relayed.from_ == sender and relayed.to == obj["to"]
