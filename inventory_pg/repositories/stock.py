"""Stock levels per (item, location), per (item, location, lot) and per serial number, and per
(item, warehouse): the projection of the ledger.

Every change is one conditional statement that checks its own result: a decrease is an
``UPDATE ... WHERE on_hand + delta >= 0`` that finds no row when stock is short (or absent), an
increase an upsert whose ``WHERE`` refuses it only beyond the JSON-safe limit
(:data:`~inventory_core.stock.MAX_TOTAL`, 2^53 - 1, which every level stays within in magnitude,
virtual locations' negative ones too). A lot row is changed exactly like its location row. A
serial number moves by an ``UPDATE ... WHERE location_id = <from>``, and comes into stock by an
upsert that applies only where the serial is not in stock; either finds no row when the serial is
not where the change says (SerialConflict).

The global lock order. :meth:`PgStockRepository.apply` sends all of a call's statements in one
round trip, and every caller locks level rows in this one order, so concurrent callers cannot
deadlock:

1. stock-holding location rows, by (item, location);
2. stock-holding lot rows, by (item, location, lot);
3. serial rows, by (item, serial) (code point order);
4. virtual location rows, by (item, location);
5. virtual lot rows, by (item, location, lot);
6. warehouse rows, by (item, warehouse);
7. item rows (the lock of ITEM_LOCK), by item, for the items whose totals grow.

``on_hand(lock=True)`` locks location rows in the same order (stock-holding ones, then virtual
ones); a caller applying lot or serial changes afterwards must have locked stock-holding rows
only that way (counts do), since virtual rows come after lots and serials. A lot row changes only
together with its location row, so the location row's lock already keeps lot rows from being
contended; serial rows can be contended without it (two receipts of one serial at different
locations), which is why they have their place in the order. The CHECK constraints on the tables
back the same invariants should a write ever skip its condition.

An item's totals (on hand and reserved over all its warehouses, ``GET /v1/items/{id}/stock``)
are sums, not rows, so they are bounded by locking instead: a call that raises them locks the
item's row (``FOR NO KEY UPDATE``, after all its level rows), and a next statement -- which under
READ COMMITTED takes a new snapshot, so it sees every such call that committed before it got the
lock, and its own changes -- refuses (no row) when a raised total is beyond the limit. Calls that
only lower totals need neither: they cannot pass the limit.

The same pair guards an item's ``tracking``: changing it updates the item row (so waits for, or
holds off, that lock) and then checks the item has no stock. A call that raises an item's on hand
passes the tracking its lines were judged by, and the check refuses it when the stored tracking
is another one by then -- so stock never enters an item under rules it no longer has.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime
from typing import Any, Literal, LiteralString
from uuid import UUID

import attrs

from inventory_core.errors import (
    ConcurrencyConflict,
    InsufficientStock,
    InvalidOperation,
    LimitExceeded,
    SerialConflict,
)
from inventory_core.lots import LotLevel, SerialLevel, Tracking
from inventory_core.ports import (
    LocationStockQuery,
    LotLevelQuery,
    SerialQuery,
    StockKey,
    WarehouseStockQuery,
)
from inventory_core.stock import (
    MAX_TOTAL,
    ItemLevels,
    LocationChange,
    LocationStock,
    LotChange,
    SerialChange,
    WarehouseChange,
    WarehouseStock,
)
from inventory_pg._adapt import UuidArray
from inventory_pg._batch import Statement, StatementBatch
from inventory_pg.repositories._base import Repository

__all__ = ["PgStockRepository"]

LotKey = tuple[UUID, UUID, UUID]
"""(item_id, location_id, lot_id)."""

# -- writes (each returns one row when applied, none when refused) ------------------------------
# %(limit)s is MAX_TOTAL. An upsert's VALUES are a SELECT with the same bound, so that an insert
# is refused (no row) rather than failing on a CHECK: a failed statement would abort the batch.

LOCATION_TAKE = """
UPDATE location_stock SET on_hand = on_hand + %(delta)s::bigint
WHERE item_id = %(item_id)s AND location_id = %(location_id)s
  AND on_hand + %(delta)s::bigint >= 0
RETURNING false
"""
"""Lower a stock-holding location: refused (no row) when short or when there is no row at all."""

LOCATION_ADD = """
INSERT INTO location_stock AS s (item_id, location_id, holds_stock, on_hand)
SELECT %(item_id)s, %(location_id)s, %(holds_stock)s, %(delta)s::bigint
WHERE abs(%(delta)s::bigint) <= %(limit)s::bigint
ON CONFLICT (item_id, location_id) DO UPDATE SET on_hand = s.on_hand + EXCLUDED.on_hand
WHERE abs(s.on_hand + EXCLUDED.on_hand) <= %(limit)s::bigint
RETURNING s.xmax = 0
"""
"""Raise a location, or change a virtual one (no floor): refused only beyond the limit, either
way. Returns whether the row was inserted (its xmax is 0 only then), which undoing a failed call
needs to know. (A refused ON CONFLICT update still locks the row, so judging the refusal reads
it as it was refused.)"""

LOT_TAKE = """
UPDATE lot_stock SET on_hand = on_hand + %(delta)s::bigint
WHERE item_id = %(item_id)s AND location_id = %(location_id)s AND lot_id = %(lot_id)s
  AND on_hand + %(delta)s::bigint >= 0
