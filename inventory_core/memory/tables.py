"""Journaled dictionaries: the storage under the in-memory adapter.

Every write records how to undo itself in the store's journal, so rolling back a transaction is
replaying the journal backwards -- cheap, and independent of how big the store is.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

Undo = Callable[[], None]


class Journal:
    """The undo log of the transaction in progress."""

    def __init__(self) -> None:
        self._undo: list[Undo] = []

    def mark(self) -> int:
        return len(self._undo)

    def record(self, undo: Undo) -> None:
        self._undo.append(undo)

    def rollback_to(self, mark: int) -> None:
        while len(self._undo) > mark:
            self._undo.pop()()


class Table(Generic[K, V]):
    """A dict whose writes go through a journal. Reads need no journal."""

    def __init__(self, journal: Callable[[], Journal]) -> None:
        self._rows: dict[K, V] = {}
        self._journal = journal

    def get(self, key: K) -> V | None:
        return self._rows.get(key)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __len__(self) -> int:
        return len(self._rows)

    def values(self) -> Iterator[V]:
        return iter(list(self._rows.values()))

    def items(self) -> Iterator[tuple[K, V]]:
        return iter(list(self._rows.items()))

    def put(self, key: K, value: V) -> None:
        journal = self._journal()
        if key in self._rows:
            old = self._rows[key]
            journal.record(lambda: self._rows.__setitem__(key, old))
        else:
            journal.record(lambda: self._forget(key))
        self._rows[key] = value

    def _forget(self, key: K) -> None:
        self._rows.pop(key, None)

    def delete(self, key: K) -> None:
        if key not in self._rows:
            return
        old = self._rows.pop(key)
        self._journal().record(lambda: self._rows.__setitem__(key, old))
