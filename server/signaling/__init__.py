"""Signaling: the WebSocket protocol, the room registry and its handler (see docs/signaling.md)."""
