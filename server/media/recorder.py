"""The disk writer for one recorded session: an aiortc peer connection that
receives the officer's upload of one party's tracks and writes that party's
file ("officer" or "client"), video + audio, H.264 + AAC in MP4 (audio only,
AAC in MP4, when the upload offers no video: a party in audio-only "hemat
kuota" mode or without a camera). A recorded call
is two of them: the console uploads its own camera and microphone, and re-sends
the client's tracks it receives.

Why the officer uploads: the client's weak uplink is never asked to send twice
(docs/DESIGN: the console re-sends the client's tracks it receives). Why MP4:
measured on these machines, 20 s cost 4.6 CPU-s to MP4 against 7.3 CPU-s to
WebM (PITFALLS), and every browser plays H.264/AAC.

This module knows nothing of the database or the signaling socket; it is the
narrow interface a separate recorder process could offer later
(:class:`SessionRecorder`: ``accept(offer) -> answer``, ``stop() -> file``).
Files are written as plaintext only to a ``.part`` file inside the recordings
folder; the caller seals them (server/media/crypto.py) and deletes the part.

The file is written by server/media/writer.py (PyAV, in a worker thread; why
not aiortc's ``MediaRecorder``: issue 7). PITFALLS 1: if an audio
frame reached the muxer before the first video frame, the video encoder would
open without a size and the file would silently lose its video. Each party's
audio is therefore held back (dropped) until that party's first video frame
arrives. PITFALLS 2/4: close is shielded and bounded, and the ICE servers are
always passed explicitly. Every recording that ends without a usable file says
why, in its ``error`` and in the log.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamTrack
from aiortc.sdp import SessionDescription

from server.media.crypto import recording_name, safe_path
from server.media.formats import EXTENSION
from server.media.ice_filter import filter_offer, parse_networks
from server.media.writer import Mp4Writer

log = logging.getLogger(__name__)

Party = Literal["officer", "client"]
PARTIES: tuple[Party, ...] = ("officer", "client")
CLOSE_TIMEOUT = 5.0
# Closing the file writes what the worker still holds; on a starved machine that
# takes seconds, and giving up early would lose the whole recording.
STOP_TIMEOUT = 60.0
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
    """A received track as the writer should see it: audio waits for the
    party's first video frame, and timestamps start at zero."""

    def __init__(self, source: MediaStreamTrack, gate: _Gate):
        super().__init__()
        self.kind = source.kind
        self._source = source
        self._gate = gate
        self._first_pts: int | None = None

    def pending(self) -> int:
        """Frames received and not yet taken (aiortc's queue; 0 if it has none),
        for the writer to write at stop."""
        queue = getattr(self._source, "_queue", None)
        return queue.qsize() if isinstance(queue, asyncio.Queue) else 0

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
    recorder: Mp4Writer | None = None
    tracks: list[_Recorded] = field(default_factory=list)
    error: str = ""

    @property
    def video_frames(self) -> int:
        return self.gate.video_frames

    @property
    def audio_frames(self) -> int:
        return self.gate.audio_frames

    @property
    def backlog(self) -> int:
        """Frames received and not yet taken to write (aiortc's queues)."""
        return sum(track.pending() for track in self.tracks)

    @property
    def audio_only(self) -> bool:
        """The upload offered no video: an audio recording by design."""
        return not self.gate.expect_video


def offered_kinds(offer_sdp: str) -> set[str]:
    """The kinds the offer sends. Raises RecorderError when the SDP does not parse."""
    try:
        description = SessionDescription.parse(offer_sdp)
    except Exception as exc:
        raise RecorderError(f"the offer is not valid SDP ({type(exc).__name__})") from None
    return {m.kind for m in description.media if m.kind in ("audio", "video") and m.direction in (None, "sendrecv", "sendonly")}


