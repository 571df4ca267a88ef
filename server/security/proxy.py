"""What we believe about the connection when a reverse proxy stands in front.

Without a proxy, ``X-Forwarded-*`` headers come from the caller and mean
nothing, so they are ignored unless ``settings.trust_proxy`` is on. Behind a
proxy (nginx, Caddy) that terminates TLS, the proxy sets them: the scheme the
browser used, and the browser's address appended as the LAST entry of
``X-Forwarded-For`` (earlier entries are whatever the caller sent, so only the
last one is believed; see MDN "X-Forwarded-For", Security and privacy concerns).
"""

from __future__ import annotations

from aiohttp import web

from server.keys import settings_key


def _trusted(request: web.Request) -> bool:
    return request.app[settings_key].trust_proxy


def scheme(request: web.Request) -> str:
    """``https`` or ``http`` as the browser sees us."""
    if _trusted(request):
        forwarded = request.headers.get("X-Forwarded-Proto", "").split(",")[0].strip().lower()
        if forwarded in ("http", "https"):
            return forwarded
    return request.scheme


def is_https(request: web.Request) -> bool:
    return request.secure or scheme(request) == "https"


def client_address(request: web.Request) -> str:
    """The browser's address: per-address rate limits must not lump every caller
    behind the proxy into one bucket."""
    if _trusted(request):
        hops = [h.strip() for h in request.headers.get("X-Forwarded-For", "").split(",") if h.strip()]
        if hops:
            return hops[-1]
    return request.remote or "unknown"