RETURNING false
"""
"""LOCATION_TAKE for one lot at a stock-holding location."""

LOT_ADD = """
INSERT INTO lot_stock AS s (item_id, location_id, lot_id, holds_stock, on_hand)
SELECT %(item_id)s, %(location_id)s, %(lot_id)s, %(holds_stock)s, %(delta)s::bigint
WHERE abs(%(delta)s::bigint) <= %(limit)s::bigint
ON CONFLICT (item_id, location_id, lot_id) DO UPDATE SET on_hand = s.on_hand + EXCLUDED.on_hand
WHERE abs(s.on_hand + EXCLUDED.on_hand) <= %(limit)s::bigint
RETURNING s.xmax = 0
"""
"""LOCATION_ADD for one lot."""

SERIAL_RECEIVE = """
INSERT INTO serials AS s (item_id, serial, location_id)
VALUES (%(item_id)s, %(serial)s, %(to_id)s::uuid)
ON CONFLICT (item_id, serial) DO UPDATE SET location_id = EXCLUDED.location_id
WHERE s.location_id IS NULL
RETURNING s.xmax = 0
"""
"""Bring a serial number into stock (or record it, ``to_id`` NULL): applied only when it is not
in stock now -- never seen, or shipped or lost since. Returns whether the row was inserted."""

SERIAL_MOVE = """
UPDATE serials SET location_id = %(to_id)s::uuid
WHERE item_id = %(item_id)s AND serial = %(serial)s AND location_id = %(from_id)s::uuid
RETURNING false
"""
"""Move a serial number from the stock-holding ``from_id`` to ``to_id`` (NULL: out of stock):
refused (no row) when it is not at ``from_id``."""

WAREHOUSE_TAKE = """
UPDATE warehouse_stock
SET on_hand = on_hand + %(on_hand_delta)s::bigint, reserved = reserved + %(reserved_delta)s::bigint
WHERE item_id = %(item_id)s AND warehouse_id = %(warehouse_id)s
  AND on_hand + %(on_hand_delta)s::bigint BETWEEN 0 AND %(limit)s::bigint
  AND reserved + %(reserved_delta)s::bigint BETWEEN 0 AND %(limit)s::bigint
  AND (NOT %(guard)s::boolean
       OR (on_hand + %(on_hand_delta)s::bigint) - (reserved + %(reserved_delta)s::bigint) >= 0)
RETURNING false, on_hand, reserved
"""
"""A warehouse change that may be refused for going down: either part goes down, or
``available`` does under a guard (and, like every change, beyond the limit)."""

WAREHOUSE_ADD = """
INSERT INTO warehouse_stock AS w (item_id, warehouse_id, on_hand, reserved)
SELECT %(item_id)s, %(warehouse_id)s, %(on_hand_delta)s::bigint, %(reserved_delta)s::bigint
WHERE %(on_hand_delta)s::bigint <= %(limit)s::bigint
  AND %(reserved_delta)s::bigint <= %(limit)s::bigint
ON CONFLICT (item_id, warehouse_id) DO UPDATE
SET on_hand = w.on_hand + EXCLUDED.on_hand, reserved = w.reserved + EXCLUDED.reserved
WHERE w.on_hand + EXCLUDED.on_hand <= %(limit)s::bigint
  AND w.reserved + EXCLUDED.reserved <= %(limit)s::bigint
RETURNING w.xmax = 0, w.on_hand, w.reserved
"""
"""A warehouse change where nothing goes down: refused only beyond the limit. Like
WAREHOUSE_TAKE it returns the level after the change (what reorder points are judged on)."""

ITEM_LOCK = """
SELECT count(*) FROM (SELECT FROM items WHERE id = %(item_id)s FOR NO KEY UPDATE) AS locked
"""
"""Serialise the calls that raise an item's totals (one row always: never refused itself). The
lock conflicts with an edit of the item too, but not with the foreign keys to it."""

ITEM_CHECK = """
SELECT true FROM warehouse_stock WHERE item_id = %(item_id)s
HAVING (NOT %(on_hand_up)s::boolean OR coalesce(sum(on_hand), 0) <= %(limit)s::bigint)
   AND (NOT %(reserved_up)s::boolean OR coalesce(sum(reserved), 0) <= %(limit)s::bigint)
   AND (%(tracking)s::text IS NULL
        OR %(tracking)s::text = (SELECT tracking FROM items WHERE id = %(item_id)s))
