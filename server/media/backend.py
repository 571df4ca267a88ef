"""Where recordings are made: in this process (:class:`LocalRecorders`) or in
recorder processes reached over HTTP (server/recorders/client.py). Both offer the
same two steps, so the database side (server/domain/calls/recordings.py) does not
know which one runs:

- ``start(session_id, party, offer_sdp, ice_servers) -> Started``: the answer
  SDP, the sealed file's name, whether it is audio only, and a handle;
- ``stop(handle) -> Outcome``: the file closed, checked, encrypted, the
  plaintext deleted; what it holds or why it failed.

The checking and sealing happen where the file was written, so plaintext never
crosses a network and never outlives its recorder.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TypedDict

from server.media import crypto

if TYPE_CHECKING:
    # The media stack is imported where a recording is made, not by every web
    # process that only reaches its recorders over HTTP (about a second of CPU at start).
    from server.media.recorder import PartyFile, SessionRecorder

log = logging.getLogger(__name__)


class RecorderUnavailable(Exception):
    """The offer could not be recorded (bad offer, recorder unreachable); the message says why."""


@dataclass(frozen=True)
class Started:
    handle: str
    answer: str
    name: str
    audio_only: bool


class Outcome(TypedDict, total=False):
    status: str  # "ready" or "failed"
    size: int
    sha256: str
    duration_seconds: float
    problem: str


class Recorders(Protocol):
    async def start(self, session_id: int, party: str, offer_sdp: str, ice_servers: list[dict[str, Any]]) -> Started: ...

    async def stop(self, handle: str) -> Outcome | None: ...

    def running(self) -> int: ...

    async def close(self) -> None: ...


class LocalRecorders:
    """Recorders in this process: the web process itself (``BIMBING_RECORDER_PROCESSES=0``,
    and the tests' apps) or a recorder process (server/recorders/service.py)."""

    def __init__(self, directory: Path, master_key: bytes | None = None, *, load_key=None, allow_networks: tuple[str, ...] = ()):
        self.directory = Path(directory)
        # Private networks the recorder may reach besides public addresses (server/media/ice_filter.py).
        self.allow_networks = allow_networks
        self._key = master_key
        self._load_key = load_key
        self._live: dict[str, SessionRecorder] = {}
        self._ids = itertools.count(1)

    def master_key(self) -> bytes:
        if self._key is None:
            self._key = self._load_key()
        return self._key

    def running(self) -> int:
        return len(self._live)

    def received(self) -> dict[str, dict[str, int]]:
        """Frames the live recordings have taken to write so far, per party and
        kind. A recording that runs and receives nothing is the failure PITFALLS 1
        warns of; on ``/healthz`` of a recorder process it shows while it lasts."""
        from server.media.recorder import PARTIES

        totals = {party: {"video": 0, "audio": 0} for party in PARTIES}
        for file in self._files():
            totals[file.party]["video"] += file.video_frames
            totals[file.party]["audio"] += file.audio_frames
        return totals

    def backlog(self) -> dict[str, int]:
        """Frames the live recordings have received and not yet taken to write,
        per party: a recorder that falls behind the call (a starved machine) shows
        it here while it lasts; a recording that stands still with no backlog
        receives nothing."""
        from server.media.recorder import PARTIES

        totals = {party: 0 for party in PARTIES}
        for file in self._files():
            totals[file.party] += file.backlog
        return totals

    def _files(self) -> list[PartyFile]:
        """The live recordings' files (a recorder whose offer was refused has none)."""
        return [recorder.file for recorder in self._live.values() if recorder.file is not None]

    async def start(self, session_id: int, party: str, offer_sdp: str, ice_servers: list[dict[str, Any]]) -> Started:
        from server.media.recorder import RecorderError, SessionRecorder

        self.master_key()  # no key, no recording: fail before anything is written
        recorder = SessionRecorder(session_id, party, self.directory, ice_servers, allow_networks=self.allow_networks)  # type: ignore[arg-type]
        try:
            answer = await recorder.accept(offer_sdp)
        except RecorderError as exc:
            raise RecorderUnavailable(str(exc)) from None
        assert recorder.file is not None
        handle = f"{session_id}-{party}-{next(self._ids)}"
        self._live[handle] = recorder
        return Started(handle, answer, recorder.file.name, recorder.file.audio_only)

    async def stop(self, handle: str) -> Outcome | None:
        recorder = self._live.pop(handle, None)
        if recorder is None:
            return None
        entry = await recorder.stop()
        if entry is None:
            return None
        return await asyncio.to_thread(self._seal, entry)

    async def stop_all(self) -> None:
        await asyncio.gather(*(self.stop(handle) for handle in list(self._live)), return_exceptions=True)

    async def close(self) -> None:
        await self.stop_all()

    def delete_leftovers(self) -> None:
        """Plaintext parts a stopped process left behind are deleted (never kept unencrypted)."""
        for leftover in self.directory.glob("*.part") if self.directory.exists() else []:
            try:
                leftover.unlink()
            except OSError:
                log.warning("could not delete %s", leftover)

    def _seal(self, entry: PartyFile) -> Outcome:
        """Blocking (a thread): check what the plaintext holds, encrypt it, delete it."""
        from server.media.recorder import probe

        part = entry.part_path
        try:
            if not part.exists() or part.stat().st_size == 0:
                return {"status": "failed", "problem": entry.error or "nothing was written"}
            try:
                info = probe(part)
            except Exception as exc:
                return {"status": "failed", "problem": (entry.error or f"unreadable: {type(exc).__name__}")[:200]}
            target = crypto.safe_path(self.directory, entry.name)
            size, sha256 = crypto.encrypt_file(part, target, self.master_key())
            # Ready: the video that was offered is there, or (audio only by design:
            # no video was offered) the audio is. Video offered and missing stays a
            # failure, whatever audio the file holds (PITFALLS 1).
            usable = info["has_audio"] if entry.audio_only else info["has_video"]
            status = "ready" if usable and not entry.error else "failed"
            problem = entry.error or ("" if usable else ("the file holds no audio" if entry.audio_only else "the file holds no video"))
            return {"status": status, "size": size, "sha256": sha256, "duration_seconds": info["duration_seconds"], "problem": problem[:200]}
        except Exception as exc:
            log.exception("sealing recording %s failed", entry.name)
            return {"status": "failed", "problem": f"{type(exc).__name__}: {exc}"[:200]}
        finally:
            # The plaintext never stays on disk, whatever happened above.
            part.unlink(missing_ok=True)
