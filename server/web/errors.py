"""One shape for every error: ``{"error": code, "message": text}`` with a 4xx.

This is the one place where a refusal becomes HTTP: ``STATUS`` maps each kind
of ``DomainError`` to its status. The middleware renders domain refusals and
aiohttp's own HTTP exceptions in that shape, and turns an unexpected failure
into a 500 whose stack trace goes to the log, never to the caller.
"""

from __future__ import annotations

import logging

from aiohttp import web

from server.domain.errors import DomainError, ErrorKind

log = logging.getLogger(__name__)

STATUS: dict[ErrorKind, int] = {
    ErrorKind.invalid: 400,
    ErrorKind.unauthenticated: 401,
    ErrorKind.forbidden: 403,
    ErrorKind.not_found: 404,
    ErrorKind.conflict: 409,
    ErrorKind.gone: 410,
    ErrorKind.too_large: 413,
    ErrorKind.unsupported: 415,
    ErrorKind.rate_limited: 429,
}
assert set(STATUS) == set(ErrorKind), "every kind of refusal needs a status"


def http_status(exc: DomainError) -> int:
    return STATUS[exc.kind]


def json_error(status: int, code: str, message: str, **extra) -> web.Response:
    return web.json_response({"error": code, "message": message, **extra}, status=status)


def error_response(exc: DomainError) -> web.Response:
    return json_error(http_status(exc), exc.code, exc.message, **exc.extra)


# For aiohttp's own HTTP exceptions (no route, wrong method, body too large).
HTTP_CODES = {
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
    except DomainError as exc:
        return error_response(exc)
    except web.HTTPException as exc:
        if exc.status_code < 400 or not wants_json(request):
            raise
        return json_error(exc.status_code, HTTP_CODES.get(exc.status_code, "error"), exc.reason or "Request failed.")
    except Exception:
        log.exception("unhandled error on %s %s", request.method, request.path)
        if wants_json(request):
            return json_error(500, "internal", "Something went wrong on the server; it has been logged.")
        return web.Response(status=500, text="Terjadi kesalahan pada server. / Something went wrong.", content_type="text/plain")


def wants_json(request: web.Request) -> bool:
    return request.path.startswith("/api/") or request.path == "/healthz" or "application/json" in request.headers.get("Accept", "")
