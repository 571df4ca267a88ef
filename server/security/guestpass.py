"""A guest's pass: the cookie a guest link is exchanged for (issue 22).

Like the client's join pass (joinpass.py, which states the algorithm): opening
``/g/{token}`` proves the holder has the link; the server sets
``bimbing_guest`` = ``base64url(payload) "." base64url(HMAC-SHA256(k, payload))``
with payload ``{"g": guest_id, "s": session_id, "exp": unix}`` and redirects to
``/guest``. ``k`` is derived from the app secret for this one purpose, so a
client's join pass cannot pass for a guest's pass nor the other way round: a
guest's cookie opens the guest's page and socket, and nothing else.

Whoever uses the pass checks the guest row again (revoked, session still open),
so revoking the link also revokes the pass.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from aiohttp import web

from server.keys import settings_key
from server.security.auth import set_cookie

COOKIE = "bimbing_guest"


class GuestPassError(Exception):
    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class GuestPass:
    guest_id: int
    session_id: int
    expires: datetime


def _key(secret: str) -> bytes:
    return hmac.new(secret.encode(), b"bimbing guest-pass v1", hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def encode(secret: str, grant: GuestPass) -> str:
    payload = json.dumps({"g": grant.guest_id, "s": grant.session_id, "exp": int(grant.expires.timestamp())}, separators=(",", ":")).encode()
    return f"{_b64(payload)}.{_b64(hmac.new(_key(secret), payload, hashlib.sha256).digest())}"


def decode(secret: str, value: str | None, now: datetime | None = None) -> GuestPass:
    now = now or datetime.now(timezone.utc)
    bad = GuestPassError("unauthorized", "The guest pass is not valid; open the link again.")
    if not value:
        raise GuestPassError("unauthorized", "Open the link you were sent first.")
    if len(value) > 400 or value.count(".") != 1:
        raise bad
    body, sig = value.split(".")
    try:
        payload, given = _unb64(body), _unb64(sig)
    except (ValueError, base64.binascii.Error):
        raise bad from None
    if not hmac.compare_digest(hmac.new(_key(secret), payload, hashlib.sha256).digest(), given):
        raise bad
    try:
        data = json.loads(payload)
        grant = GuestPass(int(data["g"]), int(data["s"]), datetime.fromtimestamp(int(data["exp"]), timezone.utc))
    except (ValueError, KeyError, TypeError):
        raise bad from None
    if now >= grant.expires:
        raise GuestPassError("link-expired", "The guest link has expired; ask the PK for a new one.")
    return grant


def read_pass(request: web.Request) -> GuestPass:
    return decode(request.app[settings_key].secret_key, request.cookies.get(COOKIE))


def guest_pass(request: web.Request) -> GuestPass | None:
    try:
        return read_pass(request)
    except GuestPassError:
        return None


def set_pass(request: web.Request, response: web.StreamResponse, grant: GuestPass) -> None:
    max_age = max(0, int((grant.expires - datetime.now(timezone.utc)).total_seconds()))
    set_cookie(request, response, COOKIE, encode(request.app[settings_key].secret_key, grant), max_age=max_age)
