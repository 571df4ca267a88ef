"""The join page's lean code (issue 25, server/web/callcode.py): the client's
scripts without their comments, at versioned addresses cached for good; the
styles inline, allowed by their hash; the service worker that keeps the code
(and nothing else) on the phone; and the client's starting step passed to the
officer so that the first offer fits a weak link."""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
from pathlib import Path

import pytest

from server.security.headers import CONTENT_SECURITY_POLICY
from server.web.callcode import BUNDLES, CALL_CODE, CODE_COOKIE, PAGE_CODE, CallCode, bundle, callcode_key, strip_css, strip_js

from tests.peers import stage
from tests.test_call_pages import start_video_session

pytestmark = pytest.mark.sqlite_only

WEBCLIENT = Path(__file__).resolve().parent.parent / "webclient"
GZIP = {"Accept-Encoding": "gzip, deflate"}

# Literals that a lexer mistaking a regular expression or a string for a comment would cut.
STRING = re.compile(r'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'')


@pytest.mark.parametrize("name", sorted(p.name for p in WEBCLIENT.glob("*.js")))
def test_stripping_keeps_every_string_and_drops_every_comment(name):
    source = (WEBCLIENT / name).read_text(encoding="utf-8")
    lean = strip_js(source)
    assert strip_js(lean) == lean  # nothing left to strip
    assert len(lean) < 0.8 * len(source)
    # every string literal of code lines (not of comments) is still there, in order
    code_lines = [line for line in source.splitlines() if not line.lstrip().startswith(("//", "*", "/*"))]
    strings = [s for line in code_lines for s in STRING.findall(line.split(" // ")[0])]
    at = 0
    for s in strings:
        found = lean.find(s, at)
        assert found >= 0, (name, s)
        at = found
    assert "/**" not in lean and "@ts-check" not in lean
    assert not any(line.startswith((" ", "\t")) for line in lean.splitlines())


def test_stripping_knows_regular_expressions_strings_and_templates_from_comments():
    source = (
        'const a = /^a=(ptime|maxptime):/.test(x); // gone\n'
        'const b = "http://x" + \'/* kept */\' + `${c /* gone */ + "//"}//kept`;\n'
        "const d = e / f / g; /* gone */\n"
        "return /\\/\\//g;\n"
    )
    assert strip_js(source) == (
        'const a = /^a=(ptime|maxptime):/.test(x);\n'
        'const b = "http://x" + \'/* kept */\' + `${c + "//"}//kept`;\n'
        "const d = e / f / g;\n"
        "return /\\/\\//g;\n"
    )
    assert strip_css("/* x */\n  a > b {\n    color: red; /* y */\n  }\n") == "a > b {\ncolor: red;\n}\n"


async def test_the_join_page_inlines_its_styles_by_hash_and_loads_versioned_lean_code(client, sign_in, office):
    code: CallCode = client.app[callcode_key]
    session = await start_video_session(client, sign_in, office)
    client.session.cookie_jar.clear()
    token_path = "/j/" + session["client_join_url"].rsplit("/j/", 1)[1]
    assert (await client.get(token_path, allow_redirects=False)).status == 303
    page = await client.get("/join", headers=GZIP)
    html = await page.text()
    style = re.search(r"<style>(.*?)</style>", html, re.S).group(1)
    digest = "sha256-" + base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
    assert f"style-src 'self' '{digest}'" in page.headers["Content-Security-Policy"]
    assert "script-src 'self';" in page.headers["Content-Security-Policy"]  # no inline script
    assert 'rel="stylesheet"' not in html and "<script>" not in html
    assert f'<script type="module" src="/static/v/{code.version}/join.js">' in html
    assert "modulepreload" not in html  # join.js holds what it imports: one response
    # the first response alone, gzipped as it travels: small enough for 3 s at 24 kbit/s
    raw = await client.get("/join", headers=GZIP, auto_decompress=False)
    assert len(await raw.read()) < 7000
    # other pages keep the strict policy
    login = await client.get("/login")
    assert login.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY


@pytest.mark.parametrize("name", CALL_CODE)
async def test_versioned_code_is_lean_gzipped_and_cached_for_good(client, name):
    code = client.app[callcode_key]
    resp = await client.get(code.url(name), headers=GZIP, auto_decompress=False)
    assert resp.status == 200 and resp.headers["Content-Encoding"] == "gzip"
    assert resp.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert resp.content_type == "text/javascript"
    body = gzip.decompress(await resp.read()).decode()
    if name in BUNDLES:
        assert body == bundle(WEBCLIENT, name, BUNDLES[name])
        assert "\nimport {" not in body and not body.startswith("import")  # nothing left to fetch before it runs
    else:
        assert body == strip_js((WEBCLIENT / name).read_text(encoding="utf-8"))
    # an older version's address still gets today's code, but not to keep
    old = await client.get(f"/static/v/0000000000000000/{name}")
    assert old.status == 200 and old.headers["Cache-Control"] == "no-cache" and await old.text() == body


def test_a_bundle_refuses_modules_whose_names_collide(tmp_path):
    (tmp_path / "a.js").write_text("export const x = 1;\n")
    (tmp_path / "b.js").write_text('import { x } from "./a.js";\nconst x = 2;\n')
    with pytest.raises(ValueError, match="declared in both"):
        bundle(tmp_path, "b.js", ("a.js",))
    (tmp_path / "c.js").write_text('import { x } from "./a.js";\nexport const y = x + 1;\n')
    assert bundle(tmp_path, "c.js", ("a.js",)) == "const x = 1;\nexport const y = x + 1;\n"


async def test_only_the_call_code_is_served_lean(client):
    assert (await client.get("/static/v/x/console.js")).status == 404
    assert (await client.get("/static/v/x/..%2Fserver%2Fsettings.py")).status == 404


async def test_the_service_worker_keeps_only_this_versions_code(client):
    code = client.app[callcode_key]
    resp = await client.get("/sw.js")
    assert resp.status == 200 and resp.content_type == "text/javascript"
    assert resp.headers["Cache-Control"] == "no-cache"
    text = await resp.text()
    for name in PAGE_CODE:
        assert code.url(name) in text
    # it answers nothing but /static/v/ (no page, no API, nothing personal is cached)
    assert 'url.pathname.startsWith("/static/v/")' in text
    assert '"/join"' not in text and "/api/" not in text and "/klien" not in text
    # asked again on every page load: answered 304 while the version holds
    again = await client.get("/sw.js", headers={"If-None-Match": resp.headers["ETag"]})
    assert again.status == 304


async def test_the_clients_own_page_registers_the_worker(client):
    keep = await client.get("/static/keepcode.js")
    assert keep.status == 200 and 'register("/sw.js"' in await keep.text()


@pytest.mark.parametrize("start", [{"step": "audio"}, {"step": "audio", "ptime": 20}, {"step": "audio", "ptime": 60}])
async def test_a_client_starting_in_sound_only_says_so_to_the_officer_in_peer_joined(aiohttp_server, settings, office, start):
    """The step, and the Opus packet length a roomier weak link asks for, reach the
    officer before its first offer; nothing of it goes back to the client."""
    async with stage(aiohttp_server, settings, office) as st:
        officer = st.peer(st.pk, "officer")
        await officer.join()
        client = st.peer(st.phone, "client")
        await client.connect()
        await client.send({"type": "join", "role": "client", **start})
        await client.next("welcome")
        await client.next("waiting")
        waiting = await officer.next("client-waiting")
        await officer.admit(waiting["device"])
        assert await client.next("admitted") == {"type": "admitted", "polite": True}
        assert await client.next("peer-joined") == {"type": "peer-joined", "role": "officer", "polite": True}
        assert await officer.next("peer-joined") == {"type": "peer-joined", "role": "client", "polite": False, **start}


@pytest.mark.parametrize("start", [{"step": "hd"}, {"step": "audio", "ptime": 30}, {"step": "audio", "ptime": "20"}])
async def test_a_join_with_an_unknown_start_is_refused(aiohttp_server, settings, office, start):
    async with stage(aiohttp_server, settings, office) as st:
        client = st.peer(st.phone, "client")
        await client.connect()
        await client.send({"type": "join", "role": "client", **start})
        assert (await client.next("error"))["code"] == "not-joined"


async def test_a_phone_that_keeps_the_code_gets_the_join_page_without_its_styles(client, sign_in, office):
    """The service worker keeps join.css with the code (webclient/keepcode.js names the
    version in a cookie): the page links it instead of carrying 2.9 KB of styles; a phone
    that keeps an older version, or none, gets them inline as before."""
    code: CallCode = client.app[callcode_key]
    assert "join.css" in PAGE_CODE
    css = await client.get(code.url("join.css"), headers=GZIP, auto_decompress=False)
    assert css.status == 200 and css.content_type == "text/css" and css.headers["Content-Encoding"] == "gzip"
    assert css.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert gzip.decompress(await css.read()).decode() == code.inline_css
    session = await start_video_session(client, sign_in, office)
    client.session.cookie_jar.clear()
    token_path = "/j/" + session["client_join_url"].rsplit("/j/", 1)[1]
    assert (await client.get(token_path, allow_redirects=False)).status == 303
    inline = await client.get("/join", headers=GZIP, auto_decompress=False)
    inline_size = len(await inline.read())
    client.session.cookie_jar.update_cookies({CODE_COOKIE: "0000000000000000"})
    assert "<style>" in await (await client.get("/join")).text()
    client.session.cookie_jar.update_cookies({CODE_COOKIE: code.version})
    page = await client.get("/join")
    html = await page.text()
    assert "<style>" not in html
    assert f'<link rel="stylesheet" href="/static/v/{code.version}/join.css">' in html
    assert "style-src 'self'" in page.headers["Content-Security-Policy"]
    lean = await client.get("/join", headers=GZIP, auto_decompress=False)
    assert len(await lean.read()) < inline_size - 2500


async def test_a_phone_that_keeps_the_code_gets_the_join_pages_strings_from_it(client, sign_in, office):
    """Its scripts' strings too (85 of them, 1.9 KB gzipped): strings.{locale}.js, in the
    version and in the worker's list, run before join.js; the page's JSON carries none."""
    code: CallCode = client.app[callcode_key]
    worker = await (await client.get("/sw.js")).text()
    for locale in ("id", "en"):
        assert code.url(f"strings.{locale}.js") in worker
    js = await client.get(code.url("strings.id.js"))
    assert js.status == 200 and js.content_type == "text/javascript"
    body = await js.text()
    assert body.startswith("globalThis.bimbingJoinStrings = {") and '"join.connecting"' in body
    session = await start_video_session(client, sign_in, office)
    client.session.cookie_jar.clear()
    token_path = "/j/" + session["client_join_url"].rsplit("/j/", 1)[1]
    assert (await client.get(token_path, allow_redirects=False)).status == 303
    first = await (await client.get("/join")).text()
    assert '"strings"' in first and "strings.id.js" not in first
    client.session.cookie_jar.update_cookies({CODE_COOKIE: code.version})
    kept = await (await client.get("/join")).text()
    assert '"strings"' not in kept
    at = kept.index(f'<script type="module" src="/static/v/{code.version}/strings.id.js">')
    assert at < kept.index(f'<script type="module" src="/static/v/{code.version}/join.js">')
