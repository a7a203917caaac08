"""Bulk receipts: many lines loaded with COPY, checked in SQL and posted in one transaction.

What :func:`import_receipts` does, all inside ONE transaction on one connection:

1. ``COPY`` every row into a temporary staging table (dropped at commit), each row already
   placed in a receipt movement as it streams by: per reference, runs of at most
   :data:`~inventory_core.movements.MAX_LINES` lines in file order, each line of the file being
   one line of one movement (so the ledger says exactly what the file said), movements numbered
   in the order of their first line;
2. resolve SKUs, location codes, lots and serial numbers with one set-based query into a
   second temporary table, which also records each row's first problem (the rules of DESIGN
   §12 included: see below); if any row has one, raise :class:`ImportRefused` naming the bad
   rows by line number -- the transaction rolls back and nothing is posted;
3. create the lots the file names for the first time (one insert; a lot created meanwhile by a
   concurrent receipt is a ConcurrencyConflict: run the import again);
4. apply the stock levels as the ordinary posting path would, with one upsert per table and
   kind of row, in the same global lock order as
   :class:`~inventory_pg.repositories.stock.PgStockRepository`: stock-holding location rows by
   (item, location), stock-holding lot rows by (item, location, lot), serial rows by (item,
   serial), the supplier's location rows, the supplier's lot rows, then the (item, warehouse)
   rows, and last the items (whose tracking is checked again under that lock);
5. insert the movements and their lines, each with its seq from the ``movement_seq``
   sequence (in file order) and this transaction's id, exactly as
   :data:`~inventory_pg.repositories.movements.APPEND_MOVEMENT` does one, so the feed serves
   them in file order once the import has committed;
6. last, read them back and record one ``movement.posted`` event each, its data made by
   :func:`inventory_core.present.present` as for any other movement (receipts only raise
   availability, so no reorder alert can be due).

Lots and serial numbers (DESIGN §12), per row: a lot-tracked item needs ``lot`` (a code) and
may give ``expires_on`` (YYYY-MM-DD); a lot the item does not have yet is created by the import,
with the date its rows give -- they must agree -- and an existing lot's date must be matched when
one is given. A serial-tracked item needs ``serial``, one row per unit (quantity 1); a serial
appears once per item in the file and must not be in stock already (one shipped earlier may come
back). An untracked item takes none of the three. Each row is one movement line, carrying its lot
(id and code) or its one serial.

Every level therefore stays the sum of the ledger lines -- per lot and per serial too -- the
supplier location goes down by the total received (conservation, per lot as well), and
concurrent postings lock rows in the same order (no deadlock).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import Any, LiteralString, NamedTuple
from uuid import UUID

import attrs
import psycopg
from psycopg_pool import ConnectionPool

from inventory_core import ids as _ids
from inventory_core._checks import CODE_PATTERN
from inventory_core.errors import (
    ConcurrencyConflict,
    FieldError,
    LimitExceeded,
    SerialConflict,
    ValidationError,
)
from inventory_core.events import EventType
from inventory_core.locations import SUPPLIER_LOCATION_ID
from inventory_core.movements import MAX_LINES
from inventory_core.present import present
from inventory_core.stock import MAX_TOTAL
from inventory_pg.errors import translate
from inventory_pg.repositories.movements import SELECT_MOVEMENTS, movement_of
from inventory_pg.uow import PgStore

__all__ = [
    "MAX_REPORTED",
    "BadRow",
    "ImportRefused",
    "ImportResult",
    "ImportRow",
    "Progress",
    "import_receipts",
]

MAX_REPORTED = 1000
"""At most this many bad rows are carried by :class:`ImportRefused` (it also gives the total)."""

MAX_REFERENCE = 200
"""The longest movement reference (as in :class:`~inventory_core.movements.Movement`)."""

PROGRESS_EVERY = 10_000
"""Rows between two progress reports while loading."""

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f]")
"""Characters Movement.reference and .note refuse (control characters but newline and tab)."""

# -- statements ---------------------------------------------------------------------------------

CREATE_STAGING: LiteralString = """
CREATE TEMP TABLE inventory_import_staging (
    line_no          bigint  NOT NULL,
    sku              text,
    location_code    text,
    quantity         text,
    reference        text,
    problem          text,
    lot              text,
    expires_on       text,
    serial           text,
    movement_no      integer NOT NULL,
    line_in_movement integer NOT NULL
) ON COMMIT DROP
"""
"""The rows as read, all text: nothing is refused while loading, everything is checked after.
Each row already carries its place in the movements (numbered while streaming, see _Numbering)."""

ROOMY_WORK_MEM: LiteralString = "SET LOCAL work_mem = '64MB'"
"""Hashes and sorts of ~10^5 rows stay in memory (for this transaction only)."""

NO_JIT: LiteralString = "SET LOCAL jit = off"
"""The temporary tables have no statistics, so the planner's row estimates are far too high and
it would JIT-compile each statement -- half a second apiece -- to run a few hundred ms of work."""

COPY_STAGING: LiteralString = (
    "COPY inventory_import_staging (line_no, sku, location_code, quantity, reference, problem, "
    "lot, expires_on, serial, movement_no, line_in_movement) FROM STDIN"
)

CHECK_ROWS: LiteralString = """
CREATE TEMP TABLE inventory_import_lines ON COMMIT DROP AS
WITH resolved AS MATERIALIZED (  -- computed once, read three times
    SELECT s.line_no, s.sku, s.location_code, s.quantity AS quantity_text, s.problem AS note,
           s.movement_no, s.line_in_movement, s.lot, s.expires_on AS expires_text, s.serial,
           i.id AS item_id, i.active AS item_active, i.tracking,
           l.id AS location_id, l.holds_stock, l.active AS location_active, l.warehouse_id,
           q.quantity, d.expires_on, lot.id AS lot_id, lot.expires_on AS lot_expires_on,
           at.code AS serial_at
    FROM inventory_import_staging s
    LEFT JOIN items i ON i.sku = s.sku
    LEFT JOIN locations l ON l.code = s.location_code
    CROSS JOIN LATERAL (
        SELECT CASE WHEN s.quantity ~ '^[0-9]{1,13}$'
                     AND s.quantity::bigint
                         BETWEEN %(min_quantity)s::bigint AND %(max_quantity)s::bigint
               THEN s.quantity::bigint END AS quantity
    ) q
    CROSS JOIN LATERAL (
        -- A date as YYYY-MM-DD that exists (no 2023-02-29), checked before it is cast.
        SELECT CASE WHEN s.expires_on ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$'
                     AND left(s.expires_on, 4) <> '0000'
               THEN CASE WHEN substr(s.expires_on, 9, 2)::integer <= extract(
                             day FROM make_date(left(s.expires_on, 4)::integer,
                                                substr(s.expires_on, 6, 2)::integer, 1)
                                      + interval '1 month - 1 day')
                         THEN s.expires_on::date END
               END AS expires_on
    ) d
    LEFT JOIN lots lot ON lot.item_id = i.id AND lot.code = s.lot
    LEFT JOIN serials held ON held.item_id = i.id AND held.serial = s.serial
                          AND held.location_id IS NOT NULL
    LEFT JOIN locations at ON at.id = held.location_id
), dated AS (
    -- Per (item, lot), the first row giving a date: the date a new lot gets.
    SELECT DISTINCT ON (item_id, lot) item_id, lot, line_no AS dated_line,
           expires_on AS dated_expires_on
    FROM resolved WHERE expires_on IS NOT NULL AND lot IS NOT NULL AND item_id IS NOT NULL
    ORDER BY item_id, lot, line_no
), repeated AS (
    -- Per (item, serial), the first row naming it.
    SELECT item_id, serial, min(line_no) AS serial_line FROM resolved
    WHERE serial IS NOT NULL AND item_id IS NOT NULL GROUP BY item_id, serial
), compared AS (
    SELECT r.*, d.dated_line, d.dated_expires_on, x.serial_line
    FROM resolved r
    LEFT JOIN dated d ON d.item_id = r.item_id AND d.lot = r.lot
    LEFT JOIN repeated x ON x.item_id = r.item_id AND x.serial = r.serial
)
SELECT line_no, sku, location_code, quantity_text, note, movement_no, line_in_movement,
       item_id, tracking, location_id, warehouse_id, quantity, lot, expires_text, expires_on,
       serial, lot_id, lot_expires_on, serial_at, dated_line, dated_expires_on, serial_line,
       CASE
           WHEN note IS NOT NULL THEN 'malformed'
           WHEN sku IS NULL THEN 'missing-sku'
           WHEN location_code IS NULL THEN 'missing-location'
           WHEN quantity_text IS NULL THEN 'missing-quantity'
           WHEN item_id IS NULL THEN 'unknown-sku'
           WHEN NOT item_active THEN 'inactive-item'
           WHEN location_id IS NULL THEN 'unknown-location'
           WHEN NOT holds_stock THEN 'not-stock-location'
           WHEN NOT location_active THEN 'inactive-location'
           WHEN quantity IS NULL THEN 'bad-quantity'
           WHEN lot IS NOT NULL AND tracking <> 'lot' THEN 'lot-not-tracked'
           WHEN serial IS NOT NULL AND tracking <> 'serial' THEN 'serial-not-tracked'
           WHEN expires_text IS NOT NULL AND tracking <> 'lot' THEN 'expiry-without-lot'
           WHEN lot IS NULL AND tracking = 'lot' THEN 'missing-lot'
           WHEN serial IS NULL AND tracking = 'serial' THEN 'missing-serial'
           WHEN lot !~ %(code_pattern)s THEN 'bad-lot'
           WHEN serial !~ %(code_pattern)s THEN 'bad-serial'
           WHEN expires_text IS NOT NULL AND expires_on IS NULL THEN 'bad-expiry'
           WHEN serial IS NOT NULL AND quantity <> 1 THEN 'serial-quantity'
           WHEN serial_at IS NOT NULL THEN 'serial-in-stock'
           WHEN serial IS NOT NULL AND serial_line <> line_no THEN 'serial-repeated'
           WHEN expires_on IS DISTINCT FROM lot_expires_on AND expires_on IS NOT NULL
                AND lot_id IS NOT NULL THEN 'expiry-differs'
           WHEN lot_id IS NULL AND expires_on <> dated_expires_on THEN 'expiry-disagrees'
       END AS problem
