"""Every signaling message, defined once (docs/signaling.md is the prose form).

Peer → server messages form one discriminated union on ``type``; parsing a
frame checks its size, that it is a JSON object, that its ``type`` is known and
that its fields match, and raises :class:`ProtocolError` with a stable code
otherwise. Server → peer messages are models too, serialised in one place.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from server.domain.calls.chat import MAX_CHAT_CHARS

MAX_MESSAGE_BYTES = 64 * 1024
MAX_SDP_CHARS = 32 * 1024
MAX_CANDIDATE_CHARS = 1024
# The WebSocket layer cuts anything larger than this off by itself (close 1009);
# between this and MAX_MESSAGE_BYTES the peer gets a polite ``too-large``.
TRANSPORT_MAX_BYTES = 256 * 1024

Role = Literal["officer", "client", "guest"]
# The two parties of the call itself (the recorder records these; a guest is a third, issue 22).
CallRole = Literal["officer", "client"]
GuestId = Annotated[int, Field(ge=1, le=2**53)]
# Where a guest's signal goes: the officer, the admitted client, or a guest by id.
Address = Annotated[str, Field(max_length=32, pattern=r"^(officer|client|guest:[1-9][0-9]{0,15})$")]
IceState = Literal["new", "checking", "connected", "completed", "disconnected", "failed", "closed"]
Device = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]
# The Opus packet length (ms) a client's sound-only start asks for: 60 on a weak
# link, 20 on one roomy enough for the headers of 20 ms packets (issue 25).
StartPtime = Literal[20, 60]


class ProtocolError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class Message(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# ---- peer → server -------------------------------------------------------


class Join(Message):
    type: Literal["join"]
    role: Role
    # A party whose socket died under a live call (a change of network) asks to
    # take its place back: for the client no waiting room, for either no new
    # call; the peer connection goes on by ICE restart (docs/signaling.md, "join").
    resume: bool = False
    # The step a client's call starts on (a weak link: "audio"), passed to the
    # officer in ``peer-joined`` so that its first offer fits it (issue 25).
    step: Literal["full", "low", "audio"] | None = None
    # ...and the Opus packet length that start asks for, passed on the same way.
    ptime: StartPtime | None = None


class Admit(Message):
    type: Literal["admit"]
    device: Device | None = None
    # A waiting guest (issue 22), admitted on its own, apart from the client's devices.
    guest: GuestId | None = None


class Deny(Message):
    type: Literal["deny"]
    device: Device | None = None
    guest: GuestId | None = None


class Offer(Message):
    type: Literal["offer"]
    sdp: Annotated[str, Field(max_length=MAX_SDP_CHARS)]


class Answer(Message):
    type: Literal["answer"]
    sdp: Annotated[str, Field(max_length=MAX_SDP_CHARS)]


class IceCandidate(Message):
    candidate: Annotated[str, Field(max_length=MAX_CANDIDATE_CHARS)]
    sdpMid: Annotated[str, Field(max_length=64)] | None = None
    sdpMLineIndex: Annotated[int, Field(ge=0, le=64)] | None = None
    usernameFragment: Annotated[str, Field(max_length=256)] | None = None


class Candidate(Message):
    type: Literal["candidate"]
    candidate: IceCandidate | None


class MediaState(Message):
    type: Literal["media-state"]
    state: IceState
    # A page that waits to be sure the media really stopped (a lossy link has
    # ICE hiccups) says how long it had already been stopped; not counted.
    stalled_ms: Annotated[int, Field(ge=0, le=60000)] = 0


ReachStep = Literal["full", "low", "audio"]


class Reach(Message):
    """This side's automatic step on a poor link (webclient/reach.js), for the other side."""

    type: Literal["reach"]
    step: ReachStep


Counter = Annotated[int, Field(ge=0, le=2**53)]


class KindCounters(Message):
    """What ``getStats()`` says this side has received of one kind (inbound-rtp)."""

    packets: Counter
    # Optional: aiortc, for one, reports no bytes per inbound stream.
    bytes: Counter | None = None


class InboundCounters(Message):
    audio: KindCounters | None = None
    video: KindCounters | None = None


