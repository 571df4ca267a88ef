"""The client's call code, lean and versioned (issue 25).

At 24 kbit/s every kilobyte is a third of a second before the client hears the
PK. The browser code in ``webclient/`` is written to be read (comments, JSDoc
types, indentation), which is half of its bytes even gzipped; the join page
gets the same code without them:

- ``GET /static/v/{version}/{name}`` serves the join page's scripts with their
  comments and indentation stripped, gzipped once (level 9) when the server
  starts. ``{version}`` is a hash of all of them, so a module's relative
  imports (``./call.js``) carry it too and every answer can be cached for good
  (``immutable``): a phone that called before loads no code again. An old
  version's address is answered with today's code, not cached.
- ``style.css`` and ``call.css``, stripped the same way, are inlined in the join
  page, so that its first response renders by itself; the page's
  Content-Security-Policy allows that one ``<style>`` by its hash. A phone whose
  service worker keeps this version (cookie ``bimbing_code``) gets them as
  ``join.css`` from its own cache instead, and its scripts' strings as
  ``strings.{locale}.js``: a 2.9 KB page instead of 7.3 KB.
- ``GET /sw.js`` is the service worker the join page and the client's own page
  (``/klien``) register: it keeps this version's call code in the phone's cache
  (webclient's files only, nothing personal) so a second call sends almost
  nothing but signaling.

The stripping is a small lexer (strings, template literals, regular
expressions, comments), enough for the plain ES modules of ``webclient/``
(tests/test_callcode.py checks every module survives it token for token).
"""

from __future__ import annotations

import base64
import functools
import gzip
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

# The client's scripts, in the order a call needs them.
CALL_CODE = ("join.js", "ui.js", "signaling.js", "devicecheck.js", "chat.js", "call.js", "reach.js", "kendala.js", "keepcode.js", "signing.js",
             # A third person (issue 22): fetched only when a guest is involved.
             "guestmesh.js", "guesttiles.js")
# Served as one file each, with the modules they import statically inlined before them:
# on a slow lossy link every extra response is another TCP connection starting
# its window into a queue of 1.6 KB (32 kbit/s x 400 ms), whose tail drops and
# retransmissions cost seconds (measured: join.js and its three imports on four
# connections took 7.7 s at 32 kbit/s with 5% loss, for 8 KB).
BUNDLES = {"join.js": ("ui.js", "signaling.js", "devicecheck.js"), "call.js": ("reach.js",)}
# The strings the join page's scripts (join.js, kendala.js) show, by key prefix; the
# template renders the rest itself. Only these travel in the page's JSON: on a
# 32 kbit/s link every kilobyte is a quarter of a second (issue #11); a phone that
# keeps this version's code gets them as ``strings.{locale}.js`` from its cache.
# tests/test_webclient.py checks that every key the scripts use is covered.
JOIN_SCRIPT_STRINGS = (
    "join.code.", "join.connecting", "join.denied_", "join.ended_", "join.err_", "join.error_title", "join.fell_back",
    "join.heard", "join.kendala_err_", "join.kendala_new_time", "join.kendala_proposed", "join.kendala_reply",
    "join.kendala_sen", "join.waiting_", "call.", "kendala.kind.", "kendala.status.", "reach.step_",
    "chat.",
)
# What the join page loads, for the service worker to keep.
PAGE_CODE = ("join.js", "chat.js", "call.js", "kendala.js", "ui.js", "keepcode.js", "join.css")
INLINE_STYLES = ("style.css", "call.css")
# Set by webclient/keepcode.js to the version the phone's service worker holds
# (nothing personal): the join page then links ``join.css`` and ``strings.{locale}.js``
# from that cache instead of carrying them, 2.9 KB instead of 7.3 (issue 25).
CODE_COOKIE = "bimbing_code"
IMMUTABLE = "public, max-age=31536000, immutable"

