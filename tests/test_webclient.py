"""The browser code's house rules, checked on the source: the protocol and call
libraries never touch the page, nothing sets HTML from strings, and every
piece of text the scripts show exists in both catalogues."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
WEBCLIENT = REPO / "webclient"
CATALOGUES = {loc: json.loads((REPO / "server" / "web" / "i18n" / f"{loc}.json").read_text(encoding="utf-8")) for loc in ("id", "en")}
PAGE_SCRIPTS = ["join.js", "console.js", "kendala.js", "chat.js", "signing.js", "documents.js"]

# Keys the scripts build at run time: T(`call.quality_${level}`) and the like.
DYNAMIC_KEYS = {
    "call.quality_": ["good", "fair", "poor", "unknown"],
    "join.err_": [f"{kind}_{part}" for kind in ("denied", "notfound", "inuse", "insecure", "other") for part in ("title", "help")],
    "join.code.": ["link-expired", "link-revoked", "session-closed", "replaced", "unauthorized", "forbidden"],
    "kendala.kind.": ["work_shift", "transport_cost", "illness", "family", "other"],
    "kendala.status.": ["open", "accepted", "declined"],
    "reach.step_": ["low", "audio"],
    "console.document_state_": ["pending", "signed", "countersigned"],
}


def source(name: str) -> str:
    return (WEBCLIENT / name).read_text(encoding="utf-8")


@pytest.mark.parametrize("name", ["signaling.js", "call.js", "recording.js", "reach.js"])
def test_protocol_and_call_libraries_never_touch_the_page(name):
    code = re.sub(r"//.*|/\*[\s\S]*?\*/", "", source(name))  # comments may mention the page
    for word in ("document", "window", "innerHTML", "querySelector", "getElementById"):
        assert word not in code, f"{name} uses {word}"


@pytest.mark.parametrize("name", sorted(p.name for p in WEBCLIENT.glob("*.js")))
def test_no_script_sets_html_from_strings(name):
    code = re.sub(r"//.*|/\*[\s\S]*?\*/", "", source(name))
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in code, f"{name} uses {sink}"


def used_keys() -> set[str]:
    """Every catalogue key written as a string literal in the page scripts
    (``T("join.heard")``, ``T(muted ? "call.unmute" : "call.mute")``), plus the
    ones they build at run time."""
    keys: set[str] = set()
    for name in PAGE_SCRIPTS:
        keys |= set(re.findall(r"""["'`]((?:join|call|console|status|reach|chat|signing)\.[a-z_]+(?:\.[a-z\-]+)?)["'`]""", source(name)))
    for prefix, suffixes in DYNAMIC_KEYS.items():
        keys |= {prefix + s for s in suffixes}
    return keys


@pytest.mark.parametrize("locale", ["id", "en"])
def test_every_text_the_scripts_show_is_in_the_catalogue(locale):
    keys = used_keys()
    assert len(keys) > 40  # the extraction found the scripts' texts
    missing = sorted(k for k in keys if k not in CATALOGUES[locale])
    assert missing == []


def test_pages_hand_the_scripts_the_strings_they_use():
    """call_pages passes the catalogue subsets by prefix: every key a script
    uses must fall under a prefix its page sends."""
    from server.web.pages.call import JOIN_SCRIPT_STRINGS

    console = ("console.", "call.", "join.err_", "status.", "reach.")
    # chat.js serves both pages: each sends its strings.
    console = (*console, "chat.")
    # The guest's tiles and the console's guest rows (issue 22): the console sends "guest.", the join page its tiles' keys.
    console = (*console, "guest.")
    # signing.js gets its strings with the document (GET /api/join/documents/{id}: the "signing." subset).
    sent = {"join.js": JOIN_SCRIPT_STRINGS, "console.js": console, "kendala.js": JOIN_SCRIPT_STRINGS, "chat.js": ("chat.",),
            "signing.js": ("signing.",), "documents.js": console,
            # the guest's page sends the tiles' captions besides (a client's tile shows the name alone)
            "guesttiles.js": (*JOIN_SCRIPT_STRINGS, "guest.tile", "guest.role.")}
    assert "chat." in JOIN_SCRIPT_STRINGS
    for name, prefixes in sent.items():
        code = source(name)
        for key in re.findall(r"""\bT\(\s*["']([\w.\-]+)["']""", code):
            assert key.startswith(prefixes), f"{name} uses {key}, which its page does not send"
        # keys built at run time (T(`reach.step_${step}`)): their prefix must be sent
        for prefix in re.findall(r"""\bT\(\s*`([\w.\-]+)\$\{""", code):
            assert prefix.startswith(prefixes), f"{name} builds {prefix}..., which its page does not send"
    # and the literal keys anywhere in the join page's scripts (tr tables, ternaries)
    for name in ("join.js", "kendala.js"):
        for key in re.findall(r"""["'`]((?:join|call|kendala|reach)\.[a-z_]+(?:\.[a-z\-]+)?)["'`]""", source(name)):
            assert key.startswith(JOIN_SCRIPT_STRINGS), f"{name} uses {key}, which the join page does not send"
