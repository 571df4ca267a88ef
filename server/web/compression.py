"""Gzip for the browser code and styles under /static/.

A client on a 32 kbit/s mobile link waits a quarter of a second for every
kilobyte, and pays for it (issue #11): JavaScript and CSS shrink to about a
third. Only /static/ is compressed: those files hold no secret and reflect no
input, so compression cannot leak anything (BREACH needs both in one
response); the HTML pages, which carry CSRF tokens and join data, are sent as
they are.
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.web import ContentCoding

STATIC_PREFIX = "/static/"
COMPRESSIBLE = (".js", ".css", ".svg", ".json")


@web.middleware
async def compress_static(request: web.Request, handler) -> web.StreamResponse:
    """A middleware, not an ``on_response_prepare`` hook: aiohttp decides on
    compression before that hook runs."""
    response = await handler(request)
    if (request.path.startswith(STATIC_PREFIX) and request.path.endswith(COMPRESSIBLE) and response.status == 200
            and "gzip" in request.headers.get("Accept-Encoding", "").lower() and not response.prepared):
        response.enable_compression(ContentCoding.gzip)
    return response
