"""The append-only movement ledger and its feed.

How the feed stays complete without a global lock (DESIGN §9, invariant 5): an append takes its
``seq`` from a sequence -- nothing is held until commit, so concurrent movements that touch
different stock rows never wait for each other -- and records ``txn``, the id of the
transaction writing it (``inventory_feed_txn()``: ``pg_current_xact_id()`` plus an offset that
is 0 unless the database was restored from a logical dump, see migration 0002). Commit order is
then no longer seq order, so the feed is ordered by (txn, seq) and a listing serves only entries
whose ``txn`` is below the xmin of the statement's own snapshot
(``inventory_feed_horizon()``: ``pg_snapshot_xmin(pg_current_snapshot())`` plus the offset):
every transaction with a smaller id has ended, and every transaction still running, or yet to
start, has a larger one. So once an entry has been served, no entry can commit at an earlier
position: a reader resuming after the last position it got never misses one nor sees one twice.

The price: a transaction that stays open delays the feed for everyone (entries after its id are
held back until it ends), including one in another database of the same cluster. See
docs/decisions.md, "The feed".
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from uuid import UUID

import attrs

from inventory_core.errors import AlreadyExists
from inventory_core.events import Event
from inventory_core.feed import FeedPosition
from inventory_core.lots import Tracking
from inventory_core.movements import AdjustmentReason, Movement, MovementLine, Posted
from inventory_core.ports import MovementQuery
from inventory_core.stock import LocationChange, LotChange, SerialChange, WarehouseChange
from inventory_pg._adapt import BigintArray, UuidArray
from inventory_pg._batch import Statement
from inventory_pg.repositories._base import Repository
from inventory_pg.repositories.events import event_params
from inventory_pg.repositories.stock import plan_writes, refusal, warehouse_levels

__all__ = ["PgMovementRepository"]

# One statement appends the whole movement: header and lines, with the next seq and this
# transaction's id. A second reversal of the same movement inserts nothing (ON CONFLICT on the
# unique reverses_id) instead of failing, so the transaction stays usable and the caller gets
# AlreadyExists. (Its seq is used up: seqs are unique, not dense.)
APPEND_MOVEMENT = """
WITH movement AS (
    INSERT INTO movements (id, seq, txn, kind, reason, actor_id, occurred_at, recorded_at,
                           reference, note, reverses_id, reservation_id)
    VALUES (%(id)s, nextval('movement_seq'), inventory_feed_txn(), %(kind)s, %(reason)s,
            %(actor_id)s, %(occurred_at)s, %(recorded_at)s, %(reference)s, %(note)s,
            %(reverses_id)s, %(reservation_id)s)
    ON CONFLICT (reverses_id) DO NOTHING
    RETURNING seq, txn
), lines AS (
    INSERT INTO movement_lines (movement_id, line_no, seq, txn, item_id, quantity,
                                from_location_id, to_location_id)
    SELECT %(id)s, l.line_no, movement.seq, movement.txn, l.item_id, l.quantity, l.from_id,
           l.to_id
    FROM movement,
         unnest(%(item_ids)s::uuid[], %(quantities)s::bigint[], %(from_ids)s::uuid[],
                %(to_ids)s::uuid[]) WITH ORDINALITY AS l(item_id, quantity, from_id, to_id, line_no)
)
SELECT seq FROM movement
"""

# APPEND_MOVEMENT for a movement with a line of a tracked item: each line also carries its lot
# (id and code) or its serial numbers, NULL where it has none. The serials of all lines travel
# as one flat array, each line taking the slice that starts after ``serial_starts`` (as many as
# its ``serial_counts``): SQL arrays cannot be ragged.
APPEND_TRACKED_MOVEMENT = """
WITH movement AS (
    INSERT INTO movements (id, seq, txn, kind, reason, actor_id, occurred_at, recorded_at,
                           reference, note, reverses_id, reservation_id)
    VALUES (%(id)s, nextval('movement_seq'), inventory_feed_txn(), %(kind)s, %(reason)s,
            %(actor_id)s, %(occurred_at)s, %(recorded_at)s, %(reference)s, %(note)s,
            %(reverses_id)s, %(reservation_id)s)
    ON CONFLICT (reverses_id) DO NOTHING
    RETURNING seq, txn
), lines AS (
    INSERT INTO movement_lines (movement_id, line_no, seq, txn, item_id, quantity,
                                from_location_id, to_location_id, lot_id, lot, serials)
    SELECT %(id)s, l.line_no, movement.seq, movement.txn, l.item_id, l.quantity, l.from_id,
           l.to_id, l.lot_id, l.lot,
           CASE WHEN l.serial_count > 0
                THEN (%(serials)s::text[])[l.serial_start + 1 : l.serial_start + l.serial_count]
           END
    FROM movement,
         unnest(%(item_ids)s::uuid[], %(quantities)s::bigint[], %(from_ids)s::uuid[],
                %(to_ids)s::uuid[], %(lot_ids)s::uuid[], %(lots)s::text[],
                %(serial_starts)s::int[], %(serial_counts)s::int[])
             WITH ORDINALITY AS l(item_id, quantity, from_id, to_id, lot_id, lot, serial_start,
                                  serial_count, line_no)
)
SELECT seq FROM movement
"""

# The movement.posted event of an append, sent right after it in the same batch. Its data was
# presented before the seq existed; the seq is set here from the row just appended. The text
# replaced is unambiguous: compact JSON has `"seq":0,` only as the movement's own key (a `"`
# inside a string value is always escaped as `\"`). No row (a refused reversal): no event.
APPEND_MOVEMENT_EVENT = """
INSERT INTO events (seq, txn, id, type, occurred_at, data)
SELECT nextval('event_seq'), inventory_feed_txn(), %(event_id)s, %(event_type)s,
       %(event_occurred_at)s, replace(%(event_data)s, '"seq":0,', '"seq":' || m.seq || ',')::json
