"""docs/signaling.md is the contract: every message type the server accepts or
sends, and every error code, must be documented there."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from server.signaling import protocol

DOC = (Path(__file__).resolve().parent.parent / "docs" / "signaling.md").read_text()
DOCUMENTED_TYPES = set(re.findall(r'"type":\s*"([a-z-]+)"', DOC))


@pytest.mark.parametrize("kind", sorted(protocol.PEER_TYPES))
def test_every_message_the_server_accepts_is_documented(kind):
    assert kind in DOCUMENTED_TYPES, f"{kind!r} is accepted by the server but has no JSON example in docs/signaling.md"


@pytest.mark.parametrize("kind", sorted(protocol.SERVER_TYPES))
def test_every_message_the_server_sends_is_documented(kind):
    assert kind in DOCUMENTED_TYPES, f"{kind!r} is sent by the server but has no JSON example in docs/signaling.md"


@pytest.mark.parametrize("code", protocol.ERROR_CODES)
def test_every_error_code_is_documented(code):
    assert f"| `{code}` |" in DOC, f"error code {code!r} is missing from the table in docs/signaling.md"


def test_the_documented_limits_are_the_enforced_ones():
    assert protocol.MAX_MESSAGE_BYTES == 64 * 1024 and "**64 KiB**" in DOC
    assert protocol.MAX_SDP_CHARS == 32 * 1024 and "**32 KiB**" in DOC
    assert protocol.MAX_CANDIDATE_CHARS == 1024 and "**1 KiB**" in DOC


def test_no_documented_type_is_unknown_to_the_server():
    assert DOCUMENTED_TYPES <= protocol.PEER_TYPES | protocol.SERVER_TYPES
