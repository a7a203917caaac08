"""The shapes only the HTTP API has: pages of a collection, the login session, a new API token,
health.

Resources and commands of the core are shown as the core declares them (their public fields);
these classes cover what exists only on the wire. Like the core's, each field is declared once,
with its docstring, and the OpenAPI document is generated from it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar
from uuid import UUID

import attrs

from inventory_core._checks import accepts, length
from inventory_core.services.tokens import IssuedToken
from inventory_core.users import Role, User

__all__ = [
    "Collection",
    "CurrentSession",
    "Feed",
    "Health",
    "LoginRequest",
    "NewToken",
    "Readiness",
    "SessionSummary",
]

T = TypeVar("T")

Status = Literal["ok", "unavailable"]


@attrs.frozen
class Collection(Generic[T]):
    """One page of a collection, in a stable order."""

    data: tuple[T, ...]
    """The entries of this page."""
    next_cursor: str | None
    """Send as `cursor` to get the next page; `null` on the last page."""


@attrs.frozen
class Feed(Generic[T]):
    """One page of a feed: entries in the order they committed, never one missed or repeated."""

    data: tuple[T, ...]
    """The entries of this page."""
    next_cursor: str | None
    """Send as `cursor` for the next page while more is ready now; `null` when caught up."""
    position: str
    """Send as `cursor` later to get what committed since (present on every page)."""


@attrs.frozen
class LoginRequest:
    """Credentials to log in with."""

    username: str = attrs.field(metadata=accepts(length(1, 256)))
    """The username (case-insensitive)."""
    password: str = attrs.field(repr=False, metadata=accepts(length(1, 1024)))
    """The password."""
    remember: bool = False
    """`true` for a persistent cookie that outlives the browser (mobile apps; 30 days by
    default), `false` for a cookie that ends with the browser."""


@attrs.frozen
class CurrentSession:
    """The logged-in session: who, its CSRF token, and when it ends."""

    user: User
    """The user logged in."""
    csrf_token: str
    """Send as `X-CSRF-Token` on every POST, PUT, PATCH and DELETE made with the cookie."""
    expires_at: datetime
    """When the session ends at the latest (each request may end it sooner when idle)."""


@attrs.frozen
class SessionSummary:
    """A session as its owner may see it (never its id or CSRF token)."""

    created_at: datetime
    """When it was created (the login)."""
    last_seen_at: datetime
    """When it was last used."""
    expires_at: datetime
    """When it ends at the latest."""
    user_agent: str | None
    """The `User-Agent` of the login, if any."""
    remember: bool
    """Whether it is a persistent (remember-me) session."""
    current: bool
    """Whether it is the session making this request."""


@attrs.frozen
class NewToken:
    """An API token just created, with its secret: the one answer that ever shows it."""

    id: UUID
    """The token's id (to list or revoke it)."""
    name: str
    """What it is for, as given."""
    role: Role
    """The most it may do; each request acts with the lower of this and its user's role."""
    created_at: datetime
    """When it was created."""
    expires_at: datetime | None
    """When it stops working; `null`: never (until revoked)."""
    last_used_at: datetime | None
    """When it last authenticated a request; `null` so far."""
    token: str = attrs.field(repr=False)
    """The secret, `inv_` and 43 base64url characters: send it as `Authorization: Bearer
    <token>`. Shown only here; the server keeps only its SHA-256, so keep it now."""

    @classmethod
    def of(cls, issued: IssuedToken) -> NewToken:
        """The answer to ``POST /v1/tokens`` for a token the core just issued."""
        token = issued.token
        return cls(
            id=token.id,
            name=token.name,
            role=token.role,
            created_at=token.created_at,
            expires_at=token.expires_at,
            last_used_at=token.last_used_at,
            token=issued.secret,
        )


@attrs.frozen
class Health:
    """The process is up."""

    status: Literal["ok"]
    """Always `ok`."""


@attrs.frozen
class Readiness:
    """Whether every backing service answers."""

    status: Status
    """`ok` when every check passed."""
    checks: dict[str, Status]
    """Each backing service (`postgres`, `redis`) and whether it answered."""
