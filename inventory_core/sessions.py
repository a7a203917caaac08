"""Login sessions as the core sees them (stores live in adapters; see ports.SessionStore)."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

from inventory_core.users import Role

__all__ = ["Session", "SessionPolicy"]


@attrs.frozen
class SessionPolicy:
    """Timeouts of a session store. A session ends at the earlier of ``last_seen + idle`` and
    ``created + absolute``; remember-me sessions use ``remember_seconds`` for both."""

    idle_seconds: int = 30 * 60
    absolute_seconds: int = 12 * 3600
    remember_seconds: int = 30 * 86400

    def __attrs_post_init__(self) -> None:
        if min(self.idle_seconds, self.absolute_seconds, self.remember_seconds) <= 0:
            raise ValueError("session timeouts must be positive")


@attrs.frozen
class Session:
    """A live session. ``digest`` is the hash of the session id, which is what stores keep; the
    raw id is only ever returned once, by ``SessionStore.create``."""

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
