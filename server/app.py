"""The application factory: ``create_app(settings)`` wires state, resources,
middlewares and routes. Nothing here reads the environment."""

from __future__ import annotations

import logging
from pathlib import Path

import aiohttp_jinja2
import jinja2
from aiohttp import web

from server.audit.chain import AuditLog
from server.db.engine import make_engine, make_read_engine, make_sessionmaker
from server.db.reads import Reader
from server.domain.documents.letters import LetterKeys
from server.keys import (
    audit_key,
    catalogue_key,
    db_key,
    db_read_key,
    engine_key,
    join_limiter_key,
    letter_keys_key,
    login_guard_key,
    metrics_key,
    passwords_key,
    settings_key,
)
from server.notify import notify_ctx
from server.web.request_log import request_log_middleware
from server.ops.metrics import Metrics
from server.security import headers
from server.security.auth import auth_middleware
from server.security.login_guard import LoginGuard
from server.security.passwords import Passwords, PasswordWorkers
from server.security.ratelimit import LinkOpenLimiter
from server.settings import Settings
from server.signaling import ws as signaling_ws
from server.static_files import webclient_dir
from server.web import callcode
from server.web import api, compression, pages
from server.web import format as web_format
from server.web.compiled_templates import PROCESS_CACHE
from server.web.errors import error_middleware
from server.web.i18n import Catalogue
from server.web.pages.join_link import JOIN_WINDOW_SECONDS
from server.web.pages.page_errors import page_refusal_middleware

log = logging.getLogger(__name__)

WEBCLIENT_DIR = webclient_dir()
TEMPLATES_DIR = Path(__file__).resolve().parent / "web" / "templates"


async def _database(app: web.Application):
    settings = app[settings_key]
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    read_engine = make_read_engine(settings.database_url, pool_size=settings.db_pool_size)
    app[engine_key] = engine
    app[db_key] = make_sessionmaker(engine)
    app[db_read_key] = Reader(read_engine or engine)
    app[audit_key] = audit = AuditLog.from_settings(app[db_key], settings)
    audit.on_append.append(lambda action: app[metrics_key].audit_appends.labels(action=action).inc())
    yield
    await audit.close()  # a group still committing is written before the engine goes
    await engine.dispose()
    if read_engine is not None:
        await read_engine.dispose()


async def _password_workers(app: web.Application):
    settings = app[settings_key]
    workers = PasswordWorkers(settings.password_workers, Passwords.from_settings(settings))
    app[passwords_key] = workers
    yield
    workers.close()


def create_app(settings: Settings) -> web.Application:
    if len(settings.secret_key) < 32:
        raise ValueError("settings.secret_key must be at least 32 characters")
    app = web.Application(
        # The request log first: it times and logs whatever the others answer. A page's
        # refusal becomes a page in the layout inside the sign-in check (server/web/pages/page_errors.py).
        middlewares=[request_log_middleware, error_middleware, auth_middleware, page_refusal_middleware, compression.compress_static],
        client_max_size=max(settings.max_body_bytes, 1024 * 1024),
    )
    app[settings_key] = settings
    app[catalogue_key] = Catalogue()
    app[metrics_key] = Metrics()
    app[login_guard_key] = LoginGuard.from_settings(settings)
    app[letter_keys_key] = LetterKeys(settings)
    app[join_limiter_key] = LinkOpenLimiter(settings.join_opens_per_window, settings.join_opens_per_address, JOIN_WINDOW_SECONDS)
    # The join page's code, stripped and versioned once (issue 25).
    app[callcode.callcode_key] = callcode.CallCode(WEBCLIENT_DIR, app[catalogue_key])
    app.cleanup_ctx.append(_database)
    app.cleanup_ctx.append(_password_workers)
    headers.setup(app)
    # The reminder gateway's sender, only when BIMBING_NOTIFY_URL is set (after the database ctx).
    app.cleanup_ctx.append(notify_ctx)

    env = aiohttp_jinja2.setup(
        app,
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        bytecode_cache=PROCESS_CACHE,
    )
    web_format.install(env)

    for module in (*api.MODULES, *pages.MODULES):
        app.router.add_routes(module.routes)
    # Rooms and the call log: after the database ctx, which they use.
    signaling_ws.setup(app)
    # Before /static/: its versioned addresses are not files.
    app.router.add_routes(callcode.routes)
    app.router.add_static("/static/", WEBCLIENT_DIR, name="static", append_version=True)
    return app