FROM compared
"""
"""Resolve every row -- its item, location, lot, and where its serial is if in stock -- and
record its first problem (a code, see ``_MESSAGES``). A new lot's rows give the date of its first
dated row, or none; a serial's first row receives it, a later one is refused. (Joins on small
aggregates: window functions over the wide rows cost twice as much.)"""

SUMMARISE_ROWS: LiteralString = """
SELECT count(*) FILTER (WHERE problem IS NOT NULL), coalesce(sum(quantity), 0)::bigint,
       count(*) FILTER (WHERE lot IS NOT NULL), count(*) FILTER (WHERE serial IS NOT NULL)
FROM inventory_import_lines
"""
"""How many rows are bad, the total quantity (meaningful only when none is), and how many rows
name a lot, and a serial."""

SELECT_BAD_ROWS: LiteralString = """
SELECT line_no, problem, note, sku, location_code, quantity_text, lot, expires_text, serial,
       lot_expires_on::text, dated_line, dated_expires_on::text, serial_line, serial_at
FROM inventory_import_lines WHERE problem IS NOT NULL
ORDER BY line_no LIMIT %(limit)s
"""

COLLECT_LOTS: LiteralString = """
CREATE TEMP TABLE inventory_import_lots ON COMMIT DROP AS
SELECT item_id, lot AS code, lot_id AS id, max(expires_on) AS expires_on
FROM inventory_import_lines WHERE lot IS NOT NULL
GROUP BY item_id, lot, lot_id
"""
"""The lots the file names, one row each: ``id`` is NULL for those to create, ``expires_on`` the
date their rows agree on (checked)."""

SELECT_NEW_LOTS: LiteralString = """
SELECT item_id, code, expires_on FROM inventory_import_lots WHERE id IS NULL
ORDER BY item_id, code COLLATE "C"
"""

ADD_LOTS: LiteralString = """
WITH added AS (
    INSERT INTO lots (id, item_id, code, expires_on)
    SELECT * FROM unnest(%(ids)s::uuid[], %(item_ids)s::uuid[], %(codes)s::text[],
                         %(expires_on)s::date[])
    ON CONFLICT (item_id, code) DO NOTHING
    RETURNING id, item_id, code
)
UPDATE inventory_import_lots t SET id = added.id
FROM added WHERE t.item_id = added.item_id AND t.code = added.code
"""
"""Create the new lots and note their ids. A lot created meanwhile by a concurrent receipt is
not inserted (so fewer rows are updated than asked): the import is then refused, to be retried.
"""

FIRST_NEW_LOT_LEFT: LiteralString = """
SELECT t.code, i.sku FROM inventory_import_lots t JOIN items i ON i.id = t.item_id
WHERE t.id IS NULL ORDER BY t.item_id, t.code COLLATE "C" LIMIT 1
"""

# The level writes, one statement per kind of row, in the global lock order of
# PgStockRepository: stock-holding location rows by (item, location), stock-holding lot rows by
# (item, location, lot), serial rows by (item, serial), then the virtual (supplier) location rows
# and lot rows, then warehouses, then items. (Each INSERT writes its rows in its ORDER BY.)

APPLY_LOCATION_LEVELS: LiteralString = """
INSERT INTO location_stock AS s (item_id, location_id, holds_stock, on_hand)
SELECT item_id, location_id, true, sum(quantity)::bigint
FROM inventory_import_lines GROUP BY item_id, location_id
ORDER BY item_id, location_id
ON CONFLICT (item_id, location_id) DO UPDATE SET on_hand = s.on_hand + EXCLUDED.on_hand
"""
"""Raise the destinations."""

APPLY_LOT_LEVELS: LiteralString = """
INSERT INTO lot_stock AS s (item_id, location_id, lot_id, holds_stock, on_hand)
SELECT p.item_id, p.location_id, t.id, true, sum(p.quantity)::bigint
FROM inventory_import_lines p
JOIN inventory_import_lots t ON t.item_id = p.item_id AND t.code = p.lot
GROUP BY p.item_id, p.location_id, t.id
ORDER BY p.item_id, p.location_id, t.id
ON CONFLICT (item_id, location_id, lot_id) DO UPDATE SET on_hand = s.on_hand + EXCLUDED.on_hand
"""
"""Raise the destinations' lots."""

