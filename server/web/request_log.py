"""The request log: an id for each HTTP request and one line when it is
answered, naming the route by its template, never the path that filled it
(server/ops/logs.py formats the line; docs/deploy.md, "Logs")."""

from __future__ import annotations

import asyncio
import logging
import secrets
import time

from aiohttp import web

from server.db.ids import id_from_text
from server.keys import metrics_key
from server.ops.logs import request_id_var, session_id_var

access_log = logging.getLogger("bimbing.access")
# Routes whose {id} is a guidance session's id.
_TOKEN_PREFIXES = ("/j/", "/api/join/")
_SESSION_ROUTES = ("/api/sessions/{id}", "/ws/sessions/{id}", "/sessions/{id}")


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
        return id_from_text(request.match_info.get("id", ""))
    return None


# The status logged for a request whose handler was cancelled (nginx's "client closed request").
CUT = 499


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
    except asyncio.CancelledError:
        # Cut before it was answered: the connection went away (a phone's socket
        # dropped, its handler cancelled) or the server stopped with it still
        # running (a signaling socket past the shutdown's grace). Not a server
        # error: logged and counted as nginx's 499, not as a 500. At 5,000 rooms
        # a stop logged 538 sockets as 500s (bench/national.py).
        status = CUT
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
