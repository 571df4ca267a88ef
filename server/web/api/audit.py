"""The supervisor's audit API: the session log (JSON or streamed CSV), per-client
attendance, per-PK statistics, anomalies, the audit trail and its verification.

Who sees what (docs/api.md, "Audit"): a supervisor or admin sees the whole
office; a PK sees only their own sessions and clients in every view, and their
CSV holds only their own rows (so "CSV == JSON for the same filter" holds for
everyone, and a PK can never export the office). The trail and its
verification are for supervisors and admins only. Every export is itself
appended to the audit trail.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any, Callable, Literal

from aiohttp import web
from pydantic import Field, ValidationError, model_validator
from sqlalchemy import and_, or_, select

from server.audit.verify import verify_off_loop
from server.db.ids import MAX_ID
from server.db.models import (
    AuditEntry,
    Evidence,
    Outcome,
    Role,
    SessionMode,
    SessionStatus,
    Staff,
)
from server.domain.access import require_role
from server.domain.documents import reports
from server.domain.documents.anomalies import Anomaly, find_anomalies, names
from server.domain.errors import DomainError, ErrorKind
from server.domain.record.ledger import SessionJudge
from server.keys import audit_key, catalogue_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.dates import today
from server.web.ledger import judge_for
from server.web.serialize import iso
from server.web.validation import Body, describe

routes = web.RouteTableDef()

OutcomeFilter = Literal["attended", "excused", "no_show", "rescheduled", "none"]
assert set(OutcomeFilter.__args__) == {o.value for o in Outcome} | {"none"}  # type: ignore[attr-defined]


class RangeQuery(Body):
    date_from: date | None = None
    date_to: date | None = None

    @model_validator(mode="after")
    def _ordered(self):
        # Bounded as months are (reports.month_first): the office's midnight of
        # 0001-01-01 is in the year 0 in UTC, and the day after 9999-12-31 is no
        # date; each answered 500 (the API fuzz found the first).
        for name in ("date_from", "date_to"):
            day = getattr(self, name)
            if day is not None and not reports.MIN_YEAR <= day.year <= reports.MAX_YEAR:
                raise ValueError(f"{name}: year {reports.MIN_YEAR}-{reports.MAX_YEAR}")
        if self.date_from and self.date_to and self.date_from > self.date_to:
            raise ValueError("date_from must not be after date_to")
        return self


class SessionLogQuery(RangeQuery):
    officer_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    client_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    mode: SessionMode | None = None
    evidence: Evidence | None = None
    outcome: OutcomeFilter | None = None
    status: SessionStatus | None = None
    sort: Literal["-scheduled_at", "scheduled_at", "-duration", "duration"] = reports.DEFAULT_SORT
    page: int = Field(default=1, ge=1, le=1_000_000)
    per_page: int = Field(default=50, ge=1, le=reports.MAX_PER_PAGE)
    after: str | None = Field(default=None, max_length=200)
    format: Literal["json", "csv"] = "json"
    # CSV language: absent keeps the column names and codes (stable for scripts); en
    # writes English column titles and keeps the codes (as it always did); id writes
    # Indonesian titles and names every code as the pages do ("Kunjungan rumah", "Hadir").
    lang: Literal["id", "en"] | None = None

    def filter(self) -> reports.SessionFilter:
        return reports.SessionFilter(
            officer_id=self.officer_id,
            client_id=self.client_id,
            mode=self.mode,
            evidence=self.evidence,
            outcome=self.outcome,
            status=self.status,
            date_from=self.date_from,
            date_to=self.date_to,
            sort=self.sort,
        )


class AnomalyQuery(RangeQuery):
    officer_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    client_id: int | None = Field(default=None, ge=1, le=MAX_ID)


class TrailQuery(Body):
    before_seq: int | None = Field(default=None, ge=1, le=MAX_ID)
    per_page: int = Field(default=100, ge=1, le=reports.MAX_PER_PAGE)
    action: str | None = Field(default=None, max_length=64)


def query_without_blanks(request: web.Request, drop: tuple[str, ...] = ()) -> dict[str, str]:
    # An HTML form sends empty fields for "any"; treat them as absent.
    return {k: v for k, v in request.query.items() if v != "" and k not in drop}


def parse(request: web.Request, model, drop: tuple[str, ...] = ()):
    try:
        return model.model_validate(query_without_blanks(request, drop))
    except ValidationError as exc:
        message, fields = describe(exc)
        raise DomainError(ErrorKind.invalid, "invalid-query", message, fields=fields) from None


# --- one row of the session log, the same for JSON and CSV ---------------------

CSV_COLUMNS = (
    "id",
    "scheduled_at",
    "started_at",
    "ended_at",
    "client_id",
    "client_name",
    "register_number",
    "officer_id",
    "officer_name",
    "mode",
    "evidence",
    "status",
    "outcome",
    "duration_seconds",
    "topics",
    "location",
    "notes",
    "met_with",
    "findings",
    "mobile_event_id",
    # How the ledger counts the session (server/domain/record/ledger.py, ``Judgement``).
    "meets_reporting",
    "reporting_reason",
    "late_entry",
    "entered_on",
)


def log_row_json(row: Any, tz: str, judge: SessionJudge) -> dict[str, Any]:
    return {
        "id": row.id,
        "scheduled_at": iso(row.scheduled_at, tz),
        "started_at": iso(row.started_at, tz),
        "ended_at": iso(row.ended_at, tz),
        "client_id": row.client_id,
        "client_name": row.client_name,
        "register_number": row.register_number,
        "officer_id": row.officer_id,
        "officer_name": row.officer_name,
        "mode": row.mode.value,
        "evidence": row.evidence.value,
        "status": row.status.value,
        "outcome": row.outcome.value if row.outcome else None,
        "duration_seconds": row.duration_seconds,
        "topics": list(row.topics or []),
        "location": row.location,
        "notes": row.notes,
        "met_with": list(row.met_with or []),
        "findings": row.findings,
        "mobile_event_id": row.mobile_event_id,
        **judge.judge(row).as_dict(),
        "url": f"/sessions/{row.id}",
    }


def spreadsheet_safe(value: str) -> str:
    # A cell starting with = + - @ (or a tab/CR) is run as a formula by Excel and
    # LibreOffice ("CSV injection", OWASP); a leading apostrophe makes it text.
    if value and value[0] in "=+-@\t\r":
        return "'" + value
    return value


# The columns whose values are codes, and the catalogue prefix that names each
# code as the pages do. Only ``lang=id`` names them: ``lang=en`` and no ``lang``
# keep the codes, which the JSON always carries and programs read.
CODE_COLUMNS = {"mode": "mode.", "evidence": "evidence.", "status": "status.", "outcome": "outcome.", "topics": "topic.", "met_with": "met_with.",
                "reporting_reason": "reporting."}
# Yes/no columns, named as words by ``lang=id`` too (``True``/``False`` otherwise, as the JSON's).
FLAG_COLUMNS = ("meets_reporting", "late_entry")
NAMED_VALUES = ("id",)


def code_namer(request: web.Request, lang: str | None) -> Callable[[str, str], str] | None:
    """``name(prefix, code)``: the catalogue's word for a code in ``lang``, or the
    code itself for one the catalogue does not know yet; None when codes stay."""
    if lang not in NAMED_VALUES:
        return None
    catalogue = request.app[catalogue_key]
    known = catalogue.messages["id"]
    return lambda prefix, code: catalogue.gettext(lang, prefix + code) if prefix + code in known else code


def log_row_csv(row: Any, tz: str, judge: SessionJudge, name: Callable[[str, str], str] | None = None) -> list[str]:
    """The JSON row as CSV cells: the same values, lists joined with ``;``, and
    with ``name`` each code in words (the row stays the JSON's, cell by cell)."""
    data = log_row_json(row, tz, judge)
    if name is not None:
        for column, prefix in CODE_COLUMNS.items():
            value = data[column]
            if isinstance(value, list):
                data[column] = [name(prefix, v) for v in value]
            elif value is not None:
                data[column] = name(prefix, value)
        for column in FLAG_COLUMNS:
            data[column] = name("csv.", "yes" if data[column] else "no")
    data["topics"] = ";".join(data["topics"])
    data["met_with"] = ";".join(data["met_with"])
    out = []
    for name in CSV_COLUMNS:
        value = data[name]
        text = "" if value is None else str(value)
        out.append(spreadsheet_safe(text) if isinstance(value, str) else text)
    return out


def csv_filename(prefix: str, moment: datetime) -> str:
    return f"{prefix}-{moment.strftime('%Y%m%d-%H%M')}.csv"


@routes.get("/api/audit/sessions")
async def audit_sessions(request: web.Request) -> web.StreamResponse:
    staff = current_staff(request)
    q = parse(request, SessionLogQuery)
    tz = request.app[settings_key].timezone
    f = q.filter()
    if q.format == "csv":
        return await stream_csv(request, staff, f, q.lang)
    async with request.app[db_key]() as db:
        page = await reports.session_log_page(db, staff, f, tz, page=q.page, per_page=q.per_page, after=q.after)
        by_evidence = await reports.attended_by_evidence(db, staff, f, tz)
        judge = await judge_for(request, db, staff.office_id)
    return web.json_response(
        {
            "sessions": [log_row_json(r, tz, judge) for r in page.rows],
            "attended_by_evidence": by_evidence,
            "page": page.page if not q.after else None,
            "per_page": page.per_page,
            "total": page.total,
            "next_after": page.next_after,
            "sort": f.sort,
            "filter": f.as_query(),
        }
    )


def csv_header(request: web.Request, columns: tuple[str, ...], lang: str | None) -> list[str]:
    if lang is None:
        return list(columns)
    catalogue = request.app[catalogue_key]
    return [catalogue.gettext(lang, "csv." + c) if "csv." + c in catalogue.messages["id"] else c for c in columns]


async def stream_csv(request: web.Request, staff: Staff, f: reports.SessionFilter, lang: str | None = None) -> web.StreamResponse:
    """Every row of the filter (all pages, the JSON's order), streamed in chunks:
    UTF-8 with a BOM and CRLF line ends, which is what Excel needs to read it right."""
    tz = request.app[settings_key].timezone
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{csv_filename("bimbing-sesi", datetime.now())}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        }
    )
    response.enable_chunked_encoding()
    await response.prepare(request)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    buffer.write("\ufeff")
    writer.writerow(csv_header(request, CSV_COLUMNS, lang))
    name = code_namer(request, lang)
    rows = 0
    complete = False
    try:
        async with request.app[db_key]() as db:
            judge = await judge_for(request, db, staff.office_id)
            async for row in reports.iter_session_log(db, staff, f, tz):
                writer.writerow(log_row_csv(row, tz, judge, name))
                rows += 1
                if buffer.tell() > 64 * 1024:
                    await response.write(buffer.getvalue().encode("utf-8"))
                    buffer.seek(0)
                    buffer.truncate()
        await response.write(buffer.getvalue().encode("utf-8"))
        complete = True
    finally:
        # Recorded before the response ends, so nobody holds a finished export
        # that the trail does not know about yet; a broken-off one is recorded too.
        await request.app[audit_key].record(
            "audit.export",
            actor=staff,
            target_type="session_log",
            target_id=staff.office_id,
            detail={"format": "csv", "filter": f.as_query(), "rows": rows, "complete": complete, "scope": "own" if staff.role == Role.pk else "office"},
        )
    await response.write_eof()
    return response