class Ping(Message):
    """The heartbeat. In a call it carries this side's inbound media counters,
    the evidence the server counts connected time by (server/domain/calls/media_evidence.py)."""

    type: Literal["ping"]
    inbound: InboundCounters | None = None


class Hangup(Message):
    type: Literal["hangup"]


class End(Message):
    type: Literal["end"]


class RecordOffer(Message):
    """An upload from the officer's console to the server's recorder: one peer
    connection per recorded party (its audio and video), so that the recorder
    never has to tell two videos of one connection apart."""

    type: Literal["record-offer"]
    party: CallRole
    sdp: Annotated[str, Field(max_length=MAX_SDP_CHARS)]


class RecordStop(Message):
    type: Literal["record-stop"]


ChatRef = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")]


class Chat(Message):
    """A line of the text beside the call (issue 22), from the waiting room or
    the call. ``ref`` is the sender's own name for it, echoed in ``chat-ack``;
    ``device`` (officer only) names the client device it is for."""

    type: Literal["chat"]
    text: Annotated[str, Field(min_length=1, max_length=MAX_CHAT_CHARS)]
    ref: ChatRef | None = None
    device: Device | None = None


DocumentId = Annotated[int, Field(ge=1, le=2**53)]


class DocumentSeen(Message):
    """The client opened a document the PK pushed (``document``) and is reading
    it: relayed to the officer, so the console can say so. Client only."""

    type: Literal["document-seen"]
    id: DocumentId


Signal = Annotated[Union[Offer, Answer, Candidate, Reach], Field(discriminator="type")]


class GuestSignal(Message):
    """Offer/answer/candidate/reach on a guest's own peer connections (issue 22):
    a guest's to the officer or the client, theirs to a guest (``to``). Wrapped,
    so that the call between the officer and the client never sees them."""

    type: Literal["guest-signal"]
    to: Address
    signal: Signal


PeerMessage = Annotated[
    Union[Join, Admit, Deny, Offer, Answer, Candidate, MediaState, Reach, Ping, Hangup, End, RecordOffer, RecordStop, Chat, DocumentSeen, GuestSignal],
    Field(discriminator="type"),
]
_peer_adapter: TypeAdapter[PeerMessage] = TypeAdapter(PeerMessage)
PEER_TYPES: frozenset[str] = frozenset(
    m.model_fields["type"].annotation.__args__[0]  # type: ignore[union-attr]
    for m in (Join, Admit, Deny, Offer, Answer, Candidate, MediaState, Reach, Ping, Hangup, End, RecordOffer, RecordStop, Chat, DocumentSeen, GuestSignal)
)
RELAYED = (Offer, Answer, Candidate, Reach)
OFFICER_ONLY = (Admit, Deny, End, RecordOffer, RecordStop)


def parse(frame: str | bytes) -> PeerMessage:
    """One text frame → one validated message, or :class:`ProtocolError`.

    Most frames are valid: pydantic-core parses and checks them in one pass
    (``validate_json``), a third of the CPU of ``json.loads`` and then
    ``validate_python`` (bench/README.md, issue 24). A frame it refuses goes the
    careful way, :func:`parse_checked`, which says what is wrong; so the codes a
    peer gets are those of the careful way, and both ways accept the same frames
    (tests/test_signaling_parse.py)."""
    if isinstance(frame, bytes):
        raise ProtocolError("bad-message", "Send text frames holding one JSON object.")
    _check_size(frame)
    try:
        return _peer_adapter.validate_json(frame, strict=True)
    except ValidationError:
        pass
    return parse_checked(frame)


def _check_size(frame: str) -> None:
    # UTF-8 takes at most 4 bytes a character (a surrogate 3): a frame of at most
    # a quarter of the limit in characters is within it without encoding it.
    if len(frame) > MAX_MESSAGE_BYTES // 4 and (
        len(frame) > MAX_MESSAGE_BYTES or len(frame.encode("utf-8", "surrogatepass")) > MAX_MESSAGE_BYTES
    ):
        raise ProtocolError("too-large", f"A message may be at most {MAX_MESSAGE_BYTES} bytes.")


