"""One shape for every error: ``{"error": code, "message": text}`` with a 4xx.

The middleware turns aiohttp's HTTP exceptions and unexpected failures into
that shape; a stack trace goes to the log, never to the caller.
"""

from __future__ import annotations

import logging

from aiohttp import web

log = logging.getLogger(__name__)


class ApiError(Exception):
    """Raised by views and domain code; rendered as JSON by the middleware."""

    def __init__(self, status: int, code: str, message: str, **extra):
        super().__init__(message)
        self.status_code = status
        self.code = code
        self.message = message
        self.extra = extra


def json_error(status: int, code: str, message: str, **extra) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


def not_found(what: str = "resource") -> ApiError:
    return ApiError(404, "not-found", f"No such {what}.")


def forbidden(message: str = "You may not do that.") -> ApiError:
    return ApiError(403, "forbidden", message)


_CODES = {
    400: "bad-request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not-found",
    405: "method-not-allowed",
    409: "conflict",
    413: "body-too-large",
    415: "unsupported-media-type",
    429: "too-many-requests",
}


@web.middleware
async def error_middleware(request: web.Request, handler):
    try:
        return await handler(request)
    except ApiError as exc:
        return json_error(exc.status_code, exc.code, exc.message, **exc.extra)
    except web.HTTPException as exc:
        if exc.status_code < 400 or not _wants_json(request):
            raise
        return json_error(exc.status_code, _CODES.get(exc.status_code, "error"), exc.reason or "Request failed.")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if _wants_json(request):
            return json_error(500, "internal", "Something went wrong on the server; it has been logged.")
        return web.Response(status=500, text="Terjadi kesalahan pada server. / Something went wrong.", content_type="text/plain")


def _wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz" or "application/json" in request.headers.get("Accept", "")