@routes.get("/api/audit/clients")
async def audit_clients(request: web.Request) -> web.Response:
    """Per-client attendance against wajib lapor: last and next session, overdue days."""
    staff = current_staff(request)
    q = parse(request, AnomalyQuery)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        rows = await reports.client_attendance(db, staff, today(request), tz, officer_id=q.officer_id, client_id=q.client_id)
    return web.json_response(
        {
            "clients": [
                {
                    "client_id": c.id,
                    "name": c.name,
                    "register_number": c.register_number,
                    "officer_id": c.officer_id,
                    "attendance": att.as_dict(),
                    "last_session_at": iso(last, tz),
                    "next_session_at": iso(nxt, tz),
                }
                for c, att, last, nxt in rows
            ]
        }
    )


@routes.get("/api/audit/officers")
async def audit_officers(request: web.Request) -> web.Response:
    staff = current_staff(request)
    q = parse(request, RangeQuery)
    async with request.app[db_key]() as db:
        stats = await reports.officer_stats(db, staff, q.date_from, q.date_to, request.app[settings_key].timezone)
    return web.json_response({"date_from": iso(q.date_from), "date_to": iso(q.date_to), "officers": [s.as_dict() for s in stats]})


def anomaly_json(a: Anomaly, tz: str, clients: dict[int, str], officers: dict[int, str]) -> dict[str, Any]:
    return {
        "kind": a.kind,
        "session_id": a.session_id,
        "client_id": a.client_id,
        "client_name": clients.get(a.client_id),
        "officer_id": a.officer_id,
        "officer_name": officers.get(a.officer_id),
        "at": iso(a.at, tz),
        "detail": a.detail,
        "links": a.links(),
    }


