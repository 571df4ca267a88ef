"""Refusals on pages, said in the reader's language: a domain error's catalogue
key when the catalogue has it, else a general sentence with the field names."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from server.domain.errors import DomainError
from server.keys import catalogue_key
from server.web.errors import http_status
from server.web.render import locale_of
from server.web.validation import describe


def page_refusal(request: web.Request, exc: Exception) -> tuple[str, int]:
    """(message for the page, HTTP status) for a ValidationError or a DomainError."""
    catalogue = request.app[catalogue_key]
    locale = locale_of(request)
    if isinstance(exc, ValidationError):
        _message, fields = describe(exc)
        return catalogue.gettext(locale, "field.invalid_fields", fields=", ".join(sorted(fields))), 400
    assert isinstance(exc, DomainError)
    # A refusal that names its fields says which: more use to the reader than the
    # general sentence its code has in the catalogue ("Isian tidak valid.").
    fields = (exc.extra or {}).get("fields") or {}
    if fields and exc.code in ("invalid-body", "invalid-query"):
        return catalogue.gettext(locale, "field.invalid_fields", fields=", ".join(sorted(fields))), http_status(exc)
    if exc.key in catalogue.messages["id"]:
        return catalogue.gettext(locale, exc.key), http_status(exc)
    if fields:
        return catalogue.gettext(locale, "field.invalid_fields", fields=", ".join(sorted(fields))), http_status(exc)
    return catalogue.gettext(locale, "field.refused", detail=exc.message), http_status(exc)
