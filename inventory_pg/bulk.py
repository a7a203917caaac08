"""Bulk receipts: many lines loaded with COPY, checked in SQL and posted in one transaction.

What :func:`import_receipts` does, all inside ONE transaction on one connection:

1. ``COPY`` every row into a temporary staging table (dropped at commit), each row already
   placed in a receipt movement as it streams by: per reference, runs of at most
   :data:`~inventory_core.movements.MAX_LINES` lines in file order, each line of the file being
   one line of one movement (so the ledger says exactly what the file said), movements numbered
   in the order of their first line;
2. resolve SKUs and location codes with one set-based query into a second temporary table,
   which also records each row's first problem; if any row has one, raise
   :class:`ImportRefused` naming the bad rows by line number -- the transaction rolls back and
   nothing is posted;
3. apply the stock levels as the ordinary posting path would, with one upsert per table: the
   (item, location) rows in the same global lock order as
   :class:`~inventory_pg.repositories.stock.PgStockRepository` (stock-holding rows by
   (item, location), then the supplier's rows), then the (item, warehouse) rows in order;
4. insert the movements and their lines, each with its seq from the ``movement_seq``
   sequence (in file order) and this transaction's id, exactly as
   :data:`~inventory_pg.repositories.movements.APPEND_MOVEMENT` does one, so the feed serves
   them in file order once the import has committed;
5. last, read them back and record one ``movement.posted`` event each, its data made by
   :func:`inventory_core.present.present` as for any other movement (receipts only raise
   availability, so no reorder alert can be due).

Every level therefore stays the sum of the ledger lines, the supplier location goes down by the
total received (conservation), and concurrent postings lock rows in the same order (no deadlock).
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
from inventory_core.errors import FieldError, LimitExceeded, ValidationError
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
    "movement_no, line_in_movement) FROM STDIN"
)

CHECK_ROWS: LiteralString = """
CREATE TEMP TABLE inventory_import_lines ON COMMIT DROP AS
SELECT s.line_no, s.sku, s.location_code, s.quantity AS quantity_text, s.problem AS note,
       s.movement_no, s.line_in_movement,
       i.id AS item_id, l.id AS location_id, l.warehouse_id, q.quantity,
       CASE
           WHEN s.problem IS NOT NULL THEN 'malformed'
           WHEN s.sku IS NULL THEN 'missing-sku'
           WHEN s.location_code IS NULL THEN 'missing-location'
           WHEN s.quantity IS NULL THEN 'missing-quantity'
           WHEN i.id IS NULL THEN 'unknown-sku'
           WHEN NOT i.active THEN 'inactive-item'
           WHEN l.id IS NULL THEN 'unknown-location'
           WHEN NOT l.holds_stock THEN 'not-stock-location'
           WHEN NOT l.active THEN 'inactive-location'
           WHEN q.quantity IS NULL THEN 'bad-quantity'
       END AS problem
