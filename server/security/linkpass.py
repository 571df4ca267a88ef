"""A personal link and the cookie it is exchanged for, under keys of one
scheme's own (the client's link: server/security/portalpass.py; a site
supervisor's: server/security/sitepass.py). Each scheme derives its keys from
the app secret with its own label, so no link, cookie or other signed value of
one scheme passes for another's.

Link token: ``<id>-<hex>`` where hex is the first 32 hex digits of
HMAC-SHA256(k_link, "<id>:<salt>"); the salt is random per link and stored,
the token is not (it can be recomputed to show the link again).

Cookie: ``base64url(payload) "." base64url(HMAC-SHA256(k_cookie, payload))``
with payload ``{"l": link_id, "exp": unix}``. Whoever uses the cookie checks
the link row is still neither revoked nor expired, so revoking the link also
ends the cookie.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from server.db.ids import id_from_text


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class LinkPass:
    label: bytes  # what the scheme's keys are derived under, e.g. b"bimbing portal "
    cookie: str  # the name of the cookie a link is exchanged for

    def key(self, secret: str, purpose: bytes) -> bytes:
        return hmac.new(secret.encode(), self.label + purpose + b" v1", hashlib.sha256).digest()

    @staticmethod
    def new_salt() -> str:
        return secrets.token_hex(16)

    def link_token(self, secret: str, link_id: int, salt: str) -> str:
        mac = hmac.new(self.key(secret, b"link"), f"{link_id}:{salt}".encode(), hashlib.sha256).hexdigest()[:32]
        return f"{link_id}-{mac}"

    @staticmethod
    def token_link_id(token: str) -> int | None:
        """The link id a well-formed token names (not yet checked), or None."""
        head, _, mac = token.partition("-")
        return id_from_text(head) if len(mac) == 32 else None

    def token_matches(self, secret: str, token: str, link_id: int, salt: str) -> bool:
        return hmac.compare_digest(self.link_token(secret, link_id, salt), token)

    def encode_cookie(self, secret: str, link_id: int, expires: datetime) -> str:
        payload = json.dumps({"l": link_id, "exp": int(expires.timestamp())}, separators=(",", ":")).encode()
        mac = hmac.new(self.key(secret, b"cookie"), payload, hashlib.sha256).digest()
        return f"{_b64(payload)}.{_b64(mac)}"

    def decode_cookie(self, secret: str, value: str | None, now: datetime | None = None) -> int | None:
        """The link id of a valid, unexpired cookie, or None."""
        if not value or "." not in value or len(value) > 512:
            return None
        body, _, sig = value.partition(".")
        try:
            payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
            mac = base64.urlsafe_b64decode(sig + "=" * (-len(sig) % 4))
        except ValueError:
            return None
        if not hmac.compare_digest(hmac.new(self.key(secret, b"cookie"), payload, hashlib.sha256).digest(), mac):
            return None
        try:
            data = json.loads(payload)
            link_id, exp = int(data["l"]), int(data["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        if exp < (now or datetime.now(UTC)).timestamp():
            return None
        return link_id
