"""Refusals on pages, said in the reader's language, with their HTTP status."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from server.keys import catalogue_key
from server.web.errors import http_status
from server.web.render import error_text, locale_of
from server.web.validation import describe


def page_refusal(request: web.Request, exc: Exception) -> tuple[str, int]:
    """(message for the page, HTTP status) for a ValidationError or a DomainError."""
    if isinstance(exc, ValidationError):
        _message, fields = describe(exc)
        catalogue = request.app[catalogue_key]
        return catalogue.gettext(locale_of(request), "field.invalid_fields", fields=", ".join(sorted(fields))), 400
    return error_text(request, exc, name_fields=True), http_status(exc)