def parse_checked(frame: str | bytes) -> PeerMessage:
    """The careful way: JSON first, then the fields, each refusal with its own code."""
    if isinstance(frame, bytes):
        raise ProtocolError("bad-message", "Send text frames holding one JSON object.")
    _check_size(frame)
    try:
        data = json.loads(frame)
    except ValueError:
        raise ProtocolError("bad-message", "The message is not valid JSON.") from None
    if not isinstance(data, dict) or not isinstance(data.get("type"), str):
        raise ProtocolError("bad-message", "A message is a JSON object with a string \"type\".")
    if data["type"] not in PEER_TYPES:
        raise ProtocolError("unknown-type", f"Unknown message type {data['type'][:40]!r}.")
    try:
        return _peer_adapter.validate_python(data, strict=True)
    except ValidationError as exc:
        errors = exc.errors()
        if any(err["type"] == "string_too_long" for err in errors):
            if data["type"] == "chat":
                raise ProtocolError("too-large", f"A chat message may be at most {MAX_CHAT_CHARS:,} characters.") from None
            raise ProtocolError("too-large", "A field is longer than allowed (sdp 32 KiB, candidate 1 KiB).") from None
        where = ", ".join(".".join(str(p) for p in err["loc"][1:]) or "message" for err in errors[:3])
        raise ProtocolError("bad-message", f"Invalid {data['type']} message ({where}).") from None


# ---- server → peer -------------------------------------------------------


class Welcome(Message):
    type: Literal["welcome"] = "welcome"
    role: Role
    session_id: int
    device: str | None
    ice_servers: list[dict[str, Any]]
    heartbeat_seconds: int
    peer_present: bool
    # To the officer whose ``join`` with ``resume`` took its place back: keep the call.
    resumed: bool = False


class Waiting(Message):
    type: Literal["waiting"] = "waiting"


class ClientWaiting(Message):
    type: Literal["client-waiting"] = "client-waiting"
    device: str
    label: str


class GuestWaiting(Message):
    """To the officer: a guest waits to be admitted (issue 22), with the name and
    role the PK gave its link."""

    type: Literal["guest-waiting"] = "guest-waiting"
    guest: int
    role: str
    name: str


class Admitted(Message):
    type: Literal["admitted"] = "admitted"
    polite: bool = True
    # The place was taken back by a ``resume`` join: keep the call going.
    resumed: bool = False


class PeerJoined(Message):
    type: Literal["peer-joined"] = "peer-joined"
    role: Role
    polite: bool
    # To the officer: the step the client said it starts on (its ``join``), if any,
    # and the Opus packet length it asked for.
    step: Literal["full", "low", "audio"] | None = None
    ptime: StartPtime | None = None
    # A guest (role "guest"), or to a guest: which one, its name and capacity.
    guest: int | None = None
    name: str | None = None
    guest_role: str | None = None


class PeerResumed(Message):
    """To the other party: this one's socket came back (``join`` with ``resume``)
    and its peer connection goes on; the officer makes the ICE restart offer
    (on the client's ``peer-resumed``, or on its own resumed ``welcome``)."""

    type: Literal["peer-resumed"] = "peer-resumed"
    role: Role


class Denied(Message):
    type: Literal["denied"] = "denied"


class PeerLeft(Message):
    type: Literal["peer-left"] = "peer-left"
    role: Role
    reason: Literal["hangup", "dropped", "replaced", "denied", "link-revoked", "timeout"]
    device: str | None = None
    guest: int | None = None


class SessionEnded(Message):
    type: Literal["session-ended"] = "session-ended"


class Pong(Message):
    type: Literal["pong"] = "pong"


class Error(Message):
    type: Literal["error"] = "error"
    code: str
    message: str


class RecordAnswer(Message):
    type: Literal["record-answer"] = "record-answer"
    party: CallRole
    sdp: str


class Recording(Message):
    """To both parties: the call is (or is no longer) being recorded."""

    type: Literal["recording"] = "recording"
    active: bool


class RelayedChat(Message):
    """A chat line as its recipient gets it: the server's ``id`` (the order the
    server took the lines in), who wrote it, when the server took it, and for a
    client's line which device wrote it."""

    type: Literal["chat"] = "chat"
    id: int
    text: str
    from_: Role = Field(alias="from")
    at: str
    device: str | None = None
    # A guest's line: which guest, and its name.
    guest: int | None = None
    name: str | None = None