class SessionRecorder:
    """Records one party of one session's call: one aiortc peer connection
    carrying that party's audio and video (one of each: aiortc is reliable with
    that, and not with two videos bundled in one connection), one file."""

    def __init__(self, session_id: int, party: Party, directory: Path, ice_servers: list[dict[str, Any]], *, allow_networks: tuple[str, ...] = ()):
        self.allow_networks = parse_networks(allow_networks)
        self.session_id = session_id
        self.party = party
        self.directory = Path(directory)
        self.ice_servers = ice_servers
        self.pc: RTCPeerConnection | None = None
        self.file: PartyFile | None = None
        self.stopped = False
        self._stopping: asyncio.Future[PartyFile | None] | None = None

    def _configuration(self) -> RTCConfiguration:
        servers = [RTCIceServer(urls=s["urls"], username=s.get("username"), credential=s.get("credential")) for s in self.ice_servers]
        # Explicit, even when empty: aiortc would otherwise use a public STUN server (PITFALLS 4).
        return RTCConfiguration(iceServers=servers)

    async def accept(self, offer_sdp: str) -> str:
        """Take the console's offer; return the answer SDP (all candidates in it:
        aiortc does not trickle, PITFALLS 3)."""
        # Before aiortc sees it: no checks towards the server's own networks (ice_filter.py).
        offer_sdp, dropped = filter_offer(offer_sdp, self.allow_networks)
        if dropped:
            log.info("session %s: dropped %d ICE candidates of the %s upload offer (server's own or special addresses)", self.session_id, dropped, self.party)
        kinds = offered_kinds(offer_sdp)
        if not kinds:
            raise RecorderError("the offer sends neither audio nor video")
        self.directory.mkdir(parents=True, exist_ok=True)
        part_name = recording_name(self.session_id, self.party, EXTENSION) + ".part"
        part = safe_path(self.directory, part_name)
        recorder = Mp4Writer(part)
        entry = self.file = PartyFile(self.party, part_name.removesuffix(".part") + ".enc", part, _Gate("video" in kinds), recorder)
        seen: set[str] = set()

        pc = self.pc = RTCPeerConnection(self._configuration())

        @pc.on("track")
        def _track(track: MediaStreamTrack) -> None:
            if self.stopped or track.kind in seen or entry.recorder is None:
                return  # one track of each kind per recording
            seen.add(track.kind)
            recorded = _Recorded(track, entry.gate)
            entry.tracks.append(recorded)
            entry.recorder.add_track(recorded)

        try:
            await pc.setRemoteDescription(RTCSessionDescription(sdp=offer_sdp, type="offer"))
            # Only what the console sends is received; nothing is sent back.
            for transceiver in pc.getTransceivers():
                transceiver.direction = "recvonly"
            await pc.setLocalDescription(await pc.createAnswer())
            await recorder.start()
        except Exception as exc:
            await self.stop()
            raise RecorderError(f"the offer could not be accepted ({type(exc).__name__}: {exc})"[:200]) from None
        return pc.localDescription.sdp

    async def stop(self) -> PartyFile | None:
        """Stop receiving and close the file (bounded). ``error`` on the returned
        file says why it holds nothing usable. Idempotent: a second call (the
        session ends while the officer leaves) waits for the first."""
        if self._stopping is None:
            self._stopping = asyncio.ensure_future(self._stop())
        return await asyncio.shield(self._stopping)

    async def _stop(self) -> PartyFile | None:
        self.stopped = True
        entry = self.file
        if entry is not None:
            writer, entry.recorder = entry.recorder, None
            if writer is not None:
                try:
                    problem = await asyncio.wait_for(writer.stop(), STOP_TIMEOUT)
                except asyncio.TimeoutError:
                    problem = f"the file was not closed within {STOP_TIMEOUT:.0f} s"
                except Exception as exc:
                    problem = f"{type(exc).__name__}: {exc}"[:200]
                entry.error = problem
                log.info("recording %s stopped: %s", entry.name, writer.summary())
            for track in entry.tracks:
                track.stop()
            if not entry.error and entry.gate.expect_video and entry.video_frames == 0:
                # Video was offered and never came: the failure PITFALLS 1 warns of.
                entry.error = "no video frame was received"
            elif not entry.error and not entry.gate.expect_video and entry.audio_frames == 0:
                entry.error = "no audio frame was received"
            if entry.error:
                log.warning("recording %s of session %s failed: %s", entry.name, self.session_id, entry.error)
        if self.pc is not None:
            try:
                await asyncio.wait_for(asyncio.shield(self.pc.close()), CLOSE_TIMEOUT)
            except (asyncio.TimeoutError, Exception):
                log.warning("recorder pc of session %s did not close in time", self.session_id)
        return entry


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
