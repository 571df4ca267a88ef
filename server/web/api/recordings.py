"""Recordings of video sessions: the list per session and playback.

Only the session's own PK and the office's supervisors may list or play them
(server/domain/recordings.may_play); anyone else gets a 404, so that a
recording's existence is not disclosed. Every playback is in the audit trail
as ``recording.view``. The file is decrypted as it streams; the plaintext is
never written to disk.
"""

from __future__ import annotations

import asyncio
import logging

from aiohttp import web

from server.db.models import GuidanceSession, Recording
from server.domain.calls.recordings import may_play, recording_json, session_recordings
from server.domain.errors import DomainError, ErrorKind, not_found
from server.keys import audit_key, db_key, recordings_key
from server.media.crypto import DecryptionError, UnsafePath
from server.security.auth import current_staff
from server.web.validation import int_param

log = logging.getLogger(__name__)

routes = web.RouteTableDef()


@routes.get("/api/sessions/{id}/recordings")
async def list_recordings(request: web.Request) -> web.Response:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        session = await db.get(GuidanceSession, int_param(request, "id"))
        if session is None or not may_play(staff, session):
            raise not_found("session")
        rows = await session_recordings(db, session.id)
    return web.json_response({"session_id": session.id, "record": session.record, "recordings": [recording_json(r) for r in rows]})


@routes.get("/recordings/{id}")
async def play_recording(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    async with request.app[db_key]() as db:
        rec = await db.get(Recording, int_param(request, "id"))
        session = await db.get(GuidanceSession, rec.session_id) if rec is not None else None
    if rec is None or session is None or not may_play(staff, session) or rec.status != "ready":
        raise not_found("recording")
    service = request.app[recordings_key]
    try:
        chunks = service.plaintext(rec)
        first = await asyncio.to_thread(next, chunks, b"")
    except (DecryptionError, UnsafePath, FileNotFoundError) as exc:
        # The row says ready but the file does not open: say so, do not serve bytes.
        # The reason (with the file's path on the server) goes to the log only (issue #12).
        log.warning("recording %s cannot be opened: %s", rec.id, exc)
        raise DomainError(ErrorKind.conflict, "recording-unreadable", f"Recording {rec.id} cannot be opened; the server log says why.") from None
    await request.app[audit_key].record(
        "recording.view", actor=staff, target_type="recording", target_id=rec.id, detail={"session_id": rec.session_id, "party": rec.party}
    )
    response = web.StreamResponse(headers={"Content-Type": rec.content_type, "Cache-Control": "private, no-store", "X-Content-Type-Options": "nosniff"})
    await response.prepare(request)
    await response.write(first)
    while True:
        chunk = await asyncio.to_thread(next, chunks, None)
        if chunk is None:
            break
        await response.write(chunk)
    await response.write_eof()
    return response
