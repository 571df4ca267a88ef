"""Building the links a session hands out."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from server.db.models import GuidanceSession
from server.security import tokens
from server.security.csrf import request_origin
from server.settings import Settings


def base_url(request: web.Request, settings: Settings) -> str:
    return (settings.public_url or request_origin(request)).rstrip("/")


def join_token(settings: Settings, session: GuidanceSession) -> str:
    return tokens.issue(
        settings.secret_key,
        session.id,
        session.link_version,
        not_before=session.scheduled_at - timedelta(minutes=settings.join_opens_before_minutes),
        expires=session.scheduled_at + timedelta(hours=settings.join_expires_after_hours),
    )


def session_links(request: web.Request, settings: Settings, session: GuidanceSession) -> dict[str, str]:
    base = base_url(request, settings)
    return {
        "client_join_url": f"{base}/j/{join_token(settings, session)}",
        "officer_url": f"{base}/sessions/{session.id}/call",
    }
