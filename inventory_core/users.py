"""Users, roles and the actor that performs a use case."""

from __future__ import annotations

import enum
import re
from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core.errors import ValidationError

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


def _username(_: object, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not USERNAME_PATTERN.fullmatch(value):
        raise ValidationError(
            "must be 2-64 lower-case letters, digits or . _ @ - starting with a letter or digit",
            "$.username",
        )


@attrs.frozen
class User:
    """Someone who can log in. ``password_hash`` is opaque to the core (see PasswordHasher)."""

    id: UUID
    username: str = attrs.field(validator=_username)
    role: Role = attrs.field(converter=Role)
    password_hash: str = attrs.field(repr=False)
    created_at: datetime = attrs.field(validator=_checks.aware)
    updated_at: datetime = attrs.field(validator=_checks.aware)
    active: bool = True
    version: int = attrs.field(default=1, validator=_checks.integer(1, 2**62))

    @property
    def actor(self) -> Actor:
        return Actor(user_id=self.id, role=self.role)


@attrs.frozen
class Actor:
    """Who performs a use case. Every use case takes one and checks its role itself."""

    user_id: UUID
    role: Role = attrs.field(converter=Role)
