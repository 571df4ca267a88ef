"""The recorder process (``bimbing recorder``; ``bimbing serve`` starts its own).

It holds the aiortc peer connections the officers' consoles upload to and writes,
checks and seals the files (server/media/backend.py: ``LocalRecorders``), so
encoding never runs in the web process's event loop, where it stalled every
other call's signaling. The web process relays the console's ``record-offer``
here and the answer back (server/recorders/client.py); the browsers' media path is
unchanged: the upload goes straight from the browser to this process's ICE
candidates.

HTTP, every request with the bearer token (docs/deploy.md):
``POST /recordings`` (``session_id``, ``party``, ``sdp``, ``ice_servers``) ->
201 ``{id, answer, name, audio_only}``; ``POST /recordings/{id}/stop`` -> the
outcome; ``GET /healthz`` -> ``{status, recording, received, backlog}`` (no token needed).

A recorder started by ``bimbing serve`` watches its parent: when the web process
dies it seals what it holds and exits, never leaving plaintext behind.
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import os
import signal

from aiohttp import web

from server.media import crypto
from server.media.backend import LocalRecorders, RecorderUnavailable
from server.settings import Settings

log = logging.getLogger(__name__)

recorders_key = web.AppKey("recorders", LocalRecorders)
token_key = web.AppKey("token", str)
PARTIES = ("officer", "client")


@web.middleware
async def _token_middleware(request: web.Request, handler):
    if request.path != "/healthz":
        given = request.headers.get("Authorization", "")
        if not (given.startswith("Bearer ") and hmac.compare_digest(given[7:].encode(), request.app[token_key].encode())):
            return web.json_response({"error": "unauthorized", "message": "Send the recorder token."}, status=401)
    return await handler(request)


async def _start(request: web.Request) -> web.Response:
    try:
        body = await request.json()
        session_id, party, sdp = int(body["session_id"]), str(body["party"]), str(body["sdp"])
        ice_servers = list(body.get("ice_servers") or [])
    except (ValueError, KeyError, TypeError):
        return web.json_response({"error": "invalid-body", "message": "session_id, party and sdp are required."}, status=400)
    if party not in PARTIES:
        return web.json_response({"error": "invalid-body", "message": "party is officer or client."}, status=400)
    try:
        started = await request.app[recorders_key].start(session_id, party, sdp, ice_servers)
    except RecorderUnavailable as exc:
        return web.json_response({"error": "record-failed", "message": str(exc)}, status=422)
    return web.json_response({"id": started.handle, "answer": started.answer, "name": started.name, "audio_only": started.audio_only}, status=201)


async def _stop(request: web.Request) -> web.Response:
    outcome = await request.app[recorders_key].stop(request.match_info["id"])
    if outcome is None:
        return web.json_response({"error": "not-found", "message": "No such recording here."}, status=404)
    return web.json_response(outcome)


async def _health(request: web.Request) -> web.Response:
    recorders = request.app[recorders_key]
    return web.json_response({"status": "ok", "recording": recorders.running(), "received": recorders.received(), "backlog": recorders.backlog()})


async def _watch_parent(app: web.Application, parent: int):
    async def watch():
        # Re-parented (to init) when the web process died, even by SIGKILL; it may
        # have died before this process got here, so its pid came as an argument.
        while os.getppid() == parent:
            await asyncio.sleep(1)
        log.warning("the web process %s is gone: sealing %s recording(s) and stopping", parent, app[recorders_key].running())
        await app[recorders_key].stop_all()
        os.kill(os.getpid(), signal.SIGTERM)

    task = asyncio.create_task(watch())
    yield
    task.cancel()


async def _lifecycle(app: web.Application):
    app[recorders_key].delete_leftovers()
    yield
    # Stopped (SIGTERM, or the parent gone): seal whatever still records.
    await app[recorders_key].stop_all()


def create_recorder_app(settings: Settings, token: str, *, parent: int | None = None) -> web.Application:
    app = web.Application(middlewares=[_token_middleware], client_max_size=1024 * 1024)
    app[token_key] = token
    app[recorders_key] = LocalRecorders(settings.recordings_dir, load_key=lambda: crypto.load_master_key(settings), allow_networks=settings.recorder_allow_networks)
    app.cleanup_ctx.append(_lifecycle)
    if parent is not None:
        app.cleanup_ctx.append(lambda a: _watch_parent(a, parent))
    app.router.add_post("/recordings", _start)
    app.router.add_post("/recordings/{id}/stop", _stop)
    app.router.add_get("/healthz", _health)
    return app
