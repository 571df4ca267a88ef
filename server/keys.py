"""Every piece of shared application state, as a typed ``web.AppKey``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from server.settings import Settings

if TYPE_CHECKING:
    from server.audit.chain import AuditLog
    from server.domain.calls import CallLog
    from server.domain.letters import LetterKeys
    from server.domain.recordings import RecordingService
    from server.security.ratelimit import RateLimiter
    from server.signaling.rooms import RoomRegistry
    from server.web.i18n import Catalogue

settings_key = web.AppKey("settings", Settings)
engine_key = web.AppKey("engine", AsyncEngine)
db_key = web.AppKey("db", async_sessionmaker[AsyncSession])
audit_key: web.AppKey["AuditLog"] = web.AppKey("audit", "AuditLog")  # type: ignore[arg-type]
join_limiter_key: web.AppKey["RateLimiter"] = web.AppKey("join_limiter", "RateLimiter")  # type: ignore[arg-type]
login_limiter_key: web.AppKey["RateLimiter"] = web.AppKey("login_limiter", "RateLimiter")  # type: ignore[arg-type]
catalogue_key: web.AppKey["Catalogue"] = web.AppKey("catalogue", "Catalogue")  # type: ignore[arg-type]
rooms_key: web.AppKey["RoomRegistry"] = web.AppKey("rooms", "RoomRegistry")  # type: ignore[arg-type]
calls_key: web.AppKey["CallLog"] = web.AppKey("calls", "CallLog")  # type: ignore[arg-type]
recordings_key: web.AppKey["RecordingService"] = web.AppKey("recordings", "RecordingService")  # type: ignore[arg-type]
letter_keys_key: web.AppKey["LetterKeys"] = web.AppKey("letter_keys", "LetterKeys")  # type: ignore[arg-type]
