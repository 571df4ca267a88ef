"""The application factory: ``create_app(settings)`` wires state, resources,
middlewares and routes. Nothing here reads the environment."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from server.audit.chain import AuditLog
from server.db.engine import make_engine, make_sessionmaker
from server.domain.letters import LetterKeys
from server.keys import (
    audit_key,
    catalogue_key,
    db_key,
    engine_key,
    join_limiter_key,
    letter_keys_key,
    login_limiter_key,
    settings_key,
)
from server.security.auth import auth_middleware
from server.security.headers import security_headers_middleware
from server.security.ratelimit import RateLimiter
from server.settings import Settings
from server.signaling import ws as signaling_ws
from server.web import api, pages
from server.web import format as web_format
from server.web.errors import error_middleware
from server.web.i18n import Catalogue
from server.web.pages.join_link import JOIN_WINDOW_SECONDS

log = logging.getLogger(__name__)

WEBCLIENT_DIR = Path(__file__).resolve().parent.parent / "webclient"
TEMPLATES_DIR = Path(__file__).resolve().parent / "web" / "templates"


async def _database(app: web.Application):
    settings = app[settings_key]
    engine = make_engine(settings.database_url)
    app[engine_key] = engine
    app[db_key] = make_sessionmaker(engine)
    app[audit_key] = AuditLog.from_settings(app[db_key], settings)
    yield
    await engine.dispose()


def create_app(settings: Settings) -> web.Application:
    if len(settings.secret_key) < 32:
        raise ValueError("settings.secret_key must be at least 32 characters")
    app = web.Application(
        middlewares=[security_headers_middleware, error_middleware, auth_middleware],
        client_max_size=max(settings.max_body_bytes, 1024 * 1024),
    )
    app[settings_key] = settings
    app[catalogue_key] = Catalogue()
    app[letter_keys_key] = LetterKeys(settings)
    app[login_limiter_key] = RateLimiter(settings.login_max_failures, settings.login_window_seconds)
    app[join_limiter_key] = RateLimiter(settings.join_opens_per_window, JOIN_WINDOW_SECONDS)
    app.cleanup_ctx.append(_database)

    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
    )
    web_format.install(env)

    for module in (*api.MODULES, *pages.MODULES):
        app.router.add_routes(module.routes)
    # Rooms and the call log: after the database ctx, which they use.
    signaling_ws.setup(app)
    app.router.add_static("/static/", WEBCLIENT_DIR, name="static", append_version=True)
    return app