FROM movements m WHERE m.id = %(id)s
"""

_COLUMNS = """
    m.id, m.seq, m.kind, m.reason, m.actor_id, m.occurred_at, m.recorded_at, m.reference,
    m.note, m.reverses_id, m.reservation_id,
    l.item_ids, l.quantities, l.from_ids, l.to_ids, l.tracked, m.txn::text::bigint
"""
# ``tracked``: [line_no, lot_id, lot, serials] of the lines that have a lot or serials, as JSON
# (serial arrays differ in length, which SQL arrays cannot hold); NULL when no line has.
_LINES = """
CROSS JOIN LATERAL (
    SELECT array_agg(x.item_id ORDER BY x.line_no) AS item_ids,
           array_agg(x.quantity ORDER BY x.line_no) AS quantities,
           array_agg(x.from_location_id ORDER BY x.line_no) AS from_ids,
           array_agg(x.to_location_id ORDER BY x.line_no) AS to_ids,
           json_agg(json_build_array(x.line_no, x.lot_id, x.lot, x.serials))
               FILTER (WHERE x.lot_id IS NOT NULL OR x.serials IS NOT NULL) AS tracked
    FROM movement_lines x WHERE x.movement_id = m.id
) l
"""

SELECT_MOVEMENT = "SELECT" + _COLUMNS + "FROM movements m" + _LINES + "WHERE m.id = %(id)s"
SELECT_REVERSAL = "SELECT" + _COLUMNS + "FROM movements m" + _LINES + "WHERE m.reverses_id = %(id)s"
SELECT_MOVEMENTS = (
    "SELECT" + _COLUMNS + "FROM movements m" + _LINES + "WHERE m.id = ANY(%(ids)s) ORDER BY m.seq"
)
"""Several movements by id, in seq order (what a bulk import appended, to record its events)."""

# Every listing: entries after the position (txn, seq), and only those of transactions below
# the snapshot's xmin -- all of which have ended (see the module docstring).
LIST_MOVEMENTS = (
    "SELECT"
    + _COLUMNS
    + "FROM movements m"
    + _LINES
    + """
WHERE (m.txn, m.seq) > (%(after_txn)s::text::xid8, %(after_seq)s)
  AND m.txn < (SELECT inventory_feed_horizon())
ORDER BY m.txn, m.seq LIMIT %(limit)s
"""
)

# The whole ledger without the guard, for checks at rest (MovementRepository.ledger): what has
# committed, in feed order, whatever still runs.
LIST_LEDGER = (
    "SELECT"
    + _COLUMNS
    + "FROM movements m"
    + _LINES
    + """