"""
"""After ITEM_LOCK, in its own statement (a new snapshot): refused when a raised total of the
item, this call's changes included, is beyond the limit, or when the call raises the item's on
hand under a ``tracking`` the item no longer has."""

# -- undoing the applied part of a refused call (the rows are still locked by us) ----------------

LOCATION_UNDO = """
UPDATE location_stock SET on_hand = on_hand - %(delta)s::bigint
WHERE item_id = %(item_id)s AND location_id = %(location_id)s
"""
LOCATION_FORGET = """
DELETE FROM location_stock WHERE item_id = %(item_id)s AND location_id = %(location_id)s
"""
LOT_UNDO = """
UPDATE lot_stock SET on_hand = on_hand - %(delta)s::bigint
WHERE item_id = %(item_id)s AND location_id = %(location_id)s AND lot_id = %(lot_id)s
"""
LOT_FORGET = """
DELETE FROM lot_stock
WHERE item_id = %(item_id)s AND location_id = %(location_id)s AND lot_id = %(lot_id)s
"""
SERIAL_UNDO = """
UPDATE serials SET location_id = %(from_id)s::uuid
WHERE item_id = %(item_id)s AND serial = %(serial)s
"""
SERIAL_FORGET = """
DELETE FROM serials WHERE item_id = %(item_id)s AND serial = %(serial)s
"""
WAREHOUSE_UNDO = """
UPDATE warehouse_stock
SET on_hand = on_hand - %(on_hand_delta)s::bigint, reserved = reserved - %(reserved_delta)s::bigint
WHERE item_id = %(item_id)s AND warehouse_id = %(warehouse_id)s
"""
WAREHOUSE_FORGET = """
DELETE FROM warehouse_stock WHERE item_id = %(item_id)s AND warehouse_id = %(warehouse_id)s
"""
LOCATION_LEVEL = """
SELECT on_hand FROM location_stock WHERE item_id = %(item_id)s AND location_id = %(location_id)s
"""
LOT_LEVEL = """
SELECT on_hand FROM lot_stock
WHERE item_id = %(item_id)s AND location_id = %(location_id)s AND lot_id = %(lot_id)s
"""
SERIAL_PLACE = """
SELECT location_id FROM serials WHERE item_id = %(item_id)s AND serial = %(serial)s
"""
WAREHOUSE_LEVEL = """
SELECT on_hand, reserved FROM warehouse_stock
WHERE item_id = %(item_id)s AND warehouse_id = %(warehouse_id)s
"""
ITEM_TOTALS = """
SELECT coalesce(sum(on_hand), 0), coalesce(sum(reserved), 0),
       (SELECT tracking FROM items WHERE id = %(item_id)s)
FROM warehouse_stock
WHERE item_id = %(item_id)s
"""

# -- reads -----------------------------------------------------------------------------------------

ON_HAND = """
SELECT item_id, location_id, on_hand FROM location_stock
WHERE (item_id, location_id) IN (
    SELECT * FROM unnest(%(item_ids)s::uuid[], %(location_ids)s::uuid[]))
"""

LOT_ON_HAND = """
SELECT item_id, location_id, lot_id, on_hand FROM lot_stock
WHERE (item_id, location_id, lot_id) IN (
    SELECT * FROM unnest(%(item_ids)s::uuid[], %(location_ids)s::uuid[], %(lot_ids)s::uuid[]))
"""

# ``on_hand(lock=True)``: absent rows cannot be locked, so first create them (on hand 0) -- an
# uncommitted row blocks a concurrent insert of the same key just as a lock would -- then lock
# them all, in the same global order as apply.
ENSURE_LOCATION_ROWS = """
INSERT INTO location_stock (item_id, location_id, holds_stock, on_hand)
SELECT k.item_id, k.location_id, l.holds_stock, 0
FROM unnest(%(item_ids)s::uuid[], %(location_ids)s::uuid[]) AS k(item_id, location_id)
JOIN locations l ON l.id = k.location_id
WHERE EXISTS (SELECT 1 FROM items i WHERE i.id = k.item_id)
ORDER BY NOT l.holds_stock, k.item_id, k.location_id
ON CONFLICT (item_id, location_id) DO NOTHING
"""
LOCK_ON_HAND = """
SELECT item_id, location_id, on_hand FROM location_stock
WHERE (item_id, location_id) IN (
    SELECT * FROM unnest(%(item_ids)s::uuid[], %(location_ids)s::uuid[]))
ORDER BY NOT holds_stock, item_id, location_id
FOR UPDATE
"""

HAS_STOCK = """
SELECT EXISTS (
    SELECT 1 FROM location_stock
    WHERE item_id = %(item_id)s AND holds_stock AND on_hand <> 0
)
"""

LOCATION_LEVELS = """
SELECT s.item_id, s.location_id, l.warehouse_id, s.on_hand
FROM location_stock s JOIN locations l ON l.id = s.location_id
WHERE s.holds_stock AND s.on_hand <> 0
  AND (%(item_id)s::uuid IS NULL OR s.item_id = %(item_id)s::uuid)
  AND (%(location_id)s::uuid IS NULL OR s.location_id = %(location_id)s::uuid)
  AND (%(warehouse_id)s::uuid IS NULL OR l.warehouse_id = %(warehouse_id)s::uuid)
  AND (%(after_item)s::uuid IS NULL
       OR (s.item_id, s.location_id) > (%(after_item)s::uuid, %(after_location)s::uuid))
