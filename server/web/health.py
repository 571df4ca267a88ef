"""Liveness and database reachability."""

from __future__ import annotations

from aiohttp import web
from sqlalchemy import text

from server import __version__
from server.keys import engine_key

routes = web.RouteTableDef()


@routes.get("/healthz")
async def healthz(request: web.Request) -> web.Response:
    try:
        async with request.app[engine_key].connect() as conn:
            await conn.execute(text("SELECT 1"))
        db_ok = True
    except Exception:  # any failure to reach the database is "not ready", never a 500
        db_ok = False
    return web.json_response({"status": "ok" if db_ok else "degraded", "database": db_ok, "version": __version__}, status=200 if db_ok else 503)
