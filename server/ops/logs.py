"""Logs: one line per HTTP request and per call event, readable text or JSON
(``BIMBING_LOG_FORMAT=json``), each carrying the request id and the session id
when there is one (docs/deploy.md, "Logs").

What never reaches a log line: a join token (``/j/{token}`` is logged by its
route template, never by its path; query strings are never logged), a password
(request bodies are never logged), note text (call events are logged by kind and
actor, never their detail). tests/test_logs.py greps the log of a real run for
all three. Nor does a URL's user information or query, wherever the URL comes
from (a configured gateway's key, a library's exception): both formatters pass
every line through server/security/redact.py.

The ids travel in context variables, set by :func:`request_log_middleware` (and
by the signaling handler for a socket's session); :class:`ContextFilter` copies
them onto every record, so a line logged deep in the domain carries them too.
"""

from __future__ import annotations

import contextvars
import json
import logging
import secrets
import time
from datetime import datetime, timezone

from aiohttp import web

from server.keys import metrics_key
from server.security.redact import redact_urls

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
session_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("session_id", default=None)

access_log = logging.getLogger("bimbing.access")
# Routes whose {id} is a guidance session's id.
_TOKEN_PREFIXES = ("/j/", "/api/join/")
_SESSION_ROUTES = ("/api/sessions/{id}", "/ws/sessions/{id}", "/sessions/{id}")

TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s%(session_part)s] %(message)s"


class ContextFilter(logging.Filter):
    """Puts the request id and session id on every record (handlers' filter)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get() or "-"
        if not hasattr(record, "session_id"):
            record.session_id = session_id_var.get()
        record.session_part = f" s{record.session_id}" if record.session_id is not None else ""
        return True


# Attributes every LogRecord has; anything else on a record was passed in ``extra``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "session_part", "taskName"}


class TextFormatter(logging.Formatter):
    """``TEXT_FORMAT``, every URL in the line (message and traceback) redacted."""

    def format(self, record: logging.LogRecord) -> str:
        return redact_urls(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, ids, and any ``extra``;
    every URL in a text field redacted."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact_urls(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and key not in line:
                line[key] = redact_urls(value) if isinstance(value, str) else value
        if record.exc_info:
            line["exception"] = redact_urls(self.formatException(record.exc_info))
        return json.dumps(line, default=str, ensure_ascii=False)


def configure(log_format: str = "text", level: int = logging.INFO) -> None:
    """The process's logging: one handler on the root logger, to standard error."""
    handler = logging.StreamHandler()
    handler.addFilter(ContextFilter())
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter(TEXT_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)


def route_label(request: web.Request) -> str:
    """The route's template (``/j/{token}``), never the path that filled it; a
    static file or an unmatched path as requested, without its query string."""
    info = request.match_info
    resource = getattr(getattr(info, "route", None), "resource", None)
    if resource is not None and "filename" not in info:
        return resource.canonical
    path = request.rel_url.path
    # An unmatched path under a token route may still hold a token.
    if path.startswith(_TOKEN_PREFIXES):
        return "/" + path.split("/")[1] + "/..."
    return path[:200]


def session_of(request: web.Request) -> int | None:
    label = route_label(request)
    if any(label.startswith(prefix) for prefix in _SESSION_ROUTES):
        try:
            return int(request.match_info["id"])
        except (KeyError, ValueError):
            return None
    return None


def new_request_id() -> str:
    return secrets.token_hex(8)


@web.middleware
async def request_log_middleware(request: web.Request, handler):
    """First middleware: an id for the request, then one line when it is answered."""
    rid = new_request_id()
    request_id_var.set(rid)
    session_id_var.set(session_of(request))
    started = time.perf_counter()
    status = 500
    try:
        response = await handler(request)
        status = response.status
        response.headers.setdefault("X-Request-Id", rid)
        return response
    except web.HTTPException as exc:
        status = exc.status
        raise
    finally:
        label = route_label(request)
        # Static files are many per page and tell nothing about the office's work.
        if not label.startswith("/static"):
            ms = round((time.perf_counter() - started) * 1000, 1)
            access_log.info(
                "%s %s %s %.1fms", request.method, label, status, ms,
                extra={"method": request.method, "route": label, "status": status, "ms": ms},
            )
        metrics = request.app.get(metrics_key)
        if metrics is not None:
            metrics.requests.labels(method=request.method, status=f"{status // 100}xx").inc()
