"""A site supervisor's personal link (``/p/{token}``) and the cookie it is
exchanged for: the client's own link's scheme (server/security/portalpass.py),
under keys of their own, so that neither a client's link nor its cookie can
pass for a site supervisor's, nor the other way round.

Token: ``<id>-<hex>``, hex the first 32 hex digits of
HMAC-SHA256(k_link, "<id>:<salt>"), the salt random per link and stored.
Cookie ``bimbing_site``: ``base64url(payload) "." base64url(HMAC-SHA256(k_cookie, payload))``,
payload ``{"l": link_id, "exp": unix}``. Whoever reads the cookie checks that the
row is still neither revoked nor expired, so revoking ends it at once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import UTC, datetime

from server.db.ids import id_from_text

COOKIE = "bimbing_site"


def _key(secret: str, purpose: bytes) -> bytes:
    return hmac.new(secret.encode(), b"bimbing site supervisor " + purpose + b" v1", hashlib.sha256).digest()


def new_salt() -> str:
    return secrets.token_hex(16)


def link_token(secret: str, link_id: int, salt: str) -> str:
    mac = hmac.new(_key(secret, b"link"), f"{link_id}:{salt}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{link_id}-{mac}"


def token_link_id(token: str) -> int | None:
    head, _, mac = token.partition("-")
    return id_from_text(head) if len(mac) == 32 else None


def token_matches(secret: str, token: str, link_id: int, salt: str) -> bool:
    return hmac.compare_digest(link_token(secret, link_id, salt), token)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode_cookie(secret: str, link_id: int, expires: datetime) -> str:
    payload = json.dumps({"l": link_id, "exp": int(expires.timestamp())}, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(hmac.new(_key(secret, b'cookie'), payload, hashlib.sha256).digest())}"


def decode_cookie(secret: str, value: str | None, now: datetime | None = None) -> int | None:
    """The link id of a valid, unexpired cookie, or None."""
    if not value or "." not in value or len(value) > 512:
        return None
    body, _, sig = value.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        mac = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
    except ValueError:
        return None
    if not hmac.compare_digest(hmac.new(_key(secret, b"cookie"), payload, hashlib.sha256).digest(), mac):
        return None
    try:
        data = json.loads(payload)
        link_id, exp = int(data["l"]), int(data["exp"])
    except (ValueError, KeyError, TypeError):
        return None
    if exp < (now or datetime.now(UTC)).timestamp():
        return None
    return link_id


def form_token(secret: str, cookie: str) -> str:
    """The site page's forms carry an HMAC of the cookie (a synchroniser token
    without storage), on top of the Origin check every POST passes."""
    return hmac.new(_key(secret, b"form"), cookie.encode(), hashlib.sha256).hexdigest()
