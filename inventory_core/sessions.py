"""Login sessions as the core sees them, and the rules every SessionStore adapter shares.

The module-level functions (id format, hashing, user-agent cleaning, deadlines, eviction order)
are the single statement of those rules; the in-memory and Redis stores both use them, so they
cannot drift apart. Numbers and reasoning are in ``docs/security.md``, "Sessions".
"""

from __future__ import annotations

import functools
import hashlib
import re
import secrets
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import attrs

from inventory_core.users import Role

__all__ = [
    "DEFAULT_MAX_SESSIONS_PER_USER",
    "MAX_TOUCH_INTERVAL",
    "MAX_USER_AGENT_LENGTH",
    "SESSION_ID_BYTES",
    "SESSION_ID_PATTERN",
    "Session",
    "SessionPolicy",
    "clean_user_agent",
    "eviction_order",
    "is_live",
    "is_session_id",
    "new_csrf_token",
    "new_session",
    "new_session_id",
    "session_digest",
    "session_lifetimes",
    "touch_due",
    "touch_interval",
    "touched",
]


@attrs.frozen
class SessionPolicy:
    """Timeouts of a session store. A session ends at the earlier of ``last_seen + idle`` and
    ``created + absolute``; remember-me sessions use ``remember_seconds`` for both.
    ``last_seen`` is the last *recorded* use: see :func:`touch_interval` for its granularity."""

    idle_seconds: int = 30 * 60
    absolute_seconds: int = 12 * 3600
    remember_seconds: int = 30 * 86400

    def __attrs_post_init__(self) -> None:
        if min(self.idle_seconds, self.absolute_seconds, self.remember_seconds) <= 0:
            raise ValueError("session timeouts must be positive")


@attrs.frozen
class Session:
    """A live session. ``digest`` is the hash of the session id, which is what stores keep; the
    raw id is only ever returned once, by ``SessionStore.create``.

    ``generation`` is the user's revocation generation read when the login that made it started
    (see :meth:`~inventory_core.ports.SessionStore.revoke_user_sessions`): a store returns a
    session only while that is still the user's current generation."""

    digest: str
    user_id: UUID
    role: Role = attrs.field(converter=Role)
    csrf_token: str = attrs.field(repr=False)
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    absolute_expires_at: datetime
    user_agent: str | None = None
    remember: bool = False
    generation: int = 0


SESSION_ID_BYTES = 32
"""256 random bits per session id (and per CSRF token)."""

SESSION_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{43}")
"""What ``secrets.token_urlsafe(32)`` produces: 43 URL-safe base64 characters, no padding."""

MAX_USER_AGENT_LENGTH = 256
"""User agents are kept for the session list only; longer ones are cut (they are client input)."""

DEFAULT_MAX_SESSIONS_PER_USER = 10
"""Live sessions one user may hold; creating one more ends the oldest (earliest created)."""

MAX_TOUCH_INTERVAL = timedelta(seconds=60)
"""The upper bound of :func:`touch_interval`."""


