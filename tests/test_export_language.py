"""Exports and filters in the reader's language (issue 18): the session log's
CSV with ``lang=id`` has Indonesian column titles and names every code as the
pages do (no ``attended``, ``roll_call``, ``home_visit``, ``met_with`` left),
row for row the JSON's; ``lang=en`` and no ``lang`` keep the codes for
programs; the audit filter offers every mode, evidence, status and outcome;
the settings page writes durations in the page's language."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import timedelta
from html import unescape

from server.db.models import MET_WITH, TOPICS, Evidence, GuidanceSession, Outcome, SessionMode, SessionStatus
from server.web.api.audit import CSV_COLUMNS
from server.web.i18n import CATALOGUE_DIR
from tests.clock import OFFICE_TZ, utc_now
from tests.foundation import database

ID = json.loads((CATALOGUE_DIR / "id.json").read_text(encoding="utf-8"))
# The columns whose cells are codes, and the catalogue prefix the pages name them by.
CODED = {"mode": "mode.", "evidence": "evidence.", "status": "status.", "outcome": "outcome.", "topics": "topic.", "met_with": "met_with.",
         "reporting_reason": "reporting."}
# Yes/no columns: words in Indonesian, True/False (as the JSON's) otherwise.
FLAGS = ("meets_reporting", "late_entry")


async def seed_every_kind(database_url: str, office) -> None:
    """A session of every mode, evidence, status and outcome, with topics and the people met."""
    now = utc_now()
    outcomes = [*Outcome, None]
    async with database(database_url) as db:
        for i, mode in enumerate([m for m in SessionMode for _ in range(3)]):
            client = office.clients["c1" if i % 2 else "c2"]
            status = list(SessionStatus)[i % len(SessionStatus)]
            at = now - timedelta(days=30 - i)
            closed = status in (SessionStatus.ended, SessionStatus.interrupted)
            db.add(GuidanceSession(
                office_id=office.id, client_id=client.id, officer_id=client.officer_id, mode=mode,
                evidence=list(Evidence)[i % len(Evidence)], status=status, scheduled_at=at,
                started_at=at if closed else None, ended_at=at + timedelta(minutes=20 + i) if closed else None,
                duration_seconds=(20 + i) * 60 if closed else 0, outcome=outcomes[i % len(outcomes)],
                topics=[TOPICS[i % len(TOPICS)], TOPICS[(i + 3) % len(TOPICS)]], met_with=[MET_WITH[i % len(MET_WITH)]] if i % 3 else [],
                findings=f"Temuan kunjungan {i}" if mode == SessionMode.home_visit else "", notes=f"Catatan {i}", created_at=at,
            ))
        await db.commit()


async def export(http, query: str) -> tuple[list[str], list[list[str]]]:
    resp = await http.get(f"/api/audit/sessions?{query}")
    assert resp.status == 200
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    return rows[0], rows[1:]


async def json_rows(http) -> list[dict]:
    return (await (await http.get("/api/audit/sessions?per_page=200")).json())["sessions"]


def as_cells(row: dict, name=None) -> list[str]:
    """The JSON row as the CSV writes it, codes named by ``name`` when given."""
    out = []
    for column in CSV_COLUMNS:
        value = row[column]
        if name and column in CODED:
            value = [name(CODED[column] + v) for v in value] if isinstance(value, list) else (None if value is None else name(CODED[column] + value))
        elif name and column in FLAGS:
            value = name("csv.yes" if value else "csv.no")
        out.append(";".join(value) if isinstance(value, list) else "" if value is None else str(value))
    return out


async def test_the_indonesian_csv_names_every_code_and_holds_the_json_rows(client, office, sign_in, database_url):
    await seed_every_kind(database_url, office)
    await sign_in(client, "kasie")
    listed = await json_rows(client)
    header, rows = await export(client, "format=csv&lang=id")
    assert header == [ID["csv." + c] for c in CSV_COLUMNS]  # every column titled, met_with and findings too
    assert not set(header) & set(CSV_COLUMNS)
    # Row for row the JSON's: same sessions, same order, same figures, each code in words.
    assert rows == [as_cells(r, ID.__getitem__) for r in listed]
    column = {c: i for i, c in enumerate(CSV_COLUMNS)}
    codes = {m.value for m in SessionMode} | {e.value for e in Evidence} | {s.value for s in SessionStatus} | {o.value for o in Outcome} | set(TOPICS) | set(MET_WITH)
    for row in rows:
        for c in CODED:
            cells = row[column[c]].split(";") if row[column[c]] else []
            assert not set(cells) & codes, (c, row[column[c]])
    seen_modes = {r[column["mode"]] for r in rows}
    assert seen_modes == {ID["mode." + m.value] for m in SessionMode}  # Kunjungan rumah, Layanan bergerak, Telepon/WhatsApp, …
    assert {r[column["evidence"]] for r in rows} == {ID["evidence." + e.value] for e in Evidence}
    assert {r[column["outcome"]] for r in rows} == {ID["outcome." + o.value] for o in Outcome} | {""}


async def test_english_and_plain_csv_keep_the_codes_programs_read(client, office, sign_in, database_url):
    await seed_every_kind(database_url, office)
    await sign_in(client, "kasie")
    listed = await json_rows(client)
    header, rows = await export(client, "format=csv")
    assert header == list(CSV_COLUMNS) and rows == [as_cells(r) for r in listed]
    header, rows = await export(client, "format=csv&lang=en")
    assert header[:3] == ["Session ID", "Scheduled", "Started"] and "Met with" in header and "Findings" in header
    assert rows == [as_cells(r) for r in listed]  # the codes, as always
    assert {r[CSV_COLUMNS.index("mode")] for r in rows} == {m.value for m in SessionMode}


def options(html: str, name: str) -> list[str]:
    select = re.search(rf'<select name="{name}">(.*?)</select>', html, re.S)
    assert select, name
    return [v for v in re.findall(r'<option value="([^"]*)"', select.group(1)) if v]


async def test_the_audit_filter_offers_every_mode_evidence_status_and_outcome(client, office, sign_in, database_url):
    await seed_every_kind(database_url, office)
    await sign_in(client, "kasie")
    html = await (await client.get("/audit")).text()
    assert options(html, "mode") == [m.value for m in SessionMode]  # home visit, mobile counseling and phone included
    assert options(html, "evidence") == [e.value for e in Evidence]
    assert options(html, "status") == [s.value for s in SessionStatus]
    assert options(html, "outcome") == [o.value for o in Outcome] + ["none"]
    listed = await json_rows(client)
    for name, values in (("mode", [m.value for m in SessionMode]), ("evidence", [e.value for e in Evidence])):
        for value in values:
            page = await (await client.get(f"/audit?{name}={value}")).text()
            shown = [int(i) for i in re.findall(r'<tr data-session-id="(\d+)"', page)]
            assert shown == [r["id"] for r in listed if r[name] == value] and shown, (name, value)
            assert f'<option value="{value}" selected>' in page
            api = (await (await client.get(f"/api/audit/sessions?{name}={value}&per_page=200")).json())["sessions"]
            assert [r["id"] for r in api] == shown
    officers = await (await client.get("/audit/officers")).text()
    assert re.findall(r'<th data-mode="(\w+)"', officers) == [m.value for m in SessionMode]


async def test_the_settings_page_writes_durations_in_the_pages_language(client, office, sign_in, settings):
    await sign_in(client, "admin")
    indonesian = unescape(await (await client.get("/admin/settings")).text())
    settings_rows = dict(re.findall(r'<dd data-setting="([\w.]+)">([^<]*)</dd>', indonesian))
    assert settings_rows["settings.audit_retention"] == f"{settings.audit_retention_days:,} hari".replace(",", ".")
    assert settings_rows["settings.session_retention"] == f"{settings.session_retention_days:,} hari".replace(",", ".")
    assert settings_rows["settings.min_video"] == f"{settings.min_video_minutes} menit"
    assert settings_rows["settings.turn_ttl"] == f"{settings.turn_ttl_seconds:,} detik".replace(",", ".")
    assert settings_rows["settings.join_window"] == f"{settings.join_opens_before_minutes} menit sebelum / {settings.join_expires_after_hours} jam sesudah"
    english = dict(re.findall(r'<dd data-setting="([\w.]+)">([^<]*)</dd>', unescape(await (await client.get("/admin/settings?lang=en")).text())))
    assert english["settings.audit_retention"] == f"{settings.audit_retention_days:,} days"
    assert english["settings.turn_ttl"] == f"{settings.turn_ttl_seconds:,} seconds"
    for value in (*settings_rows.values(), *english.values()):
        assert not re.search(r"\d (d|s|h|min)\b", value), value  # no bare unit letters


async def test_the_evaluation_csv_in_indonesian_titles_every_column_and_names_the_modes(client, office, sign_in, database_url):
    await seed_every_kind(database_url, office)
    await sign_in(client, "kasie")
    header, _rows = await export_evaluation(client, "months", "id")
    assert not [h for h in header if "_" in h], header  # no held_home_visit, kendala_illness left as codes
    assert {f"Sesi terlaksana: {ID['mode.' + m.value]}" for m in SessionMode} <= set(header)
    _header, rows = await export_evaluation(client, "strategies", "id")
    assert rows and {r[0] for r in rows} <= {ID["mode." + m.value] for m in SessionMode}
    _header, rows = await export_evaluation(client, "strategies", "en")
    assert {r[0] for r in rows} <= {m.value for m in SessionMode}  # codes, for programs


async def export_evaluation(http, table: str, lang: str) -> tuple[list[str], list[list[str]]]:
    resp = await http.get(f"/api/reports/evaluation?format=csv&table={table}&lang={lang}")
    assert resp.status == 200
    rows = list(csv.reader(io.StringIO((await resp.read()).decode("utf-8-sig"))))
    return rows[0], rows[1:]


async def test_the_progress_referrals_and_casework_csv_read_in_indonesian_and_keep_codes_for_programs(client, office, sign_in, database_url):
    """Issues 20 and 21: the evaluation's progress (ratings, risk, case plans),
    referrals and casework (violations, sittings, hours) as CSV; with lang=id every
    title and every code in words, with lang=en the codes programs read."""
    await sign_in(client, "kasie")
    c1 = office.clients["c1"].id
    assert (await client.post(f"/api/clients/{c1}/violations", json={"kind": "pindah_alamat", "date": utc_now().astimezone(OFFICE_TZ).date().isoformat(),
                                                                    "what_happened": "Pindah.", "evidence": "reported"})).status == 201
    partner = await (await client.post("/api/partners", json={"name": "BLK Cakung", "kind": "blk_lpk"})).json()
    assert (await client.post(f"/api/clients/{c1}/referrals", json={"partner_id": partner["id"], "purpose": "Pelatihan"})).status == 201
    codes = {"need", "stage", "mode", "risk", "plan", "violation_kind", "violation_state", "tpp_decision", "service_hours", "sedang", "none", "with_plan",
             "pindah_alamat", "dicatat", "pencabutan", "approved_in_range", "blk_lpk", "dirujuk"}
    for table in ("progress", "referrals", "casework"):
        header, rows = await export_evaluation(client, table, "id")
        assert rows and not [h for h in header if "_" in h or h.isascii() and h.islower()], (table, header)
        assert not {cell for row in rows for cell in row[:3]} & codes, (table, rows)
        en_header, en_rows = await export_evaluation(client, table, "en")
        assert len(en_rows) == len(rows) and en_header != header
    _header, rows = await export_evaluation(client, "casework", "id")
    assert [ID["evalcsv.group.violation_kind"], ID["violation.kind.pindah_alamat"], "1"] in rows
    _header, rows = await export_evaluation(client, "progress", "id")
    assert [ID["evalcsv.group.risk"], ID["eval.risk_none"], "", "", "", "", "", "", "2"] in rows  # two clients, neither assessed
    _header, rows = await export_evaluation(client, "referrals", "id")
    assert rows == [[str(partner["id"]), "BLK Cakung", ID["partner.kind.blk_lpk"], "1", "1", "0", "0", "0", "0", "0", "0"]]
    _header, rows = await export_evaluation(client, "casework", "en")
    assert ["violation_kind", "pindah_alamat", "1"] in rows  # codes, for programs