class ChatAck(Message):
    """To the sender: the line is kept (committed) under ``id``; ``delivered``
    says whether a socket held the recipient's place when it was relayed."""

    type: Literal["chat-ack"] = "chat-ack"
    id: int
    ref: str | None = None
    at: str
    delivered: bool


class DocumentPushed(Message):
    """To the admitted client: the PK put a document on their screen to read
    and sign (``POST /api/sessions/{id}/documents``, docs/api.md). The text
    itself comes over HTTP (``GET /api/join/documents/{id}``); ``revision``
    changes when the PK corrects a pending text."""

    type: Literal["document"] = "document"
    id: int
    kind: Literal["kontrak_bimbingan", "surat_pernyataan"]
    title: str
    revision: int


class DocumentSigned(Message):
    """To the officer: the client signed the document (the PK may countersign)."""

    type: Literal["document-signed"] = "document-signed"
    id: int
    signed_at: str


class DocumentSeenByClient(Message):
    """To the officer: the client opened the document (their ``document-seen``)."""

    type: Literal["document-seen"] = "document-seen"
    id: int
    from_: Role = Field(alias="from")


class RelayedGuestSignal(Message):
    """The sender's ``guest-signal`` as it came (``to`` is the receiver), plus ``from``."""

    type: Literal["guest-signal"] = "guest-signal"
    to: Address
    signal: Signal
    from_: Address = Field(alias="from")


class RelayedOffer(Offer):
    from_: Role = Field(alias="from")


class RelayedAnswer(Answer):
    from_: Role = Field(alias="from")


class RelayedCandidate(Candidate):
    from_: Role = Field(alias="from")


class RelayedReach(Reach):
    from_: Role = Field(alias="from")


SERVER_MESSAGES = (
    Welcome, Waiting, ClientWaiting, Admitted, PeerJoined, PeerResumed, Denied, PeerLeft, SessionEnded, Pong, Error,
    RelayedOffer, RelayedAnswer, RelayedCandidate, RelayedReach, RecordAnswer, Recording, RelayedChat, ChatAck,
    DocumentPushed, DocumentSigned, DocumentSeenByClient,
    GuestWaiting, RelayedGuestSignal,
)
SERVER_TYPES: frozenset[str] = frozenset(
    m.model_fields["type"].annotation.__args__[0] for m in SERVER_MESSAGES  # type: ignore[union-attr]
)

ERROR_CODES = (
    "bad-message", "too-large", "unknown-type", "not-joined", "already-joined", "unauthorized", "forbidden",
    "link-expired", "link-revoked", "session-closed", "room-full", "not-admitted", "no-peer", "rate-limited",
    "replaced", "not-recorded", "record-failed", "unavailable", "signed-out", "chat-rate-limited",
    "no-document",
)


def relayed(frame: str, sender: str) -> str:
    """The frame as the other party receives it: the sender's object as it came,
    plus ``"from"`` (a role, or ``guest:<id>``). ``frame`` must be one :func:`parse`
    accepted as an offer, answer, candidate, reach or guest-signal: a JSON object (so it ends in ``}``) with at least
    ``type`` (so a member goes before the new one) and no ``from`` (unknown
    fields are refused). Not parsed and written again: that was a quarter of the server's
    CPU per relayed message (bench/README.md, issue 24)."""
    body = frame.rstrip(" \t\r\n")
    return f'{body[:-1]},"from":"{sender}"}}'


def error(code: str, message: str) -> Error:
    assert code in ERROR_CODES, code
    return Error(code=code, message=message)


def dump(message: Message) -> str:
    if isinstance(message, (PeerJoined, PeerLeft, RelayedChat)):
        # The guest's fields only when there is a guest: a two-party call's messages look as they always did.
        unset = {k for k in ("step", "ptime", "guest", "name", "guest_role") if k in type(message).model_fields and getattr(message, k) is None}
        return message.model_dump_json(by_alias=True, exclude=unset)
    if isinstance(message, Welcome) and not message.resumed:
        return message.model_dump_json(by_alias=True, exclude={"resumed"})
    if isinstance(message, Admitted) and not message.resumed:
        # An ordinary admission looks as it always did.
        return message.model_dump_json(by_alias=True, exclude={"resumed"})
    return message.model_dump_json(by_alias=True)
