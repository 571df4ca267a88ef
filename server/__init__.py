"""Bimbing: video-call guidance for Indonesian probation offices."""

__version__ = "0.1.0"
