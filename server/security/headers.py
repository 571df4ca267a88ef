"""Security headers on every response; a strict Content-Security-Policy on pages.

Set when a response is prepared (``on_response_prepare``), not in a middleware
around the handler: a streamed response (the CSV export, a recording) is
prepared inside its handler, before any middleware sees it, and went out with
none of these headers (issue #12). The same hook names the server without a
version (aiohttp's default ``Server`` said ``Python/3.11 aiohttp/3.x``) and
forbids caching anything but the static files: every other answer is about a
signed-in staff member's office or a client's link.
"""

from __future__ import annotations

from aiohttp import web

from server.security.proxy import is_https

# No inline script or style anywhere: pages load their code from /static and pass
# data in <script type="application/json"> blocks, which are never executed.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "media-src 'self' blob: mediastream:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)

PERMISSIONS_POLICY = "camera=(self), microphone=(self), geolocation=(), payment=(), usb=()"


SERVER_NAME = "Bimbing"
STATIC_PREFIX = "/static/"


def setup(app: web.Application) -> None:
    app.on_response_prepare.append(_on_prepare)


async def _on_prepare(request: web.BaseRequest, response: web.StreamResponse) -> None:
    apply(request, response)


def apply(request: web.BaseRequest, response: web.StreamResponse) -> None:
    h = response.headers
    h["Server"] = SERVER_NAME
    if response.status == 101:
        # A WebSocket handshake: no document and nothing cacheable follows, so none
        # of the headers below mean anything; and the response, headers included,
        # lives as long as its socket: 1.7 KiB each (tracemalloc, issue 24).
        return
    h.setdefault("X-Content-Type-Options", "nosniff")
    h.setdefault("Referrer-Policy", "no-referrer")
    if is_https(request):
        h.setdefault("Strict-Transport-Security", "max-age=31536000")
    if request.path.startswith(STATIC_PREFIX):
        # Scripts, stylesheets and a sound, never a document (the service workers
        # are served elsewhere, with the page policy): the framing, opener,
        # permissions and content policies below mean nothing on them, and were
        # 430 of each answer's 734 header bytes, sent again with every file: on
        # the four files of a phone's first call, 1.7 KB, 0.6 s at 24 kbit/s (issue 25).
        return
    h.setdefault("X-Frame-Options", "DENY")
    h.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    h.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
    h.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
    # Staff pages carry personal data; /api/ and /j/ too (docs/deploy.md).
    h.setdefault("Cache-Control", "no-store")