# After these, a ``/`` starts a regular expression; after anything else it divides.
_REGEX_AFTER = set("(,=:[!&|?{};+-*%<>~^") | {""}
_REGEX_KEYWORDS = {"return", "typeof", "case", "do", "else", "in", "of", "new", "delete", "void", "throw", "yield", "await"}


def _last_word(out: list[str]) -> str:
    text = "".join(out[-12:])
    word = ""
    for ch in reversed(text.rstrip()):
        if ch.isalnum() or ch in "_$":
            word = ch + word
        else:
            break
    return word


# Every app a process builds strips the same sources (the suite builds one per test,
# and the lexer was four fifths of building one): each source is stripped once, and
# each body gzipped once, per process. Keyed by content, so an edited file is new.
@functools.lru_cache(maxsize=128)
def strip_js(source: str) -> str:
    """The module without comments, indentation or blank lines; line breaks stay
    where code had them (no automatic semicolon insertion changes)."""
    out: list[str] = []
    n = len(source)

    def last_significant() -> str:
        for chunk in reversed(out):
            stripped = chunk.rstrip()
            if stripped:
                return stripped[-1]
        return ""

    def copy_string(i: int, quote: str) -> int:
        j = i + 1
        while j < n and source[j] != quote:
            j += 2 if source[j] == "\\" else 1
        out.append(source[i:j + 1])
        return j + 1

    def copy_template(i: int) -> int:
        # from the opening backtick to its closing one; ${...} holds code (strings, templates)
        out.append("`")
        j = i + 1
        while j < n:
            ch = source[j]
            if ch == "\\":
                out.append(source[j:j + 2])
                j += 2
            elif ch == "`":
                out.append("`")
                return j + 1
            elif ch == "$" and source[j + 1:j + 2] == "{":
                out.append("${")
                j = code(j + 2, until_brace=True)
                out.append("}")
            else:
                out.append(ch)
                j += 1
        return j

    def copy_regex(i: int) -> int:
        j, in_class = i + 1, False
        while j < n:
            ch = source[j]
            if ch == "\\":
                j += 2
                continue
            if ch == "[":
                in_class = True
            elif ch == "]":
                in_class = False
            elif ch == "/" and not in_class:
                break
            elif ch == "\n":
                raise ValueError(f"unterminated regular expression at {i}")
            j += 1
        j += 1
        while j < n and source[j].isalpha():
            j += 1
        out.append(source[i:j])
        return j

    def code(i: int, until_brace: bool = False) -> int:
        depth = 0
        line_start = True
        while i < n:
            ch = source[i]
            nxt = source[i + 1:i + 2]
            if until_brace and ch == "}" and depth == 0:
                return i + 1
            if ch == "\n":
                while out and out[-1] in (" ", "\t"):
                    out.pop()
                if out and not "".join(out[-1:]).endswith("\n"):
                    out.append("\n")
                line_start = True
                i += 1
                continue
            if ch in " \t\r":
                if not line_start and out and out[-1] not in (" ", "\n"):
                    out.append(" ")
                i += 1
                continue
            if ch == "/" and nxt == "/":
                while i < n and source[i] != "\n":
                    i += 1
                continue
            if ch == "/" and nxt == "*":
                end = source.find("*/", i + 2)
                if end < 0:
                    raise ValueError(f"unterminated comment at {i}")
                i = end + 2
                continue
            line_start = False
            if ch in "\"'":
                i = copy_string(i, ch)
            elif ch == "`":
                i = copy_template(i)
            elif ch == "/" and (last_significant() in _REGEX_AFTER or _last_word(out) in _REGEX_KEYWORDS):
                i = copy_regex(i)
            else:
                if ch == "{":
                    depth += 1
                elif ch == "}":
                    depth -= 1
                out.append(ch)
                i += 1
        return i

    code(0)
    text = "".join(out).strip()
    # spaces left before a line break by a removed comment
    return "\n".join(line.rstrip() for line in text.split("\n") if line.strip()) + "\n"