ORDER BY s.item_id, s.location_id
LIMIT %(limit)s
"""

LOT_LEVELS = """
SELECT s.lot_id, t.code, t.expires_on, s.location_id, l.warehouse_id, s.on_hand
FROM lot_stock s JOIN lots t ON t.id = s.lot_id JOIN locations l ON l.id = s.location_id
WHERE s.holds_stock AND s.on_hand <> 0
  AND (%(item_id)s::uuid IS NULL OR s.item_id = %(item_id)s::uuid)
  AND (%(lot_id)s::uuid IS NULL OR s.lot_id = %(lot_id)s::uuid)
  AND (%(warehouse_id)s::uuid IS NULL OR l.warehouse_id = %(warehouse_id)s::uuid)
  AND (%(after_lot)s::uuid IS NULL
       OR (s.lot_id, s.location_id) > (%(after_lot)s::uuid, %(after_location)s::uuid))
ORDER BY s.lot_id, s.location_id
LIMIT %(limit)s
"""

# Serial numbers compare and sort by code point (the column is COLLATE "C", migration 0007),
# as the in-memory adapter sorts them.
SERIAL_LEVELS = """
SELECT s.serial, s.location_id, l.warehouse_id
FROM serials s JOIN locations l ON l.id = s.location_id
WHERE s.item_id = %(item_id)s AND s.location_id IS NOT NULL
  AND (%(location_id)s::uuid IS NULL OR s.location_id = %(location_id)s::uuid)
  AND (%(warehouse_id)s::uuid IS NULL OR l.warehouse_id = %(warehouse_id)s::uuid)
  AND (%(after)s::text IS NULL OR s.serial > %(after)s::text COLLATE "C")
ORDER BY s.serial COLLATE "C"
LIMIT %(limit)s
"""

SERIAL = """
SELECT s.serial, s.location_id, l.warehouse_id
FROM serials s LEFT JOIN locations l ON l.id = s.location_id
WHERE s.item_id = %(item_id)s AND s.serial = %(serial)s
"""

WAREHOUSE_LEVELS = """
SELECT w.item_id, w.warehouse_id, w.on_hand, w.reserved - coalesce(o.overdue, 0)
FROM warehouse_stock w
LEFT JOIN LATERAL (
    SELECT sum(r.quantity)::bigint AS overdue FROM reservations r
    WHERE r.item_id = w.item_id AND r.warehouse_id = w.warehouse_id
      AND r.status = 'active' AND r.expires_at <= %(now)s
) o ON true
LEFT JOIN items i ON i.id = w.item_id AND %(below_reorder)s::boolean
WHERE (%(item_id)s::uuid IS NULL OR w.item_id = %(item_id)s::uuid)
  AND (%(warehouse_id)s::uuid IS NULL OR w.warehouse_id = %(warehouse_id)s::uuid)
  AND (%(after_item)s::uuid IS NULL
       OR (w.item_id, w.warehouse_id) > (%(after_item)s::uuid, %(after_warehouse)s::uuid))
  AND (NOT %(below_reorder)s::boolean
       OR w.on_hand - (w.reserved - coalesce(o.overdue, 0)) < i.reorder_point)
ORDER BY w.item_id, w.warehouse_id
LIMIT %(limit)s
"""
"""``reserved`` as of ``now``: active reservations already overdue stop counting at once, before
any housekeeping marks them expired (``o.overdue``)."""

# One item's levels in one statement, so one snapshot: a row that says the item exists, then its
# warehouse rows as WAREHOUSE_LEVELS gives them, its location rows as LOCATION_LEVELS, its lot
# rows as LOT_LEVELS and its serials in stock as SERIAL_LEVELS, each part in its listing's order
# (the serial column is COLLATE "C" in all of them, as SERIAL_LEVELS sorts).
ITEM_LEVELS = """
SELECT 0 AS part, NULL::uuid AS warehouse_id, NULL::uuid AS location_id, 0::bigint AS on_hand,
       0::bigint AS reserved, NULL::uuid AS lot_id, NULL::text AS code, NULL::date AS expires_on,
       NULL::text COLLATE "C" AS serial
FROM items WHERE id = %(item_id)s
UNION ALL
SELECT 1, w.warehouse_id, NULL, w.on_hand, w.reserved - coalesce(o.overdue, 0),
       NULL, NULL, NULL, NULL
