"""The supervisor's audit pages: the session log with filters, anomalies, the
per-PK and per-client view, the integrity check, and the printable monthly
"laporan bimbingan" per client and per PK. Server-rendered; no script needed.

The same scoping as the API applies (a PK sees only their own); the integrity
page is for supervisors and admins.
"""

from __future__ import annotations

from datetime import date, datetime
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from server.audit.verify import verify_off_loop
from server.db.models import (
    Client,
    Evidence,
    Office,
    Outcome,
    Role,
    SessionMode,
    SessionStatus,
    Staff,
)
from server.domain.access import require_client, require_role, scope_clients
from server.domain.documents import reports
from server.domain.documents.anomalies import find_anomalies, names
from server.domain.errors import DomainError, ErrorKind, not_found
from server.domain.office.profile import office_profile
from server.keys import audit_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.api.audit import (
    AnomalyQuery,
    SessionLogQuery,
    TrailQuery,
    parse,
    trail_page,
)
from server.web.dates import today
from server.web.ledger import judge_for
from server.web.render import locale_of, render
from server.web.validation import int_param

routes = web.RouteTableDef()

PAGE_ONLY = ("lang",)
# The page pages by number (it shows "page x of y"); keyset paging is for API clients.


async def _officers(db, staff: Staff) -> list[Staff]:
    query = select(Staff).where(Staff.office_id == staff.office_id, Staff.role == Role.pk).order_by(Staff.name)
    if staff.role == Role.pk:
        query = query.where(Staff.id == staff.id)
    return list((await db.execute(query)).scalars())


async def _clients(db, staff: Staff) -> list[Client]:
    return list((await db.execute(scope_clients(select(Client), staff).order_by(Client.name))).scalars())


def _month(request: web.Request) -> tuple[str, date, date]:
    month = request.query.get("month") or today(request).strftime("%Y-%m")
    first, last = reports.month_range(month)
    return month, first, last


