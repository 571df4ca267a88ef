"""``GET /metrics``: Prometheus text exposition (docs/deploy.md, "Metrics").

Closed unless configured: the figures (rooms, sign-in failures) tell an
outsider how busy and how attacked the office is. With
``BIMBING_METRICS_TOKEN`` a scraper sends ``Authorization: Bearer <token>``
(compared in constant time); with ``BIMBING_METRICS_ALLOW`` the caller's address
(``client_address``: believes the proxy only with ``BIMBING_TRUST_PROXY``)
must fall in one of the listed addresses or networks. Either one suffices.
With neither set the route answers 404, as if it did not exist.
"""

from __future__ import annotations

import hmac
import ipaddress

from aiohttp import web

from server.domain.errors import DomainError, ErrorKind
from server.keys import metrics_key, settings_key
from server.ops.metrics import CONTENT_TYPE_LATEST
from server.security.proxy import client_address

routes = web.RouteTableDef()


def _address_allowed(address: str, allowed: tuple[str, ...]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    for entry in allowed:
        try:
            if ip in ipaddress.ip_network(entry, strict=False):
                return True
        except ValueError:
            continue
    return False


def _token_ok(request: web.Request, token: str) -> bool:
    given = request.headers.get("Authorization", "")
    return given.startswith("Bearer ") and hmac.compare_digest(given[7:].strip().encode(), token.encode())


@routes.get("/metrics")
async def metrics(request: web.Request) -> web.Response:
    settings = request.app[settings_key]
    if not (settings.metrics_token or settings.metrics_allow):
        raise web.HTTPNotFound()
    if not ((settings.metrics_token and _token_ok(request, settings.metrics_token)) or _address_allowed(client_address(request), settings.metrics_allow)):
        raise DomainError(ErrorKind.forbidden, "metrics-forbidden", "Send the metrics token, or scrape from an allowed address.")
    body = request.app[metrics_key].exposition()
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST, "Cache-Control": "no-store"})
