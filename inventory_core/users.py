"""Users, roles and the actor that performs a use case."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from uuid import UUID

import attrs

from inventory_core import _checks

__all__ = ["Actor", "Role", "User", "normalize_username"]

USERNAME_PATTERN = re.compile(r"^[a-z0-9][a-z0-9._@\-]{1,63}$")


class Role(enum.StrEnum):
    """Roles in increasing power: viewer < clerk < manager < admin."""

    VIEWER = "viewer"
    CLERK = "clerk"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANKS[self]

    def allows(self, required: Role) -> bool:
        """True when this role is ``required`` or above."""
        return self.rank >= required.rank


_RANKS = {Role.VIEWER: 0, Role.CLERK: 1, Role.MANAGER: 2, Role.ADMIN: 3}


def normalize_username(username: str) -> str:
    """Usernames are case-insensitive: stored and compared in lower case, without outer spaces."""
    return username.strip().lower()


def _username(value: object) -> str | None:
    if not isinstance(value, str) or not USERNAME_PATTERN.fullmatch(value):
        return "must be 2-64 lower-case letters, digits or . _ @ - starting with a letter or digit"
    return None


USERNAME = _checks.Rule(_username, {"type": "string", "pattern": USERNAME_PATTERN.pattern})
"""A stored username: normalized (see :func:`normalize_username`)."""


def _new_username(value: object) -> str | None:
    return _username(normalize_username(value) if isinstance(value, str) else value)


NEW_USERNAME = _checks.Rule(
    _new_username, {"type": "string", "pattern": r"^\s*[A-Za-z0-9][A-Za-z0-9._@\-]{1,63}\s*$"}
)
"""A username as given for a new user: any case and outer spaces (normalized before use)."""


@attrs.frozen
class User:
    """Someone who can log in. ``password_hash`` is opaque to the core (see PasswordHasher)."""

    id: UUID
    """The user's id."""
    username: str = attrs.field(validator=USERNAME)
    """Unique, lower case; compared without case."""
    role: Role = attrs.field(converter=Role)
    """What the user may do."""
    password_hash: str = attrs.field(repr=False, metadata=_checks.INTERNAL)
    created_at: datetime = attrs.field(validator=_checks.aware)
    """When the user was created."""
    updated_at: datetime = attrs.field(validator=_checks.aware)
    """When the user last changed."""
    active: bool = True
    """Inactive users cannot log in, and their sessions end."""
    version: int = attrs.field(default=1, validator=_checks.version)
    """Grows by one with every change."""

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.id, role=self.role)


@attrs.frozen
class Actor:
    """Who performs a use case. Every use case takes one and checks its role itself."""

    user_id: UUID
    role: Role = attrs.field(converter=Role)
