"""URLs without their secrets, for every place a URL is logged or stored.

A gateway or a service is often configured with its credential in the URL
(``https://user:pass@gw.example/send?key=…``); issue 23 found such a key in a
reminder's ``last_error``, the log, ``/api/notify/outbox`` and ``/admin/notify``.
So nothing that leaves configuration carries a URL as given: :func:`redact_url`
keeps the scheme, host, port and path and drops the user information, the query
and the fragment (any of which may hold a credential, and none of which says
where a request went); :func:`redact_urls` does the same to every URL inside a
text (an exception's message, a log line). The log's formatters
(server/ops/logs.py) pass every line through :func:`redact_urls` too, so a URL
logged by a library is cut the same way.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

# A scheme, "://", then anything up to white space or a character that closes
# a quotation in a message ('"<> and the closing brackets of reprs).
_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]{0,20}://[^\s'\"<>)\]]+")


def redact_url(url: str | None) -> str:
    """``url`` without user information, query or fragment; a relative URL (a
    ``Location`` header) keeps its path. Something that does not parse as a URL
    is replaced whole: it is shown as ``<url>``, never as given."""
    if not url:
        return ""
    try:
        parts = urlsplit(url.strip())
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<url>"
    if host and ":" in host:
        host = f"[{host}]"  # IPv6, as it was written
    netloc = f"{host}:{port}" if port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def has_secret_parts(url: str | None) -> bool:
    """Whether ``url`` carries something :func:`redact_url` drops."""
    if not url:
        return False
    try:
        parts = urlsplit(url.strip())
        return bool(parts.username or parts.password or parts.query or parts.fragment)
    except ValueError:
        return True


def redact_urls(text: str) -> str:
    """``text`` with every URL in it passed through :func:`redact_url`."""
    if "://" not in text:
        return text
    return _URL.sub(_redact_match, text)


def _redact_match(match: re.Match) -> str:
    # Punctuation that ends a sentence after a URL is the sentence's, not the URL's.
    url = match.group(0)
    bare = url.rstrip(".,;:!?")
    return redact_url(bare) + url[len(bare):]