FROM warehouse_stock w
LEFT JOIN LATERAL (
    SELECT sum(r.quantity)::bigint AS overdue FROM reservations r
    WHERE r.item_id = w.item_id AND r.warehouse_id = w.warehouse_id
      AND r.status = 'active' AND r.expires_at <= %(now)s
) o ON true
WHERE w.item_id = %(item_id)s
UNION ALL
SELECT 2, l.warehouse_id, s.location_id, s.on_hand, 0, NULL, NULL, NULL, NULL
FROM location_stock s JOIN locations l ON l.id = s.location_id
WHERE s.item_id = %(item_id)s AND s.holds_stock AND s.on_hand <> 0
UNION ALL
SELECT 3, l.warehouse_id, s.location_id, s.on_hand, 0, s.lot_id, t.code, t.expires_on, NULL
FROM lot_stock s JOIN lots t ON t.id = s.lot_id JOIN locations l ON l.id = s.location_id
WHERE s.item_id = %(item_id)s AND s.holds_stock AND s.on_hand <> 0
UNION ALL
SELECT 4, l.warehouse_id, s.location_id, 0, 0, NULL, NULL, NULL, s.serial
FROM serials s JOIN locations l ON l.id = s.location_id
WHERE s.item_id = %(item_id)s AND s.location_id IS NOT NULL
ORDER BY part, lot_id, serial, location_id, warehouse_id
"""


_LevelKind = Literal["location", "lot", "serial", "warehouse", "item lock", "item"]


@attrs.frozen
class _Write:
    """One statement of a call as sent: its SQL, parameters, the level it changes or checks and
    what undoes it (``None``: it changes nothing)."""

    sql: LiteralString
    params: dict[str, Any]
    kind: _LevelKind
    undo: LiteralString | None = None
    forget: LiteralString | None = None


def _write(
    sql: LiteralString,
    kind: _LevelKind,
    params: dict[str, Any],
    undo: tuple[LiteralString, LiteralString] | None = None,
) -> _Write:
    undo_sql, forget_sql = undo or (None, None)
    return _Write(sql, {**params, "limit": MAX_TOTAL}, kind, undo_sql, forget_sql)


def _location_writes(
    deltas: Mapping[StockKey, int], holds: Mapping[StockKey, bool], *, holding: bool
) -> list[_Write]:
    writes: list[_Write] = []
    for (item_id, location_id), delta in sorted(deltas.items()):
        if delta == 0 or holds[(item_id, location_id)] != holding:
            continue
        params = {
            "item_id": item_id,
            "location_id": location_id,
            "delta": delta,
            "holds_stock": holding,
        }
        sql = LOCATION_TAKE if holding and delta < 0 else LOCATION_ADD
        writes.append(_write(sql, "location", params, (LOCATION_UNDO, LOCATION_FORGET)))
    return writes


def _lot_writes(
    deltas: Mapping[LotKey, int], holds: Mapping[LotKey, bool], *, holding: bool
) -> list[_Write]:
    writes: list[_Write] = []
    for (item_id, location_id, lot_id), delta in sorted(deltas.items()):
        if delta == 0 or holds[(item_id, location_id, lot_id)] != holding:
            continue
        params = {
            "item_id": item_id,
            "location_id": location_id,
            "lot_id": lot_id,
            "delta": delta,
            "holds_stock": holding,
        }
        sql = LOT_TAKE if holding and delta < 0 else LOT_ADD
        writes.append(_write(sql, "lot", params, (LOT_UNDO, LOT_FORGET)))
    return writes


def _serial_writes(serials: Sequence[SerialChange]) -> list[_Write]:
    """One statement per serial number, by (item, serial). Several changes of one serial apply
    in the order given, as one move from the first ``from`` to the last ``to``; a chain that
    does not join up (a serial moved from where an earlier change did not put it) is refused
    here, before anything is sent."""
    moves: dict[tuple[UUID, str], tuple[UUID | None, UUID | None]] = {}
    for change in serials:
        key = (change.item_id, change.serial)
        if key in moves:
            first, last = moves[key]
            if last != change.from_location_id:
                raise SerialConflict(item_id=change.item_id, serial=change.serial, location_id=last)
            moves[key] = (first, change.to_location_id)
        else:
            moves[key] = (change.from_location_id, change.to_location_id)
    writes: list[_Write] = []
    for (item_id, serial), (from_id, to_id) in sorted(moves.items()):
        params = {"item_id": item_id, "serial": serial, "from_id": from_id, "to_id": to_id}
        sql = SERIAL_RECEIVE if from_id is None else SERIAL_MOVE
        writes.append(_write(sql, "serial", params, (SERIAL_UNDO, SERIAL_FORGET)))
    return writes


def plan_writes(
    locations: Sequence[LocationChange],
    warehouses: Sequence[WarehouseChange],
    *,
    lots: Sequence[LotChange] = (),
    serials: Sequence[SerialChange] = (),
    tracking: Mapping[UUID, Tracking] | None = None,
) -> tuple[list[_Write], dict[StockKey, int]]:
    """The statements applying the changes, in the global lock order (see the module
    docstring), and the deltas of the stock-holding location rows (for error translation).
    SerialConflict when the serial changes contradict each other."""
    # Several changes of one key add up (as in the in-memory adapter): one statement per row.
    location_deltas: dict[StockKey, int] = {}
    holds: dict[StockKey, bool] = {}
    for change in locations:
        key = (change.item_id, change.location_id)
        location_deltas[key] = location_deltas.get(key, 0) + change.delta
        holds[key] = holds.get(key, False) or change.holds_stock
    lot_deltas: dict[LotKey, int] = {}
    lot_holds: dict[LotKey, bool] = {}
    for lot in lots:
        lot_key = (lot.item_id, lot.location_id, lot.lot_id)
        lot_deltas[lot_key] = lot_deltas.get(lot_key, 0) + lot.delta
        lot_holds[lot_key] = lot_holds.get(lot_key, False) or lot.holds_stock
    warehouse_deltas: dict[StockKey, tuple[int, int, bool]] = {}
    for wh in warehouses:
        key = (wh.item_id, wh.warehouse_id)
        on_hand, reserved, guard = warehouse_deltas.get(key, (0, 0, False))
        warehouse_deltas[key] = (
            on_hand + wh.on_hand_delta,
            reserved + wh.reserved_delta,
            guard or (wh.guard_available and wh.available_delta < 0),
        )
    # An item's totals change by what its warehouses do together.
    item_deltas: dict[UUID, tuple[int, int]] = {}
    for (item_id, _), (on_hand, reserved, _) in warehouse_deltas.items():
        total_on_hand, total_reserved = item_deltas.get(item_id, (0, 0))
        item_deltas[item_id] = (total_on_hand + on_hand, total_reserved + reserved)

    writes = [
        *_location_writes(location_deltas, holds, holding=True),
        *_lot_writes(lot_deltas, lot_holds, holding=True),
        *_serial_writes(serials),
        *_location_writes(location_deltas, holds, holding=False),
        *_lot_writes(lot_deltas, lot_holds, holding=False),
    ]
    for (item_id, warehouse_id), (on_hand, reserved, guarded) in sorted(warehouse_deltas.items()):
        guard = guarded and on_hand - reserved < 0
        params = {
            "item_id": item_id,
            "warehouse_id": warehouse_id,
            "on_hand_delta": on_hand,
            "reserved_delta": reserved,
            "guard": guard,
        }
        take = on_hand < 0 or reserved < 0 or guard
        sql = WAREHOUSE_TAKE if take else WAREHOUSE_ADD
        writes.append(_write(sql, "warehouse", params, (WAREHOUSE_UNDO, WAREHOUSE_FORGET)))
    for item_id, (on_hand, reserved) in sorted(item_deltas.items()):
        if on_hand <= 0 and reserved <= 0:  # totals that do not grow cannot pass the limit
            continue
        judged_by = (tracking or {}).get(item_id) if on_hand > 0 else None
        params = {
            "item_id": item_id,
            "on_hand_delta": on_hand,
            "reserved_delta": reserved,
            "on_hand_up": on_hand > 0,
            "reserved_up": reserved > 0,
            "tracking": judged_by.value if judged_by is not None else None,
        }
        writes.append(_write(ITEM_LOCK, "item lock", params))
        writes.append(_write(ITEM_CHECK, "item", params))
    return writes, {k: d for k, d in location_deltas.items() if holds[k]}


class PgStockRepository(Repository):
    """Stock levels in Postgres (StockRepository)."""

    def apply(
        self,
        locations: Sequence[LocationChange],
        warehouses: Sequence[WarehouseChange],
        *,
        lots: Sequence[LotChange] = (),
        serials: Sequence[SerialChange] = (),
        tracking: Mapping[UUID, Tracking] | None = None,
    ) -> list[WarehouseStock]:
        """Apply every change or none, in one round trip when all are allowed; return the
        warehouse levels changed, as they are after (ascending (item, warehouse)).

        A refused change leaves no trace: the rows already changed by the call are put back
        (they are still locked by this transaction, so nothing else saw them), and the call
        raises InsufficientStock naming the first refused row in lock order (with its lot, for
        a lot row) -- or SerialConflict for a serial not where the change says, InvalidOperation
        when ``reserved`` would go negative, LimitExceeded when a level or an item's total would
        pass MAX_TOTAL in magnitude, ConcurrencyConflict when the item's tracking changed or the
        row changed in between so that it would now be allowed.
        """
        writes, deltas = plan_writes(
            locations, warehouses, lots=lots, serials=serials, tracking=tracking
        )
        if not writes:
            return []
        batch = self._batch()
        cursors = batch.run([(w.sql, w.params) for w in writes], deltas=deltas)
        results = [cursor.fetchone() for cursor in cursors]
        if all(row is not None for row in results):
            return warehouse_levels(writes, results)
        undo: list[Statement] = [
            (w.forget if row[0] else w.undo, w.params)
            for w, row in zip(writes, results, strict=True)
            if row is not None and w.undo is not None and w.forget is not None
        ]
        raise refusal(batch, writes, results, undo=undo)

    def on_hand(self, keys: Collection[StockKey], *, lock: bool = False) -> dict[StockKey, int]:
        """On hand per (item, location); absent rows count 0 and are included. With ``lock`` the
        rows (created at 0 if absent) stay locked until the transaction ends -- stock-holding
        ones first, then virtual ones, as in the global lock order."""
        result = dict.fromkeys(keys, 0)
        if not result:
            return result
        params = {
            "item_ids": UuidArray(item for item, _ in result),
            "location_ids": UuidArray(location for _, location in result),
        }
        if lock:
            _, cursor = self._batch().run([(ENSURE_LOCATION_ROWS, params), (LOCK_ON_HAND, params)])
            rows = cursor.fetchall()
        else:
            rows = self._rows(ON_HAND, params)
        for item_id, location_id, on_hand in rows:
            result[(item_id, location_id)] = on_hand
        return result

    def lot_on_hand(self, keys: Collection[LotKey]) -> dict[LotKey, int]:
        """On hand per (item, location, lot); absent rows count 0 and are included."""
        result = dict.fromkeys(keys, 0)
        if not result:
            return result
        rows = self._rows(
            LOT_ON_HAND,
            {
                "item_ids": UuidArray(item for item, _, _ in result),
                "location_ids": UuidArray(location for _, location, _ in result),
                "lot_ids": UuidArray(lot for _, _, lot in result),
            },
        )
        for item_id, location_id, lot_id, on_hand in rows:
            result[(item_id, location_id, lot_id)] = on_hand
        return result

    def lot_levels(
        self, query: LotLevelQuery, *, after: tuple[UUID, UUID] | None, limit: int | None
    ) -> list[LotLevel]:
        """Non-zero per-lot levels at stock-holding locations, ascending (lot_id, location_id),
        strictly after ``after``."""
        rows = self._rows(
            LOT_LEVELS,
            {
                "item_id": query.item_id,
                "lot_id": query.lot_id,
                "warehouse_id": query.warehouse_id,
                "after_lot": after[0] if after else None,
                "after_location": after[1] if after else None,
                "limit": limit,
            },
        )
        return [LotLevel(*row) for row in rows]

    def serial_levels(
        self, query: SerialQuery, *, after: str | None, limit: int | None
    ) -> list[SerialLevel]:
        """The item's serial numbers in stock, ascending serial, strictly after ``after``."""
        rows = self._rows(
            SERIAL_LEVELS,
            {
                "item_id": query.item_id,
                "location_id": query.location_id,
                "warehouse_id": query.warehouse_id,
                "after": after,
                "limit": limit,
            },
        )
        return [SerialLevel(*row) for row in rows]

    def serial(self, item_id: UUID, serial: str) -> SerialLevel | None:
        """Where a serial number of the item is (``location_id`` None: not in stock), or None
        when no movement ever named it."""
        rows = self._rows(SERIAL, {"item_id": item_id, "serial": serial})
        return SerialLevel(*rows[0]) if rows else None

    def has_stock(self, item_id: UUID) -> bool:
        """Whether any stock-holding location has on hand of the item."""
        rows = self._rows(HAS_STOCK, {"item_id": item_id})
        return bool(rows[0][0])

    def location_levels(
        self, query: LocationStockQuery, *, after: StockKey | None, limit: int | None
    ) -> list[LocationStock]:
        """Non-zero levels at stock-holding locations, ascending (item_id, location_id)."""
        rows = self._rows(
            LOCATION_LEVELS,
            {
                "item_id": query.item_id,
                "location_id": query.location_id,
                "warehouse_id": query.warehouse_id,
                "after_item": after[0] if after else None,
                "after_location": after[1] if after else None,
                "limit": limit,
            },
        )
        return [LocationStock(*row) for row in rows]

    def warehouse_levels(
        self,
        query: WarehouseStockQuery,
        *,
        now: datetime,
        after: StockKey | None,
        limit: int | None,
    ) -> list[WarehouseStock]:
        """Warehouse levels that ever existed, ascending (item_id, warehouse_id); ``reserved``
        leaves out active reservations overdue at ``now``."""
        rows = self._rows(
            WAREHOUSE_LEVELS,
            {
                "now": now,
                "item_id": query.item_id,
                "warehouse_id": query.warehouse_id,
                "below_reorder": query.below_reorder,
                "after_item": after[0] if after else None,
                "after_warehouse": after[1] if after else None,
                "limit": limit,
            },
        )
        return [WarehouseStock(*row) for row in rows]

    def item_levels(self, item_id: UUID, *, now: datetime) -> ItemLevels | None:
        """All levels of one item from one statement (one snapshot), or None when the item does
        not exist."""
        rows = self._rows(ITEM_LEVELS, {"item_id": item_id, "now": now})
        if not rows or rows[0][0] != 0:
            return None
        warehouses: list[WarehouseStock] = []
        locations: list[LocationStock] = []
        lots: list[LotLevel] = []
        serials: list[SerialLevel] = []
        for row in rows[1:]:
            part, warehouse_id, location_id, on_hand, reserved, lot_id, code, expires, serial = row
            if part == 1:
                warehouses.append(WarehouseStock(item_id, warehouse_id, on_hand, reserved))
            elif part == 2:
                locations.append(LocationStock(item_id, location_id, warehouse_id, on_hand))
            elif part == 3:
                lots.append(LotLevel(lot_id, code, expires, location_id, warehouse_id, on_hand))
            else:
                serials.append(SerialLevel(serial, location_id, warehouse_id))
        return ItemLevels(tuple(warehouses), tuple(locations), tuple(lots), tuple(serials))


