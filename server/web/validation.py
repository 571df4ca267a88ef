"""Request bodies are parsed into pydantic models at the edge, or refused with a 400.

Models forbid unknown fields, so a typo is an error rather than a silent no-op.
"""

from __future__ import annotations

import json
from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel, ConfigDict, ValidationError

from server.db.ids import id_from_text
from server.domain.errors import DomainError, ErrorKind
from server.keys import settings_key

M = TypeVar("M", bound=BaseModel)


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


def describe(exc: ValidationError) -> tuple[str, dict[str, str]]:
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "body"
        fields.setdefault(loc, err["msg"])
    message = "; ".join(f"{k}: {v}" for k, v in fields.items())
    return message, fields


# pydantic's error types → catalogue keys, so a page never shows a validator's
# English ("String should have at least 8 characters"); the JSON API keeps them.
_TYPE_KEYS = {
    "missing": "validation.missing",
    "string_too_short": "validation.min_length",
    "too_short": "validation.min_length",
    "string_too_long": "validation.max_length",
    "too_long": "validation.max_length",
    "string_type": "validation.text",
    "string_pattern_mismatch": "validation.pattern",
    "int_parsing": "validation.integer",
    "int_type": "validation.integer",
    "int_from_float": "validation.integer",
    "greater_than_equal": "validation.min",
    "greater_than": "validation.min",
    "less_than_equal": "validation.max",
    "less_than": "validation.max",
    "date_parsing": "validation.date",
    "date_from_datetime_parsing": "validation.date",
    "date_type": "validation.date",
    "datetime_parsing": "validation.datetime",
    "datetime_from_date_parsing": "validation.datetime",
    "datetime_type": "validation.datetime",
    "timezone_aware": "validation.datetime",
    "enum": "validation.choice",
    "literal_error": "validation.choice",
    "bool_parsing": "validation.bool",
    "bool_type": "validation.bool",
    "extra_forbidden": "validation.extra",
}
_CTX_NUMBER = ("min_length", "max_length", "ge", "gt", "le", "lt")


def page_errors(exc: ValidationError, gettext) -> dict[str, str]:
    """Field → a sentence from the catalogue (``gettext(key, **params)``) for forms."""
    fields: dict[str, str] = {}
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "form"
        key = _TYPE_KEYS.get(err["type"], "validation.invalid")
        ctx = err.get("ctx") or {}
        n = next((ctx[c] for c in _CTX_NUMBER if c in ctx), None)
        if key in ("validation.min", "validation.max", "validation.min_length", "validation.max_length") and n is not None:
            fields.setdefault(loc, gettext(key, n=n))
        else:
            fields.setdefault(loc, gettext(key if key not in ("validation.min", "validation.max", "validation.min_length", "validation.max_length") else "validation.invalid"))
    return fields


async def read_raw(request: web.Request) -> tuple[bytes, object]:
    limit = request.app[settings_key].max_body_bytes
    if request.content_length is not None and request.content_length > limit:
        raise DomainError(ErrorKind.too_large, "body-too-large", f"The body is larger than {limit} bytes.")
    if request.content_type != "application/json":
        raise DomainError(ErrorKind.unsupported, "unsupported-media-type", "Send the body as application/json.")
    raw = await request.content.read(limit + 1)
    if len(raw) > limit:
        raise DomainError(ErrorKind.too_large, "body-too-large", f"The body is larger than {limit} bytes.")
    try:
        return raw, json.loads(raw or b"null")
    # RecursionError: "[[[[..." nested a few thousand deep fits in the size limit.
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise DomainError(ErrorKind.invalid, "malformed-json", "The body is not valid JSON.") from None


async def read_json(request: web.Request) -> object:
    return (await read_raw(request))[1]


async def parse_body(request: web.Request, model: type[M]) -> M:
    raw, data = await read_raw(request)
    if not isinstance(data, dict):
        raise DomainError(ErrorKind.invalid, "invalid-body", "The body must be a JSON object.")
    try:
        # Strict JSON mode: "5" is not an int and "yes" is not a bool, but ISO dates
        # and enum values arrive as strings as JSON requires.
        return model.model_validate_json(raw, strict=True)
    except ValidationError as exc:
        message, fields = describe(exc)
        raise DomainError(ErrorKind.invalid, "invalid-body", message, fields=fields) from None


def parse_query(request: web.Request, model: type[M]) -> M:
    try:
        return model.model_validate(dict(request.query))
    except ValidationError as exc:
        message, fields = describe(exc)
        raise DomainError(ErrorKind.invalid, "invalid-query", message, fields=fields) from None


def int_param(request: web.Request, name: str) -> int:
    value = id_from_text(request.match_info.get(name, ""))
    if value is None:
        raise DomainError(ErrorKind.not_found, "not-found", "No such resource.")
    return value
