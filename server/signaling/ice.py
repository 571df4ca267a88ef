"""ICE servers handed to each party in ``welcome``.

STUN and TURN URLs come from Settings; nothing is added when none is
configured (aiortc would otherwise fall back to a public Google STUN server,
PITFALLS 4). TURN credentials follow coturn's ``use-auth-secret`` scheme
(the "TURN REST API" draft, draft-uberti-behave-turn-rest-00):
``username = "<expiry unix time>:<party id>"`` and
``credential = base64(HMAC-SHA1(static-auth-secret, username))``. coturn
recomputes the HMAC with the shared secret and refuses expired usernames, so
no credential store is needed; lifetime is capped at one hour.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

from server.settings import Settings

MAX_TTL_SECONDS = 3600


def turn_credentials(secret: str, party_id: str, ttl_seconds: int, now: float | None = None) -> tuple[str, str]:
    ttl = max(60, min(int(ttl_seconds), MAX_TTL_SECONDS))
    expiry = int((time.time() if now is None else now) + ttl)
    username = f"{expiry}:{party_id}"
    credential = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    return username, credential


def ice_servers(settings: Settings, party_id: str, now: float | None = None) -> list[dict[str, Any]]:
    """An RTCIceServer list (the browser's dictionary form) for one party."""
    servers: list[dict[str, Any]] = []
    if settings.stun_urls:
        servers.append({"urls": list(settings.stun_urls)})
    if settings.turn_enabled:
        username, credential = turn_credentials(settings.turn_secret or "", party_id, settings.turn_ttl_seconds, now)
        servers.append({"urls": list(settings.turn_urls), "username": username, "credential": credential})
    return servers
