"""API tokens, looked up by the SHA-256 digest of their secret."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from inventory_core.errors import AlreadyExists
from inventory_core.tokens import ApiToken
from inventory_core.users import User
from inventory_pg.repositories._base import Repository
from inventory_pg.repositories.users import user_from_row

__all__ = ["PgTokenRepository"]

_COLUMNS = """
    id, user_id, name, role, digest, created_at, expires_at, last_used_at
"""
_T_COLUMNS = """
    t.id, t.user_id, t.name, t.role, t.digest, t.created_at, t.expires_at, t.last_used_at
"""
_U_COLUMNS = """
    u.id, u.username, u.role, u.password_hash, u.active, u.version, u.created_at, u.updated_at
"""

INSERT_ROW = """
INSERT INTO api_tokens (id, user_id, name, role, digest, created_at, expires_at, last_used_at)
VALUES (%(id)s, %(user_id)s, %(name)s, %(role)s, %(digest)s, %(created_at)s, %(expires_at)s,
        %(last_used_at)s)
"""
SELECT_BY_ID = "SELECT" + _COLUMNS + "FROM api_tokens WHERE id = %(id)s"
# The one read of a bearer request: the unique digest index, and the user by primary key.
FIND_BY_DIGEST = (
    "SELECT"
    + _T_COLUMNS
    + ","
    + _U_COLUMNS
    + """FROM api_tokens t JOIN users u ON u.id = t.user_id
WHERE t.digest = %(digest)s"""
)
LIST_OF_USER = (
    "SELECT"
    + _COLUMNS
    + """FROM api_tokens
WHERE user_id = %(user_id)s AND (%(after)s::uuid IS NULL OR id > %(after)s::uuid)
ORDER BY id
LIMIT %(limit)s"""
)
DELETE_BY_ID = "DELETE FROM api_tokens WHERE id = %(id)s"
# Conditional, so concurrent uses never move it back: under READ COMMITTED the second of two
# racing updates waits for the first, then finds the condition false and writes nothing.
TOUCH_ROW = """
UPDATE api_tokens SET last_used_at = %(when)s
WHERE id = %(id)s AND (last_used_at IS NULL OR last_used_at < %(when)s)
"""


def _token(row: tuple[Any, ...]) -> ApiToken:
    id_, user_id, name, role, digest, created, expires, last_used = row
    return ApiToken(
        id=id_,
        user_id=user_id,
        name=name,
        role=role,
        digest=digest,
        created_at=created,
        expires_at=expires,
        last_used_at=last_used,
    )


class PgTokenRepository(Repository):
    """API tokens in Postgres (TokenRepository)."""

    def add(self, token: ApiToken) -> None:
        """Store a new token; AlreadyExists(field="id" | "digest") changes nothing, and neither
        does NotFound for a user that does not exist."""
        try:
            self._batch().run(
                [
                    (
                        INSERT_ROW,
                        {
                            "id": token.id,
                            "user_id": token.user_id,
                            "name": token.name,
                            "role": token.role.value,
                            "digest": token.digest,
                            "created_at": token.created_at,
                            "expires_at": token.expires_at,
                            "last_used_at": token.last_used_at,
                        },
                    )
                ],
                atomic=True,
            )
        except AlreadyExists as exc:
            # Never echo a digest: it is as good as a hint about the secret.
            value = token.id if exc.field == "id" else "(secret)"
            raise AlreadyExists("token", exc.field, value) from exc

    def get(self, token_id: UUID) -> ApiToken | None:
        rows = self._rows(SELECT_BY_ID, {"id": token_id})
        return _token(rows[0]) if rows else None

    def find(self, digest: str) -> tuple[ApiToken, User] | None:
        """The token and its user in one indexed read (one round trip)."""
        rows = self._rows(FIND_BY_DIGEST, {"digest": digest})
        if not rows:
            return None
        row = rows[0]
        return _token(row[:8]), user_from_row(row[8:])

    def list(self, user_id: UUID, *, after: UUID | None, limit: int) -> list[ApiToken]:
        params = {"user_id": user_id, "after": after, "limit": limit}
        return [_token(row) for row in self._rows(LIST_OF_USER, params)]

    def delete(self, token_id: UUID) -> bool:
        (cursor,) = self._batch().run([(DELETE_BY_ID, {"id": token_id})])
        return cursor.rowcount == 1

    def touch(self, token_id: UUID, when: datetime) -> None:
        self._batch().run([(TOUCH_ROW, {"id": token_id, "when": when})])