PLACE_SERIALS: LiteralString = """
WITH placed AS (
    INSERT INTO serials AS s (item_id, serial, location_id)
    SELECT item_id, serial, location_id FROM inventory_import_lines
    WHERE serial IS NOT NULL
    ORDER BY item_id, serial COLLATE "C"
    ON CONFLICT (item_id, serial) DO UPDATE SET location_id = EXCLUDED.location_id
    WHERE s.location_id IS NULL
    RETURNING item_id, serial
)
SELECT p.item_id, p.serial FROM inventory_import_lines p
WHERE p.serial IS NOT NULL
  AND NOT EXISTS (SELECT FROM placed WHERE placed.item_id = p.item_id
                                       AND placed.serial = p.serial)
ORDER BY p.line_no LIMIT 1
"""
"""Put each serial at its location: new ones, and those not in stock (shipped earlier). One
received meanwhile by a concurrent receipt is left as it is, and returned (SerialConflict)."""

WHERE_SERIAL_IS: LiteralString = """
SELECT location_id FROM serials WHERE item_id = %(item_id)s AND serial = %(serial)s
"""

APPLY_SUPPLIER_LEVELS: LiteralString = """
INSERT INTO location_stock AS s (item_id, location_id, holds_stock, on_hand)
SELECT item_id, %(supplier_id)s::uuid, false, -sum(quantity)::bigint
FROM inventory_import_lines GROUP BY item_id
ORDER BY item_id
ON CONFLICT (item_id, location_id) DO UPDATE SET on_hand = s.on_hand + EXCLUDED.on_hand
"""
"""Lower the supplier (virtual, no floor) by what each item received."""

