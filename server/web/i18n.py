"""Bahasa Indonesia first, English second: one JSON catalogue per locale,
shared by the server pages and (through a JSON block) the browser code."""

from __future__ import annotations

import json
from pathlib import Path

from aiohttp import web

LOCALES = ("id", "en")
CATALOGUE_DIR = Path(__file__).parent / "i18n"
LANG_COOKIE = "lang"


class Catalogue:
    def __init__(self, directory: Path = CATALOGUE_DIR):
        self.messages: dict[str, dict[str, str]] = {
            loc: json.loads((directory / f"{loc}.json").read_text(encoding="utf-8")) for loc in LOCALES
        }

    def gettext(self, locale: str, key: str, **params) -> str:
        text = self.messages.get(locale, {}).get(key) or self.messages["id"].get(key) or key
        return text.format(**params) if params else text

    def subset(self, locale: str, *prefixes: str) -> dict[str, str]:
        """The strings whose keys start with any of ``prefixes``, in ``locale`` (Indonesian where it has none)."""
        base = {k: v for k, v in self.messages["id"].items() if k.startswith(prefixes)}
        base.update({k: v for k, v in self.messages.get(locale, {}).items() if k.startswith(prefixes)})
        return base


def pick_locale(request: web.Request, default: str = "id") -> str:
    wanted = request.query.get("lang") or request.cookies.get(LANG_COOKIE)
    if wanted in LOCALES:
        return wanted
    return default