def strip_css(source: str) -> str:
    """The stylesheet without comments, indentation or blank lines (no strings of ours hold ``/*``)."""
    out, i = [], 0
    while True:
        start = source.find("/*", i)
        if start < 0:
            out.append(source[i:])
            break
        out.append(source[i:start])
        i = source.index("*/", start + 2) + 2
    return "\n".join(line.strip() for line in "".join(out).splitlines() if line.strip()) + "\n"


_TOP_LEVEL = re.compile(r"^(?:export\s+)?(?:async\s+)?(?:function\*?|class|const|let|var)\s+([A-Za-z_$][\w$]*)", re.M)
_STATIC_IMPORT = re.compile(r'^import\s*\{[^}]*\}\s*from\s*"\./([\w.-]+)";\n', re.M)
_RE_EXPORT = re.compile(r'^export\s*\{[^}]*\}\s*from\s*"\./[\w.-]+";\n', re.M)


def bundle(folder: Path, name: str, parts: tuple[str, ...]) -> str:
    """``name`` with the modules it imports statically (``parts``, which import
    nothing themselves but what the bundle holds) before it, in one module: their
    ``export``s become plain declarations, the import lines and re-exports go.
    Top-level names must not collide (checked from the sources)."""
    seen: dict[str, str] = {}
    for part in (*parts, name):
        for top in _TOP_LEVEL.findall((folder / part).read_text(encoding="utf-8")):
            if top in seen:
                raise ValueError(f"{top!r} is declared in both {seen[top]} and {part}: they cannot be bundled")
            seen[top] = part
    chunks = []
    for part in parts:
        lean = _RE_EXPORT.sub("", strip_js((folder / part).read_text(encoding="utf-8")))
        lean = re.sub(r"^export\s+(?=(?:async\s+)?(?:function|class|const|let|var)\b)", "", lean, flags=re.M)
        if "export " in lean or _STATIC_IMPORT.search(lean):
            raise ValueError(f"{part} cannot be inlined in {name}: it exports or imports otherwise")
        chunks.append(lean)
    main = strip_js((folder / name).read_text(encoding="utf-8"))
    imported = set(_STATIC_IMPORT.findall(main))
    if not imported <= set(parts):
        raise ValueError(f"{name} imports {sorted(imported - set(parts))}, which the bundle does not hold")
    chunks.append(_STATIC_IMPORT.sub("", main))
    return "".join(chunks)


@dataclass(frozen=True)
class LeanFile:
    body: bytes
    gzipped: bytes


@functools.lru_cache(maxsize=128)
def lean_file(body: bytes) -> LeanFile:
    """``body`` with its gzipped form (level 9: compressed once, served many times)."""
    return LeanFile(body, gzip.compress(body, 9, mtime=0))


