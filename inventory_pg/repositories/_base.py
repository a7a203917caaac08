"""What every repository shares: access to the unit of work's statement batch."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, LiteralString

from inventory_pg._batch import StatementBatch

BatchSource = Callable[[], StatementBatch]
"""Returns the statement batch of the entered unit of work (raises outside ``with uow:``)."""


class Repository:
    """Base of the repositories: they run statements on their unit of work's statement batch."""

    def __init__(self, batch: BatchSource) -> None:
        self._batch = batch

    def _rows(
        self, sql: LiteralString, params: Mapping[str, Any] | Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """Run one statement that neither writes nor locks (one round trip); return its rows."""
        (cursor,) = self._batch().run([(sql, params)], writes=False)
        return cursor.fetchall()

    def _write(
        self, sql: LiteralString, params: Mapping[str, Any] | Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """Run one statement that writes or locks, in the transaction; return its rows."""
        (cursor,) = self._batch().run([(sql, params)])
        return cursor.fetchall()
