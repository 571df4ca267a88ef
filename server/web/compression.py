"""Gzip for what a client on a slow link loads first: the browser code and
styles under /static/, and the join page itself.

A client on a 32 kbit/s mobile link waits a quarter of a second for every
kilobyte, and pays for it (issue #11): JavaScript, CSS and the join page
shrink to about a third.

What is compressed is chosen against BREACH (compression of a response that
holds a secret beside input an attacker can reflect leaks the secret through
the response's length):
- /static/ files hold no secret and reflect nothing;
- /join holds no secret in its body when no staff member is signed in: the
  join pass is an HttpOnly cookie, and the kendala form posts JSON, which needs
  no CSRF token. With staff signed in (a PK trying the link) the page carries
  the CSRF token of the logout form beside the reflected ``next=`` link, so it
  goes out uncompressed. No other page is compressed.

The join page's versioned code (server/web/callcode.py) comes gzipped already
(level 9, once at start-up): it is left as it is.
"""

from __future__ import annotations

from typing import Awaitable

from aiohttp import web
from aiohttp.web import ContentCoding

from server.security.auth import staff_request_key

STATIC_PREFIX = "/static/"
WEBSOCKET_PREFIX = "/ws/"
COMPRESSIBLE = (".js", ".css", ".svg", ".json")
PAGES = frozenset({"/join"})


def _wanted(request: web.Request) -> bool:
    if request.path.startswith(STATIC_PREFIX):
        return request.path.endswith(COMPRESSIBLE)
    return request.path in PAGES and request.get(staff_request_key) is None


@web.middleware
def compress_static(request: web.Request, handler) -> Awaitable[web.StreamResponse]:
    """A middleware, not an ``on_response_prepare`` hook: aiohttp decides on
    compression before that hook runs. A signaling socket (``/ws/``) is handed on
    without being awaited here: a middleware that awaits it keeps its coroutine
    frame for the socket's whole life, per connection (issue 24)."""
    if request.path.startswith(WEBSOCKET_PREFIX):
        return handler(request)
    return _compress_static(request, handler)


async def _compress_static(request: web.Request, handler) -> web.StreamResponse:
    response = await handler(request)
    if (response.status == 200 and not response.prepared and _wanted(request) and "Content-Encoding" not in response.headers
            and "gzip" in request.headers.get("Accept-Encoding", "").lower()):
        response.enable_compression(ContentCoding.gzip)
    return response
