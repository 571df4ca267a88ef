"""The recorder's MP4 writer keeps up with a call on a starved event loop.

Two CI runs found a recording that had taken 49 of a call's video frames in a
minute, its audio likewise. The writer sent each frame to its worker thread in
a trip of its own, and each trip costs a turn of the event loop: on a loop that
stands still 100 ms a turn (a process that shares 2 cores with much else) the
file took 10 frames a second of the 80 a call sends, and fell further behind for
as long as the call lasted. Here real PyAV writes a real file, fed at a call's
pace through queued tracks as aiortc's received tracks are."""

from __future__ import annotations

import asyncio
import time
from fractions import Fraction

import av
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

from server.media.writer import Mp4Writer

# A turn of the loop that takes this long: the other work of a starved process.
TURN_MS = 100
CALL_SECONDS = 3.0
VIDEO_FPS, AUDIO_FPS = 30, 50


class ReceivedTrack(MediaStreamTrack):
    """Frames as aiortc's received tracks hold them: queued, ``None`` at the end."""

    def __init__(self, kind: str):
        super().__init__()
        self.kind = kind
        self._queue: asyncio.Queue = asyncio.Queue()

    def deliver(self, frame) -> None:
        self._queue.put_nowait(frame)

    def pending(self) -> int:
        return self._queue.qsize()

    async def recv(self):
        frame = await self._queue.get()
        if frame is None:
            raise MediaStreamError
        return frame


def picture(n: int) -> av.VideoFrame:
    frame = av.VideoFrame(width=160, height=120, format="yuv420p")
    for plane in frame.planes:
        plane.update(bytes([90]) * plane.buffer_size)
    frame.pts, frame.time_base = n * 3000, Fraction(1, 90000)
    return frame


def sound(n: int) -> av.AudioFrame:
    frame = av.AudioFrame(format="s16", layout="mono", samples=960)
    for plane in frame.planes:
        plane.update(bytes(plane.buffer_size))
    frame.sample_rate, frame.pts, frame.time_base = 48000, n * 960, Fraction(1, 48000)
    return frame


async def test_the_file_keeps_up_with_the_call_while_the_loop_turns_slowly(tmp_path):
    video, audio = ReceivedTrack("video"), ReceivedTrack("audio")
    writer = Mp4Writer(tmp_path / "call.mp4")
    writer.add_track(video)
    writer.add_track(audio)
    await writer.start()
    starving = True

    async def other_work():
        while starving:
            time.sleep(TURN_MS / 1000)  # deliberately blocking: the loop stands still
            await asyncio.sleep(0)

    starver = asyncio.ensure_future(other_work())
    sent = {"video": 0, "audio": 0}
    began = time.monotonic()
    while (elapsed := time.monotonic() - began) < CALL_SECONDS:
        # What the call has delivered by now, at its own pace.
        while sent["video"] < elapsed * VIDEO_FPS:
            video.deliver(picture(sent["video"]))
            sent["video"] += 1
        while sent["audio"] < elapsed * AUDIO_FPS:
            audio.deliver(sound(sent["audio"]))
            sent["audio"] += 1
        await asyncio.sleep(0.01)
    written = {kind: counts["frames"] for kind, counts in writer.summary().items()}
    starving = False
    await starver
    # Behind by at most the last turns' frames (a turn holds 3 pictures and 5 sounds):
    # it took 10 frames a second of the 80 when each frame was a trip of its own.
    for kind, fps in (("video", VIDEO_FPS), ("audio", AUDIO_FPS)):
        assert written[kind] >= sent[kind] - 3 * fps * TURN_MS / 1000, (written, sent)
    video.deliver(None)  # the call ends
    audio.deliver(None)
    assert await writer.stop() == ""
    with av.open(str(tmp_path / "call.mp4")) as container:
        pictures = sum(1 for _ in container.decode(container.streams.video[0]))
    # Every frame sent is in the file, in one piece.
    assert pictures == sent["video"], (pictures, sent)