WHERE (m.txn, m.seq) > (%(after_txn)s::text::xid8, %(after_seq)s)
ORDER BY m.txn, m.seq LIMIT %(limit)s
"""
)

# The filtered listings find the entries first through the (item_id, txn, seq) and
# (location, txn, seq) indexes of the lines, so a rare item or location does not mean scanning
# the whole ledger. One statement, one snapshot: the guard holds for the whole of it.
# ``at_rest`` drops the guard: MovementRepository.ledger, for checks of a ledger at rest.
LIST_MOVEMENTS_OF_ITEM = (
    "WITH hits AS ("  # noqa: S608 -- constant fragments only; values are always bound
    + """
    SELECT DISTINCT txn, seq FROM movement_lines
    WHERE item_id = %(item_id)s
      AND (txn, seq) > (%(after_txn)s::text::xid8, %(after_seq)s)
      AND (%(at_rest)s::boolean OR txn < (SELECT inventory_feed_horizon()))
    ORDER BY txn, seq LIMIT %(limit)s
)
SELECT"""
    + _COLUMNS
    + "FROM hits JOIN movements m ON m.seq = hits.seq"
    + _LINES
    + "ORDER BY m.txn, m.seq"
)

LIST_MOVEMENTS_AT_LOCATION = (
    "WITH hits AS ("  # noqa: S608 -- constant fragments only; values are always bound
    + """
    (SELECT txn, seq FROM movement_lines
     WHERE from_location_id = %(location_id)s
       AND (txn, seq) > (%(after_txn)s::text::xid8, %(after_seq)s)
       AND (%(at_rest)s::boolean OR txn < (SELECT inventory_feed_horizon()))
     ORDER BY txn, seq LIMIT %(limit)s)
    UNION
    (SELECT txn, seq FROM movement_lines
     WHERE to_location_id = %(location_id)s
       AND (txn, seq) > (%(after_txn)s::text::xid8, %(after_seq)s)
       AND (%(at_rest)s::boolean OR txn < (SELECT inventory_feed_horizon()))
     ORDER BY txn, seq LIMIT %(limit)s)
    ORDER BY txn, seq LIMIT %(limit)s
)
SELECT"""
    + _COLUMNS
    + "FROM hits JOIN movements m ON m.seq = hits.seq"
    + _LINES
    + "ORDER BY m.txn, m.seq"
)

# Both filters: any line has the item and any line (not necessarily the same) the location.
LIST_MOVEMENTS_OF_ITEM_AT_LOCATION = (
    "WITH hits AS ("  # noqa: S608 -- constant fragments only; values are always bound
    + """
    SELECT DISTINCT x.txn, x.seq FROM movement_lines x
    WHERE x.item_id = %(item_id)s
      AND (x.txn, x.seq) > (%(after_txn)s::text::xid8, %(after_seq)s)
      AND (%(at_rest)s::boolean OR x.txn < (SELECT inventory_feed_horizon()))
      AND EXISTS (SELECT 1 FROM movement_lines y
                  WHERE y.movement_id = x.movement_id
                    AND (y.from_location_id = %(location_id)s
                         OR y.to_location_id = %(location_id)s))
    ORDER BY x.txn, x.seq LIMIT %(limit)s
)
SELECT"""
    + _COLUMNS
    + "FROM hits JOIN movements m ON m.seq = hits.seq"
    + _LINES
    + "ORDER BY m.txn, m.seq"
)

# Every movement of a lot (a recall), through the partial (lot_id, txn, seq) index of the lines,
# which gives them in feed order: as LIST_MOVEMENTS_OF_ITEM, with the lot instead of the item.
LIST_MOVEMENTS_OF_LOT = (
    "WITH hits AS ("  # noqa: S608 -- constant fragments only; values are always bound
    + """
    SELECT DISTINCT txn, seq FROM movement_lines
    WHERE lot_id = %(lot_id)s
      AND (txn, seq) > (%(after_txn)s::text::xid8, %(after_seq)s)
      AND (%(at_rest)s::boolean OR txn < (SELECT inventory_feed_horizon()))
    ORDER BY txn, seq LIMIT %(limit)s
)
SELECT"""
    + _COLUMNS
    + "FROM hits JOIN movements m ON m.seq = hits.seq"
    + _LINES
    + "ORDER BY m.txn, m.seq"
)

# The lot with more filters (rare): the lot's lines still find the entries; the other filters
# are checked on each entry found (any line of the item, any line at the location, a line
# listing the serial -- of the item, when both are given).
LIST_MOVEMENTS_OF_LOT_FILTERED = (
    "WITH hits AS ("  # noqa: S608 -- constant fragments only; values are always bound
    + """
    SELECT DISTINCT x.txn, x.seq FROM movement_lines x
    WHERE x.lot_id = %(lot_id)s
      AND (x.txn, x.seq) > (%(after_txn)s::text::xid8, %(after_seq)s)
      AND (%(at_rest)s::boolean OR x.txn < (SELECT inventory_feed_horizon()))
      AND (%(item_id)s::uuid IS NULL
           OR EXISTS (SELECT 1 FROM movement_lines y
                      WHERE y.movement_id = x.movement_id AND y.item_id = %(item_id)s::uuid))
      AND (%(location_id)s::uuid IS NULL
           OR EXISTS (SELECT 1 FROM movement_lines y
                      WHERE y.movement_id = x.movement_id
                        AND (y.from_location_id = %(location_id)s::uuid
                             OR y.to_location_id = %(location_id)s::uuid)))
      AND (%(serial)s::text IS NULL
           OR EXISTS (SELECT 1 FROM movement_lines y
                      WHERE y.movement_id = x.movement_id
                        AND y.serials @> ARRAY[%(serial)s::text]
                        AND (%(item_id)s::uuid IS NULL OR y.item_id = %(item_id)s::uuid)))
    ORDER BY x.txn, x.seq LIMIT %(limit)s
)
SELECT"""
    + _COLUMNS
    + "FROM hits JOIN movements m ON m.seq = hits.seq"
    + _LINES
    + "ORDER BY m.txn, m.seq"
)

# Every movement of a serial number, through the partial GIN index on the lines' serials (a
# serial's lines are few: sorting them costs nothing). With ``item_id`` the line listing it must
# be of that item; with ``location_id`` any line of the entry must be from or to it.
LIST_MOVEMENTS_OF_SERIAL = (
    "WITH hits AS ("  # noqa: S608 -- constant fragments only; values are always bound
    + """
    SELECT DISTINCT x.txn, x.seq FROM movement_lines x
    WHERE x.serials @> ARRAY[%(serial)s::text]
      AND (%(item_id)s::uuid IS NULL OR x.item_id = %(item_id)s::uuid)
      AND (x.txn, x.seq) > (%(after_txn)s::text::xid8, %(after_seq)s)
      AND (%(at_rest)s::boolean OR x.txn < (SELECT inventory_feed_horizon()))
      AND (%(location_id)s::uuid IS NULL
           OR EXISTS (SELECT 1 FROM movement_lines y
                      WHERE y.movement_id = x.movement_id
                        AND (y.from_location_id = %(location_id)s::uuid
                             OR y.to_location_id = %(location_id)s::uuid)))
    ORDER BY x.txn, x.seq LIMIT %(limit)s
)
SELECT"""
    + _COLUMNS
    + "FROM hits JOIN movements m ON m.seq = hits.seq"
    + _LINES
    + "ORDER BY m.txn, m.seq"
)


def _event_params(event: Event) -> dict[str, Any]:
    params = event_params(event)
    return {
        "event_id": params["id"],
        "event_type": params["type"],
        "event_occurred_at": params["occurred_at"],
        "event_data": params["data"],
    }


def movement_of(row: tuple[Any, ...]) -> Movement:
    """A movement from a row of the SELECT_* queries."""
    return _movement(row)


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
        tracked,
        _txn,
    ) = row
    lines = [
        MovementLine(item_id=i, quantity=q, from_location_id=f, to_location_id=t)
        for i, q, f, t in zip(item_ids, quantities, from_ids, to_ids, strict=True)
    ]
    for line_no, lot_id, lot, serials in tracked or ():
        lines[line_no - 1] = attrs.evolve(
            lines[line_no - 1],
            lot_id=UUID(lot_id) if lot_id is not None else None,
            lot=lot,
            serials=tuple(serials or ()),
        )
    return Movement(
        id=id_,
        seq=seq,
        kind=kind,
        reason=AdjustmentReason(reason) if reason is not None else None,
        lines=tuple(lines),
        actor_id=actor_id,
        occurred_at=occurred,
        recorded_at=recorded,
        reference=reference,
        note=note,
        reverses_id=reverses_id,
        reservation_id=reservation_id,
    )


def _tracked_params(lines: Sequence[MovementLine]) -> dict[str, Any]:
    """The lots and serials of the lines, as APPEND_TRACKED_MOVEMENT takes them."""
    starts: list[int] = []
    flat: list[str] = []
    for line in lines:
        starts.append(len(flat))
        flat += line.serials
    return {
        "lot_ids": [line.lot_id for line in lines],
        "lots": [line.lot for line in lines],
        "serial_starts": starts,
        "serial_counts": [len(line.serials) for line in lines],
        "serials": flat,
    }


class PgMovementRepository(Repository):
    """The ledger in Postgres (MovementRepository). Nothing here updates or deletes."""

    def append(
        self,
        movement: Movement,
        *,
        locations: Sequence[LocationChange] = (),
        warehouses: Sequence[WarehouseChange] = (),
        lots: Sequence[LotChange] = (),
        serials: Sequence[SerialChange] = (),
        tracking: Mapping[UUID, Tracking] | None = None,
        posted_event: Event | None = None,
    ) -> Posted:
        """Store a movement given with ``seq == 0`` and return it with its seq (see the module
        docstring for the feed's order), applying its stock changes in the same round trip.
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
        append = APPEND_MOVEMENT
        if any(line.lot_id is not None or line.serials for line in lines):
            append = APPEND_TRACKED_MOVEMENT
            params |= _tracked_params(lines)
        appends: list[Statement] = [(append, params)]
        if posted_event is not None:
            appends.append((APPEND_MOVEMENT_EVENT, {**params, **_event_params(posted_event)}))
        writes, deltas = plan_writes(
            locations, warehouses, lots=lots, serials=serials, tracking=tracking
        )
        batch = self._batch()
        if not writes:
            cursor, *_ = batch.run(appends, values={"id": movement.id})
            row = cursor.fetchone()
            if row is None:
                raise AlreadyExists("movement", "reverses_id", movement.reverses_id)
            return Posted(attrs.evolve(movement, seq=row[0]), ())
        sent = batch.run(
            [*((w.sql, w.params) for w in writes), *appends],
            atomic=True,
            keep_savepoint=True,
            values={"id": movement.id},
            deltas=deltas,
        )
        results = [c.fetchone() for c in sent[: len(writes)]]
        row = sent[len(writes)].fetchone()
        if row is not None and all(r is not None for r in results):
            return Posted(
                attrs.evolve(movement, seq=row[0]), tuple(warehouse_levels(writes, results))
            )
        batch.undo_call()
        if row is None:  # the undo is owed: it goes out first with the next batch, or the end
            raise AlreadyExists("movement", "reverses_id", movement.reverses_id)
        raise refusal(batch, writes, results)

    def get(self, movement_id: UUID) -> Movement | None:
        """The movement with its lines, or None."""
        rows = self._rows(SELECT_MOVEMENT, {"id": movement_id})
        return _movement(rows[0]) if rows else None

    def reversal_of(self, movement_id: UUID) -> Movement | None:
        """The movement that reverses ``movement_id``, if any."""
        rows = self._rows(SELECT_REVERSAL, {"id": movement_id})
        return _movement(rows[0]) if rows else None

    def _list(
        self, query: MovementQuery, *, after: FeedPosition, limit: int, at_rest: bool
    ) -> list[tuple[FeedPosition, Movement]]:
        params = {
            "after_txn": after.txn,
            "after_seq": after.seq,
            "limit": limit,
            "at_rest": at_rest,
            "item_id": query.item_id,
            "location_id": query.location_id,
            "lot_id": query.lot_id,
            "serial": query.serial,
        }
        if query.lot_id is not None:
            others = (query.item_id, query.location_id, query.serial)
            plain = all(other is None for other in others)
            sql = LIST_MOVEMENTS_OF_LOT if plain else LIST_MOVEMENTS_OF_LOT_FILTERED
        elif query.serial is not None:
            sql = LIST_MOVEMENTS_OF_SERIAL
        elif query.item_id is not None and query.location_id is not None:
            sql = LIST_MOVEMENTS_OF_ITEM_AT_LOCATION
        elif query.item_id is not None:
            sql = LIST_MOVEMENTS_OF_ITEM
        elif query.location_id is not None:
            sql = LIST_MOVEMENTS_AT_LOCATION
        else:
            sql = LIST_LEDGER if at_rest else LIST_MOVEMENTS
        return [(FeedPosition(row[-1], row[1]), _movement(row)) for row in self._rows(sql, params)]

    def ledger(
        self, *, after: FeedPosition, limit: int, query: MovementQuery | None = None
    ) -> list[tuple[FeedPosition, Movement]]:
        """Every committed movement after ``after`` (matching ``query`` as :meth:`list`
        matches), without the feed's guard (for checks)."""
        return self._list(query or MovementQuery(), after=after, limit=limit, at_rest=True)

    def list(
        self, query: MovementQuery, *, after: FeedPosition, limit: int
    ) -> list[tuple[FeedPosition, Movement]]:
        """The feed after ``after``, at most ``limit`` entries (see the module docstring)."""
        return self._list(query, after=after, limit=limit, at_rest=False)
