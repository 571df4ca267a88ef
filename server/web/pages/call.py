"""The two pages of a video call: the client's join page (``/join``, reached
through the join link and its pass cookie) and the officer's call console
(``/sessions/{id}/call``), plus the join link as a QR code."""

from __future__ import annotations

import io
from urllib.parse import quote

import segno
from aiohttp import web

from server.db.models import (
    TOPICS,
    GoalRating,
    GuidanceSession,
    KendalaKind,
    Outcome,
    Role,
    SessionMode,
)
from server.domain.access import require_role
from server.domain.guidance import progress as progress_domain
from server.domain.guidance.questions import questions_for
from server.domain.outreach import kendala as kendala_domain
from server.domain.outreach.reminders import whatsapp_number
from server.domain.record import clients as clients_domain
from server.domain.record import sessions as sessions_domain
from server.domain.record.ledger import attendance
from server.keys import catalogue_key, db_key, settings_key
from server.security import auth
from server.security.joinpass import client_pass
from server.security.headers import CONTENT_SECURITY_POLICY
from server.web.callcode import JOIN_SCRIPT_STRINGS, callcode_key
from server.web.dates import today
from server.web.ledger import rules_for
from server.web.links import session_links
from server.web.lookups import load_session
from server.web.outcomes import outcome_choices
from server.web.render import locale_of, page_context, render

routes = web.RouteTableDef()

RECENT_SESSIONS = 5


def _strings(request: web.Request, *prefixes: str) -> dict[str, str]:
    return request.app[catalogue_key].subset(locale_of(request), *prefixes)


def _join_render(request: web.Request, context: dict, status: int = 200) -> web.Response:
    """The join page with its lean code (server/web/callcode.py): styles inline, allowed by their hash,
    or linked when the phone's service worker keeps them."""
    code = request.app[callcode_key]
    response = render(request, "call/join.html", {"strings_url": None, **context, "code": code, "code_kept": code.kept_by(request)},
                      status=status)
    response.headers["Content-Security-Policy"] = code.content_security_policy(CONTENT_SECURITY_POLICY)
    return response


@routes.get("/join")
async def join_page(request: web.Request) -> web.Response:
    """The client's page. It reads nothing from the URL: the pass cookie says
    which session this browser may join; the WebSocket checks it again."""
    grant = client_pass(request)
    if grant is None:
        return _join_render(request, {"data": None, "problem": "join.no_pass"}, status=403)
    async with request.app[db_key]() as db:
        session = await db.get(GuidanceSession, grant.session_id)
    if session is None or session.mode != SessionMode.video or session.link_version != grant.link_version:
        return _join_render(request, {"data": None, "problem": "join.no_pass"}, status=403)
    if session.status not in sessions_domain.OPEN_STATUSES:
        # A session moved at the client's request is cancelled: show them the answer.
        async with request.app[db_key]() as db:
            kendala = await kendala_domain.for_session(db, session.id)
        return _join_render(request, {"data": None, "problem": "join.closed", "kendala": kendala}, status=410)
    ctx = page_context(request)
    code = request.app[callcode_key]
    data = {
        "session_id": session.id,
        "officer_name": session.officer.name,
        "scheduled_local": ctx["local"](session.scheduled_at),
        "record": session.record,
        "locale": ctx["locale"],
    }
    # A phone that keeps this version's code keeps its strings too (strings.{locale}.js).
    strings_url = code.strings_url(ctx["locale"]) if code.kept_by(request) else None
    if strings_url is None:
        data["strings"] = _strings(request, *JOIN_SCRIPT_STRINGS)
    return _join_render(request, {"data": data, "kendala_kinds": [k.value for k in KendalaKind], "strings_url": strings_url})


async def _console_session(request: web.Request, db) -> GuidanceSession:
    staff = auth.current_staff(request)
    # The PK who owns the client, or a supervisor of the office (require_session
    # scopes both); admins manage accounts and do not hold calls.
    require_role(staff, Role.pk, Role.supervisor)
    return await load_session(request, db, staff)


@routes.get("/sessions/{id}/call")
async def console_page(request: web.Request) -> web.Response:
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        session = await _console_session(request, db)
        if session.mode != SessionMode.video or session.status not in sessions_domain.OPEN_STATUSES:
            raise web.HTTPFound(f"/sessions/{session.id}")
        client = session.client
        history = await clients_domain.client_sessions(db, client.id)
        open_kendala = await kendala_domain.for_client(db, client.id, only_open=True)
        rules = await rules_for(request, db, client.office_id)
        # The open goals of the client's plan beside the notes, with this session's ratings so far.
        goals = [line for line in await progress_domain.goal_lines(db, client.id) if not line.reached]
        rated = {p.goal_id: p for p in await progress_domain.session_progress(db, session.id)}
    att = attendance(client, history, today(request), rules)
    recent = [s for s in history if s.id != session.id][:RECENT_SESSIONS]
    links = session_links(request, settings, session)
    ctx = page_context(request)
    # The message goes to the client, so it is in Bahasa Indonesia whatever the PK's page language.
    wa_template = request.app[catalogue_key].gettext(
        "id", "console.wa_message", name=client.name, officer=session.officer.name,
        when=ctx["local"](session.scheduled_at), link="{link}",
    )
    wa_text = quote(wa_template.replace("{link}", links["client_join_url"]), safe="")
    phone = whatsapp_number(client.phone)
    data = {
        "session_id": session.id,
        "outcome": session.outcome.value if session.outcome else None,
        "join_url": links["client_join_url"],
        "wa_template": wa_template,
        "wa_phone": phone,
        "sound_url": str(request.app.router["static"].url_for(filename="notify.wav")),
        # The console uploads the call to the server's recorder only when this is set.
        "record": session.record,
        "locale": ctx["locale"],
        "strings": _strings(request, "console.", "call.", "join.err_", "status.", "reach.", "chat.", "guest."),
    }
    return render(request, "call/console.html", {
        "s": session,
        "client": client,
        "att": att,
        "recent": recent,
        "links": links,
        "wa_share": f"https://wa.me/?text={wa_text}",
        "wa_direct": f"https://wa.me/{phone}?text={wa_text}" if phone else None,
        "outcomes": list(Outcome),
        **outcome_choices(request, session),
        "topics": TOPICS,
        "open_kendala": open_kendala,
        "data": data,
        "goals": goals,
        "rated": rated,
        "ratings": [r.value for r in GoalRating],
        "questions": {line.goal["id"]: questions_for(line.goal["need"]) for line in goals},
    })


@routes.get("/sessions/{id}/qr.svg")
async def join_link_qr(request: web.Request) -> web.Response:
    """The current join link as a QR code, for a client sitting across the desk
    or a PK reading it off another screen. Staff only: it carries the token."""
    settings = request.app[settings_key]
    async with request.app[db_key]() as db:
        session = await _console_session(request, db)
    if session.mode != SessionMode.video:
        raise web.HTTPNotFound()
    url = session_links(request, settings, session)["client_join_url"]
    out = io.BytesIO()
    segno.make(url, error="m").save(out, kind="svg", scale=4, border=2, xmldecl=False, title="QR")
    return web.Response(body=out.getvalue(), content_type="image/svg+xml", headers={"Cache-Control": "no-store"})
