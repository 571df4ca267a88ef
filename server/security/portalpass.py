"""The client's own link and the cookie it is exchanged for.

Link token: ``<id>-<hex>`` where hex is the first 32 hex digits of
HMAC-SHA256(k_link, "<id>:<salt>"); the salt is random per link and stored,
the token is not (it can be recomputed to show the link again).

Cookie ``bimbing_portal``: ``base64url(payload) "." base64url(HMAC-SHA256(k_cookie, payload))``
with payload ``{"l": link_id, "exp": unix}``. Both keys are derived from the app
secret for this one purpose, so no other signed value (a join link, a join pass)
can pass for either. Whoever uses the cookie checks the link row is still
neither revoked nor expired, so revoking the link also ends the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timezone

from server.db.ids import id_from_text

COOKIE = "bimbing_portal"


def _key(secret: str, purpose: bytes) -> bytes:
    return hmac.new(secret.encode(), b"bimbing portal " + purpose + b" v1", hashlib.sha256).digest()


def new_salt() -> str:
    return secrets.token_hex(16)


def link_token(secret: str, link_id: int, salt: str) -> str:
    mac = hmac.new(_key(secret, b"link"), f"{link_id}:{salt}".encode(), hashlib.sha256).hexdigest()[:32]
    return f"{link_id}-{mac}"


def token_link_id(token: str) -> int | None:
    """The link id a well-formed token names (not yet checked), or None."""
    head, _, mac = token.partition("-")
    return id_from_text(head) if len(mac) == 32 else None


def token_matches(secret: str, token: str, link_id: int, salt: str) -> bool:
    return hmac.compare_digest(link_token(secret, link_id, salt), token)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def encode_cookie(secret: str, link_id: int, expires: datetime) -> str:
    payload = json.dumps({"l": link_id, "exp": int(expires.timestamp())}, separators=(",", ":")).encode()
    mac = hmac.new(_key(secret, b"cookie"), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(mac)}"


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
    if exp < (now or datetime.now(timezone.utc)).timestamp():
        return None
    return link_id
