"""The MP4 writer behind one party's recording: H.264 + AAC, written by PyAV.

It takes the place of aiortc's ``MediaRecorder``, which lost recordings under
load (issue 7):

- ``MediaRecorder`` encodes at a codec time base of 1/30 s. A re-sent browser
  track's frames come with jittery timestamps; two frames less than 1/30 s
  apart round to one pts, x264 passes the duplicate on, and the MP4 muxer
  refuses it with EINVAL. Most H.264 packets leave x264 only at the flush in
  ``stop()`` (its look-ahead holds about 40 frames), so the refusal came at
  stop, ``close()`` was never reached and the file had no index: the whole
  recording ``failed``. Here video keeps the RTP clock (1/90000) and every pts
  is forced to rise, and audio never overlaps itself.
- It encoded on the event loop: on a starved 2-core machine 640x480 x264 held
  the loop that also carries the call's signaling and RTP. Here one worker
  thread per file does all the encoding and muxing (PyAV releases the GIL),
  in order, so the container is never touched from two threads. The frames
  already received go to it together, so a starved loop (slow to turn) does
  not leave the file behind the call.
- One bad frame killed its track's task silently ("Task exception was never
  retrieved"), and one failing packet at stop left the file unclosed. Here a
  frame that cannot be written is dropped and logged, the flush writes what it
  can, and the container is always closed, so what was written stays playable;
  only a failure to finalise the file is the recording's error.

x264 runs ``veryfast``/``zerolatency``: no look-ahead and no B-frames, so
packets leave as frames arrive (little to flush at stop) at a fraction of the
default preset's CPU, which a 2-core office server shares with the calls.
"""

from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

log = logging.getLogger(__name__)

VIDEO_TIME_BASE = Fraction(1, 90000)  # RTP's video clock: no rounding of frame times
VIDEO_RATE = 30  # a hint for the encoder's rate control, not the frames' times
X264_OPTIONS = {"preset": "veryfast", "tune": "zerolatency"}
# At stop, how long frames already received may take to be written.
DRAIN_LIMIT = 10.0
# Frame-level write errors logged per stream; later ones are only counted.
LOGGED_ERRORS = 3
# Frames already received that go to the worker in one trip (one second of video).
BATCH_FRAMES = 30


def _pending(track: MediaStreamTrack) -> int:
    """Frames the track has received and not yet given out, if it can say."""
    pending = getattr(track, "pending", None)
    return pending() if callable(pending) else 0


class _Track:
    """One recorded track: its output stream and what was written."""

    def __init__(self, track: MediaStreamTrack, stream: Any):
        self.track = track
        self.stream = stream
        self.kind = track.kind
        self.task: asyncio.Task[None] | None = None
        self.next_pts: int | None = None  # the least pts the next frame may have
        self.frames = 0  # frames handed to the encoder
        self.dropped = 0  # frames that could not be written
        self.first_error = ""
        self.drain = 0  # at stop: frames that had already arrived, still to write

    @property
    def opened(self) -> bool:
        return self.stream.codec_context.is_open