FROM inventory_import_staging s
LEFT JOIN items i ON i.sku = s.sku
LEFT JOIN locations l ON l.code = s.location_code
CROSS JOIN LATERAL (
    SELECT CASE WHEN s.quantity ~ '^[0-9]{1,13}$'
                 AND s.quantity::bigint
                     BETWEEN %(min_quantity)s::bigint AND %(max_quantity)s::bigint
           THEN s.quantity::bigint END AS quantity
) q
"""
"""Resolve every row and record its first problem (a code, see ``_MESSAGES``)."""

SUMMARISE_ROWS: LiteralString = """
SELECT count(*) FILTER (WHERE problem IS NOT NULL), coalesce(sum(quantity), 0)::bigint
FROM inventory_import_lines
"""
"""How many rows are bad, and the total quantity (meaningful only when none is)."""

SELECT_BAD_ROWS: LiteralString = """
SELECT line_no, problem, sku, location_code, quantity_text, note
FROM inventory_import_lines WHERE problem IS NOT NULL
ORDER BY line_no LIMIT %(limit)s
"""

APPLY_LOCATION_LEVELS: LiteralString = """
INSERT INTO location_stock AS s (item_id, location_id, holds_stock, on_hand)
SELECT d.item_id, d.location_id, d.holds_stock, d.delta
FROM (
    SELECT item_id, location_id, true AS holds_stock, sum(quantity)::bigint AS delta
    FROM inventory_import_lines GROUP BY item_id, location_id
    UNION ALL
    SELECT item_id, %(supplier_id)s::uuid, false, -sum(quantity)::bigint
    FROM inventory_import_lines GROUP BY item_id
) d
ORDER BY NOT d.holds_stock, d.item_id, d.location_id
ON CONFLICT (item_id, location_id) DO UPDATE SET on_hand = s.on_hand + EXCLUDED.on_hand
"""
"""Raise the destinations and lower the supplier (virtual, no floor) in the global lock order of
PgStockRepository.apply: stock-holding rows by (item, location), then virtual rows."""

APPLY_WAREHOUSE_LEVELS: LiteralString = """
INSERT INTO warehouse_stock AS w (item_id, warehouse_id, on_hand, reserved)
SELECT item_id, warehouse_id, sum(quantity)::bigint, 0
FROM inventory_import_lines GROUP BY item_id, warehouse_id
ORDER BY item_id, warehouse_id
ON CONFLICT (item_id, warehouse_id) DO UPDATE SET on_hand = w.on_hand + EXCLUDED.on_hand
"""

LOCK_IMPORTED_ITEMS: LiteralString = """
SELECT count(*) FROM (
    SELECT 1 FROM items
    WHERE id IN (SELECT DISTINCT item_id FROM inventory_import_lines)
    ORDER BY id
    FOR NO KEY UPDATE
) locked
"""
"""Lock the imported items' rows, last in the lock order as the conditional writes do, so no
concurrent write raises one of their totals between the check below and the commit."""

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
                                from_location_id, to_location_id)
    SELECT numbered.id, p.line_in_movement, numbered.seq, inventory_feed_txn(), p.item_id,
           p.quantity, %(supplier_id)s::uuid, p.location_id
    FROM inventory_import_lines p JOIN numbered ON numbered.n = p.movement_no
    ORDER BY p.movement_no, p.line_in_movement
)
SELECT min(seq), max(seq) FROM movement
"""
"""Append the movements and their lines, with seqs in file order taken from the sequence the
way APPEND_MOVEMENT takes one (so they are unique, and consecutive unless other movements are
appended at the same time)."""

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
    is set by the reader for a row it could not parse (the other fields are then ignored)."""

    line: int
    sku: str | None
    location_code: str | None
    quantity: str | None
    reference: str | None = None
    problem: str | None = None


@attrs.frozen
class BadRow:
    """A refused row: its line number in the file and what is wrong with it."""

    line: int
    message: str


@attrs.frozen
class ImportResult:
    """What was posted: ``lines`` lines, ``units`` units in total, as ``movements`` receipt
    movements whose seqs run from ``first_seq`` to ``last_seq`` in file order (consecutive unless
    movements were posted at the same time)."""

    lines: int
    units: int
    movement_ids: tuple[UUID, ...]
    first_seq: int
    last_seq: int

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
}


def _message(problem: str, sku: str, location: str, quantity: str, note: str | None) -> str:
    if problem == "malformed":
        return note or "malformed row"
    return _MESSAGES[problem].format(sku=sku, location=location, quantity=quantity)


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
    return "\x00" in f"{row.sku}{row.location_code}{row.quantity}{row.reference}{row.problem}"


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
    conn.execute(CHECK_ROWS, {"min_quantity": 1, "max_quantity": 10**12})
    found = conn.execute(SUMMARISE_ROWS).fetchone()
    assert found is not None
    bad, units = found
    if bad:
        raise _refusal(conn, bad)
    report("posting", count)
    movement_ids = [new_id() for _ in numbering.references]
    conn.execute(APPLY_LOCATION_LEVELS, {"supplier_id": SUPPLIER_LOCATION_ID})
    conn.execute(APPLY_WAREHOUSE_LEVELS)
    conn.execute(LOCK_IMPORTED_ITEMS)
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
    return ImportRefused(
        [
            BadRow(line, _message(problem, sku, location, quantity, note))
            for line, problem, sku, location, quantity, note in found
        ],
        total,
    )
