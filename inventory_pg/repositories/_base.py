"""What every repository shares: access to the unit of work's session."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, LiteralString

from inventory_pg._session import Session

SessionSource = Callable[[], Session]
"""Returns the session of the entered unit of work (raises outside ``with uow:``)."""


class Repository:
    """Base of the repositories: they run statements on their unit of work's session."""

    def __init__(self, session: SessionSource) -> None:
        self._session = session

    def _rows(
        self, sql: LiteralString, params: Mapping[str, Any] | Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """Run one statement that neither writes nor locks (one round trip); return its rows."""
        (cursor,) = self._session().run([(sql, params)], writes=False)
        return cursor.fetchall()

    def _write(
        self, sql: LiteralString, params: Mapping[str, Any] | Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """Run one statement that writes or locks, in the transaction; return its rows."""
        (cursor,) = self._session().run([(sql, params)])
        return cursor.fetchall()
