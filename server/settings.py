"""Configuration. This is the only module that reads the environment.

Every knob is a field of the frozen :class:`Settings`; tests build one directly
(``Settings(database_url=..., secret_key=...)``) and the CLI builds one with
:meth:`Settings.from_env`.
"""

from __future__ import annotations

import math
import os
import re
import secrets
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Mapping

ENV_PREFIX = "BIMBING_"
DEFAULT_DATA_DIR = Path("data")


class ConfigError(RuntimeError):
    """A setting is missing or unusable; the message says which and why."""


@dataclass(frozen=True)
class Settings:
    database_url: str = "sqlite+aiosqlite:///data/bimbing.db"
    # Signs join links, CSRF tokens and TURN credentials; >= 32 bytes of entropy.
    secret_key: str = ""
    redis_url: str | None = None
    # Names every Redis key and channel, so several deployments (or test runs) can share one Redis.
    redis_prefix: str = "bimbing"
    production: bool = False
    data_dir: Path = DEFAULT_DATA_DIR
    recordings_dir: Path = Path("recordings")
    # Master key for recordings at rest: 32 random bytes, base64 (server/media/crypto.py).
    # Empty in development: one is generated once into data_dir.
    recording_key: str = ""
    timezone: str = "Asia/Jakarta"
    default_locale: str = "id"
    # Public origin used to build links sent to clients, e.g. https://bimbing.bapas.go.id
    public_url: str | None = None
    # Behind a reverse proxy that terminates TLS: believe its X-Forwarded-Proto and
    # X-Forwarded-For. Off by default, because without a proxy any caller could set them.
    trust_proxy: bool = False
    # ICE: STUN urls, TURN urls and the coturn ``static-auth-secret``.
    stun_urls: tuple[str, ...] = ()
    turn_urls: tuple[str, ...] = ()
    turn_secret: str | None = None
    turn_ttl_seconds: int = 3600
    # Join links open this long before the scheduled start and expire this long after it.
    join_opens_before_minutes: int = 60
    join_expires_after_hours: int = 12
    staff_session_hours: int = 12
    # Failed sign-ins per address per window; a username alone gets the higher ceiling
    # (server/security/login_guard.py says why).
    login_max_failures: int = 5
    login_user_max_failures: int = 50
    login_window_seconds: int = 300
    # Threads that run Argon2 off the event loop (server/security/passwords.py).
    password_workers: int = 1
    # Argon2id costs of new hashes: passes and memory (KiB). RFC 9106's second
    # recommendation by default; production refuses less than OWASP's floor
    # (server/security/passwords.py).
    password_time_cost: int = 3
    password_memory_kib: int = 64 * 1024
    # Openings of one client link (/j/ join link, /k/ own page) per 5 minutes, and of
    # any links from one address: clients behind one carrier NAT share an address,
    # so that bound is far higher (server/security/ratelimit.py, LinkOpenLimiter).
    join_opens_per_window: int = 30
    join_opens_per_address: int = 600
    max_body_bytes: int = 64 * 1024
    # Audit: sessions shorter than this are listed as anomalies.
    min_video_minutes: int = 5
    notes_grace_hours: int = 24
    late_edit_days: int = 7
    # A session whose outcome is first recorded more than this many days after it is a "late-entry" anomaly.
    late_entry_days: int = 3
    audit_retention_days: int = 730
    session_retention_days: int = 3650
    # Reminders (the gateway's outbox, the "sent" marks), invitations to past mobile-counseling
    # days and dead client links are removed this long after their day (server/audit/retention.py).
    outreach_retention_days: int = 90
    audit_signing_key_path: Path | None = None
    audit_sign_every: int = 100
    # The Ed25519 key that signs letters (server/domain/documents/letters.py); None: <data_dir>/letter-signing.key.
    letter_signing_key_path: Path | None = None
    # The largest office logo an admin may upload.
    max_logo_bytes: int = 512 * 1024
    # How long the server waits for parties to come back after a restart.
    resume_grace_seconds: int = 120
    # An active video session in which no party has been connected for this long
    # is ended with reason ``abandoned`` (server/signaling/abandoned.py). Minutes,
    # fractions allowed (tests use seconds).
    abandoned_minutes: float = 15.0
    # Networks of the server's own interfaces the recorder may still reach (an
    # office LAN the server sits on); server/media/ice_filter.py says why.
    recorder_allow_networks: tuple[str, ...] = ()
    # WebSocket handshakes that have not sent ``join`` yet, per address and in total.
    ws_pending_per_address: int = 20
    ws_pending_total: int = 500
    heartbeat_seconds: int = 15
    # The server's own WebSocket ping: a connection that answers nothing for this long
    # is closed, and its connected interval with reason ``timeout``.
    heartbeat_timeout_seconds: float = 20
    # An admitted client whose socket broke off (no close frame: a phone that lost its
    # network, or no pong) keeps its place this long before it is logged as gone and
    # the officer told: back on the network, the phone resumes the call (issue 25).
    client_hold_seconds: float = 30
    # Optional SMS/WhatsApp gateway: reminders are POSTed there through an outbox (server/domain/outreach/notify.py).
    # A credential in its query or user part is sent as given but never logged or stored
    # (server/security/redact.py); the credential belongs in ``notify_token``, sent in the
    # header ``notify_token_header`` (``Authorization``: as ``Bearer <token>``; any other: the token).
    notify_url: str | None = None
    notify_token: str | None = None
    notify_token_header: str = "Authorization"
    notify_timeout_seconds: float = 10
    notify_poll_seconds: float = 30
    notify_max_attempts: int = 8
    # Heartbeat stamps are committed in groups at most this long after they arrive
    # (server/domain/calls/writebatch.py); call events are awaited, in the next group commit.
    write_flush_ms: int = 1000
    # Database connections each of the two pools (writes; autocommit reads) keeps open
    # per process, and a quarter more under a burst (server/db/engine.py).
    db_pool_size: int = 8
    # /metrics answers only a bearer token or listed addresses; closed (404) with neither.
    metrics_token: str | None = None
    metrics_allow: tuple[str, ...] = ()
    # "text" (one readable line) or "json" (one JSON object a line) for logs.
    log_format: str = "text"
    # Recorder processes `bimbing serve` starts beside itself (0: record inside the web process).
    recorder_processes: int = 1
    # Recorders already running elsewhere (`bimbing recorder`), e.g. http://10.0.0.5:8090;
    # when set, `bimbing serve` starts none and sends recordings to these.
    recorder_urls: tuple[str, ...] = ()
    # Shared by the web process and its recorders; derived from secret_key when empty.
    recorder_token: str | None = None

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")

    @property
    def turn_enabled(self) -> bool:
        return bool(self.turn_urls and self.turn_secret)

    def with_(self, **changes) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, *, demo: bool = False) -> Settings:
        env = os.environ if env is None else env

        def get(name: str, default: str | None = None) -> str | None:
            value = env.get(ENV_PREFIX + name)
            return value if value not in (None, "") else default

        def get_int(name: str, default: int) -> int:
            raw = get(name)
            if raw is None:
                return default
            try:
                return int(raw)
            except ValueError as exc:
                raise ConfigError(f"{ENV_PREFIX}{name} must be an integer, got {raw!r}") from exc

        def get_bool(name: str, default: bool) -> bool:
            raw = get(name)
            if raw is None:
                return default
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off"):
                return False
            raise ConfigError(f"{ENV_PREFIX}{name} must be true or false, got {raw!r}")

        def get_list(name: str) -> tuple[str, ...]:
            raw = get(name, "") or ""
            return tuple(part.strip() for part in raw.split(",") if part.strip())

        data_dir = Path(get("DATA_DIR", str(DEFAULT_DATA_DIR)))
        production = (get("ENV", "development") or "").lower() == "production"
        database_url = get("DATABASE_URL") or f"sqlite+aiosqlite:///{data_dir / 'bimbing.db'}"
        secret_key = get("SECRET_KEY")
        if not secret_key:
            if production:
                raise ConfigError(
                    "BIMBING_SECRET_KEY is required in production "
                    "(generate one with: python -c 'import secrets; print(secrets.token_urlsafe(48))')"
                )
            secret_key = _local_secret(data_dir)
        if len(secret_key) < 32:
            raise ConfigError("BIMBING_SECRET_KEY must be at least 32 characters")
        public_url = get("PUBLIC_URL")
        if production and not public_url:
            # Without it join links would be built from the request's Host header,
            # which the caller chooses (issue #12: Host: evil.example made http://evil.example/j/...).
            raise ConfigError("BIMBING_PUBLIC_URL is required in production (the address clients open, e.g. https://bimbing.bapas.go.id)")
        signing_key = get("AUDIT_SIGNING_KEY")
        recording_key = get("RECORDING_KEY") or ""
        if production and not recording_key:
            raise ConfigError(
                "BIMBING_RECORDING_KEY is required in production (32 random bytes, base64; generate one with: "
                "python -c 'import base64, secrets; print(base64.b64encode(secrets.token_bytes(32)).decode())')"
            )
        if recording_key:
            from server.media.crypto import parse_master_key

            try:
                parse_master_key(recording_key)
            except ValueError as exc:
                raise ConfigError(str(exc)) from None
        password_time_cost, password_memory_kib = _password_costs(get_int("PASSWORD_TIME_COST", 3), get_int("PASSWORD_MEMORY_KIB", 64 * 1024), production)
        notify_url, notify_token = _notify_url(get("NOTIFY_URL")), _header_value("NOTIFY_TOKEN", get("NOTIFY_TOKEN"))
        notify_token_header = _header_name("NOTIFY_TOKEN_HEADER", get("NOTIFY_TOKEN_HEADER", "Authorization") or "Authorization")
        if notify_url and notify_token and notify_token_header.lower() == "authorization" and "@" in notify_url.split("://", 1)[1].split("/", 1)[0]:
            # aiohttp would turn the URL's user and password into an Authorization header of its own.
            raise ConfigError(f"{ENV_PREFIX}NOTIFY_URL carries a user and password and {ENV_PREFIX}NOTIFY_TOKEN is set: keep the credential in one of them")
        return cls(
            database_url=_normalise_db_url(database_url),
            secret_key=secret_key,
            redis_url=get("REDIS_URL"),
            redis_prefix=_redis_prefix(get("REDIS_PREFIX", "bimbing") or "bimbing"),
            production=production,
            data_dir=data_dir,
            recordings_dir=Path(get("RECORDINGS_DIR", "recordings")),
            recording_key=recording_key,
            timezone=get("TIMEZONE", "Asia/Jakarta"),
            default_locale=get("LOCALE", "id"),
            public_url=public_url,
            trust_proxy=get_bool("TRUST_PROXY", False),
            stun_urls=_ice_urls("STUN_URLS", get_list("STUN_URLS"), ("stun", "stuns")),
            turn_urls=_ice_urls("TURN_URLS", get_list("TURN_URLS"), ("turn", "turns")),
            turn_secret=get("TURN_SECRET"),
            turn_ttl_seconds=min(get_int("TURN_TTL_SECONDS", 3600), 3600),
            join_opens_before_minutes=get_int("JOIN_OPENS_BEFORE_MINUTES", 60),
            join_expires_after_hours=get_int("JOIN_EXPIRES_AFTER_HOURS", 12),
            staff_session_hours=get_int("STAFF_SESSION_HOURS", 12),
            login_max_failures=max(get_int("LOGIN_MAX_FAILURES", 5), 1),
            login_user_max_failures=max(get_int("LOGIN_USER_MAX_FAILURES", 50), 1),
            login_window_seconds=max(get_int("LOGIN_WINDOW_SECONDS", 300), 1),
            password_workers=max(get_int("PASSWORD_WORKERS", 1), 1),
            password_time_cost=password_time_cost,
            password_memory_kib=password_memory_kib,
            join_opens_per_window=max(get_int("JOIN_OPENS_PER_WINDOW", 30), 1),
            join_opens_per_address=max(get_int("JOIN_OPENS_PER_ADDRESS", 600), 1),
            min_video_minutes=get_int("MIN_VIDEO_MINUTES", 5),
            notes_grace_hours=get_int("NOTES_GRACE_HOURS", 24),
            late_edit_days=get_int("LATE_EDIT_DAYS", 7),
            late_entry_days=max(get_int("LATE_ENTRY_DAYS", 3), 0),
            audit_sign_every=max(get_int("AUDIT_SIGN_EVERY", 100), 1),
            audit_retention_days=max(get_int("AUDIT_RETENTION_DAYS", 730), 365),
            recorder_allow_networks=_networks(get_list("RECORDER_ALLOW_NETWORKS")),
            ws_pending_per_address=max(get_int("WS_PENDING_PER_ADDRESS", 20), 1),
            ws_pending_total=max(get_int("WS_PENDING_TOTAL", 500), 1),
            resume_grace_seconds=get_int("RESUME_GRACE_SECONDS", 120),
            abandoned_minutes=_minutes("ABANDONED_MINUTES", get("ABANDONED_MINUTES"), 15.0),
            heartbeat_seconds=max(1, get_int("HEARTBEAT_SECONDS", 15)),
            heartbeat_timeout_seconds=max(2, get_int("HEARTBEAT_TIMEOUT_SECONDS", 20)),
            client_hold_seconds=max(0, get_int("CLIENT_HOLD_SECONDS", 30)),
            notify_url=notify_url,
            notify_token=notify_token,
            notify_token_header=notify_token_header,
            notify_timeout_seconds=max(1, get_int("NOTIFY_TIMEOUT_SECONDS", 10)),
            notify_poll_seconds=max(1, get_int("NOTIFY_POLL_SECONDS", 30)),
            notify_max_attempts=max(1, get_int("NOTIFY_MAX_ATTEMPTS", 8)),
            write_flush_ms=min(max(1, get_int("WRITE_FLUSH_MS", 1000)), 60_000),
            db_pool_size=min(max(1, get_int("DB_POOL_SIZE", 8)), 200),
            metrics_token=get("METRICS_TOKEN"),
            metrics_allow=get_list("METRICS_ALLOW"),
            log_format=_log_format(get("LOG_FORMAT", "text") or "text"),
            recorder_processes=max(0, get_int("RECORDER_PROCESSES", 1)),
            recorder_urls=get_list("RECORDER_URLS"),
            recorder_token=get("RECORDER_TOKEN"),
            session_retention_days=get_int("SESSION_RETENTION_DAYS", 3650),
            outreach_retention_days=max(get_int("OUTREACH_RETENTION_DAYS", 90), 7),
            letter_signing_key_path=Path(get("LETTER_SIGNING_KEY", str(data_dir / "letter-signing.key"))),
            audit_signing_key_path=Path(get("AUDIT_SIGNING_KEY", str(data_dir / "audit-signing.key")))
            if signing_key or not production
            else None,
        )