@routes.get("/api/audit/anomalies")
async def audit_anomalies(request: web.Request) -> web.Response:
    staff = current_staff(request)
    q = parse(request, AnomalyQuery)
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        found = await find_anomalies(db, staff, settings, now=datetime.now().astimezone(), today=today(request), date_from=q.date_from, date_to=q.date_to, officer_id=q.officer_id, client_id=q.client_id)
        clients, officers = await names(db, found)
    return web.json_response({"anomalies": [anomaly_json(a, settings.timezone, clients, officers) for a in found]})


@routes.get("/api/audit/verify")
async def audit_verify(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_role(staff, Role.supervisor, Role.admin)
    async with request.app[db_key]() as db:
        # Off the loop: a long trail must not stop every call's signaling (issue 24).
        report = await verify_off_loop(request.app[settings_key], db)
    await request.app[audit_key].record("audit.verify", actor=staff, detail={"ok": report.ok, "entries": report.entries})
    return web.json_response(report.as_dict())


def audit_entry_json(e: AuditEntry, tz: str) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": iso(e.at, tz),
        "actor_id": e.actor_id,
        "actor": e.actor,
        "action": e.action,
        "target_type": e.target_type,
        "target_id": e.target_id,
        "detail": e.detail or {},
        "hash": e.hash,
        "prev_hash": e.prev_hash,
    }


