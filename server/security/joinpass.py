"""The client's join pass: the cookie a join link is exchanged for.

Opening ``/j/{token}`` proves the holder has the link; the server then sets
``bimbing_join`` = ``base64url(payload) "." base64url(HMAC-SHA256(k, payload))``
with payload ``{"s": session_id, "v": link_version, "d": device_id, "exp": unix}``
and redirects to ``/join``, so the token leaves the address bar and history.
``k`` is derived from the app secret for this one purpose (like the join-link
key in tokens.py), so no other signed value can pass for a join pass. The
device id names this browser: the officer admits devices, and a device that
was admitted once is let back in directly after a dropped connection.

The pass is checked against the session's current ``link_version`` by whoever
uses it (the WebSocket handler), so revoking the link also revokes the passes.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone

from aiohttp import web

from server.keys import settings_key
from server.security.auth import set_cookie

COOKIE = "bimbing_join"


class PassError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class ClientPass:
    session_id: int
    link_version: int
    device: str
    expires: datetime


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"bimbing join-pass v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def new_device_id() -> str:
    return secrets.token_hex(8)


def encode(secret: str, grant: ClientPass) -> str:
    payload = json.dumps(
        {"s": grant.session_id, "v": grant.link_version, "d": grant.device, "exp": int(grant.expires.timestamp())},
        separators=(",", ":"),
    ).encode()
    return f"{_b64(payload)}.{_b64(hmac.new(_key(secret), payload, hashlib.sha256).digest())}"


def decode(secret: str, value: str | None, now: datetime | None = None) -> ClientPass:
    """Check signature and expiry; :class:`PassError` says why not."""
    now = now or datetime.now(timezone.utc)
    if not value:
        raise PassError("unauthorized", "Open the link you were sent first.")
    if len(value) > 400 or value.count(".") != 1:
        raise PassError("unauthorized", "The join pass is not valid; open the link again.")
    body, sig = value.split(".")
    try:
        payload, given = _unb64(body), _unb64(sig)
    except (ValueError, base64.binascii.Error):
        raise PassError("unauthorized", "The join pass is not valid; open the link again.") from None
    if not hmac.compare_digest(hmac.new(_key(secret), payload, hashlib.sha256).digest(), given):
        raise PassError("unauthorized", "The join pass is not valid; open the link again.")
    try:
        data = json.loads(payload)
        grant = ClientPass(
            session_id=int(data["s"]),
            link_version=int(data["v"]),
            device=str(data["d"]),
            expires=datetime.fromtimestamp(int(data["exp"]), timezone.utc),
        )
    except (ValueError, KeyError, TypeError):
        raise PassError("unauthorized", "The join pass is not valid; open the link again.") from None
    if now >= grant.expires:
        raise PassError("link-expired", "The join link has expired; ask your PK for a new one.")
    return grant


def read_pass(request: web.Request) -> ClientPass:
    return decode(request.app[settings_key].secret_key, request.cookies.get(COOKIE))


def client_pass(request: web.Request) -> ClientPass | None:
    """The request's valid join pass, or None. Does not check ``link_version``
    against the database: callers that act on the session do."""
    try:
        return read_pass(request)
    except PassError:
        return None


def set_pass(request: web.Request, response: web.StreamResponse, grant: ClientPass) -> None:
    max_age = max(0, int((grant.expires - datetime.now(timezone.utc)).total_seconds()))
    # HttpOnly, SameSite=Lax, Secure under HTTPS: set_cookie applies the house rules.
    set_cookie(request, response, COOKIE, encode(request.app[settings_key].secret_key, grant), max_age=max_age)
