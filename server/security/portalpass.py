"""The client's own link (``/k/{token}``) and the cookie ``bimbing_portal`` it
is exchanged for: the scheme of server/security/linkpass.py under the portal's
own keys, so no other signed value (a join link, a join pass, a site
supervisor's link) can pass for either."""

from __future__ import annotations

from server.security.linkpass import LinkPass

SCHEME = LinkPass(b"bimbing portal ", "bimbing_portal")
COOKIE = SCHEME.cookie
new_salt = SCHEME.new_salt
link_token = SCHEME.link_token
token_link_id = SCHEME.token_link_id
token_matches = SCHEME.token_matches
encode_cookie = SCHEME.encode_cookie
decode_cookie = SCHEME.decode_cookie