def _password_costs(time_cost: int, memory_kib: int, production: bool) -> tuple[int, int]:
    from server.security.passwords import (
        PRODUCTION_MIN_MEMORY_KIB,
        PRODUCTION_MIN_TIME_COST,
    )

    if time_cost < 1 or memory_kib < 8:
        raise ConfigError(f"{ENV_PREFIX}PASSWORD_TIME_COST must be at least 1 and {ENV_PREFIX}PASSWORD_MEMORY_KIB at least 8, got {time_cost} and {memory_kib}")
    if production and (time_cost < PRODUCTION_MIN_TIME_COST or memory_kib < PRODUCTION_MIN_MEMORY_KIB):
        raise ConfigError(
            f"{ENV_PREFIX}PASSWORD_TIME_COST {time_cost} and {ENV_PREFIX}PASSWORD_MEMORY_KIB {memory_kib} are below what production accepts "
            f"(at least {PRODUCTION_MIN_TIME_COST} passes and {PRODUCTION_MIN_MEMORY_KIB} KiB; the default is 3 and 65536)"
        )
    return time_cost, memory_kib


def _notify_url(raw: str | None) -> str | None:
    """The gateway's address: http(s) with a host. Named in errors without its
    user information or query, which may hold the gateway's key."""
    if raw is None:
        return None
    from urllib.parse import urlsplit

    from server.security.redact import redact_url

    try:
        parts = urlsplit(raw)
        ok = parts.scheme in ("http", "https") and bool(parts.hostname)
        parts.port  # noqa: B018 (raises on a port that is no number)
    except ValueError:
        ok = False
    if not ok:
        raise ConfigError(f"{ENV_PREFIX}NOTIFY_URL must be an http:// or https:// address with a host, got {redact_url(raw) or '<url>'!r}")
    return raw


