"""Signed, expiring join links for clients.

A token is ``base64url(payload) "." base64url(HMAC-SHA256(key, payload))``
with payload ``{"s": session_id, "v": link_version, "nbf": ..., "exp": ...}``.
The key is derived from the app secret (>= 256 bits) for this one purpose, so
a join token can never be confused with another signed value. Revocation bumps
the session's ``link_version``; every older token then fails.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone


class TokenError(Exception):
    def __init__(self, code: str, message: str, not_before: datetime | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        # For "link-not-open": when the link opens, so the page can say so.
        self.not_before = not_before


@dataclass(frozen=True)
class JoinClaim:
    session_id: int
    link_version: int
    not_before: datetime
    expires: datetime


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"bimbing join-link v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def issue(secret: str, session_id: int, link_version: int, not_before: datetime, expires: datetime) -> str:
    payload = json.dumps(
        {"s": session_id, "v": link_version, "nbf": int(not_before.timestamp()), "exp": int(expires.timestamp())},
        separators=(",", ":"),
    ).encode()
    sig = hmac.new(_key(secret), payload, hashlib.sha256).digest()
    return f"{_b64(payload)}.{_b64(sig)}"


def verify(secret: str, token: str, now: datetime | None = None) -> JoinClaim:
    """Check signature and window. The caller checks ``link_version`` against the session."""
    now = now or datetime.now(timezone.utc)
    if not token or len(token) > 512 or token.count(".") != 1:
        raise TokenError("invalid-token", "This link is not valid.")
    body, sig = token.split(".")
    try:
        payload = _unb64(body)
        given = _unb64(sig)
    except (ValueError, base64.binascii.Error):
        raise TokenError("invalid-token", "This link is not valid.") from None
    expected = hmac.new(_key(secret), payload, hashlib.sha256).digest()
    if not hmac.compare_digest(expected, given):
        raise TokenError("invalid-token", "This link is not valid.")
    try:
        data = json.loads(payload)
        claim = JoinClaim(
            session_id=int(data["s"]),
            link_version=int(data["v"]),
            not_before=datetime.fromtimestamp(int(data["nbf"]), timezone.utc),
            expires=datetime.fromtimestamp(int(data["exp"]), timezone.utc),
        )
    except (ValueError, KeyError, TypeError):
        raise TokenError("invalid-token", "This link is not valid.") from None
    if now < claim.not_before:
        raise TokenError("link-not-open", "This session has not opened yet.", claim.not_before)
    if now >= claim.expires:
        raise TokenError("link-expired", "This link has expired.")
    return claim