APPLY_SUPPLIER_LOT_LEVELS: LiteralString = """
INSERT INTO lot_stock AS s (item_id, location_id, lot_id, holds_stock, on_hand)
SELECT p.item_id, %(supplier_id)s::uuid, t.id, false, -sum(p.quantity)::bigint
FROM inventory_import_lines p
JOIN inventory_import_lots t ON t.item_id = p.item_id AND t.code = p.lot
GROUP BY p.item_id, t.id
ORDER BY p.item_id, t.id
ON CONFLICT (item_id, location_id, lot_id) DO UPDATE SET on_hand = s.on_hand + EXCLUDED.on_hand
"""
"""Lower the supplier's lots by what each lot received."""

APPLY_WAREHOUSE_LEVELS: LiteralString = """
INSERT INTO warehouse_stock AS w (item_id, warehouse_id, on_hand, reserved)
SELECT item_id, warehouse_id, sum(quantity)::bigint, 0
FROM inventory_import_lines GROUP BY item_id, warehouse_id
ORDER BY item_id, warehouse_id
ON CONFLICT (item_id, warehouse_id) DO UPDATE SET on_hand = w.on_hand + EXCLUDED.on_hand
"""

LOCK_IMPORTED_ITEMS: LiteralString = """
SELECT count(*), array_agg(sku ORDER BY sku) FILTER (WHERE changed) FROM (
    SELECT i.sku, i.tracking <> p.tracking AS changed
    FROM items i
    JOIN (SELECT DISTINCT item_id, tracking FROM inventory_import_lines) p ON p.item_id = i.id
    ORDER BY i.id
    FOR NO KEY UPDATE OF i
) locked
"""
"""Lock the imported items' rows, last in the lock order as the conditional writes do, so no
concurrent write raises one of their totals between the check below and the commit, and no
change of an item's tracking commits before it sees the imported stock. Returns the items whose
tracking changed since the rows were checked (a locked row is read as it is now)."""