SYSTEM_ACTORS = ("system", "cli", "retention")


async def trail_page(db, staff: Staff, q: TrailQuery) -> list[AuditEntry]:
    """The office's part of the trail. The chain is one per installation, so an
    office sees the entries of its own staff (by id, or by username for a failed
    sign-in) and the installation's maintenance (CLI, retention); failed
    sign-ins with unknown usernames belong to no office and are not listed."""
    office_staff = select(Staff.id).where(Staff.office_id == staff.office_id)
    office_names = select(Staff.username).where(Staff.office_id == staff.office_id)
    query = (
        select(AuditEntry)
        .where(
            or_(
                AuditEntry.actor_id.in_(office_staff),
                and_(AuditEntry.actor_id.is_(None), or_(AuditEntry.actor.in_(office_names), AuditEntry.actor.in_(SYSTEM_ACTORS))),
            )
        )
        .order_by(AuditEntry.seq.desc())
        .limit(q.per_page)
    )
    if q.before_seq:
        query = query.where(AuditEntry.seq < q.before_seq)
    if q.action:
        query = query.where(AuditEntry.action == q.action)
    return list((await db.execute(query)).scalars())


@routes.get("/api/audit/trail")
async def audit_trail(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_role(staff, Role.supervisor, Role.admin)
    q = parse(request, TrailQuery)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        entries = await trail_page(db, staff, q)
    return web.json_response(
        {"entries": [audit_entry_json(e, tz) for e in entries], "next_before_seq": entries[-1].seq if len(entries) == q.per_page else None}
    )
