"""What a recording file is, named where the web process can read it without
importing the media stack (aiortc and PyAV cost a second of CPU at start-up and
the web process records in recorder processes: server/recorders)."""

CONTENT_TYPE = "video/mp4"
# A party that sends no video on purpose (audio-only "hemat kuota", no camera):
# the upload offers no video, and the file is AAC in MP4 with no video stream.
AUDIO_CONTENT_TYPE = "audio/mp4"
EXTENSION = "mp4"