ITEM_TOTAL_PAST_LIMIT: LiteralString = """
SELECT w.item_id, sum(w.on_hand) AS total, i.imported
FROM warehouse_stock w
JOIN (
    SELECT item_id, sum(quantity)::bigint AS imported
    FROM inventory_import_lines GROUP BY item_id
) i USING (item_id)
GROUP BY w.item_id, i.imported
HAVING sum(w.on_hand) > %(limit)s
ORDER BY w.item_id
LIMIT 1
"""
"""An imported item whose total over all warehouses would pass the JSON-safe bound (the rows
themselves are bounded by CHECK constraints; a total has no row)."""

APPEND_MOVEMENTS: LiteralString = """
WITH numbered AS (
    -- nextval runs after the sort, so seqs follow the file's order.
    SELECT m.id, m.reference, m.n, nextval('movement_seq') AS seq
    FROM unnest(%(ids)s::uuid[], %(references)s::text[]) WITH ORDINALITY AS m(id, reference, n)
    ORDER BY m.n
), movement AS (
    INSERT INTO movements (id, seq, txn, kind, reason, actor_id, occurred_at, recorded_at,
                           reference, note, reverses_id, reservation_id)
    SELECT id, seq, inventory_feed_txn(), 'receipt', NULL, %(actor_id)s::uuid, %(now)s, %(now)s,
           reference, %(note)s::text, NULL, NULL
    FROM numbered
    RETURNING seq
), lines AS (
    INSERT INTO movement_lines (movement_id, line_no, seq, txn, item_id, quantity,
                                from_location_id, to_location_id, lot_id, lot, serials)
    SELECT numbered.id, p.line_in_movement, numbered.seq, inventory_feed_txn(), p.item_id,
           p.quantity, %(supplier_id)s::uuid, p.location_id, t.id, p.lot,
           CASE WHEN p.serial IS NOT NULL THEN ARRAY[p.serial] END
    FROM inventory_import_lines p JOIN numbered ON numbered.n = p.movement_no
    LEFT JOIN inventory_import_lots t ON t.item_id = p.item_id AND t.code = p.lot
    ORDER BY p.movement_no, p.line_in_movement
)
SELECT min(seq), max(seq) FROM movement
"""
"""Append the movements and their lines, with seqs in file order taken from the sequence the
way APPEND_MOVEMENT takes one (so they are unique, and consecutive unless other movements are
appended at the same time). A lot line carries the lot's id and code, a serial line its one
serial; other lines neither (NULL)."""

APPEND_EVENTS: LiteralString = """
INSERT INTO events (seq, txn, id, type, occurred_at, data)
SELECT nextval('event_seq'), inventory_feed_txn(), e.id, %(type)s, %(now)s, e.data::json
FROM (
    -- nextval runs after the sort, so the events follow the movements' order.
    SELECT id, data, n
    FROM unnest(%(ids)s::uuid[], %(data)s::text[]) WITH ORDINALITY AS e(id, data, n)
    ORDER BY n
) e
"""
"""One ``movement.posted`` event per imported movement, in the transaction of the import, as
:data:`~inventory_pg.repositories.events.INSERT_EVENT` records one."""

# -- values -------------------------------------------------------------------------------------


class ImportRow(NamedTuple):
    """One data row as read from a file. Fields are raw text (``None`` when empty); ``problem``
    is set by the reader for a row it could not parse (the other fields are then ignored).
    ``lot`` and ``expires_on`` (YYYY-MM-DD) are for lot-tracked items, ``serial`` (one unit) for
    serial-tracked ones."""

    line: int
    sku: str | None
    location_code: str | None
    quantity: str | None
    reference: str | None = None
    problem: str | None = None
    lot: str | None = None
    expires_on: str | None = None
    serial: str | None = None


@attrs.frozen
class BadRow:
    """A refused row: its line number in the file and what is wrong with it."""

    line: int
    message: str


