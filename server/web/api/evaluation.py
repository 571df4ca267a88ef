"""The office's evaluation over months (supervisor, admin; a PK sees their own
caseload): ``GET /api/reports/evaluation``, as JSON or one table as CSV.
The figures are computed in server/domain/documents/evaluation.py; docs/api.md is the contract."""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from server.db.ids import MAX_ID
from server.db.models import ClientCategory, Evidence, Program, SessionMode
from server.domain.documents.evaluation import evaluate
from server.domain.documents.evaluation_figures import (
    Evaluation,
    EvaluationFilter,
    month_span,
)
from server.domain.documents.reports import month_first
from server.domain.guidance.progress_figures import RATINGS
from server.domain.partners.counts import RESULTS
from server.domain.record.ledger import PERIOD_STATUSES
from server.keys import audit_key, catalogue_key, db_key, settings_key
from server.security.auth import current_staff
from server.web.api.audit import code_namer, csv_filename, parse, spreadsheet_safe
from server.web.dates import today

routes = web.RouteTableDef()

TABLES = ("months", "areas", "officers", "strategies", "progress", "referrals", "casework")


class EvaluationQuery(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    from_: str | None = Field(default=None, alias="from", max_length=7)
    to: str | None = Field(default=None, max_length=7)
    officer_id: int | None = Field(default=None, ge=1, le=MAX_ID)
    program: Program | None = None
    category: ClientCategory | None = None
    city: str | None = Field(default=None, max_length=100)
    kecamatan: str | None = Field(default=None, max_length=100)
    kelurahan: str | None = Field(default=None, max_length=100)
    format: Literal["json", "csv"] = "json"
    table: Literal["months", "areas", "officers", "strategies", "progress", "referrals", "casework"] = "months"
    lang: Literal["id", "en"] | None = None

    def filter(self, today: date) -> EvaluationFilter:
        # Default: the six months ending with this one.
        to = self.to if self.to is not None else today.strftime("%Y-%m")
        if self.from_ is None:
            last = month_first(to, "to")
            frm = f"{last.year - (last.month <= 5):04d}-{(last.month - 6) % 12 + 1:02d}"
        else:
            frm = self.from_
        start, end = month_span(frm, to, today)
        return EvaluationFilter(start, end, self.officer_id, self.program, self.category, self.city, self.kecamatan, self.kelurahan)


async def run(request: web.Request, q: EvaluationQuery) -> Evaluation:
    staff = current_staff(request)
    day = today(request)
    f = q.filter(day)
    async with request.app[db_key]() as db:
        return await evaluate(db, staff, f, request.app[settings_key].timezone, day)


# --- CSV: one table at a time ------------------------------------------------

def table_rows(ev: Evaluation, table: str) -> tuple[list[str], list[list[Any]]]:
    if table == "months":
        kinds = sorted({k for m in ev.months for k in m.kendala_by_type})
        header = ["month", "as_of", *(f"held_{m.value}" for m in SessionMode), *(f"held_{e.value}" for e in Evidence),
                  "periods_due", *(f"periods_{s}" for s in PERIOD_STATUSES), "overdue_clients", "no_shows", *(f"kendala_{k}" for k in kinds)]
        rows = [[m.month, m.as_of.isoformat(), *(m.sessions_by_mode[x.value] for x in SessionMode), *(m.sessions_by_evidence[e.value] for e in Evidence),
                 m.periods_due, *(m.periods[s] for s in PERIOD_STATUSES), m.overdue_clients, m.no_shows, *(m.kendala_by_type.get(k, {}).get("total", 0) for k in kinds)]
                for m in ev.months]
        return header, rows
    if table == "areas":
        header = ["city", "kecamatan", "kelurahan", "clients", *(f"periods_{s}" for s in PERIOD_STATUSES), "rate", "overdue", "last_mobile_day"]
        return header, [[a.city or "", a.kecamatan or "", a.kelurahan, a.clients, *(a.periods[s] for s in PERIOD_STATUSES), "" if a.rate is None else a.rate,
                         a.overdue, a.last_mobile_day.isoformat() if a.last_mobile_day else ""] for a in ev.areas]
    if table == "officers":
        header = ["officer_id", "name", "caseload", "sessions_held", "median_duration_seconds", "sessions_without_notes",
                  "open_kendala", "kendala_waiting_days_max", "clients_overdue"]
        return header, [[o.officer_id, o.name, o.caseload, o.sessions_held, "" if o.median_duration_seconds is None else o.median_duration_seconds,
                         o.sessions_without_notes, o.open_kendala, "" if o.kendala_waiting_days_max is None else o.kendala_waiting_days_max,
                         o.clients_overdue] for o in ev.officers]
    if table == "progress":
        return progress_rows(ev)
    if table == "referrals":
        header = ["partner_id", "partner", "partner_kind", "total", *RESULTS]
        return header, [[p["partner_id"], p["name"], p["kind"], p["total"], *(p["by_result"][r] for r in RESULTS)] for p in ev.referrals["by_partner"]]
    if table == "casework":
        return casework_rows(ev)
    header = ["mode", "clients", "rate_before", "rate_after"]
    return header, [[s.mode, s.clients, "" if s.rate_before is None else s.rate_before, "" if s.rate_after is None else s.rate_after] for s in ev.strategies]


def progress_rows(ev: Evaluation) -> tuple[list[str], list[list[Any]]]:
    """The progress of the range (issue 20), one row per need, stage, mode and the
    total with its ratings; then where the clients stand: one row per risk category
    and for the case plans, with their number of clients."""
    progress = ev.progress or {}
    header = ["group", "key", *RATINGS, "ratings", "moved_share", "clients"]
    rows: list[list[Any]] = []
    for group, table in (("need", "by_need"), ("stage", "by_stage"), ("mode", "by_mode")):
        for key, row in progress.get(table, {}).items():
            rows.append([group, key, *(row[r] for r in RATINGS), row["ratings"], "" if row["moved_share"] is None else row["moved_share"], ""])
    total = progress.get("total")
    if total:
        rows.append(["total", "", *(total[r] for r in RATINGS), total["ratings"], "" if total["moved_share"] is None else total["moved_share"], ""])
    blank = [""] * (len(RATINGS) + 2)
    rows += [["risk", key, *blank, n] for key, n in progress.get("risk", {}).items()]
    rows += [["plan", key, *blank, n] for key, n in progress.get("plans", {}).items()]
    return header, rows


def casework_rows(ev: Evaluation) -> tuple[list[str], list[list[Any]]]:
    """Violations by kind and state, the sittings of the TPP and their decisions,
    community-service hours (issue 21): one figure a row, ``section``, ``key``, ``count``."""
    v, tpp, hours = ev.violations, ev.tpp, ev.service_hours
    rows: list[list[Any]] = [["violations", "total", v.get("total", 0)]]
    rows += [["violation_kind", k, n] for k, n in v.get("by_kind", {}).items()]
    rows += [["violation_state", k, n] for k, n in v.get("by_state", {}).items()]
    rows += [["tpp", k, tpp[k]] for k in ("held", "open", "cases") if k in tpp]
    rows += [["tpp_decision", k, n] for k, n in tpp.get("decisions", {}).items()]
    rows += [["tpp_other_decision", k, n] for k, n in tpp.get("other_decisions", {}).items()]
    rows += [["service_hours", k, n] for k, n in hours.items()]
    return ["section", "key", "count"], rows


# How the codes of the progress, referrals and casework tables read with lang=id:
# the catalogue prefix per group or section (a need is the office's own word and stays).
KEY_PREFIX = {"stage": "stage.", "mode": "mode.", "risk": "risk.", "plan": "evalcsv.plan_", "violations": "eval.violations_",
              "violation_kind": "violation.kind.", "violation_state": "violation.state.", "tpp": "eval.tpp_",
              "tpp_decision": "violation.decision.", "tpp_other_decision": "tpp.other_decision.", "service_hours": "eval.hours_"}
NONE_KEYS = {"stage": "eval.progress_no_stage", "risk": "eval.risk_none"}


def eval_column_title(catalogue, lang: str, column: str) -> str:
    """A column's title: its own (``evalcsv.<column>``), or for the columns made
    per mode, evidence and kendala kind ("held_home_visit", "kendala_illness")
    the catalogue's name of that value after "Sesi terlaksana:" or "Kendala:"."""
    known = catalogue.messages["id"]
    if "evalcsv." + column in known:
        return catalogue.gettext(lang, "evalcsv." + column)
    for prefix, title, names in (("held_", "evalcsv.held", ("mode.", "evidence.")), ("kendala_", "evalcsv.kendala", ("kendala.kind.",))):
        if column.startswith(prefix):
            value = column[len(prefix):]
            key = next((n + value for n in names if n + value in known), None)
            return catalogue.gettext(lang, title, what=catalogue.gettext(lang, key) if key else value)
    return column


def named_key(name, group: str, key: str) -> str:
    """A progress or casework row's key in words; a need area is already the office's word."""
    if not key or group == "need":
        return key
    if key == "none" and group in NONE_KEYS:
        return name("", NONE_KEYS[group])
    return name(KEY_PREFIX.get(group, ""), key)


def csv_response(request: web.Request, ev: Evaluation, table: str, lang: str | None) -> web.Response:
    """UTF-8 with a BOM and CRLF, text cells guarded against formulas: as the audit export."""
    header, rows = table_rows(ev, table)
    if lang:
        catalogue = request.app[catalogue_key]
        header = [eval_column_title(catalogue, lang, h) for h in header]
        name = code_namer(request, lang)
        if name is not None and table == "strategies":  # the mode, in words as on the page (lang=id only)
            rows = [[name("mode.", row[0]), *row[1:]] for row in rows]
        if name is not None and table in ("progress", "casework"):  # the group and its key in words
            rows = [[name("evalcsv.group.", row[0]), named_key(name, row[0], row[1]), *row[2:]] for row in rows]
        if name is not None and table == "referrals":
            rows = [[*row[:2], name("partner.kind.", row[2]), *row[3:]] for row in rows]
    buffer = io.StringIO()
    buffer.write("\ufeff")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow([spreadsheet_safe(v) if isinstance(v, str) else v for v in row])
    return web.Response(
        body=buffer.getvalue().encode("utf-8"),
        headers={
            "Content-Type": "text/csv; charset=utf-8",
            "Content-Disposition": f'attachment; filename="{csv_filename("bimbing-evaluasi-" + table, datetime.now())}"',
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )


@routes.get("/api/reports/evaluation")
async def evaluation(request: web.Request) -> web.Response:
    q = parse(request, EvaluationQuery)
    ev = await run(request, q)
    staff = current_staff(request)
    if q.format == "csv":
        await request.app[audit_key].record("audit.export", actor=staff, target_type="evaluation", target_id=staff.office_id,
                                            detail={"format": "csv", "table": q.table, "from": ev.date_from.isoformat(), "to": ev.date_to.isoformat()})
        return csv_response(request, ev, q.table, q.lang)
    return web.json_response(ev.as_dict())