def new_session_id() -> str:
    """A fresh session id: 256 bits from :mod:`secrets`, URL-safe, fit for a cookie."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def new_csrf_token() -> str:
    """A fresh CSRF token (256 bits from :mod:`secrets`), independent of the session id."""
    return secrets.token_urlsafe(SESSION_ID_BYTES)


def is_session_id(value: object) -> bool:
    """True when ``value`` has the exact shape of an id this library issues. Anything else is
    rejected before any lookup, so junk cookies cost nothing and reach no backend."""
    return isinstance(value, str) and SESSION_ID_PATTERN.fullmatch(value) is not None


def session_digest(session_id: str) -> str:
    """What stores keep instead of the id: its SHA-256, hex. The id has 256 random bits, so a
    plain hash is enough (no salt or slow hash needed) and a dump of the store yields no id."""
    return hashlib.sha256(session_id.encode("ascii")).hexdigest()


def clean_user_agent(user_agent: str | None) -> str | None:
    """A user agent fit to store and show: non-printable characters dropped (they could forge
    lines in logs or listings), cut to :data:`MAX_USER_AGENT_LENGTH`, ``None`` when empty."""
    if user_agent is None:
        return None
    cleaned = "".join(ch for ch in user_agent if ch.isprintable()).strip()
    return cleaned[:MAX_USER_AGENT_LENGTH] or None


def session_lifetimes(policy: SessionPolicy, *, remember: bool) -> tuple[timedelta, timedelta]:
    """(idle, absolute) lifetimes of a session: a remember-me session uses ``remember_seconds``
    for both, so it lasts that long from login whatever its activity."""
    if remember:
        lifetime = timedelta(seconds=policy.remember_seconds)
        return lifetime, lifetime
    return timedelta(seconds=policy.idle_seconds), timedelta(seconds=policy.absolute_seconds)


def new_session(
    *,
    digest: str,
    user_id: UUID,
    role: Role,
    user_agent: str | None,
    remember: bool,
    now: datetime,
    policy: SessionPolicy,
    generation: int = 0,
) -> Session:
    """The session a store creates at ``now`` (times in UTC), in revocation ``generation``."""
    now = now.astimezone(UTC)
    idle, absolute = session_lifetimes(policy, remember=remember)
    absolute_expires_at = now + absolute
    return Session(
        digest=digest,
        user_id=user_id,
        role=role,
        csrf_token=new_csrf_token(),
        created_at=now,
        last_seen_at=now,
        expires_at=min(now + idle, absolute_expires_at),
        absolute_expires_at=absolute_expires_at,
        user_agent=clean_user_agent(user_agent),
        remember=remember,
        generation=generation,
    )


def is_live(session: Session, now: datetime) -> bool:
    """A session is live strictly before its deadline; at the deadline it has ended."""
    return now < session.expires_at


def touch_interval(policy: SessionPolicy, *, remember: bool) -> timedelta:
    """How old a session's recorded use may get before a use records a new one:
    ``min(MAX_TOUCH_INTERVAL, idle / 20)`` of that kind of session (60 s for the defaults; 0.5 s
    for a 10 s idle timeout).

    Recording every use would make every request a write; recording one per interval keeps the
    common lookup read-only. The price: a session ends ``idle`` after its last *recorded* use,
    which is between ``idle - interval`` (exclusive) and ``idle`` after its last use. It never
    outlives the idle timeout; it may end up to one interval sooner (29 to 30 minutes by default).
    """
    # Asked on every lookup: keyed by the idle seconds session_lifetimes would pick, and cached.
    return _touch_interval(policy.remember_seconds if remember else policy.idle_seconds)


@functools.lru_cache(maxsize=64)
def _touch_interval(idle_seconds: int) -> timedelta:
    return min(MAX_TOUCH_INTERVAL, timedelta(seconds=idle_seconds) / 20)


def touch_due(session: Session, now: datetime, policy: SessionPolicy) -> bool:
    """True when a use of ``session`` at ``now`` must be recorded (with :func:`touched`): its
    recorded use is at least :func:`touch_interval` old. Otherwise the store returns the session
    as stored and writes nothing."""
    return now - session.last_seen_at >= touch_interval(policy, remember=session.remember)


def touched(session: Session, now: datetime, policy: SessionPolicy) -> Session:
    """``session`` seen at ``now``: idle deadline moved to ``now + idle``, never past the
    absolute deadline. Stores call it only when :func:`touch_due` says so."""
    now = now.astimezone(UTC)
    idle, _ = session_lifetimes(policy, remember=session.remember)
    return attrs.evolve(
        session,
        last_seen_at=now,
        expires_at=min(now + idle, session.absolute_expires_at),
    )


def eviction_order(sessions: Iterable[Session]) -> list[Session]:
    """Oldest first: by creation time, ties (same clock reading) broken by digest so every
    adapter evicts the same one."""
    return sorted(sessions, key=lambda s: (s.created_at, s.digest))