@attrs.frozen
class ImportResult:
    """What was posted: ``lines`` lines, ``units`` units in total, as ``movements`` receipt
    movements whose seqs run from ``first_seq`` to ``last_seq`` in file order (consecutive unless
    movements were posted at the same time); ``new_lots`` lots were created."""

    lines: int
    units: int
    movement_ids: tuple[UUID, ...]
    first_seq: int
    last_seq: int
    new_lots: int = 0

    @property
    def movements(self) -> int:
        return len(self.movement_ids)


class ImportRefused(ValidationError):
    """Some rows are bad; nothing was posted. ``bad_rows`` holds the first
    :data:`MAX_REPORTED` of them by line number, ``total`` how many there are."""

    code = "import-refused"

    def __init__(self, bad_rows: Sequence[BadRow], total: int) -> None:
        super().__init__([FieldError(f"line {row.line}", row.message) for row in bad_rows])
        self.bad_rows = tuple(bad_rows)
        self.total = total


Progress = Callable[[str, int], None]
"""Called with a stage (``"loading"``, ``"checking"``, ``"posting"``, ``"posted"``) and the
number of rows so far."""

_CODE_RULE = "1-64 letters, digits or . _ / - starting with a letter or digit"

_MESSAGES: dict[str, str] = {
    "missing-sku": "sku is missing",
    "missing-location": "location_code is missing",
    "missing-quantity": "quantity is missing",
    "unknown-sku": "unknown SKU {sku!r}",
    "inactive-item": "item {sku!r} is inactive",
    "unknown-location": "unknown location {location!r}",
    "not-stock-location": "location {location!r} does not hold stock",
    "inactive-location": "location {location!r} is inactive",
    "bad-quantity": "quantity must be a whole number from 1 to 10^12, not {quantity!r}",
    "lot-not-tracked": "item {sku!r} is not tracked by lot: leave lot empty",
    "serial-not-tracked": "item {sku!r} is not tracked by serial number: leave serial empty",
    "expiry-without-lot": (
        "expires_on is given only with a lot: item {sku!r} is not tracked by lot"
    ),
    "missing-lot": "lot is required: item {sku!r} is tracked by lot",
    "missing-serial": (
        "serial is required: item {sku!r} is tracked by serial number (one row per unit)"
    ),
    "bad-lot": "lot must be " + _CODE_RULE + ", not {lot!r}",
    "bad-serial": "serial must be " + _CODE_RULE + ", not {serial!r}",
    "bad-expiry": "expires_on must be a date as YYYY-MM-DD, not {expires!r}",
    "serial-quantity": (
        "quantity must be 1: item {sku!r} is tracked by serial number, one row per unit "
        "(serial {serial!r}, quantity {quantity!r})"
    ),
    "serial-in-stock": "serial {serial!r} of item {sku!r} is already in stock (at {serial_at!r})",
    "serial-repeated": (
        "serial {serial!r} of item {sku!r} is already on line {serial_line}: "
        "a serial is received once"
    ),
    "expiry-differs": (
        "lot {lot!r} of item {sku!r} expires {lot_expires}: give the same date or none"
    ),
    "expiry-disagrees": (
        "lot {lot!r} of item {sku!r} expires {dated_expires} on line {dated_line}: "
        "the rows of a lot give the same date or none"
    ),
}


class _BadRowFound(NamedTuple):
    """A row of SELECT_BAD_ROWS."""

    line: int
    problem: str
    note: str | None
    sku: str | None
    location: str | None
    quantity: str | None
    lot: str | None
    expires: str | None
    serial: str | None
    lot_expires: str | None
    dated_line: int | None
    dated_expires: str | None
    serial_line: int | None
    serial_at: str | None


def _message(row: _BadRowFound) -> str:
    if row.problem == "malformed":
        return row.note or "malformed row"
    return _MESSAGES[row.problem].format(
        **{**row._asdict(), "lot_expires": row.lot_expires or "never"}
    )


def _reference_problem(reference: str) -> str | None:
    if len(reference) > MAX_REFERENCE:
        return f"reference is longer than {MAX_REFERENCE} characters"
    if _CONTROL.search(reference):
        return "reference contains control characters"
    return None


def _check_reference(reference: str | None) -> None:
    if reference is not None:
        problem = _reference_problem(reference)
        if problem:
            raise ValidationError(problem, "$.reference")