@routes.get("/audit")
async def audit_page(request: web.Request) -> web.Response:
    staff = current_staff(request)
    q = parse(request, SessionLogQuery, drop=PAGE_ONLY + ("after",))
    if q.format != "json":
        raise DomainError(ErrorKind.invalid, "invalid-query", "format: the page is HTML; use /api/audit/sessions?format=csv")
    tz = request.app[settings_key].timezone
    f = q.filter()
    async with request.app[db_key]() as db:
        page = await reports.session_log_page(db, staff, f, tz, page=q.page, per_page=q.per_page)
        by_evidence = await reports.attended_by_evidence(db, staff, f, tz)
        officers = await _officers(db, staff)
        clients = await _clients(db, staff)
    filt = f.as_query()
    base = {k: v for k, v in filt.items() if k != "sort"}
    if q.per_page != 50:
        base["per_page"] = str(q.per_page)

    def link(**changes) -> str:
        params = {**base, "sort": f.sort, **{k: str(v) for k, v in changes.items()}}
        if params.get("sort") == reports.DEFAULT_SORT:
            params.pop("sort")
        return "/audit?" + urlencode(params)

    def sort_link(column: str) -> str:
        # Clicking the sorted column flips its direction; another column starts descending.
        return link(sort=column if f.sort == "-" + column else "-" + column, page=1)

    pages = max((page.total + page.per_page - 1) // page.per_page, 1)
    return render(
        request,
        "audit/sessions.html",
        {
            "rows": page.rows,
            "q": q,
            "f": f,
            "total": page.total,
            "by_evidence": by_evidence,
            "pages": pages,
            "officers": officers,
            "clients": clients,
            # Every option from its enum, so a new mode, evidence, status or outcome
            # is offered the day it exists (issue 18: the filter had lost modes).
            "modes": list(SessionMode),
            "evidences": list(Evidence),
            "statuses": list(SessionStatus),
            "outcomes": [o.value for o in Outcome] + ["none"],
            "csv_url": "/api/audit/sessions?" + urlencode({**filt, "format": "csv", "lang": locale_of(request)}),
            "prev_url": link(page=q.page - 1) if q.page > 1 else None,
            "next_url": link(page=q.page + 1) if q.page < pages else None,
            "sort_link": sort_link,
        },
    )


@routes.get("/audit/anomalies")
async def anomalies_page(request: web.Request) -> web.Response:
    staff = current_staff(request)
    q = parse(request, AnomalyQuery, drop=PAGE_ONLY)
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        found = await find_anomalies(db, staff, settings, now=datetime.now().astimezone(), today=today(request), date_from=q.date_from, date_to=q.date_to, officer_id=q.officer_id, client_id=q.client_id)
        client_names, officer_names = await names(db, found)
        officers = await _officers(db, staff)
    return render(request, "audit/anomalies.html", {"items": found, "client_names": client_names, "officer_names": officer_names, "officers": officers, "q": q, "settings": settings})


@routes.get("/audit/officers")
async def officers_page(request: web.Request) -> web.Response:
    staff = current_staff(request)
    month, first, last = _month(request)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        stats = await reports.officer_stats(db, staff, first, last, tz)
        attendance = await reports.client_attendance(db, staff, today(request), tz)
    officer_names = {s.officer_id: s.name for s in stats}
    # Every mode has its column, so that they add up to the sessions held.
    return render(request, "audit/officers.html", {"stats": stats, "attendance": attendance, "month": month, "officer_names": officer_names, "modes": list(SessionMode)})


@routes.get("/audit/integrity")
async def integrity_page(request: web.Request) -> web.Response:
    staff = current_staff(request)
    require_role(staff, Role.supervisor, Role.admin)
    q = parse(request, TrailQuery, drop=PAGE_ONLY)
    async with request.app[db_key]() as db:
        report = await verify_off_loop(request.app[settings_key], db)  # off the loop, as the API (issue 24)
        entries = await trail_page(db, staff, q)
    await request.app[audit_key].record("audit.verify", actor=staff, detail={"ok": report.ok, "entries": report.entries})
    return render(request, "audit/integrity.html", {"report": report, "entries": entries, "q": q})


@routes.get("/audit/reports/client/{id}")
async def client_report(request: web.Request) -> web.Response:
    staff = current_staff(request)
    month, first, last = _month(request)
    tz = request.app[settings_key].timezone
    async with request.app[db_key]() as db:
        client = require_client(staff, await db.get(Client, int_param(request, "id")))
        rows = await reports.sessions_in_range(db, staff, reports.SessionFilter(client_id=client.id, date_from=first, date_to=last), tz)
        att = (await reports.client_attendance(db, staff, min(today(request), last), tz, client_id=client.id))[0].attendance
        profile = office_profile(await db.get(Office, staff.office_id))
        judge = await judge_for(request, db, staff.office_id)
    await request.app[audit_key].record("report.view", actor=staff, target_type="client", target_id=client.id, detail={"month": month})
    return render(request, "audit/report.html", {"kind": "client", "client": client, "officer": None, **_report_rows(rows, judge, last), "att": att,
                                                 "month": month, "first": first, "last": last, "profile": profile})


@routes.get("/audit/reports/officer/{id}")
async def officer_report(request: web.Request) -> web.Response:
    staff = current_staff(request)
    month, first, last = _month(request)
    tz = request.app[settings_key].timezone
    officer_id = int_param(request, "id")
    async with request.app[db_key]() as db:
        officer = await db.get(Staff, officer_id)
        if officer is None or officer.office_id != staff.office_id or (staff.role == Role.pk and officer.id != staff.id):
            raise not_found("officer")
        rows = await reports.sessions_in_range(db, staff, reports.SessionFilter(officer_id=officer.id, date_from=first, date_to=last), tz)
        profile = office_profile(await db.get(Office, staff.office_id))
        judge = await judge_for(request, db, staff.office_id)
    await request.app[audit_key].record("report.view", actor=staff, target_type="staff", target_id=officer.id, detail={"month": month})
    return render(request, "audit/report.html", {"kind": "officer", "client": None, "officer": officer, **_report_rows(rows, judge, last), "att": None,
                                                 "month": month, "first": first, "last": last, "profile": profile})


def _report_rows(rows: list, judge, last: date) -> dict:
    """The month's sessions with how the ledger counts each (late entries marked
    with the day they were entered), and those entered after the month ended:
    the report says what changed since it could first be printed, and when."""
    judged = {r.id: judge.judge(r) for r in rows}
    changed = [r for r in rows if judged[r.id].entered_on is not None and judged[r.id].entered_on > last]
    return {"rows": rows, "totals": reports.totals(rows), "judged": judged, "changed_after": changed}
