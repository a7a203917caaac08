"""Lots of lot-tracked items: unique per (item, code), never deleted.

A lot is created by its first receipt, in the receiving transaction, before any level row is
touched. Two first receipts of one lot race on the unique (item_id, code) index: the second waits
for the first to end and then fails with AlreadyExists(field="code"), leaving its transaction
usable (the insert runs in a savepoint), so the use case can retry and find the lot.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from inventory_core.lots import Lot
from inventory_core.ports import LotQuery
from inventory_pg._adapt import UuidArray
from inventory_pg.repositories._base import Repository

__all__ = ["PgLotRepository"]

INSERT_LOT = """
INSERT INTO lots (id, item_id, code, expires_on)
VALUES (%(id)s, %(item_id)s, %(code)s, %(expires_on)s)
"""

SELECT_LOT = """
SELECT id, item_id, code, expires_on FROM lots WHERE id = %(id)s
"""

# The keys as two parallel arrays, each pair one lookup of the unique (item_id, code) index.
FIND_LOTS = """
SELECT id, item_id, code, expires_on FROM lots
WHERE (item_id, code) IN (SELECT * FROM unnest(%(item_ids)s::uuid[], %(codes)s::text[]))
"""

# Filters that are NULL match everything; a lot without an expiry date never expires "before".
LIST_LOTS = """
SELECT id, item_id, code, expires_on FROM lots
WHERE (%(after)s::uuid IS NULL OR id > %(after)s::uuid)
  AND (%(item_id)s::uuid IS NULL OR item_id = %(item_id)s::uuid)
  AND (%(expires_before)s::date IS NULL OR expires_on < %(expires_before)s::date)
ORDER BY id
LIMIT %(limit)s
"""


def _lot(row: tuple[Any, ...]) -> Lot:
    id_, item_id, code, expires_on = row
    return Lot(id=id_, item_id=item_id, code=code, expires_on=expires_on)


class PgLotRepository(Repository):
    """Lots in Postgres (LotRepository)."""

    def add(self, lot: Lot) -> None:
        """Store a new lot; AlreadyExists(field="code") when the item has a lot of that code
        (field="id" for a duplicate id), changing nothing: the transaction stays usable."""
        self._batch().run(
            [
                (
                    INSERT_LOT,
                    {
                        "id": lot.id,
                        "item_id": lot.item_id,
                        "code": lot.code,
                        "expires_on": lot.expires_on,
                    },
                )
            ],
            atomic=True,
            values={"id": lot.id, "code": lot.code},
        )

    def get(self, lot_id: UUID) -> Lot | None:
        """The lot, or None."""
        rows = self._rows(SELECT_LOT, {"id": lot_id})
        return _lot(rows[0]) if rows else None

    def find(self, keys: Collection[tuple[UUID, str]]) -> dict[tuple[UUID, str], Lot]:
        """The lots that exist among the ``(item_id, code)`` keys."""
        if not keys:
            return {}
        pairs = list(keys)
        rows = self._rows(
            FIND_LOTS,
            {"item_ids": UuidArray(item for item, _ in pairs), "codes": [c for _, c in pairs]},
        )
        return {(lot.item_id, lot.code): lot for lot in map(_lot, rows)}

    def list(self, query: LotQuery, *, after: UUID | None, limit: int) -> list[Lot]:
        """Ascending id, strictly after ``after``, at most ``limit``."""
        rows = self._rows(
            LIST_LOTS,
            {
                "after": after,
                "item_id": query.item_id,
                "expires_before": query.expires_before,
                "limit": limit,
            },
        )
        return [_lot(row) for row in rows]