def _prepared(row: ImportRow) -> ImportRow:
    """The row as staged: a bad reference becomes the row's problem, NUL characters (which
    COPY cannot carry, and which no SKU or code contains) a visible ``\\0``."""
    if row.reference is not None and row.problem is None:
        problem = _reference_problem(row.reference)
        if problem is not None:
            row = row._replace(problem=problem, reference=None)
    if _has_nul(row):
        row = ImportRow(row.line, *(_sanitize(v) for v in row[1:]))
    return row


def _has_nul(row: ImportRow) -> bool:
    # One concatenation beats a generator over the fields (this runs for every row).
    return "\x00" in (
        f"{row.sku}{row.location_code}{row.quantity}{row.reference}{row.problem}"
        f"{row.lot}{row.expires_on}{row.serial}"
    )


def _sanitize(text: str | None) -> str | None:
    # COPY's text format cannot carry NUL; such a value is refused anyway, so keep a visible mark.
    return text.replace("\x00", "\\0") if text is not None and "\x00" in text else text


# -- the import -----------------------------------------------------------------------------------

Target = PgStore | ConnectionPool[Any] | psycopg.Connection[Any]


def import_receipts(
    target: Target,
    rows: Iterable[ImportRow],
    *,
    actor_id: UUID,
    reference: str | None = None,
    note: str | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
    new_id: Callable[[], UUID] | None = None,
) -> ImportResult:
    """Post ``rows`` as receipts from the supplier, all or nothing, in one transaction.

    ``reference`` is the movements' reference for rows that give none. ``actor_id`` must be a
    user allowed to post receipts (the caller checks that). Raises :class:`ImportRefused` with
    the bad rows (nothing posted), ValidationError when there are no rows or ``reference``/
    ``note`` is invalid, Unavailable when the database cannot be reached; never a psycopg error.
    """
    _check_reference(reference)
    if note is not None and (len(note) > 2000 or _CONTROL.search(note)):
        raise ValidationError(
            "must be at most 2000 characters, without control characters", "$.note"
        )
    when = now or datetime.now(UTC)
    make_id = new_id or _ids.UuidV7Generator().new_id
    try:
        with _connection(target) as conn, conn.transaction():
            return _import(
                conn,
                rows,
                actor_id=actor_id,
                reference=reference,
                note=note,
                progress=progress,
                now=when,
                new_id=make_id,
            )
    except psycopg.Error as exc:
        raise translate(exc) from exc


def _connection(target: Target) -> AbstractContextManager[psycopg.Connection[Any]]:
    if isinstance(target, PgStore):
        return target.pool.connection(timeout=target.checkout_timeout)
    if isinstance(target, ConnectionPool):
        return target.connection()
    return nullcontext(target)


class _Numbering:
    """Places rows in movements as they stream by: per reference, runs of MAX_LINES lines in
    file order, each line of the file one line of a movement; movements are numbered in the
    order their first line comes, so seqs follow the file."""

    def __init__(self, default_reference: str | None) -> None:
        self.default = default_reference
        self.references: list[str | None] = []
        """The reference of each movement, by movement number - 1."""
        self._open: dict[str | None, list[int]] = {}

    def place(self, reference: str | None) -> tuple[int, int]:
        """(movement number, line number in it) of the next row with ``reference``."""
        key = self.default if reference is None else reference
        current = self._open.get(key)
        if current is None or current[1] == MAX_LINES:
            self.references.append(key)
            current = self._open[key] = [len(self.references), 0]
        current[1] += 1
        return current[0], current[1]


