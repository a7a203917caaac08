"""Settings from ``INVENTORY_*`` environment variables, read when the app is created."""

from __future__ import annotations

import contextlib
import ipaddress
import os
from collections.abc import Mapping

import attrs

__all__ = ["Settings", "SettingsError"]

PREFIX = "INVENTORY_"


class SettingsError(ValueError):
    """An environment variable has a value that cannot be used."""


def _bool(name: str, raw: str) -> bool:
    value = raw.strip().lower()
    if value in {"1", "true", "yes", "on"}:
        return True
    if value in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{PREFIX}{name} must be true or false, not {raw!r}")


def _int(name: str, raw: str, minimum: int = 1) -> int:
    try:
        value = int(raw.strip())
    except ValueError:
        raise SettingsError(f"{PREFIX}{name} must be an integer, not {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{PREFIX}{name} must be at least {minimum}")
    return value


MIN_SECRET_LENGTH = 32
"""Characters an idempotency secret must have at least (``openssl rand -hex 32`` gives 64)."""


@attrs.frozen
class Settings:
    """Everything the API and the ``inventory`` command can be configured with.

    ``database_url`` and ``redis_url`` both unset means the embedded default: in-memory adapters
    in one process, nothing persisted. ``cookie_secure`` defaults to true except on the embedded
    default, where plain-HTTP local use is the point.
    """

    database_url: str | None = None
    redis_url: str | None = None
    cookie_secure: bool = True
    session_idle_seconds: int = 30 * 60
    session_absolute_seconds: int = 12 * 3600
    remember_days: int = 30
    cors_origins: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    """CIDRs of the reverse proxies whose ``X-Forwarded-For`` is believed (normalized, e.g.
    ``10.0.0.0/8``); empty: the header is ignored."""
    log_level: str = "INFO"
    db_pool_min_size: int = 2
    db_pool_max_size: int = 10
    db_pool_timeout_seconds: int = 10
    redis_pool_max_size: int = 50
    max_body_bytes: int = 1_048_576
    idempotency_retention_hours: int = 24
    bind: str = "127.0.0.1:8000"
    workers: int = 2
    threads: int = 4
    idempotency_secret: str | None = attrs.field(default=None, repr=False)
    """The HMAC key of idempotency fingerprints; never shown (``repr``) nor logged. ``None``: a
    random key per process, which is what the embedded default (one process) runs on;
    :meth:`from_env` refuses ``None`` with a database, where every process must share it."""
    metrics: bool = False
    """Serve ``GET /metrics`` (Prometheus text format, no session needed)."""
    webhook_allow_private: bool = False
    """Let webhooks reach loopback, private, link-local and metadata addresses (tests and local
    use only: otherwise a webhook could be aimed at the deployment's own network)."""
    event_retention_days: int = 30
    """Events older than this are purged; a feed cursor older than what is kept gets 410."""
    delivery_log_retention_days: int = 30
    """Webhook delivery attempts (and finished deliveries) older than this are purged."""
    worker_concurrency: int = 8
    """Deliveries one worker process sends at the same time."""
    worker_lease_seconds: int = 60
    """How long a worker holds a delivery it claimed: another worker takes it over only after
    this, so it must comfortably exceed the 10 s delivery timeout (shorter only in tests)."""

    @property
    def embedded(self) -> bool:
        """True when the app runs on the in-memory adapters."""
        return self.database_url is None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read settings from ``environ`` (default ``os.environ``). Raises SettingsError."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            raw = env.get(PREFIX + name)
            return raw if raw not in (None, "") else None

        database_url, redis_url = get("DATABASE_URL"), get("REDIS_URL")
        if (database_url is None) != (redis_url is None):
            raise SettingsError(
                f"set both {PREFIX}DATABASE_URL and {PREFIX}REDIS_URL, or neither "
                "(neither runs the embedded in-memory default)"
            )
        _check_url_scheme("DATABASE_URL", database_url, ("postgresql", "postgres"))
        _check_url_scheme("REDIS_URL", redis_url, ("redis", "rediss", "unix"))
        values: dict[str, object] = {
            "database_url": database_url,
            "redis_url": redis_url,
            "cookie_secure": database_url is not None,
        }
        flags = {
            "COOKIE_SECURE": "cookie_secure",
            "METRICS": "metrics",
            "WEBHOOK_ALLOW_PRIVATE": "webhook_allow_private",
        }
        numbers = {
            "SESSION_IDLE_SECONDS": "session_idle_seconds",
            "SESSION_ABSOLUTE_SECONDS": "session_absolute_seconds",
            "REMEMBER_DAYS": "remember_days",
            "DB_POOL_MIN_SIZE": "db_pool_min_size",
            "DB_POOL_MAX_SIZE": "db_pool_max_size",
            "DB_POOL_TIMEOUT_SECONDS": "db_pool_timeout_seconds",
            "REDIS_POOL_MAX_SIZE": "redis_pool_max_size",
            "MAX_BODY_BYTES": "max_body_bytes",
            "IDEMPOTENCY_RETENTION_HOURS": "idempotency_retention_hours",
            "WORKERS": "workers",
            "THREADS": "threads",
            "EVENT_RETENTION_DAYS": "event_retention_days",
            "DELIVERY_LOG_RETENTION_DAYS": "delivery_log_retention_days",
            "WORKER_CONCURRENCY": "worker_concurrency",
            "WORKER_LEASE_SECONDS": "worker_lease_seconds",
        }
        for name, field in flags.items():
            if (raw := get(name)) is not None:
                values[field] = _bool(name, raw)
        for name, field in numbers.items():
            if (raw := get(name)) is not None:
                values[field] = _int(name, raw, minimum=0 if name == "DB_POOL_MIN_SIZE" else 1)
        if (raw := get("CORS_ORIGINS")) is not None:
            origins = tuple(o.strip().rstrip("/") for o in raw.split(",") if o.strip())
            for origin in origins:
                if origin == "*" or "://" not in origin:
                    raise SettingsError(
                        f"{PREFIX}CORS_ORIGINS takes full origins like https://app.example.com"
                        f" (credentials forbid '*'), not {origin!r}"
                    )
            values["cors_origins"] = origins
        if (raw := get("TRUSTED_PROXIES")) is not None:
            values["trusted_proxies"] = _trusted_proxies(raw)
        if (raw := get("LOG_LEVEL")) is not None:
            level = raw.strip().upper()
            if level not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
                raise SettingsError(f"{PREFIX}LOG_LEVEL must be a logging level, not {raw!r}")
            values["log_level"] = level
        if (raw := get("BIND")) is not None:
            values["bind"] = raw.strip()
        values["idempotency_secret"] = _idempotency_secret(get("IDEMPOTENCY_SECRET"), database_url)
        settings = cls(**values)  # type: ignore[arg-type]
        if settings.db_pool_min_size > settings.db_pool_max_size:
            raise SettingsError(f"{PREFIX}DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE")
        return settings


