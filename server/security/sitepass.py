"""A site supervisor's personal link (``/p/{token}``) and the cookie
``bimbing_site`` it is exchanged for: the client's link's scheme
(server/security/linkpass.py) under keys of its own, so that neither a
client's link nor its cookie can pass for a site supervisor's, nor the other
way round."""

from __future__ import annotations

import hashlib
import hmac

from server.security.linkpass import LinkPass

SCHEME = LinkPass(b"bimbing site supervisor ", "bimbing_site")
COOKIE = SCHEME.cookie
new_salt = SCHEME.new_salt
link_token = SCHEME.link_token
token_link_id = SCHEME.token_link_id
token_matches = SCHEME.token_matches
encode_cookie = SCHEME.encode_cookie
decode_cookie = SCHEME.decode_cookie


def form_token(secret: str, cookie: str) -> str:
    """The site page's forms carry an HMAC of the cookie (a synchroniser token
    without storage), on top of the Origin check every POST passes."""
    return hmac.new(SCHEME.key(secret, b"form"), cookie.encode(), hashlib.sha256).hexdigest()
