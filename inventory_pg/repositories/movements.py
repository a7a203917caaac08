"""The append-only movement ledger.

How ``seq`` stays in commit order: :data:`APPEND_MOVEMENT` takes the next number by updating
the single row of ``ledger_seq`` in the appending transaction. That row stays locked until the
transaction ends, so the next append (in any other transaction) waits, and gets its number only
after this transaction has committed -- PostgreSQL releases row locks after the commit is
visible -- or rolled back (the number is then handed out again). Hence if a reader can see
``seq = n``, every movement with a smaller seq was committed, and visible, before it: a reader
paging with ``after=seq`` never skips one. The lock is taken by the last statement of a movement
(after the stock levels), so it is held only for the tail of the transaction; the price is that
appends of concurrent transactions are serialised from that point to their commit.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

import attrs

from inventory_core.errors import AlreadyExists
from inventory_core.movements import AdjustmentReason, Movement, MovementLine
from inventory_core.ports import MovementQuery
from inventory_core.stock import LocationChange, WarehouseChange
from inventory_pg._adapt import BigintArray, UuidArray
from inventory_pg.repositories._base import Repository
from inventory_pg.repositories.stock import plan_writes, refusal

__all__ = ["PgMovementRepository"]

# One statement appends the whole movement: seq, header, lines. A second reversal of the same
# movement inserts nothing (ON CONFLICT on the unique reverses_id) instead of failing, so the
# transaction stays usable and the caller gets AlreadyExists.
APPEND_MOVEMENT = """
WITH next_seq AS (
    UPDATE ledger_seq SET last_seq = last_seq + 1 RETURNING last_seq
), movement AS (
    INSERT INTO movements (id, seq, kind, reason, actor_id, occurred_at, recorded_at, reference,
                           note, reverses_id, reservation_id)
    SELECT %(id)s, next_seq.last_seq, %(kind)s, %(reason)s, %(actor_id)s, %(occurred_at)s,
           %(recorded_at)s, %(reference)s, %(note)s, %(reverses_id)s, %(reservation_id)s
    FROM next_seq
    ON CONFLICT (reverses_id) DO NOTHING
    RETURNING seq
), lines AS (
    INSERT INTO movement_lines (movement_id, line_no, seq, item_id, quantity, from_location_id,
                                to_location_id)
    SELECT %(id)s, l.line_no, movement.seq, l.item_id, l.quantity, l.from_id, l.to_id
    FROM movement,
         unnest(%(item_ids)s::uuid[], %(quantities)s::bigint[], %(from_ids)s::uuid[],
                %(to_ids)s::uuid[]) WITH ORDINALITY AS l(item_id, quantity, from_id, to_id, line_no)
)
SELECT seq FROM movement
"""

_COLUMNS = """
    m.id, m.seq, m.kind, m.reason, m.actor_id, m.occurred_at, m.recorded_at, m.reference,
    m.note, m.reverses_id, m.reservation_id,
    l.item_ids, l.quantities, l.from_ids, l.to_ids
