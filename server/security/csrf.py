"""Cross-site request forgery defence.

Two layers, after the OWASP CSRF Prevention Cheat Sheet:

1. Fetch metadata / origin check for every state-changing request: a browser
   sends ``Sec-Fetch-Site``; we accept ``same-origin`` and ``none`` (typed
   address, bookmarks). Older browsers send only ``Origin``, which must equal
   our own origin. A request with neither is not from a modern browser's
   cross-site context (scripts, curl) and is let through to the other checks.
2. Every state-changing *page* route (not ``/api/``) of a signed-in staff
   member carries a synchroniser token: HMAC-SHA256 of the staff session
   token under the app secret, so it needs no storage and dies with the
   session. Forms send it as the ``csrf_token`` field; anything else must send
   it as the ``X-CSRF-Token`` header. Whatever the content type: the review
   (issue #12) found that a ``text/plain`` POST, which a cross-site form can
   send, skipped a check made only for form content types and wiped the notes.
   JSON API bodies need no token: ``application/json`` cannot be sent
   cross-origin without a CORS preflight, which we never grant, and the API
   refuses other content types.
3. That refusal holds for every state-changing ``/api/`` request, with a body
   or without (``api_media_refusal``, before any handler): a body is
   ``application/json``; a call documented without a body (end, cancel, undo,
   revoke...) is sent with none. The CORS-safelisted types, which a cross-site
   form or a no-cors ``fetch`` may send without a preflight (``text/plain``,
   form-encoded, multipart), are refused even empty (an empty form posts an
   empty form-encoded body), and so is a body of any other type or of none: a
   415 ``unsupported-media-type``. An empty body under another type passes
   (HTTP clients label an empty POST ``application/octet-stream``; no browser
   sends that cross-site without a preflight). A handler that reads a body
   checks it again (server/web/validation.py). Before issue 23 (item 7) a call
   that read no body took any of them; layer 1 still stopped browsers, this
   stops the rest. The one API call whose body is a file (a partner's report,
   ``POST /api/referrals/{id}/reports``) takes its file types (PDF, JPEG,
   PNG): none is safelisted, so the same preflight stops a cross-site page.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from aiohttp import web

from server.security.proxy import scheme

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def form_token(secret: str, session_token: str) -> str:
    return hmac.new(secret.encode(), b"csrf:" + session_token.encode(), hashlib.sha256).hexdigest()


def check_form_token(secret: str, session_token: str | None, submitted: str | None) -> bool:
    if not session_token or not submitted:
        return False
    return hmac.compare_digest(form_token(secret, session_token), submitted)


def request_origin(request: web.Request) -> str:
    # X-Forwarded-Proto counts only behind a trusted proxy (settings.trust_proxy).
    return f"{scheme(request)}://{request.host}"


def cross_site_reason(request: web.Request) -> str | None:
    """Why this state-changing request looks cross-site, or None if it does not."""
    if request.method in SAFE_METHODS:
        return None
    site = request.headers.get("Sec-Fetch-Site")
    if site is not None:
        if site in ("same-origin", "none"):
            return None
        return f"Sec-Fetch-Site is {site}"
    origin = request.headers.get("Origin")
    if origin is not None:
        if origin == "null" or origin.rstrip("/") != request_origin(request):
            return f"Origin {origin} is not this site"
    return None


def api_media_refusal(request: web.Request) -> str | None:
    """Why this state-changing API request's body is refused (415), or None."""
    if request.method in SAFE_METHODS or not request.path.startswith("/api/"):
        return None
    content_type = request.content_type if "Content-Type" in request.headers else None
    if content_type == "application/json":
        return None
    if content_type in FILE_TYPES and FILE_ROUTES.fullmatch(request.path):
        return None
    if content_type in CORS_SAFELISTED:
        return f"Content-Type {content_type} is not taken: send application/json, or no body."
    if request.body_exists:
        return "A body needs Content-Type application/json."
    return None


# The API routes whose body is a file (a partner's report, docs/api.md): their
# types are not CORS-safelisted either, so a cross-site page cannot send them
# without a preflight, which is never granted.
FILE_ROUTES = re.compile(r"/api/referrals/\d{1,12}/reports")
FILE_TYPES = frozenset({"application/pdf", "image/jpeg", "image/png"})

# What a page may send cross-origin without a CORS preflight (the Fetch standard's list).
CORS_SAFELISTED = frozenset({"text/plain", "application/x-www-form-urlencoded", "multipart/form-data"})


FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
HEADER = "X-CSRF-Token"


async def page_token_ok(request: web.Request, secret: str, session_token: str | None) -> bool:
    """Whether a state-changing page request carries its token (form field or header)."""
    if request.content_type in FORM_TYPES:
        submitted = (await request.post()).get("csrf_token")
        return check_form_token(secret, session_token, submitted if isinstance(submitted, str) else None)
    return check_form_token(secret, session_token, request.headers.get(HEADER))