class CallCode:
    """The join page's code as it is served: read and stripped once, at start-up."""

    def __init__(self, folder: Path, catalogue=None):
        self.files: dict[str, LeanFile] = {}
        digest = hashlib.sha256()
        for name in CALL_CODE:
            text = bundle(folder, name, BUNDLES[name]) if name in BUNDLES else strip_js((folder / name).read_text(encoding="utf-8"))
            body = text.encode()
            self.files[name] = lean_file(body)
            digest.update(name.encode() + b"\0" + body)
        self.inline_css = "".join(strip_css((folder / name).read_text(encoding="utf-8")) for name in INLINE_STYLES)
        if "</" in self.inline_css:
            raise ValueError("a stylesheet inlined in the join page must not hold '</'")
        digest.update(self.inline_css.encode())
        css = self.inline_css.encode()
        self.files["join.css"] = lean_file(css)
        # The scripts' strings per language, as a module that hands them to join.js and
        # kendala.js (globalThis.bimbingJoinStrings); in the version, so a new text is a new address.
        self.string_files: list[str] = []
        for locale in catalogue.messages if catalogue is not None else ():
            strings = catalogue.subset(locale, *JOIN_SCRIPT_STRINGS)
            body = f"globalThis.bimbingJoinStrings = {json.dumps(strings, ensure_ascii=False, sort_keys=True)};\n".encode()
            name = f"strings.{locale}.js"
            self.files[name] = lean_file(body)
            self.string_files.append(name)
            digest.update(name.encode() + b"\0" + body)
        self.version = digest.hexdigest()[:16]
        self.css_hash = "sha256-" + base64.b64encode(hashlib.sha256(self.inline_css.encode()).digest()).decode()
        self.worker = _worker_source(self.version, [self.url(name) for name in (*PAGE_CODE, *self.string_files)]).encode()

    def url(self, name: str) -> str:
        return f"/static/v/{self.version}/{name}"

    def strings_url(self, locale: str) -> str | None:
        name = f"strings.{locale}.js"
        return self.url(name) if name in self.files else None

    def kept_by(self, request: web.Request) -> bool:
        """The phone's service worker holds this version's code: join.css and the strings with it."""
        return request.cookies.get(CODE_COOKIE) == self.version

    def content_security_policy(self, base: str) -> str:
        """The page policy, with this one inline stylesheet allowed by its hash."""
        return base.replace("style-src 'self'", f"style-src 'self' '{self.css_hash}'")


def _worker_source(version: str, urls: list[str]) -> str:
    """The service worker: this version's call code, cache first; nothing else is touched
    (pages, the API and the signaling socket always go to the network)."""
    return f"""// Bimbing: keeps the call code on the phone (issue 25). Generated by server/web/callcode.py.
const VERSION = {json.dumps(version)};
const CODE = {json.dumps(urls)};
const CACHE = "bimbing-code-" + VERSION;
self.addEventListener("install", (event) => {{
  event.waitUntil(caches.open(CACHE).then((cache) => cache.addAll(CODE)).then(() => self.skipWaiting()));
}});
self.addEventListener("activate", (event) => {{
  event.waitUntil(caches.keys().then((keys) => Promise.all(
    keys.filter((k) => k.startsWith("bimbing-code-") && k !== CACHE).map((k) => caches.delete(k)))).then(() => self.clients.claim()));
}});
self.addEventListener("fetch", (event) => {{
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin || !url.pathname.startsWith("/static/v/")) return;
  event.respondWith(caches.match(event.request, {{ignoreSearch: true}}).then((hit) => hit || fetch(event.request)));
}});
"""


callcode_key = web.AppKey("callcode", CallCode)
routes = web.RouteTableDef()


def _gzip_ok(request: web.Request) -> bool:
    return "gzip" in request.headers.get("Accept-Encoding", "").lower()


@routes.get("/static/v/{version}/{name}")
async def lean_code(request: web.Request) -> web.Response:
    code = request.app[callcode_key]
    lean = code.files.get(request.match_info["name"])
    if lean is None:
        raise web.HTTPNotFound()
    current = request.match_info["version"] == code.version
    headers = {"Cache-Control": IMMUTABLE if current else "no-cache", "Vary": "Accept-Encoding"}
    if _gzip_ok(request):
        headers["Content-Encoding"] = "gzip"
        body = lean.gzipped
    else:
        body = lean.body
    kind = "text/css" if request.match_info["name"].endswith(".css") else "text/javascript"
    return web.Response(body=body, headers=headers, content_type=kind, charset="utf-8")


@routes.get("/sw.js")
async def service_worker(request: web.Request) -> web.Response:
    code = request.app[callcode_key]
    # Checked by the browser on each page load that registers it: always asked again,
    # answered 304 while the version holds (a few hundred bytes, not the worker).
    headers = {"Cache-Control": "no-cache", "ETag": f'"{code.version}"'}
    if request.headers.get("If-None-Match") == headers["ETag"]:
        return web.Response(status=304, headers=headers)
    return web.Response(body=code.worker, headers=headers, content_type="text/javascript", charset="utf-8")