def _import(
    conn: psycopg.Connection[Any],
    rows: Iterable[ImportRow],
    *,
    actor_id: UUID,
    reference: str | None,
    note: str | None,
    progress: Progress | None,
    now: datetime,
    new_id: Callable[[], UUID],
) -> ImportResult:
    report = progress or (lambda stage, count: None)
    conn.execute(ROOMY_WORK_MEM)
    conn.execute(NO_JIT)
    conn.execute(CREATE_STAGING)
    numbering = _Numbering(reference)
    count = 0
    with conn.cursor() as cur, cur.copy(COPY_STAGING) as copy:
        for row in rows:
            count += 1
            staged = _prepared(row)
            copy.write_row((*staged, *numbering.place(staged.reference)))
            if count % PROGRESS_EVERY == 0:
                report("loading", count)
    report("checking", count)
    if count == 0:
        raise ValidationError("there are no lines to import", "$")
    conn.execute(
        CHECK_ROWS,
        {"min_quantity": 1, "max_quantity": 10**12, "code_pattern": CODE_PATTERN.pattern},
    )
    found = conn.execute(SUMMARISE_ROWS).fetchone()
    assert found is not None
    bad, units, lot_rows, serial_rows = found
    if bad:
        raise _refusal(conn, bad)
    report("posting", count)
    movement_ids = [new_id() for _ in numbering.references]
    conn.execute(COLLECT_LOTS)
    new_lots = _add_lots(conn, new_id) if lot_rows else 0
    supplier = {"supplier_id": SUPPLIER_LOCATION_ID}
    conn.execute(APPLY_LOCATION_LEVELS)
    if lot_rows:
        conn.execute(APPLY_LOT_LEVELS)
    if serial_rows:
        _place_serials(conn)
    conn.execute(APPLY_SUPPLIER_LEVELS, supplier)
    if lot_rows:
        conn.execute(APPLY_SUPPLIER_LOT_LEVELS, supplier)
    conn.execute(APPLY_WAREHOUSE_LEVELS)
    locked = conn.execute(LOCK_IMPORTED_ITEMS).fetchone()
    assert locked is not None
    if locked[1]:
        raise ConcurrencyConflict(
            f"the tracking of item(s) {', '.join(locked[1])} changed during the import: "
            "run it again"
        )
    past = conn.execute(ITEM_TOTAL_PAST_LIMIT, {"limit": MAX_TOTAL}).fetchone()
    if past is not None:
        item_id, total, imported = past
        raise LimitExceeded(
            item_id=item_id,
            location_id=None,
            level="on_hand",
            current=int(total) - imported,
            change=imported,
            limit=MAX_TOTAL,
        )
    seqs = conn.execute(
        APPEND_MOVEMENTS,
        {
            "count": len(movement_ids),
            "ids": movement_ids,
            "references": numbering.references,
            "actor_id": actor_id,
            "now": now,
            "note": note,
            "supplier_id": SUPPLIER_LOCATION_ID,
        },
    ).fetchone()
    assert seqs is not None
    _record_events(conn, movement_ids, now=now, new_id=new_id)
    report("posted", count)
    return ImportResult(
        lines=count,
        units=units,
        movement_ids=tuple(movement_ids),
        first_seq=seqs[0],
        last_seq=seqs[1],
        new_lots=new_lots,
    )


def _add_lots(conn: psycopg.Connection[Any], new_id: Callable[[], UUID]) -> int:
    """Create the lots the file names that do not exist yet; how many."""
    wanted = conn.execute(SELECT_NEW_LOTS).fetchall()
    if not wanted:
        return 0
    added = conn.execute(
        ADD_LOTS,
        {
            "ids": [new_id() for _ in wanted],
            "item_ids": [item_id for item_id, _, _ in wanted],
            "codes": [code for _, code, _ in wanted],
            "expires_on": [expires_on for _, _, expires_on in wanted],
        },
    ).rowcount
    if added != len(wanted):
        left = conn.execute(FIRST_NEW_LOT_LEFT).fetchone()
        code, sku = left if left is not None else ("?", "?")
        raise ConcurrencyConflict(
            f"lot {code} of item {sku} was created concurrently: run the import again"
        )
    return added


def _place_serials(conn: psycopg.Connection[Any]) -> None:
    """Put the serials at their locations; SerialConflict if one was received meanwhile."""
    left = conn.execute(PLACE_SERIALS).fetchone()
    if left is not None:
        item_id, serial = left
        where = conn.execute(WHERE_SERIAL_IS, {"item_id": item_id, "serial": serial}).fetchone()
        raise SerialConflict(
            item_id=item_id, serial=serial, location_id=where[0] if where else None
        )


def _record_events(
    conn: psycopg.Connection[Any],
    movement_ids: Sequence[UUID],
    *,
    now: datetime,
    new_id: Callable[[], UUID],
) -> None:
    movements = [movement_of(row) for row in conn.execute(SELECT_MOVEMENTS, {"ids": movement_ids})]
    conn.execute(
        APPEND_EVENTS,
        {
            "ids": [new_id() for _ in movements],
            "type": EventType.MOVEMENT_POSTED.value,
            "now": now,
            "data": [json.dumps(present(m), separators=(",", ":")) for m in movements],
        },
    )


def _refusal(conn: psycopg.Connection[Any], total: int) -> ImportRefused:
    found = conn.execute(SELECT_BAD_ROWS, {"limit": MAX_REPORTED}).fetchall()
    bad = [_BadRowFound(*row) for row in found]
    return ImportRefused([BadRow(row.line, _message(row)) for row in bad], total)
