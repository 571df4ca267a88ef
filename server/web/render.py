"""Rendering pages: every template gets the translator, the signed-in staff
member, the CSRF token for forms and the locale."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp_jinja2
from aiohttp import web

from server.keys import catalogue_key, settings_key
from server.security import csrf
from server.security.auth import session_token_key, set_cookie, staff_request_key
from server.web.i18n import LANG_COOKIE, pick_locale


def locale_of(request: web.Request) -> str:
    return pick_locale(request, request.app[settings_key].default_locale)


def gettext_for(request: web.Request):
    catalogue, locale = request.app[catalogue_key], locale_of(request)
    return lambda key, **params: catalogue.gettext(locale, key, **params)


def error_text(request: web.Request, exc, *, name_fields: bool = False) -> str:
    """A domain refusal as a page sentence in the reader's language: its
    catalogue key when the catalogue has it, else a general sentence; never the
    English ``message``. With ``name_fields`` (a message at the top of a form,
    not beside one field) a refusal that names its fields says which, where its
    own sentence would only be the general "Isian tidak valid."."""
    catalogue, locale = request.app[catalogue_key], locale_of(request)
    known = exc.key in catalogue.messages["id"]
    fields = (getattr(exc, "extra", None) or {}).get("fields") or {}
    if name_fields and fields and (exc.code in ("invalid-body", "invalid-query") or not known):
        return catalogue.gettext(locale, "field.invalid_fields", fields=", ".join(sorted(fields)))
    return catalogue.gettext(locale, exc.key, **(getattr(exc, "params", None) or {})) if known else catalogue.gettext(locale, "error.generic")


def page_context(request: web.Request) -> dict[str, Any]:
    settings = request.app[settings_key]
    catalogue = request.app[catalogue_key]
    locale = locale_of(request)
    token = request.get(session_token_key)

    def t(key: str, **params) -> str:
        return catalogue.gettext(locale, key, **params)

    def local(moment, fmt: str = "%d-%m-%Y %H:%M") -> str:
        if moment is None:
            return "—"
        if isinstance(moment, datetime):
            return moment.astimezone(ZoneInfo(settings.timezone)).strftime(fmt)
        return moment.strftime("%d-%m-%Y")

    def label(key: str, fallback: str) -> str:
        # Codes another part of the app may add before the catalogue knows them
        # (audit actions): the code itself, never the bare catalogue key.
        return catalogue.gettext(locale, key) if key in catalogue.messages["id"] else fallback

    return {
        "t": t,
        "label": label,
        "locale": locale,
        "staff": request.get(staff_request_key),
        "csrf_token": csrf.form_token(settings.secret_key, token) if token else "",
        "path": request.path,
        "path_qs": request.path_qs,
        # The language link goes through /lang?next=<this page>; a page whose address
        # carries a secret (a join token) switches in place instead, so the secret is
        # not written into the page (issue #12).
        "lang_next": None if request.path.startswith(SECRET_PATHS) else request.path_qs,
        "local": local,
        "tojson": lambda value: json.dumps(value, ensure_ascii=False).replace("<", "\\u003c"),
    }


SECRET_PATHS = ("/j/",)


def render(request: web.Request, template: str, context: dict[str, Any] | None = None, status: int = 200) -> web.Response:
    ctx = page_context(request)
    ctx.update(context or {})
    response = aiohttp_jinja2.render_template(template, request, ctx, status=status)
    if "lang" in request.query and request.query["lang"] in ("id", "en"):
        set_cookie(request, response, LANG_COOKIE, request.query["lang"], max_age=365 * 86400)
    return response