def warehouse_levels(
    writes: Sequence[_Write], results: Sequence[tuple[Any, ...] | None]
) -> list[WarehouseStock]:
    """The warehouse levels after an applied call, from what its warehouse statements returned
    (planned in ascending (item, warehouse) order)."""
    return [
        WarehouseStock(w.params["item_id"], w.params["warehouse_id"], row[1], row[2])
        for w, row in zip(writes, results, strict=True)
        if w.kind == "warehouse" and row is not None
    ]


_LEVEL: dict[_LevelKind, LiteralString] = {
    "location": LOCATION_LEVEL,
    "lot": LOT_LEVEL,
    "serial": SERIAL_PLACE,
    "warehouse": WAREHOUSE_LEVEL,
    "item": ITEM_TOTALS,
}
"""What judging a refusal reads, per kind of refused statement."""


def refusal(
    batch: StatementBatch,
    writes: Sequence[_Write],
    results: Sequence[tuple[Any, ...] | None],
    *,
    undo: Sequence[Statement] = (),
) -> Exception:
    """Why a batch of ``writes`` was refused (``results`` holds None for each refused one): the
    error for the first refused row in lock order -- the order the in-memory adapter judges
    changes in -- judged on the row as it is now. One round trip, which also carries ``undo``
    and whatever the batch owes (such as the rollback of the batch)."""
    first = next(w for w, row in zip(writes, results, strict=True) if row is None)
    *_, cursor = batch.run([*undo, (_LEVEL[first.kind], first.params)])
    return _refusal(first, cursor.fetchone())