# Headers the sender sets itself, or that HTTP reserves: the credential may not replace them.
_RESERVED_HEADERS = {"content-type", "content-length", "host", "idempotency-key", "transfer-encoding", "connection", "cookie"}


def _header_name(name: str, raw: str) -> str:
    if not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]{1,64}", raw) or raw.lower() in _RESERVED_HEADERS:
        raise ConfigError(f"{ENV_PREFIX}{name} must be an HTTP header name (letters, digits, '-'), not one of {sorted(_RESERVED_HEADERS)}, got {raw!r}")
    return raw


def _header_value(name: str, raw: str | None) -> str | None:
    # The value itself is never repeated in the message: it is a secret.
    if raw is not None and not re.fullmatch(r"[\x21-\x7e]+( [\x21-\x7e]+)*", raw):
        raise ConfigError(f"{ENV_PREFIX}{name} must be printable ASCII without line breaks or tabs")
    return raw


def _networks(values: tuple[str, ...]) -> tuple[str, ...]:
    import ipaddress

    for value in values:
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise ConfigError(f"{ENV_PREFIX}RECORDER_ALLOW_NETWORKS: {value!r} is not a network like 192.168.1.0/24") from None
    return values


# RFC 7064 / 7065 as browsers parse them: scheme, host (a name, IPv4 or [IPv6]),
# an optional port, and for TURN an optional transport.
_ICE_URL = re.compile(r"^(?P<scheme>stuns?|turns?):(?P<host>\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(?::(?P<port>[0-9]{1,5}))?"
                      r"(?:\?transport=(?P<transport>udp|tcp))?$")


