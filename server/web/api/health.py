"""Liveness, database reachability and, with BIMBING_REDIS_URL, Redis reachability."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from server import __version__
from server.keys import engine_key, rooms_key, settings_key

routes = web.RouteTableDef()


async def _redis_ok(request: web.Request) -> bool:
    bus = getattr(request.app.get(rooms_key), "rbus", None)
    if bus is None:
        return False
    # Up as signaling sees it (it has resumed after an outage) and answering now.
    return bus.up and await bus.ping()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[engine_key].connect() as conn:
            await conn.execute(text("SELECT 1"))
        db_ok = True
    except Exception:  # any failure to reach the database is "not ready", never a 500
        db_ok = False
    body: dict = {"database": db_ok}
    ok = db_ok
    if request.app[settings_key].redis_url:
        # Signaling needs Redis in this mode (docs/deploy.md, "Several processes").
        body["redis"] = redis_ok = await _redis_ok(request)
        ok = ok and redis_ok
    return web.json_response({"status": "ok" if ok else "degraded", **body, "version": __version__}, status=200 if ok else 503)