def _beyond(value: int) -> bool:
    return not -MAX_TOTAL <= value <= MAX_TOTAL


def _refusal(write: _Write, current: tuple[Any, ...] | None) -> Exception:
    """Why ``write`` was refused, judged on the row as it is now (the same rules, in the same
    order, as the in-memory adapter)."""
    p = write.params
    if write.kind in ("location", "lot"):
        on_hand = current[0] if current else 0
        lot_id = p.get("lot_id")
        if p["holds_stock"] and on_hand + p["delta"] < 0:
            return InsufficientStock(
                item_id=p["item_id"],
                location_id=p["location_id"],
                available=on_hand,
                requested=-p["delta"],
                lot_id=lot_id,
            )
        if _beyond(on_hand + p["delta"]) or _beyond(p["delta"]):
            return LimitExceeded(
                item_id=p["item_id"],
                location_id=p["location_id"],
                level="on_hand",
                current=on_hand,
                change=p["delta"],
                limit=MAX_TOTAL,
            )
    elif write.kind == "serial":
        now = current[0] if current else None
        if now != p["from_id"]:
            return SerialConflict(item_id=p["item_id"], serial=p["serial"], location_id=now)
    elif write.kind == "warehouse":
        on_hand, reserved = current if current else (0, 0)
        new_on_hand, new_reserved = on_hand + p["on_hand_delta"], reserved + p["reserved_delta"]
        if new_reserved < 0:
            return InvalidOperation(
                f"reserved of item {p['item_id']} in warehouse {p['warehouse_id']} "
                "would go negative"
            )
        if p["guard"] and new_on_hand - new_reserved < 0:
            return InsufficientStock(
                item_id=p["item_id"],
                location_id=p["warehouse_id"],
                available=on_hand - reserved,
                requested=p["reserved_delta"] - p["on_hand_delta"],
            )
        if new_on_hand < 0:
            return InsufficientStock(
                item_id=p["item_id"],
                location_id=p["warehouse_id"],
                available=on_hand,
                requested=-p["on_hand_delta"],
            )
        if beyond := _limit_exceeded(p, p["warehouse_id"], on_hand, reserved):
            return beyond
    else:  # the item's totals, as sums over its warehouses (numeric: never overflowing)
        on_hand, reserved, stored_tracking = current if current else (0, 0, None)
        if beyond := _limit_exceeded(p, None, int(on_hand), int(reserved)):
            return beyond
        if p["tracking"] is not None and stored_tracking != p["tracking"]:
            return ConcurrencyConflict(
                f"the tracking of item {p['item_id']} changed meanwhile (now "
                f"{stored_tracking}); retry"
            )
    # Refused a moment ago, allowed now: the row changed under us. Retrying is the answer.
    return ConcurrencyConflict("a stock level changed while it was being updated; retry")


def _limit_exceeded(
    p: dict[str, Any], where: UUID | None, on_hand: int, reserved: int
) -> LimitExceeded | None:
    """The LimitExceeded of a warehouse (``where``) or item (None) change, if it is one. An
    item's totals are checked only where they grow (see ITEM_CHECK)."""
    for level, current, change in (
        ("on_hand", on_hand, p["on_hand_delta"]),
        ("reserved", reserved, p["reserved_delta"]),
    ):
        if where is None and change <= 0:
            continue
        if _beyond(current + change) or _beyond(change):
            return LimitExceeded(
                item_id=p["item_id"],
                location_id=where,
                level=level,
                current=current,
                change=change,
                limit=MAX_TOTAL,
            )
    return None
