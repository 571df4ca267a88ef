"""The disk writer for one recorded session: an aiortc peer connection that
receives the officer's upload of both parties' tracks and writes one file per
party ("officer", "client"), each video + audio, H.264 + AAC in MP4.

Why the officer uploads: the client's weak uplink is never asked to send twice
(docs/DESIGN: the console re-sends the client's tracks it receives). Why MP4:
measured on these machines, 20 s cost 4.6 CPU-s to MP4 against 7.3 CPU-s to
WebM (PITFALLS), and every browser plays H.264/AAC.

This module knows nothing of the database or the signaling socket; it is the
narrow interface a separate recorder process could offer later
(:class:`SessionRecorder`: ``accept(offer) -> answer``, ``stop() -> files``).
Files are written as plaintext only to a ``.part`` file inside the recordings
folder; the caller seals them (server/media/crypto.py) and deletes the part.

PITFALLS 1: if an audio frame reaches ``MediaRecorder`` before the first video
frame, the video encoder opens without a size and the file silently loses its
video. Each party's audio is therefore held back (dropped) until that party's
first video frame arrives. PITFALLS 2/4: close is shielded and bounded, and the
ICE servers are always passed explicitly.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiortc import RTCConfiguration, RTCIceServer, RTCPeerConnection, RTCSessionDescription
from aiortc.contrib.media import MediaRecorder
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription

from server.media.crypto import recording_name, safe_path

log = logging.getLogger(__name__)

Party = Literal["officer", "client"]
PARTIES: tuple[Party, ...] = ("officer", "client")
CONTENT_TYPE = "video/mp4"
EXTENSION = "mp4"
CLOSE_TIMEOUT = 5.0
STOP_TIMEOUT = 10.0
# RTP timestamps are 32-bit and start at a random value: rebase each track to 0.
_RTP_WRAP = 1 << 32


class RecorderError(Exception):
    """The offer cannot be recorded (bad SDP, no track we know)."""


class _Gate:
    """One party's "first video frame has arrived" (PITFALLS 1)."""

    def __init__(self, expect_video: bool):
        self.expect_video = expect_video
        self.video = asyncio.Event()
        self.video_frames = 0
        self.audio_frames = 0


class _Recorded(MediaStreamTrack):
    """A received track as MediaRecorder should see it: audio waits for the
    party's first video frame, and timestamps start at zero."""

    def __init__(self, source: MediaStreamTrack, gate: _Gate):
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._gate = gate
        self._first_pts: int | None = None

    async def recv(self):
        while True:
            frame = await self._source.recv()
            if self.kind == "video":
                self._gate.video.set()
                self._gate.video_frames += 1
            elif self._gate.expect_video and not self._gate.video.is_set():
                continue  # dropped, not queued: held audio would only skew the start
            else:
                self._gate.audio_frames += 1
            if frame.pts is not None:
                if self._first_pts is None:
                    self._first_pts = frame.pts
                frame.pts = (frame.pts - self._first_pts) % _RTP_WRAP
            return frame


@dataclass
class PartyFile:
    """One party's recording as the caller sees it."""

    party: Party
    name: str  # the sealed file's name (``<part name>.enc``), server-generated
    part_path: Path  # the plaintext being written
    gate: _Gate
    recorder: MediaRecorder | None = None
    tracks: list[_Recorded] = field(default_factory=list)
    error: str = ""

    @property
    def video_frames(self) -> int:
        return self.gate.video_frames

    @property
    def audio_frames(self) -> int:
        return self.gate.audio_frames


def track_parties(offer_sdp: str, tracks: dict[str, str]) -> dict[str, tuple[str, str]]:
    """track id → (party, kind) for every sending m-line of the offer that the
    console named. Raises RecorderError when the SDP does not parse."""
    try:
        description = SessionDescription.parse(offer_sdp)
    except Exception as exc:
        raise RecorderError(f"the offer is not valid SDP ({type(exc).__name__})") from None
    found: dict[str, tuple[str, str]] = {}
    for media in description.media:
        if media.kind not in ("audio", "video") or media.direction not in (None, "sendrecv", "sendonly"):
            continue
        track_id = description.webrtc_track_id(media)
        party = tracks.get(track_id or "")
        if party in PARTIES:
            found[track_id] = (party, media.kind)  # type: ignore[index]
    return found


