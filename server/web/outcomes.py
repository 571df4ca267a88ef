"""Which outcomes a page offers for a session, and why not the others."""

from __future__ import annotations

from aiohttp import web

from server.db.models import GuidanceSession, Outcome
from server.domain.record import sessions as sessions_domain
from server.web.render import page_context


def outcome_choices(request: web.Request, session: GuidanceSession) -> dict:
    """The outcomes a form offers now, and in Bahasa Indonesia (or the page's
    language) why the others are not offered: the record's rules (issue #9)."""
    allowed = sessions_domain.outcomes_allowed(session)
    ctx = page_context(request)
    t = ctx["t"]
    refusals = [sessions_domain.outcome_refusal(session, o) for o in sessions_domain.HAPPENED]
    not_yet = any(r is not None and r.code == "not-yet" for r in refusals)
    note = ""
    if not_yet:
        note = t("session.outcome_not_yet", when=ctx["local"](session.scheduled_at))
    elif Outcome.attended not in allowed:
        note = t("session.outcome_not_observed")
    return {"allowed": allowed, "outcome_note": note, "outcome_not_yet": not_yet}
