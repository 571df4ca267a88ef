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

The ids travel in context variables, set by the request log's middleware
(server/web/request_log.py) and by the signaling handler for a socket's session;
:class:`ContextFilter` copies them onto every record, so a line logged deep in
the domain carries them too. This module imports no web framework: every
``bimbing`` command configures its logs here, most of them serve nothing.
"""

from __future__ import annotations

import contextvars
import json
import logging
from datetime import datetime, timezone

from server.security.redact import redact_urls

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
session_id_var: contextvars.ContextVar[int | None] = contextvars.ContextVar("session_id", default=None)


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