class SessionRecorder:
    """Records one session's call: one aiortc peer connection, a file per party."""

    def __init__(self, session_id: int, directory: Path, ice_servers: list[dict[str, Any]]):
        self.session_id = session_id
        self.directory = Path(directory)
        self.ice_servers = ice_servers
        self.pc: RTCPeerConnection | None = None
        self.files: dict[str, PartyFile] = {}
        self._by_track: dict[str, tuple[str, str]] = {}
        self.stopped = False

    def _configuration(self) -> RTCConfiguration:
        servers = [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential")) for s in self.ice_servers]
        # Explicit, even when empty: aiortc would otherwise use a public STUN server (PITFALLS 4).
        return RTCConfiguration(iceServers=servers)

    async def accept(self, offer_sdp: str, tracks: dict[str, str]) -> str:
        """Take the console's offer; return the answer SDP (all candidates in it:
        aiortc does not trickle, PITFALLS 3)."""
        self._by_track = track_parties(offer_sdp, tracks)
        if not self._by_track:
            raise RecorderError("the offer carries no track named in tracks")
        self.directory.mkdir(parents=True, exist_ok=True)
        for party in PARTIES:
            kinds = {kind for p, kind in self._by_track.values() if p == party}
            if not kinds:
                continue
            part_name = recording_name(self.session_id, party, EXTENSION) + ".part"
            part = safe_path(self.directory, part_name)
            # faststart: the index goes to the front at close, so playback starts at once.
            recorder = MediaRecorder(str(part), format="mp4", options={"movflags": "+faststart"})
            self.files[party] = PartyFile(party, part_name.removesuffix(".part") + ".enc", part, _Gate("video" in kinds), recorder)

        pc = self.pc = RTCPeerConnection(self._configuration())

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            party_kind = self._by_track.get(track.id)
            if party_kind is None or self.stopped:
                return  # a track the console did not name: not recorded
            entry = self.files[party_kind[0]]
            recorded = _Recorded(track, entry.gate)
            entry.tracks.append(recorded)
            assert entry.recorder is not None
            entry.recorder.addTrack(recorded)

        @pc.on("connectionstatechange")
        async def _state() -> None:
            log.info("recorder for session %s: %s", self.session_id, pc.connectionState)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            # Only what the console sends is received; nothing is sent back.
            for transceiver in pc.getTransceivers():
                transceiver.direction = "recvonly"
            await pc.setLocalDescription(await pc.createAnswer())
            for entry in self.files.values():
                assert entry.recorder is not None
                await entry.recorder.start()
        except Exception as exc:
            await self.stop()
            raise RecorderError(f"the offer could not be accepted ({type(exc).__name__}: {exc})"[:200]) from None
        return pc.localDescription.sdp

    async def stop(self) -> list[PartyFile]:
        """Stop receiving and close the files (bounded). Returns each party's
        file; ``error`` says why one holds nothing usable."""
        if self.stopped:
            return list(self.files.values())
        self.stopped = True
        for entry in self.files.values():
            for track in entry.tracks:
                track.stop()
            if entry.recorder is not None:
                try:
                    await asyncio.wait_for(entry.recorder.stop(), STOP_TIMEOUT)
                except Exception as exc:  # an encoder never opened (no frame came) ends here
                    entry.error = f"{type(exc).__name__}: {exc}"[:200]
                entry.recorder = None
            if not entry.error and entry.gate.expect_video and entry.video_frames == 0:
                entry.error = "no video frame was received"
        if self.pc is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.pc.close()), CLOSE_TIMEOUT)
            except (asyncio.TimeoutError, Exception):
                log.warning("recorder pc of session %s did not close in time", self.session_id)
        return list(self.files.values())


def probe(path: Path) -> dict[str, Any]:
    """What the plaintext file really holds (PyAV; blocking). Used to store the
    duration and to refuse calling a file without video a recording."""
    import av

    with av.open(str(path)) as container:
        video = next((s for s in container.streams if s.type == "video"), None)
        audio = next((s for s in container.streams if s.type == "audio"), None)
        duration = float(container.duration / 1_000_000) if container.duration else 0.0
        video_seconds = float(video.duration * video.time_base) if video is not None and video.duration and video.time_base else 0.0
        return {
            "duration_seconds": round(max(duration, video_seconds), 3),
            "video_seconds": round(video_seconds, 3),
            "has_video": video is not None,
            "has_audio": audio is not None,
            "width": video.codec_context.width if video is not None else 0,
            "height": video.codec_context.height if video is not None else 0,
        }
