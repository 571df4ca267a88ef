"""A PK writes and later corrects a session's notes and outcome; nothing is
overwritten: every save is a version with its author and time, the session's
page and API show the history in order, and each change is in the audit trail."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from tests.audit_support import audit_entries
from tests.clock import utc_now


@pytest.mark.clock
async def test_each_change_of_notes_is_kept_as_a_version_with_author_and_time(client, office, sign_in):
    await sign_in(client, "pk1")
    created = await client.post(
        "/api/sessions",
        json={"client_id": office.clients["c1"].id, "mode": "office", "scheduled_at": (utc_now() - timedelta(days=1)).isoformat(), "outcome": "attended", "duration_minutes": 40, "notes": "Klien hadir."},
    )
    assert created.status == 201, await created.text()
    sid = (await created.json())["id"]
    edits = [
        ({"notes": "Klien hadir. Membahas pekerjaan di bengkel."}, "pk1"),
        ({"notes": "Klien hadir. Membahas pekerjaan di bengkel."}, "pk1"),  # autosave of the same text: no new version
        ({"outcome": "excused"}, "pk1"),
        ({"notes": "Catatan supervisor: klien izin karena sakit.", "topics": ["reintegration"]}, "kasie"),
    ]
    for body, who in edits:
        await sign_in(client, who)
        resp = await client.patch(f"/api/sessions/{sid}", json=body)
        assert resp.status == 200, await resp.text()

    history = (await (await client.get(f"/api/sessions/{sid}/history")).json())["versions"]
    assert [(v["notes"], v["outcome"], v["topics"], v["author"]) for v in history] == [
        ("Klien hadir.", "attended", [], office.staff["pk1"].name),
        ("Klien hadir. Membahas pekerjaan di bengkel.", "attended", [], office.staff["pk1"].name),
        ("Klien hadir. Membahas pekerjaan di bengkel.", "excused", [], office.staff["pk1"].name),
        ("Catatan supervisor: klien izin karena sakit.", "excused", ["reintegration"], office.staff["kasie"].name),
    ]
    times = [datetime.fromisoformat(v["created_at"]) for v in history]
    assert times == sorted(times) and all(t.utcoffset().total_seconds() == 7 * 3600 for t in times)

    current = await (await client.get(f"/api/sessions/{sid}")).json()
    assert (current["notes"], current["outcome"]) == ("Catatan supervisor: klien izin karena sakit.", "excused")


async def test_the_session_page_shows_the_history_oldest_first(client, database_url, office, sign_in):
    await sign_in(client, "pk1")
    sid = (await (await client.post("/api/sessions", json={"client_id": office.clients["c1"].id, "mode": "home_visit", "outcome": "attended", "notes": "Versi satu"})).json())["id"]
    for text in ("Versi dua", "Versi tiga"):
        await client.patch(f"/api/sessions/{sid}", json={"notes": text})
    await sign_in(client, "kasie")
    html = await (await client.get(f"/sessions/{sid}")).text()
    section = html.split('id="history"', 1)[1]
    positions = [section.index(t) for t in ("Versi satu", "Versi dua", "Versi tiga")]
    assert positions == sorted(positions)
    assert section.count(office.staff["pk1"].name) == 3

    changes = await audit_entries(database_url, "session.notes_change")
    history = (await (await client.get(f"/api/sessions/{sid}/history")).json())["versions"]
    assert [(e.actor, e.target_id, e.detail["version_id"]) for e in changes] == [("pk1", str(sid), v["id"]) for v in history[1:]]
