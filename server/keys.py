"""Every piece of shared application state, as a typed ``web.AppKey``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.db.reads import Reader
from server.settings import Settings

if TYPE_CHECKING:
    from server.audit.chain import AuditLog
    from server.domain.calls.call_log import CallLog
    from server.domain.calls.recordings import RecordingService
    from server.domain.documents.letters import LetterKeys
    from server.ops.metrics import Metrics
    from server.security.login_guard import LoginGuard
    from server.security.passwords import PasswordWorkers
    from server.security.pending import PendingHandshakes
    from server.security.ratelimit import LinkOpenLimiter
    from server.signaling.registry import RoomRegistry
    from server.web.i18n import Catalogue

settings_key = web.AppKey("settings", Settings)
engine_key = web.AppKey("engine", AsyncEngine)
db_key = web.AppKey("db", async_sessionmaker[AsyncSession])
# Autocommit reads on their own pool (server/db/reads.py, engine.py's make_read_engine): never for writes.
db_read_key = web.AppKey("db_read", Reader)
audit_key: web.AppKey["AuditLog"] = web.AppKey("audit", "AuditLog")  # type: ignore[arg-type]
join_limiter_key: web.AppKey["LinkOpenLimiter"] = web.AppKey("join_limiter", "LinkOpenLimiter")  # type: ignore[arg-type]
login_guard_key: web.AppKey["LoginGuard"] = web.AppKey("login_guard", "LoginGuard")  # type: ignore[arg-type]
passwords_key: web.AppKey["PasswordWorkers"] = web.AppKey("passwords", "PasswordWorkers")  # type: ignore[arg-type]
catalogue_key: web.AppKey["Catalogue"] = web.AppKey("catalogue", "Catalogue")  # type: ignore[arg-type]
pending_ws_key: web.AppKey["PendingHandshakes"] = web.AppKey("pending_ws", "PendingHandshakes")  # type: ignore[arg-type]
rooms_key: web.AppKey["RoomRegistry"] = web.AppKey("rooms", "RoomRegistry")  # type: ignore[arg-type]
calls_key: web.AppKey["CallLog"] = web.AppKey("calls", "CallLog")  # type: ignore[arg-type]
metrics_key: web.AppKey["Metrics"] = web.AppKey("metrics", "Metrics")  # type: ignore[arg-type]
# Sockets' leaves still running after their handlers ended (ws.py: shielded), awaited at shutdown.
leaving_key: web.AppKey[set] = web.AppKey("leaving", set)
recordings_key: web.AppKey["RecordingService"] = web.AppKey("recordings", "RecordingService")  # type: ignore[arg-type]
letter_keys_key: web.AppKey["LetterKeys"] = web.AppKey("letter_keys", "LetterKeys")  # type: ignore[arg-type]