def _ice_urls(name: str, values: tuple[str, ...], schemes: tuple[str, ...]) -> tuple[str, ...]:
    """STUN or TURN URLs, refused at start-up if malformed: a browser given one
    throws in ``new RTCPeerConnection`` and no call would start at all."""
    for value in values:
        match = _ICE_URL.match(value)
        port = match and match["port"]
        if (not match or match["scheme"] not in schemes or (port is not None and not 0 < int(port) < 65536)
                or (match["transport"] and match["scheme"].startswith("stun"))):
            example = "turns:turn.bapas.example:443?transport=tcp" if "turn" in schemes else "stun:turn.bapas.example:3478"
            raise ConfigError(f"{ENV_PREFIX}{name}: {value!r} is not a {' or '.join(s + ':' for s in schemes)} URL "
                              f"(e.g. {example}; docs/deploy.md, \"TLS and TURN\")")
    return values


def _minutes(name: str, raw: str | None, default: float) -> float:
    """A positive number of minutes, fractions allowed, at most a day."""
    if raw is None:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{ENV_PREFIX}{name} must be a number of minutes, got {raw!r}") from None
    # float() also reads "nan" and "inf": neither is a time limit.
    if not math.isfinite(value) or not 0 < value <= 24 * 60:
        raise ConfigError(f"{ENV_PREFIX}{name} must be more than 0 and at most 1440 minutes, got {raw!r}")
    return value


def _log_format(raw: str) -> str:
    if raw.lower() not in ("text", "json"):
        raise ConfigError(f"{ENV_PREFIX}LOG_FORMAT must be text or json, got {raw!r}")
    return raw.lower()


def _redis_prefix(raw: str) -> str:
    # It becomes part of every key and channel name, and ':' separates their parts.
    if not re.fullmatch(r"[A-Za-z0-9_.-]{1,64}", raw):
        raise ConfigError(f"{ENV_PREFIX}REDIS_PREFIX must be 1-64 letters, digits, '_', '.' or '-', got {raw!r}")
    return raw


def _normalise_db_url(url: str) -> str:
    """Accept the plain URLs people paste and pick the async driver for them."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+asyncpg://" + url.split("://", 1)[1]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///"):]
    return url


def _local_secret(data_dir: Path) -> str:
    """A development/demo secret generated once and kept beside the database."""
    path = data_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(48)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(value)
    return value
