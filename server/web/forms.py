"""Helpers shared by the page forms: the posted fields, and where a form may send the browser next."""

from __future__ import annotations

from urllib.parse import urlparse


def safe_next(value: str | None) -> str | None:
    # Only same-site paths: "//evil.example" and "https://..." are open redirects, and
    # browsers read "/\evil.example" as "//evil.example" (WHATWG URL: backslash is a slash).
    if not value or not value.startswith("/") or value.startswith("//") or urlparse(value).netloc:
        return None
    if "\\" in value or any(ord(ch) < 0x20 for ch in value):
        return None
    return value


def form_dict(form) -> dict:
    data = {k: v for k, v in form.items() if k != "csrf_token" and v != ""}
    return data
