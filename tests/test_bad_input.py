"""Bad input at the edge, as a table: every case is a 4xx with a JSON
``{"error", "message"}`` body, no stack trace, and nothing written."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote

import aiohttp
import pytest

from tests.foundation import CLIENT_BODY, add_office_session, row_counts

GOOD_CLIENT = CLIENT_BODY
GOOD_SESSION = {"mode": "office", "scheduled_at": "2026-01-10T09:00:00+07:00", "outcome": "attended", "duration_minutes": 30}
MAX_BODY = 64 * 1024  # Settings.max_body_bytes


def client_with(**changes):
    body = dict(GOOD_CLIENT)
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


def session_with(**changes):
    body = dict(GOOD_SESSION, client_id="{c1}")
    for key, value in changes.items():
        if value is ...:
            body.pop(key)
        else:
            body[key] = value
    return body


JSON = "application/json"

# (label, signed in as, method, path, body (object -> JSON, bytes -> as is), content type, status, error code)
def _cursor(sort: str, value, last_id) -> str:
    """A keyset cursor as the server encodes one (server/domain/documents/reports.py), with hostile parts."""
    return base64.urlsafe_b64encode(json.dumps([sort, value, last_id]).encode()).decode().rstrip("=")


CASES = [
    # missing fields
    ("client: empty object", "pk1", "POST", "/api/clients", {}, JSON, 400, "invalid-body"),
    ("client: no program", "pk1", "POST", "/api/clients", client_with(program=...), JSON, 400, "invalid-body"),
    ("client: no officer from a supervisor", "kasie", "POST", "/api/clients", client_with(), JSON, 400, "invalid-body"),
    ("session: no client_id", "pk1", "POST", "/api/sessions", session_with(client_id=...), JSON, 400, "invalid-body"),
    ("session: no mode", "pk1", "POST", "/api/sessions", session_with(mode=...), JSON, 400, "invalid-body"),
    ("notes: nothing to change", "pk1", "PATCH", "/api/sessions/{s1}", {}, JSON, 400, "invalid-body"),
    ("login: no password", None, "POST", "/api/login", {"username": "pk1"}, JSON, 400, "invalid-body"),
    ("staff: no role", "admin", "POST", "/api/staff", {"username": "pk.baru", "name": "PK Baru", "password": "kata sandi panjang"}, JSON, 400, "invalid-body"),
    # wrong types
    ('client: "14" for an int', "pk1", "POST", "/api/clients", client_with(reporting_interval_days="14"), JSON, 400, "invalid-body"),
    ("client: 5 for a string", "pk1", "POST", "/api/clients", client_with(name=5), JSON, 400, "invalid-body"),
    ("client: 14.5 for an int", "pk1", "POST", "/api/clients", client_with(reporting_interval_days=14.5), JSON, 400, "invalid-body"),
    ("client: huge int", "pk1", "POST", "/api/clients", client_with(reporting_interval_days=10**30), JSON, 400, "invalid-body"),
    ("client: list for a string", "pk1", "POST", "/api/clients", client_with(kelurahan=["Pulo Gebang"]), JSON, 400, "invalid-body"),
    ('session: "1" for client_id', "pk1", "POST", "/api/sessions", session_with(client_id="1"), JSON, 400, "invalid-body"),
    ('session: "yes" for record', "pk1", "POST", "/api/sessions", session_with(record="yes"), JSON, 400, "invalid-body"),
    ("session: negative duration", "pk1", "POST", "/api/sessions", session_with(duration_minutes=-5), JSON, 400, "invalid-body"),
    ("session: client_id 0", "pk1", "POST", "/api/sessions", session_with(client_id=0), JSON, 400, "invalid-body"),
    ("notes: number for notes", "pk1", "PATCH", "/api/sessions/{s1}", {"notes": 42}, JSON, 400, "invalid-body"),
    ("staff: string for active", "admin", "PATCH", "/api/staff/{pk2}", {"active": "false"}, JSON, 400, "invalid-body"),
    ("login: number for username", None, "POST", "/api/login", {"username": 1, "password": "x"}, JSON, 400, "invalid-body"),
    # unknown enum values
    ("client: unknown program", "pk1", "POST", "/api/clients", client_with(program="Bebas"), JSON, 400, "invalid-body"),
    ("client: unknown category", "pk1", "POST", "/api/clients", client_with(category="elder"), JSON, 400, "invalid-body"),
    ("session: unknown mode", "pk1", "POST", "/api/sessions", session_with(mode="teleport"), JSON, 400, "invalid-body"),
    ("session: unknown outcome", "pk1", "POST", "/api/sessions", session_with(outcome="maybe"), JSON, 400, "invalid-body"),
    ("session: unknown topic", "pk1", "POST", "/api/sessions", session_with(topics=["astrology"]), JSON, 400, "invalid-body"),
    ("notes: unknown outcome", "pk1", "PATCH", "/api/sessions/{s1}", {"outcome": "vanished"}, JSON, 400, "invalid-body"),
    ("staff: unknown role", "admin", "POST", "/api/staff", {"username": "pk.baru", "name": "PK Baru", "role": "root", "password": "kata sandi panjang"}, JSON, 400, "invalid-body"),
    # unknown fields
    ("client: unknown field", "pk1", "POST", "/api/clients", client_with(colour="red"), JSON, 400, "invalid-body"),
    ("session: unknown field", "pk1", "POST", "/api/sessions", session_with(duration_seconds=3600), JSON, 400, "invalid-body"),
    ("notes: unknown field", "pk1", "PATCH", "/api/sessions/{s1}", {"notes": "x", "officer_id": 1}, JSON, 400, "invalid-body"),
    ("staff: unknown field", "admin", "PATCH", "/api/staff/{pk2}", {"office_id": 2}, JSON, 400, "invalid-body"),
    # bad dates and times
    ("client: month 13", "pk1", "POST", "/api/clients", client_with(supervision_start="2026-13-05"), JSON, 400, "invalid-body"),
    ("client: words for a date", "pk1", "POST", "/api/clients", client_with(supervision_end="next year"), JSON, 400, "invalid-body"),
    ("client: end before start", "pk1", "POST", "/api/clients", client_with(supervision_start="2026-06-01", supervision_end="2026-05-31"), JSON, 400, "invalid-body"),
    ("session: words for a time", "pk1", "POST", "/api/sessions", session_with(scheduled_at="tomorrow 9am"), JSON, 400, "invalid-body"),
    ("session: outcome in the future", "pk1", "POST", "/api/sessions", session_with(scheduled_at="2099-01-01T09:00:00+07:00"), JSON, 409, "not-yet"),
    # malformed and non-object JSON
    ("client: truncated JSON", "pk1", "POST", "/api/clients", b'{"name": "Rudi', JSON, 400, "malformed-json"),
    ("client: not UTF-8", "pk1", "POST", "/api/clients", b'{"name": "\xff\xfe"}', JSON, 400, "malformed-json"),
    ("client: empty body", "pk1", "POST", "/api/clients", b"", JSON, 400, "invalid-body"),
    ("client: deeply nested", "pk1", "POST", "/api/clients", b"[" * 30000 + b"]" * 30000, JSON, 400, "malformed-json"),
    ("client: NaN", "pk1", "POST", "/api/clients", json.dumps(client_with(reporting_interval_days=float("nan"))).encode(), JSON, 400, "invalid-body"),
    ("client: a list", "pk1", "POST", "/api/clients", [GOOD_CLIENT], JSON, 400, "invalid-body"),
    ("client: a string", "pk1", "POST", "/api/clients", "Rudi", JSON, 400, "invalid-body"),
    ("client: null", "pk1", "POST", "/api/clients", None, JSON, 400, "invalid-body"),
    ("login: a number", None, "POST", "/api/login", 5, JSON, 400, "invalid-body"),
    # wrong content type
    ("client: text/plain", "pk1", "POST", "/api/clients", json.dumps(GOOD_CLIENT).encode(), "text/plain", 415, "unsupported-media-type"),
    ("client: form-encoded", "pk1", "POST", "/api/clients", b"name=Rudi&program=PB", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
    ("session: no content type", "pk1", "POST", "/api/sessions", json.dumps(session_with()).encode(), None, 415, "unsupported-media-type"),
    ("login: form-encoded", None, "POST", "/api/login", b"username=pk1&password=x", "application/x-www-form-urlencoded", 415, "unsupported-media-type"),
    # oversized
    ("client: body over the limit", "pk1", "POST", "/api/clients", client_with(employment="x" * (MAX_BODY + 1)), JSON, 413, "body-too-large"),
    ("notes: body over the limit", "pk1", "PATCH", "/api/sessions/{s1}", {"notes": "x" * (MAX_BODY + 1)}, JSON, 413, "body-too-large"),
    ("notes: longer than 20000 characters", "pk1", "PATCH", "/api/sessions/{s1}", {"notes": "x" * 20001}, JSON, 400, "invalid-body"),
    ("login: body over the limit", None, "POST", "/api/login", {"username": "pk1", "password": "x" * (MAX_BODY + 1)}, JSON, 413, "body-too-large"),
    # ids in the path
    ("client: id is not a number", "pk1", "GET", "/api/clients/abc", None, None, 404, "not-found"),
    ("session: id overflows", "pk1", "GET", "/api/sessions/99999999999999999999999", None, None, 404, "not-found"),
    # Python calls "²" and "١٢" digits too: int() refused the first (a 500) and read the second as 12
    ("client: id in superscript digits", "pk1", "GET", "/api/clients/%C2%B2", None, None, 404, "not-found"),
    ("client: id in Arabic-Indic digits", "pk1", "GET", "/api/clients/{c1_indic}", None, None, 404, "not-found"),
    # Ids are 32-bit integer columns: PostgreSQL refused a larger parameter with an error (500)
    ("client: id beyond any 32-bit row id", "pk1", "GET", "/api/clients/35476813505", None, None, 404, "not-found"),
    ("session: id beyond any 32-bit row id", "pk1", "PATCH", "/api/sessions/2147483648", {"notes": "x"}, JSON, 404, "not-found"),
    ("audit: client_id beyond any 32-bit row id", "kasie", "GET", "/api/audit/sessions?client_id=35476813505", None, None, 400, "invalid-query"),
    ("audit: cursor id beyond any 32-bit row id", "kasie", "GET", "/api/audit/sessions?sort=-duration&after=" + _cursor("-duration", 60, 2**40), None, None, 400, "invalid-query"),
    ("audit: before_seq beyond any 32-bit seq", "kasie", "GET", "/api/audit/trail?before_seq=35476813505", None, None, 400, "invalid-query"),
    # issue #12: each of these answered 500
    ("audit: cursor time without a zone", "kasie", "GET", "/api/audit/sessions?after=" + _cursor("-scheduled_at", "2026-01-10T09:00:00", 5), None, None, 400, "invalid-query"),
    ("audit: cursor duration 1e308", "kasie", "GET", "/api/audit/sessions?sort=-duration&after=" + _cursor("-duration", 1e308, 5), None, None, 400, "invalid-query"),
    ("audit: cursor id beyond any row", "kasie", "GET", "/api/audit/sessions?sort=-duration&after=" + _cursor("-duration", 60, 10**30), None, None, 400, "invalid-query"),
    ("audit: before_seq 1e23", "kasie", "GET", "/api/audit/trail?before_seq=1e23", None, None, 400, "invalid-query"),
    ("audit: before_seq beyond any row", "kasie", "GET", "/api/audit/trail?before_seq=99999999999999999999", None, None, 400, "invalid-query"),
    ("audit page: month 9999-12", "kasie", "GET", "/audit/officers?month=9999-12", None, None, 400, "invalid-query"),
    ("audit page: client report month 9999-12", "kasie", "GET", "/audit/reports/client/{c1}?month=9999-12", None, None, 400, "invalid-query"),
    ("audit page: month 0000-01", "kasie", "GET", "/audit/officers?month=0000-01", None, None, 400, "invalid-query"),
    # each answered 500 (the API fuzz found the first): the office's midnight of 1 January 0001 is in the year 0 in UTC
    ("audit: date_from 0001-01-01", "kasie", "GET", "/api/audit/officers?date_from=0001-01-01", None, None, 400, "invalid-query"),
    ("audit: date_to 9999-12-31", "kasie", "GET", "/api/audit/sessions?date_to=9999-12-31", None, None, 400, "invalid-query"),
    ("audit: anomalies from 0001-01-01", "kasie", "GET", "/api/audit/anomalies?date_from=0001-01-01", None, None, 400, "invalid-query"),
    ("audit page: log from 0001-01-01", "kasie", "GET", "/audit?date_from=0001-01-01", None, None, 400, "invalid-query"),
    # each of these answered 500: the evaluation read its months apart from the audit's, and "²" passed isdigit()
    ("evaluation: to 9999-12", "kasie", "GET", "/api/reports/evaluation?from=9999-12&to=9999-12", None, None, 400, "invalid-query"),
    ("evaluation: to 9999-12 alone", "kasie", "GET", "/api/reports/evaluation?to=9999-12", None, None, 400, "invalid-query"),
    ("evaluation: to in superscript digits", "kasie", "GET", "/api/reports/evaluation?to=%C2%B2%C2%B2%C2%B2%C2%B2-01", None, None, 400, "invalid-query"),
    ("mobile plan: count in superscript digits", "kasie", "GET", "/api/mobile-events/plan?count=%C2%B2", None, None, 400, "invalid-query"),
]


def _fill(value, ids):
    if isinstance(value, dict):
        return {k: _fill(v, ids) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, ids) for v in value]
    if isinstance(value, str) and value[:1] == "{" and value[-1:] == "}" and value[1:-1] in ids:
        return ids[value[1:-1]]
    if isinstance(value, str):
        return value.format(**ids) if "{" in value and "}" in value and value.count("{") == 1 else value
    return value


async def test_bad_input_is_refused_and_nothing_is_written(client, office, sign_in, database_url):
    """One pass over the whole table (one database per backend keeps it quick);
    the assertion compares the full table, so a failure shows every wrong row."""
    s1 = await add_office_session(database_url, office.clients["c1"].id, office.staff["pk1"], notes="Catatan awal.")
    c1 = office.clients["c1"].id
    ids = {"c1": c1, "c1_indic": quote("".join(chr(0x660 + int(d)) for d in str(c1))), "s1": s1, "pk2": office.staff["pk2"].id}
    signed_in_as = None
    seen, problems = {}, []
    for label, who, method, path, body, content_type, _status, _code in CASES:
        if who != signed_in_as:
            client.session.cookie_jar.clear()
            if who:
                await sign_in(client, who)
            signed_in_as = who
        if body is None and content_type is None:
            data = None
        elif isinstance(body, bytes):
            data = body
        else:
            data = json.dumps(_fill(body, ids)).encode()
        headers = {"Content-Type": content_type} if content_type else {}
        before = await row_counts(database_url)

        resp = await client.request(method, path.format(**ids), data=data, headers=headers)

        text = await resp.text()
        try:
            answer = json.loads(text)
            seen[label] = (resp.status, answer.get("error"))
            if not (isinstance(answer.get("message"), str) and answer["message"]):
                problems.append((label, "no message", text[:200]))
        except ValueError:
            # A page's refusal is a page in the layout naming its code (data-error) and a way back.
            page = re.search(r'id="refusal"[^>]*data-error="([\w-]+)"', text)
            seen[label] = (resp.status, page.group(1)) if page and 'id="refusal-back"' in text else (resp.status, "not JSON")
        if "Traceback" in text or 'File "' in text:
            problems.append((label, "stack trace in the body"))
        if await row_counts(database_url) != before:
            problems.append((label, "rows were written"))

    assert len(seen) == len(CASES), "labels must be unique"
    assert seen == {label: (status, code) for label, *_rest, status, code in CASES}
    assert problems == []


async def test_a_chunked_body_over_the_limit_is_refused(client, office, sign_in, database_url):
    """No Content-Length to check up front: the limit holds while reading."""
    await sign_in(client, "pk1")

    async def chunks():
        yield b'{"name": "'
        for _ in range(MAX_BODY // 1024 + 2):
            yield b"x" * 1024
        yield b'"}'

    before = await row_counts(database_url)
    resp = await client.post("/api/clients", data=chunks(), headers={"Content-Type": JSON})
    assert resp.status == 413
    assert (await resp.json())["error"] == "body-too-large"
    assert await row_counts(database_url) == before


async def test_validation_errors_name_the_field(client, office, sign_in):
    await sign_in(client, "pk1")
    resp = await client.post("/api/clients", json=client_with(reporting_interval_days="14", program="Bebas"))
    answer = await resp.json()
    assert resp.status == 400
    assert set(answer["fields"]) == {"reporting_interval_days", "program"}
    assert "reporting_interval_days" in answer["message"] and "program" in answer["message"]


async def test_a_socket_for_a_session_id_no_row_can_have_is_refused_before_the_upgrade(client, office, sign_in):
    """Issue #12: joining /ws/sessions/99999999999999999999 as officer failed after the upgrade."""
    await sign_in(client, "pk1")
    for session_id in ("99999999999999999999", "2147483648"):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await client.ws_connect(f"/ws/sessions/{session_id}")
        assert refused.value.status == 404