"""
_LINES = """
CROSS JOIN LATERAL (
    SELECT array_agg(x.item_id ORDER BY x.line_no) AS item_ids,
           array_agg(x.quantity ORDER BY x.line_no) AS quantities,
           array_agg(x.from_location_id ORDER BY x.line_no) AS from_ids,
           array_agg(x.to_location_id ORDER BY x.line_no) AS to_ids
    FROM movement_lines x WHERE x.movement_id = m.id
) l
"""

SELECT_MOVEMENT = "SELECT" + _COLUMNS + "FROM movements m" + _LINES + "WHERE m.id = %(id)s"
SELECT_REVERSAL = "SELECT" + _COLUMNS + "FROM movements m" + _LINES + "WHERE m.reverses_id = %(id)s"

LIST_MOVEMENTS = (
    "SELECT"
    + _COLUMNS
    + "FROM movements m"
    + _LINES
    + "WHERE m.seq > %(after)s ORDER BY m.seq LIMIT %(limit)s"
)

# The filtered listings find the seqs first through the (item_id, seq) / (location, seq) indexes
# of the lines, so a rare item or location does not mean scanning the whole ledger.
LIST_MOVEMENTS_OF_ITEM = (
    "WITH hits AS ("  # noqa: S608 -- constant fragments only; values are always bound
    + """
    SELECT DISTINCT seq FROM movement_lines
    WHERE item_id = %(item_id)s AND seq > %(after)s
    ORDER BY seq LIMIT %(limit)s
)
SELECT"""
    + _COLUMNS
    + "FROM hits JOIN movements m ON m.seq = hits.seq"
    + _LINES
    + "ORDER BY m.seq"
)

LIST_MOVEMENTS_AT_LOCATION = (
    "WITH hits AS ("  # noqa: S608 -- constant fragments only; values are always bound
    + """
    (SELECT seq FROM movement_lines
     WHERE from_location_id = %(location_id)s AND seq > %(after)s ORDER BY seq LIMIT %(limit)s)
    UNION
    (SELECT seq FROM movement_lines
     WHERE to_location_id = %(location_id)s AND seq > %(after)s ORDER BY seq LIMIT %(limit)s)
    ORDER BY seq LIMIT %(limit)s
)
SELECT"""
    + _COLUMNS
    + "FROM hits JOIN movements m ON m.seq = hits.seq"
    + _LINES
    + "ORDER BY m.seq"
)

# Both filters: any line has the item and any line (not necessarily the same) the location.
LIST_MOVEMENTS_OF_ITEM_AT_LOCATION = (
    "WITH hits AS ("  # noqa: S608 -- constant fragments only; values are always bound
    + """
    SELECT DISTINCT x.seq FROM movement_lines x
    WHERE x.item_id = %(item_id)s AND x.seq > %(after)s
      AND EXISTS (SELECT 1 FROM movement_lines y
                  WHERE y.movement_id = x.movement_id
                    AND (y.from_location_id = %(location_id)s
                         OR y.to_location_id = %(location_id)s))
    ORDER BY x.seq LIMIT %(limit)s
)
SELECT"""
    + _COLUMNS
    + "FROM hits JOIN movements m ON m.seq = hits.seq"
    + _LINES
    + "ORDER BY m.seq"
)


def _movement(row: tuple[Any, ...]) -> Movement:
    (
        id_,
        seq,
        kind,
        reason,
        actor_id,
        occurred,
        recorded,
        reference,
        note,
        reverses_id,
        reservation_id,
        item_ids,
        quantities,
        from_ids,
        to_ids,
    ) = row
    return Movement(
        id=id_,
        seq=seq,
        kind=kind,
        reason=AdjustmentReason(reason) if reason is not None else None,
        lines=tuple(
            MovementLine(item_id=i, quantity=q, from_location_id=f, to_location_id=t)
            for i, q, f, t in zip(item_ids, quantities, from_ids, to_ids, strict=True)
        ),
        actor_id=actor_id,
        occurred_at=occurred,
        recorded_at=recorded,
        reference=reference,
        note=note,
        reverses_id=reverses_id,
        reservation_id=reservation_id,
    )


class PgMovementRepository(Repository):
    """The ledger in Postgres (MovementRepository). Nothing here updates or deletes."""

    def append(
        self,
        movement: Movement,
        *,
        locations: Sequence[LocationChange] = (),
        warehouses: Sequence[WarehouseChange] = (),
    ) -> Movement:
        """Store a movement given with ``seq == 0`` and return it with its seq (commit-ordered,
        see the module docstring), applying its stock changes in the same round trip.
        AlreadyExists(field="reverses_id") when the reversed movement already has a reversal,
        (field="id") for a duplicate id; a refused stock change raises as
        :meth:`PgStockRepository.apply` does. After any of these nothing of the call remains.

        The level statements and the append go out in one batch inside a savepoint, so the level
        rows are locked for a single round trip before the COMMIT (the level rows of a busy item
        are what concurrent movements queue on). A refused level statement does not stop the
        batch -- it just returns no row -- so the append has run too: the savepoint is rolled
        back then, which undoes both without any UPDATE or DELETE of the ledger.
        """
        if movement.seq != 0:
            raise ValueError("append takes a movement whose seq is 0")
        lines = movement.lines
        params = {
            "id": movement.id,
            "kind": movement.kind.value,
            "reason": movement.reason.value if movement.reason is not None else None,
            "actor_id": movement.actor_id,
            "occurred_at": movement.occurred_at,
            "recorded_at": movement.recorded_at,
            "reference": movement.reference,
            "note": movement.note,
            "reverses_id": movement.reverses_id,
            "reservation_id": movement.reservation_id,
            "item_ids": UuidArray(line.item_id for line in lines),
            "quantities": BigintArray(line.quantity for line in lines),
            "from_ids": UuidArray(line.from_location_id for line in lines),
            "to_ids": UuidArray(line.to_location_id for line in lines),
        }
        writes, deltas = plan_writes(locations, warehouses)
        session = self._session()
        if not writes:
            (cursor,) = session.run([(APPEND_MOVEMENT, params)], values={"id": movement.id})
            row = cursor.fetchone()
            if row is None:
                raise AlreadyExists("movement", "reverses_id", movement.reverses_id)
            return attrs.evolve(movement, seq=row[0])
        *cursors, cursor = session.run(
            [*((w.sql, w.params) for w in writes), (APPEND_MOVEMENT, params)],
            atomic=True,
            keep_savepoint=True,
            values={"id": movement.id},
            deltas=deltas,
        )
        results = [c.fetchone() for c in cursors]
        row = cursor.fetchone()
        if row is not None and all(r is not None for r in results):
            return attrs.evolve(movement, seq=row[0])
        session.undo_call()
        if row is None:  # the undo is owed: it goes out first with the next batch, or the end
            raise AlreadyExists("movement", "reverses_id", movement.reverses_id)
        raise refusal(session, writes, results)

    def get(self, movement_id: UUID) -> Movement | None:
        """The movement with its lines, or None."""
        rows = self._rows(SELECT_MOVEMENT, {"id": movement_id})
        return _movement(rows[0]) if rows else None

    def reversal_of(self, movement_id: UUID) -> Movement | None:
        """The movement that reverses ``movement_id``, if any."""
        rows = self._rows(SELECT_REVERSAL, {"id": movement_id})
        return _movement(rows[0]) if rows else None

    def list(self, query: MovementQuery, *, after: int, limit: int) -> list[Movement]:
        """Ascending seq, strictly greater than ``after``; at most ``limit``."""
        params = {
            "after": after,
            "limit": limit,
            "item_id": query.item_id,
            "location_id": query.location_id,
        }
        if query.item_id is not None and query.location_id is not None:
            sql = LIST_MOVEMENTS_OF_ITEM_AT_LOCATION
        elif query.item_id is not None:
            sql = LIST_MOVEMENTS_OF_ITEM
        elif query.location_id is not None:
            sql = LIST_MOVEMENTS_AT_LOCATION
        else:
            sql = LIST_MOVEMENTS
        return [_movement(row) for row in self._rows(sql, params)]
