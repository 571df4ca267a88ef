"""Refusals on pages, said in the reader's language, with their HTTP status.

A form that can show its own mistake (a field beside its error) uses
``page_refusal`` and renders itself again. Anything else a staff page refuses
(a client that is not yours, a role that may not, a state that does not allow
it, an address that does not exist) reaches ``page_refusal_middleware``, which
answers with ``errors/refusal.html``: the layout (base.html), the sentence, and a link
back. Never a bare text/plain or JSON body to someone reading pages (issue 18:
a refused Surat Keterangan Selesai showed a text/plain 409).
"""

from __future__ import annotations

from typing import Awaitable
from urllib.parse import urlparse

from aiohttp import web
from pydantic import ValidationError

from server.domain.errors import DomainError
from server.keys import catalogue_key
from server.web.errors import HTTP_CODES, http_status, wants_json
from server.web.forms import safe_next
from server.web.render import error_text, locale_of, render
from server.web.validation import describe

# Pages that are not the staff's: the client's own pages and links keep their
# own refusal pages (join_link, portal), and static files and sockets are no pages.
NOT_STAFF_PAGES = ("/static/", "/ws/", "/j/", "/join", "/k/", "/klien", "/v/", "/metrics")

# A sentence for each status when the refusal has none of its own in the catalogue.
STATUS_KEYS = {400: "refusal.status.400", 403: "refusal.status.403", 404: "refusal.status.404", 405: "refusal.status.405",
               409: "refusal.status.409", 410: "refusal.status.410", 413: "refusal.status.413", 415: "refusal.status.415",
               429: "refusal.status.429"}


def page_refusal(request: web.Request, exc: Exception) -> tuple[str, int]:
    """(message for the page, HTTP status) for a ValidationError or a DomainError."""
    if isinstance(exc, ValidationError):
        _message, fields = describe(exc)
        catalogue = request.app[catalogue_key]
        return catalogue.gettext(locale_of(request), "field.invalid_fields", fields=", ".join(sorted(fields))), 400
    return error_text(request, exc, name_fields=True), http_status(exc)


def back_link(request: web.Request) -> str:
    """Where "back" goes: the page the reader came from on this site (a form's
    page, a list), else the home page, which sends each role to its own."""
    referer = request.headers.get("Referer", "")
    parsed = urlparse(referer)
    if parsed.netloc and parsed.netloc == request.host:
        path = parsed.path + (f"?{parsed.query}" if parsed.query else "")
        # Not the refused address itself (a GET that failed would loop).
        if safe_next(path) and not (request.method == "GET" and path == request.path_qs):
            return path
    return "/"


def refusal_page(request: web.Request, message: str, status: int, code: str, back: str | None = None) -> web.Response:
    """The refusal in the layout, with its status, its stable code (``data-error``,
    as the JSON's ``error``) and a way back."""
    context = {"message": message, "status": status, "code": code, "back": back or back_link(request)}
    return render(request, "errors/refusal.html", context, status=status)


def _status_sentence(request: web.Request, status: int) -> str:
    catalogue = request.app[catalogue_key]
    return catalogue.gettext(locale_of(request), STATUS_KEYS.get(status, "error.generic"))


def _is_staff_page(request: web.Request) -> bool:
    """A staff page: a route of server/web/pages/ (not the API's file downloads such
    as /recordings/{id}, which answer JSON), or an address no route answers."""
    if wants_json(request) or request.path.startswith(NOT_STAFF_PAGES):
        return False
    if request.match_info.http_exception is not None:
        return True
    module = getattr(request.match_info.handler, "__module__", "") or ""
    return module.startswith("server.web.pages.")


@web.middleware
def page_refusal_middleware(request: web.Request, handler) -> Awaitable[web.StreamResponse]:
    """Inside the sign-in check (server/app.py): a refusal the handler raised
    becomes the layout's refusal page; the API and the client's pages are left
    to their own answers (JSON, or their own pages). A signaling socket is no
    page: handed on without being awaited here, so that no frame of this
    middleware lives as long as the socket (issue 24)."""
    if request.path.startswith("/ws/"):
        return handler(request)
    return _refusal_page_for(request, handler)


async def _refusal_page_for(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        if not _is_staff_page(request):
            raise
        known = exc.key in request.app[catalogue_key].messages["id"] or exc.extra.get("fields")
        status = http_status(exc)
        message = error_text(request, exc, name_fields=True) if known else _status_sentence(request, status)
        return refusal_page(request, message, status, exc.code)
    except web.HTTPException as exc:
        if exc.status_code < 400 or not _is_staff_page(request):
            raise
        response = refusal_page(request, _status_sentence(request, exc.status_code), exc.status_code, HTTP_CODES.get(exc.status_code, "error"))
        if "Allow" in exc.headers:  # a 405 names the methods the address takes
            response.headers["Allow"] = exc.headers["Allow"]
        return response