def _idempotency_secret(raw: str | None, database_url: str | None) -> str | None:
    """The idempotency HMAC key. Required with a database: fingerprints are compared across
    every worker and node, so a key made up per process would turn each retry that lands on
    another process into a 422; and a key kept in the database would sit next to the records
    it is meant to protect. Its value is never echoed in an error."""
    name = f"{PREFIX}IDEMPOTENCY_SECRET"
    if raw is None:
        if database_url is not None:
            raise SettingsError(
                f"{name} is not set: with a database every API process must share this key "
                "(generate one with `openssl rand -hex 32`)"
            )
        return None
    secret = raw.strip()
    if len(secret) < MIN_SECRET_LENGTH:
        raise SettingsError(
            f"{name} must be at least {MIN_SECRET_LENGTH} characters "
            "(generate one with `openssl rand -hex 32`)"
        )
    return secret


def _trusted_proxies(raw: str) -> tuple[str, ...]:
    """``INVENTORY_TRUSTED_PROXIES``: a comma list of CIDRs or single addresses, normalized."""
    networks = []
    for part in (p.strip() for p in raw.split(",")):
        if not part:
            continue
        try:
            network = ipaddress.ip_network(part)
        except ValueError:
            hint = ""
            with contextlib.suppress(ValueError):
                hint = f" (did you mean {ipaddress.ip_network(part, strict=False)}?)"
            raise SettingsError(
                f"{PREFIX}TRUSTED_PROXIES takes CIDRs or addresses like 10.0.0.0/8 or 192.0.2.7,"
                f" not {part!r}{hint}"
            ) from None
        networks.append(str(network))
    return tuple(networks)


def _check_url_scheme(name: str, url: str | None, schemes: tuple[str, ...]) -> None:
    """Refuse a URL of a scheme the adapters cannot open, at start and with the variable's name,
    rather than with a driver's traceback on the first connection (``sentinel://`` is one: use
    the primary's address; see docs/scaling.md)."""
    if url is None or (name == "DATABASE_URL" and "://" not in url):
        return  # psycopg also takes a "host=... dbname=..." connection string
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme not in schemes:
        allowed = ", ".join(f"{s}://" for s in schemes)
        raise SettingsError(f"{PREFIX}{name} must start with one of {allowed}")
