"""Items and their barcodes."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any
from uuid import UUID

from inventory_core.errors import NotFound, VersionMismatch
from inventory_core.items import Item
from inventory_core.lots import Tracking
from inventory_core.ports import ItemQuery
from inventory_pg._adapt import UuidArray
from inventory_pg.repositories._base import Repository

__all__ = ["PgItemRepository"]

_COLUMNS = """
    i.id, i.sku, i.name, i.unit, i.reorder_point, i.reorder_quantity, i.active, i.version,
    i.created_at, i.updated_at, i.tracking,
    ARRAY(SELECT b.barcode FROM item_barcodes b WHERE b.item_id = i.id ORDER BY b.position)
"""

SELECT_ITEM = "SELECT" + _COLUMNS + "FROM items i WHERE i.id = %(id)s"
SELECT_ITEMS = "SELECT" + _COLUMNS + "FROM items i WHERE i.id = ANY(%(ids)s::uuid[])"
SELECT_VERSION = "SELECT version FROM items WHERE id = %(id)s"

# Filters that are NULL match everything. ``text`` is a case-insensitive substring of SKU or name.
LIST_ITEMS = (
    "SELECT"  # noqa: S608 -- constant fragments only; values are always bound
    + _COLUMNS
    + """FROM items i
WHERE (%(after)s::uuid IS NULL OR i.id > %(after)s::uuid)
  AND (%(sku)s::text IS NULL OR i.sku = %(sku)s::text)
  AND (%(barcode)s::text IS NULL OR EXISTS (
        SELECT 1 FROM item_barcodes b WHERE b.item_id = i.id AND b.barcode = %(barcode)s::text))
  AND (%(active)s::boolean IS NULL OR i.active = %(active)s::boolean)
  AND (%(text)s::text IS NULL
       OR strpos(lower(i.sku), lower(%(text)s::text)) > 0
       OR strpos(lower(i.name), lower(%(text)s::text)) > 0)
ORDER BY i.id
LIMIT %(limit)s"""
)

INSERT_ITEM = """
WITH item AS (
    INSERT INTO items (id, sku, name, unit, reorder_point, reorder_quantity, active, version,
                       created_at, updated_at, tracking)
    VALUES (%(id)s, %(sku)s, %(name)s, %(unit)s, %(reorder_point)s, %(reorder_quantity)s,
            %(active)s, %(version)s, %(created_at)s, %(updated_at)s, %(tracking)s)
    RETURNING id
)
INSERT INTO item_barcodes (barcode, item_id, position)
SELECT b.barcode, item.id, b.position - 1
FROM item, unnest(%(barcodes)s::text[]) WITH ORDINALITY AS b(barcode, position)
"""

# One statement, so a version mismatch changes nothing at all. The old barcodes are deleted
# before the new ones go in: ``added`` waits for ``removed`` through its initplan, and rows this
# statement deleted do not count against the unique index, so an item may keep a barcode.
UPDATE_ITEM = """
WITH updated AS (
    UPDATE items
    SET sku = %(sku)s, name = %(name)s, unit = %(unit)s, reorder_point = %(reorder_point)s,
        reorder_quantity = %(reorder_quantity)s, active = %(active)s, version = %(version)s,
        updated_at = %(updated_at)s, tracking = %(tracking)s
    WHERE id = %(id)s AND version = %(version)s::bigint - 1
    RETURNING id
), removed AS (
    DELETE FROM item_barcodes b USING updated WHERE b.item_id = updated.id RETURNING b.barcode
), added AS (
    INSERT INTO item_barcodes (barcode, item_id, position)
    SELECT n.barcode, updated.id, n.position - 1
    FROM updated, unnest(%(barcodes)s::text[]) WITH ORDINALITY AS n(barcode, position)
    WHERE (SELECT count(*) FROM removed) >= 0
    RETURNING barcode
)
SELECT count(*) FROM updated
"""


def _params(item: Item) -> dict[str, Any]:
    return {
        "id": item.id,
        "sku": item.sku,
        "name": item.name,
        "unit": item.unit,
        "reorder_point": item.reorder_point,
        "reorder_quantity": item.reorder_quantity,
        "active": item.active,
        "version": item.version,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
        "tracking": item.tracking.value,
        "barcodes": list(item.barcodes),
    }


def _item(row: tuple[Any, ...]) -> Item:
    (
        id_,
        sku,
        name,
        unit,
        reorder_point,
        reorder_quantity,
        active,
        version,
        created,
        updated,
        tracking,
        barcodes,
    ) = row
    return Item(
        id=id_,
        sku=sku,
        name=name,
        unit=unit,
        reorder_point=reorder_point,
        reorder_quantity=reorder_quantity,
        active=active,
        version=version,
        created_at=created,
        updated_at=updated,
        barcodes=barcodes,
        tracking=Tracking(tracking),
    )


class PgItemRepository(Repository):
    """Items in Postgres (ItemRepository)."""

    def add(self, item: Item) -> None:
        """Store a new item; AlreadyExists(field="id" | "sku" | "barcode") changes nothing."""
        self._batch().run(
            [(INSERT_ITEM, _params(item))], atomic=True, values={"id": item.id, "sku": item.sku}
        )

    def get(self, item_id: UUID) -> Item | None:
        """The item, or None."""
        rows = self._rows(SELECT_ITEM, {"id": item_id})
        return _item(rows[0]) if rows else None

    def get_many(self, item_ids: Collection[UUID]) -> dict[UUID, Item]:
        """The items that exist among ``item_ids``."""
        if not item_ids:
            return {}
        rows = self._rows(SELECT_ITEMS, {"ids": UuidArray(item_ids)})
        return {row[0]: _item(row) for row in rows}

    def update(self, item: Item) -> None:
        """Replace an item whose stored version is ``item.version - 1`` (else VersionMismatch,
        or NotFound); AlreadyExists on a duplicate SKU or barcode. A failure changes nothing."""
        batch = self._batch()
        (cursor,) = batch.run([(UPDATE_ITEM, _params(item))], atomic=True, values={"sku": item.sku})
        row = cursor.fetchone()
        if row and row[0]:
            return
        found = self._rows(SELECT_VERSION, {"id": item.id})
        if not found:
            raise NotFound("item", item.id)
        raise VersionMismatch("item", item.id, expected=item.version - 1, actual=found[0][0])

    def list(self, query: ItemQuery, *, after: UUID | None, limit: int) -> list[Item]:
        """Ascending id, after ``after``, at most ``limit``."""
        rows = self._rows(
            LIST_ITEMS,
            {
                "after": after,
                "sku": query.sku,
                "barcode": query.barcode,
                "active": query.active,
                "text": query.text,
                "limit": limit,
            },
        )
        return [_item(row) for row in rows]
