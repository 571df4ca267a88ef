"""The evaluation page for the Kasie and the Kepala Bapas (a PK sees their own
caseload): month-by-month trends, areas, strategies and PKs, as server-drawn
SVG charts each with its table, filters, the change against the previous
period, CSV per table, and links from every figure to the sessions or clients
behind it. The figures are ``GET /api/reports/evaluation``'s."""

from __future__ import annotations

from datetime import date
from urllib.parse import urlencode

from aiohttp import web
from sqlalchemy import select

from server.db.models import (
    Area,
    AreaLevel,
    ClientCategory,
    Evidence,
    Program,
    Role,
    SessionMode,
    Staff,
)
from server.domain.documents.evaluation import clients_behind
from server.domain.documents.evaluation_figures import STRATEGY_MODES
from server.keys import db_key, settings_key
from server.security.auth import current_staff
from server.web import charts
from server.web import format as fmt
from server.web.api.audit import parse
from server.web.api.evaluation import EvaluationQuery, run
from server.web.dates import day_from_text, today
from server.web.render import locale_of, page_context, render

routes = web.RouteTableDef()

FILTERS = ("officer_id", "program", "category", "city", "kecamatan", "kelurahan")


def _filters(q: EvaluationQuery) -> dict[str, str]:
    out = {}
    for name in FILTERS:
        v = getattr(q, name)
        if v is not None:
            out[name] = str(v.value if hasattr(v, "value") else v)
    return out


def _change(now: float | None, before: float | None) -> dict | None:
    if now is None or before is None:
        return None
    return {"delta": now - before, "up": now > before, "same": now == before}