class Mp4Writer:
    """Writes the tracks added before :meth:`start` to ``path`` until :meth:`stop`."""

    def __init__(self, path: Path | str):
        self.path = Path(path)
        # faststart: the index goes to the front at close, so playback starts at once.
        self._container: Any = av.open(str(path), mode="w", format="mp4", options={"movflags": "+faststart"})
        self._tracks: list[_Track] = []
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="recorder")
        self._stopping = False
        self._stopped: asyncio.Future[str] | None = None  # the one closing, once begun

    def add_track(self, track: MediaStreamTrack) -> None:
        if track.kind == "audio":
            stream = self._container.add_stream("aac")
        else:
            stream = self._container.add_stream("libx264", rate=VIDEO_RATE, options=dict(X264_OPTIONS))
            stream.pix_fmt = "yuv420p"
            stream.codec_context.time_base = VIDEO_TIME_BASE
        self._tracks.append(_Track(track, stream))

    async def start(self) -> None:
        for entry in self._tracks:
            if entry.task is None:
                entry.task = asyncio.ensure_future(self._run(entry))

    def summary(self) -> dict[str, dict[str, int]]:
        """Per kind: frames written and frames dropped (for the log)."""
        return {t.kind: {"frames": t.frames - t.dropped, "dropped": t.dropped} for t in self._tracks}

    async def _run(self, entry: _Track) -> None:
        loop = asyncio.get_running_loop()
        while True:
            if self._stopping and (entry.drain <= 0 or _pending(entry.track) == 0):
                # Only what is already queued: a recv that would wait ends the track here.
                return
            frames, ended = await self._take(entry)
            for frame in frames:
                self._retime(entry, frame)
            # Awaited, one batch at a time: frames wait in aiortc's queue, not ours.
            if frames:
                await loop.run_in_executor(self._pool, self._write_all, entry, frames)
            if ended:
                return  # the track ended: the others go on, the file is closed at stop

    async def _take(self, entry: _Track) -> tuple[list[Any], bool]:
        """The next frame (waited for), with those already queued behind it, up to
        BATCH_FRAMES (at a stop, up to what is left to drain); and whether the
        track ended. Each trip to the worker costs a turn of the event loop: one
        frame a trip, a loop standing still 100 ms a turn (a starved process) let
        the file take 10 frames a second of the 80 a call sends, and it fell
        further behind for as long as the call lasted."""
        limit = max(1, entry.drain) if self._stopping else BATCH_FRAMES
        frames: list[Any] = []
        try:
            frames.append(await entry.track.recv())
            # Queued frames are taken without waiting (a non-empty queue does not suspend).
            while len(frames) < limit and _pending(entry.track) > 0:
                frames.append(await entry.track.recv())
        except MediaStreamError:
            return frames, True
        finally:
            if self._stopping:
                entry.drain -= len(frames)
        return frames, False

    @staticmethod
    def _retime(entry: _Track, frame: Any) -> None:
        """Make the frame's pts rise strictly (video) or never overlap (audio):
        the muxer refuses anything else (EINVAL)."""
        if entry.kind == "video":
            if frame.pts is None or frame.time_base != VIDEO_TIME_BASE:
                pts = round((frame.pts or 0) * (frame.time_base or VIDEO_TIME_BASE) / VIDEO_TIME_BASE)
                frame.time_base = VIDEO_TIME_BASE
            else:
                pts = frame.pts
            if entry.next_pts is not None and pts < entry.next_pts:
                pts = entry.next_pts
            frame.pts = pts
            entry.next_pts = pts + 1
        else:
            if frame.pts is None:
                frame.pts = entry.next_pts or 0
                frame.time_base = Fraction(1, frame.sample_rate)
            elif entry.next_pts is not None and frame.pts < entry.next_pts:
                frame.pts = entry.next_pts
            entry.next_pts = frame.pts + int(frame.samples * Fraction(1, frame.sample_rate) / frame.time_base)

    def _write_all(self, entry: _Track, frames: list[Any]) -> None:
        """In the worker thread: the batch, in order."""
        for frame in frames:
            self._write(entry, frame)

    def _write(self, entry: _Track, frame: Any) -> None:
        """In the worker thread: encode one frame and mux its packets."""
        if self._container is None:
            return
        entry.frames += 1
        try:
            if entry.kind == "video" and not entry.opened:
                # The encoder opens at the first frame's size (PITFALLS 1).
                entry.stream.codec_context.width = frame.width
                entry.stream.codec_context.height = frame.height
            for packet in entry.stream.encode(frame):
                self._container.mux(packet)
        except Exception as exc:
            entry.dropped += 1
            if not entry.first_error:
                entry.first_error = f"{type(exc).__name__}: {exc}"[:200]
            if entry.dropped <= LOGGED_ERRORS:
                log.warning("recording %s: %s frame %d not written (%s: %s)", self.path.name, entry.kind, entry.frames, type(exc).__name__, exc)

    def _finish(self) -> str:
        """In the worker thread: flush every opened encoder, close the file.
        Returns why the file is not complete, or ""."""
        container, self._container = self._container, None
        if container is None:
            return ""
        problems: list[str] = []
        for entry in self._tracks:
            if not entry.opened:
                continue  # no frame came: there is nothing to flush (and opening it would fail)
            try:
                packets = entry.stream.encode(None)
            except Exception as exc:
                log.warning("recording %s: flushing %s failed (%s: %s)", self.path.name, entry.kind, type(exc).__name__, exc)
                continue
            for packet in packets:
                try:
                    container.mux(packet)
                except Exception as exc:  # one refused packet must not cost the rest of the file
                    entry.dropped += 1
                    log.warning("recording %s: a flushed %s packet was refused (%s: %s)", self.path.name, entry.kind, type(exc).__name__, exc)
        try:
            container.close()
        except Exception as exc:
            problems.append(f"the file could not be closed ({type(exc).__name__}: {exc})")
        for entry in self._tracks:
            if entry.frames and entry.dropped >= entry.frames:
                problems.append(f"no {entry.kind} frame could be written ({entry.first_error})")
        return "; ".join(problems)[:200]

    async def stop(self) -> str:
        """Stop reading, write what is pending, close the file. Idempotent; a
        second caller waits for the first, and a caller that gives up (a
        timeout, a cancelled handler) does not interrupt the closing.
        Returns why the file is incomplete, or ""."""
        if self._stopped is None:
            self._stopped = asyncio.ensure_future(self._stop())
        return await asyncio.shield(self._stopped)

    async def _stop(self) -> str:
        self._stopping = True
        # Frames that reached the server before the stop are evidence too: under
        # load dozens wait in aiortc's queue for the encoder. Those are written
        # (bounded); a track waiting for a frame that has not come is cancelled.
        for entry in self._tracks:
            entry.drain = _pending(entry.track)
        tasks = [t.task for t in self._tracks if t.task is not None]
        for entry in self._tracks:
            if entry.task is not None and entry.drain == 0:
                entry.task.cancel()
        if tasks:
            await asyncio.wait(tasks, timeout=DRAIN_LIMIT)
        for task in tasks:
            task.cancel()
        # A frame already with the worker is written before the flush (one thread, in order).
        await asyncio.gather(*tasks, return_exceptions=True)
        left = sum(t.drain for t in self._tracks if t.task is not None and t.task.cancelled())
        if left:
            log.warning("recording %s: %d queued frames not written within %.0f s of the stop", self.path.name, left, DRAIN_LIMIT)
        try:
            return await asyncio.get_running_loop().run_in_executor(self._pool, self._finish)
        except Exception as exc:  # not expected: _finish catches what PyAV raises
            return f"{type(exc).__name__}: {exc}"[:200]
        finally:
            self._pool.shutdown(wait=False)
