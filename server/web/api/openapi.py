"""``GET /api/openapi.json``: the API described as OpenAPI 3.1 (server/web/openapi.py)."""

from __future__ import annotations

from aiohttp import web

routes = web.RouteTableDef()


@routes.get("/api/openapi.json")
async def openapi_document(request: web.Request) -> web.Response:
    from server.web.openapi import build_document  # it imports every API module

    return web.json_response(build_document(request.app))