@routes.get("/evaluation")
async def evaluation_page(request: web.Request) -> web.Response:
    staff = current_staff(request)
    q = parse(request, EvaluationQuery, drop=("lang",))
    ev = await run(request, q)
    locale = locale_of(request)
    t = page_context(request)["t"]
    async with request.app[db_key]() as db:
        officers = list((await db.execute(select(Staff).where(Staff.office_id == staff.office_id, Staff.role == Role.pk).order_by(Staff.name))).scalars())
        areas = list((await db.execute(select(Area).where(Area.office_id == staff.office_id).order_by(Area.name))).scalars())
    if staff.role == Role.pk:
        officers = [o for o in officers if o.id == staff.id]
    filt = _filters(q)
    span = {"from": ev.date_from.strftime("%Y-%m"), "to": ev.date_to.strftime("%Y-%m")}
    scope = {k: v for k, v in filt.items() if k == "officer_id"}

    def sessions_url(first: date, last: date, **extra) -> str:
        return "/audit?" + urlencode({**scope, "date_from": first.isoformat(), "date_to": last.isoformat(), **extra})

    def clients_url(**extra) -> str:
        return "/evaluation/clients?" + urlencode({**span, **filt, **{k: v for k, v in extra.items() if v is not None}})

    def csv_url(table: str) -> str:
        return "/api/reports/evaluation?" + urlencode({**span, **filt, "format": "csv", "table": table, "lang": locale})

    labels = [fmt.month_name(m.first, locale, short=True) for m in ev.months]
    mode_chart = charts.bars(
        labels,
        [charts.Series(t("mode." + m.value), [mf.sessions_by_mode[m.value] for mf in ev.months],
                       [sessions_url(mf.first, mf.last, mode=m.value) for mf in ev.months]) for m in SessionMode],
        title=t("eval.chart_sessions"), fmt=lambda v: fmt.number(v, locale),
    )
    periods_chart = charts.bars(
        labels,
        [charts.Series(t("eval.periods_due"), [mf.periods_due for mf in ev.months], [clients_url(on=mf.as_of.isoformat()) for mf in ev.months], charts.PALETTE[4]),
         charts.Series(t("eval.periods_met"), [mf.periods_met for mf in ev.months], [clients_url(on=mf.as_of.isoformat()) for mf in ev.months], charts.PALETTE[0]),
         charts.Series(t("eval.overdue_clients"), [mf.overdue_clients for mf in ev.months], [clients_url(on=mf.as_of.isoformat(), overdue="1") for mf in ev.months], charts.PALETTE[5])],
        title=t("eval.chart_periods"), stacked=False, fmt=lambda v: fmt.number(v, locale),
    )
    kinds = sorted({k for mf in ev.months for k in mf.kendala_by_type})
    kendala_chart = charts.bars(
        labels,
        [charts.Series(t("kendala.kind." + k) if k in ("work_shift", "transport_cost", "illness", "family", "other") else k,
                       [mf.kendala_by_type.get(k, {}).get("total", 0) for mf in ev.months]) for k in kinds] or [charts.Series(t("eval.kendala"), [0 for _ in ev.months])],
        title=t("eval.chart_kendala"), fmt=lambda v: fmt.number(v, locale),
    )
    kendala_totals = {k: {e: sum(mf.kendala_by_type.get(k, {}).get(e, 0) for mf in ev.months) for e in ("total", "accepted", "moved", "declined", "unanswered")} for k in kinds}
    shown_areas = ev.areas[:15]
    areas_chart = charts.hbars(
        [a.kelurahan for a in shown_areas], [a.rate for a in shown_areas], title=t("eval.chart_areas"),
        links=[clients_url(kelurahan=a.kelurahan, on=ev.as_of.isoformat()) for a in shown_areas], fmt=lambda v: fmt.percent(v, locale),
    )
    strategy_rows = []
    for s in ev.strategies:
        strategy_rows.append({"s": s, "label": t("mode." + s.mode)})
    strategies_chart = charts.bars(
        [r["label"] for r in strategy_rows],
        [charts.Series(t("eval.before"), [(r["s"].rate_before or 0) * 100 for r in strategy_rows], None, charts.PALETTE[4]),
         charts.Series(t("eval.after"), [(r["s"].rate_after or 0) * 100 for r in strategy_rows], None, charts.PALETTE[0])],
        title=t("eval.chart_strategies"), stacked=False, fmt=lambda v: fmt.number(v, locale) + "%",
    )
    headline = [
        ("eval.sessions_held", ev.headline.sessions_held, ev.previous.sessions_held, "number", sessions_url(ev.date_from, ev.date_to)),
        ("eval.rate", ev.headline.rate, ev.previous.rate, "percent", clients_url(on=ev.as_of.isoformat())),
        ("eval.overdue_end", ev.headline.overdue_clients, ev.previous.overdue_clients, "number", clients_url(on=ev.as_of.isoformat(), overdue="1")),
        ("eval.no_shows", ev.headline.no_shows, ev.previous.no_shows, "number", sessions_url(ev.date_from, ev.date_to, outcome="no_show")),
        ("eval.kendala", ev.headline.kendala, ev.previous.kendala, "number", None),
    ]
    cities = [a.name for a in areas if a.level == AreaLevel.city]
    kecamatan = [a.name for a in areas if a.level == AreaLevel.kecamatan]
    kelurahan = [a.name for a in areas if a.level == AreaLevel.kelurahan]
    return render(request, "evaluation/page.html", {
        "ev": ev, "q": q, "span": span, "filt": filt, "officers": officers, "programs": list(Program), "categories": list(ClientCategory),
        "cities": cities, "kecamatan_names": kecamatan, "kelurahan_names": kelurahan, "modes": list(SessionMode), "evidences": list(Evidence),
        "headline": [(k, now, before, kind, url, _change(now, before)) for k, now, before, kind, url in headline],
        "mode_chart": mode_chart, "periods_chart": periods_chart, "kendala_chart": kendala_chart, "areas_chart": areas_chart,
        "strategies_chart": strategies_chart, "strategy_rows": strategy_rows, "kinds": kinds, "kendala_totals": kendala_totals,
        "sessions_url": sessions_url, "clients_url": clients_url, "csv_url": csv_url, "strategy_modes": STRATEGY_MODES,
        "min_clients": 5,
    })


@routes.get("/evaluation/clients")
async def clients_page(request: web.Request) -> web.Response:
    """The clients behind a figure: the filter's clients (in a place, overdue on a day, with open kendala)."""
    staff = current_staff(request)
    raw = dict(request.query)
    on_text, overdue, open_kendala = raw.pop("on", None), raw.pop("overdue", None), raw.pop("open_kendala", None)
    request_query = {k: v for k, v in raw.items() if v != "" and k != "lang"}
    try:
        q = EvaluationQuery.model_validate(request_query)
    except ValueError:
        raise web.HTTPBadRequest(text="Isian tidak valid.") from None
    on = day_from_text(on_text, "on") if on_text else None
    day = today(request)
    f = q.filter(day)
    # Never a day after today: a figure of the current month is counted as of today.
    on = min(on or f.date_to, day)
    async with request.app[db_key]() as db:
        rows = await clients_behind(db, staff, f, request.app[settings_key].timezone, on, day, overdue=overdue == "1", open_kendala=open_kendala == "1")
    return render(request, "evaluation/clients.html", {"rows": rows, "on": on, "overdue": overdue == "1", "open_kendala": open_kendala == "1", "q": q})
