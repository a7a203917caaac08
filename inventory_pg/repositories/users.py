"""Users (usernames arrive already normalized to lower case by the core)."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from inventory_core.errors import NotFound, VersionMismatch
from inventory_core.users import User
from inventory_pg.repositories._base import Repository

__all__ = ["PgUserRepository"]

_COLUMNS = """
    id, username, role, password_hash, active, version, created_at, updated_at
"""

INSERT_USER = """
INSERT INTO users (id, username, role, password_hash, active, version, created_at, updated_at)
VALUES (%(id)s, %(username)s, %(role)s, %(password_hash)s, %(active)s, %(version)s,
        %(created_at)s, %(updated_at)s)
"""
SELECT_USER = "SELECT" + _COLUMNS + "FROM users WHERE id = %(id)s"
SELECT_USER_BY_USERNAME = "SELECT" + _COLUMNS + "FROM users WHERE username = %(username)s"
SELECT_VERSION = "SELECT version FROM users WHERE id = %(id)s"
UPDATE_USER = """
UPDATE users
SET username = %(username)s, role = %(role)s, password_hash = %(password_hash)s,
    active = %(active)s, version = %(version)s, updated_at = %(updated_at)s
WHERE id = %(id)s AND version = %(version)s::bigint - 1
"""
LIST_USERS = (
    "SELECT"
    + _COLUMNS
    + """FROM users
WHERE (%(after)s::uuid IS NULL OR id > %(after)s::uuid)
ORDER BY id
LIMIT %(limit)s"""
)


def _params(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role.value,
        "password_hash": user.password_hash,
        "active": user.active,
        "version": user.version,
        "created_at": user.created_at,
        "updated_at": user.updated_at,
    }


def user_from_row(row: tuple[Any, ...]) -> User:
    """A user from the columns of ``users`` in table order (the token lookup reads them too)."""
    id_, username, role, password_hash, active, version, created, updated = row
    return User(
        id=id_,
        username=username,
        role=role,
        password_hash=password_hash,
        active=active,
        version=version,
        created_at=created,
        updated_at=updated,
    )


class PgUserRepository(Repository):
    """Users in Postgres (UserRepository)."""

    def add(self, user: User) -> None:
        """Store a new user; AlreadyExists(field="id" | "username") changes nothing."""
        self._batch().run(
            [(INSERT_USER, _params(user))],
            atomic=True,
            values={"id": user.id, "username": user.username},
        )

    def get(self, user_id: UUID) -> User | None:
        """The user, or None."""
        rows = self._rows(SELECT_USER, {"id": user_id})
        return user_from_row(rows[0]) if rows else None

    def get_by_username(self, username: str) -> User | None:
        """The user with this (normalized) username, or None."""
        rows = self._rows(SELECT_USER_BY_USERNAME, {"username": username})
        return user_from_row(rows[0]) if rows else None

    def update(self, user: User) -> None:
        """Replace a user whose stored version is ``user.version - 1`` (else VersionMismatch, or
        NotFound); AlreadyExists(field="username"). A failure changes nothing."""
        (cursor,) = self._batch().run(
            [(UPDATE_USER, _params(user))], atomic=True, values={"username": user.username}
        )
        if cursor.rowcount == 1:
            return
        found = self._rows(SELECT_VERSION, {"id": user.id})
        if not found:
            raise NotFound("user", user.id)
        raise VersionMismatch("user", user.id, expected=user.version - 1, actual=found[0][0])

    def list(self, *, after: UUID | None, limit: int) -> list[User]:
        """Ascending id."""
        return [
            user_from_row(row) for row in self._rows(LIST_USERS, {"after": after, "limit": limit})
        ]
