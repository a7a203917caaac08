"""Growing the ledger of the throwaway benchmark database to a given number of movements.

Posting 10^6 movements over HTTP would take hours, so ``grow`` writes them with a few
``INSERT ... SELECT generate_series`` statements, the way the Postgres adapter would have left
them: seqs taken from the ``movement_seq`` sequence, and the writing transaction's id as ``txn``
(inventory_pg/repositories/movements.py),
one line per movement, and the stock levels raised by the sum of the new lines, so that levels
stay the projection of the ledger (DESIGN §2, invariant 4). ``check`` verifies that in SQL.

The movements are about filler items in filler bins of the bench warehouse, never about the
measured item: its stock rows stay the hot, cached ones while the ledger, the level tables and
their indexes grow around them, and its GET response stays the same size at every ledger size.
Each run of four movements is a small life cycle -- receipt into bin a, transfer of part of it to
bin b, a shipment from b, a loss adjusted in a -- so every kind but reversal appears and no bin
ever goes below zero, whichever prefix of the cycles is looked at.
"""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any, LiteralString
from uuid import UUID

import attrs
import psycopg

__all__ = ["FILLER_BINS", "FILLER_ITEMS", "Grown", "LedgerBroken", "check", "grow"]

FILLER_ITEMS = 2000
FILLER_BINS = 200

SUPPLIER = "00000000-0000-7000-8000-000000000001"
CUSTOMER = "00000000-0000-7000-8000-000000000002"
ADJUSTMENT = "00000000-0000-7000-8000-000000000003"

CREATE_FILLER_ITEMS = """
INSERT INTO items (id, sku, name, unit, active, version, created_at, updated_at)
SELECT gen_random_uuid(), 'FILL-' || lpad(n::text, 5, '0'), 'Filler item ' || n, 'each', true, 1,
       now(), now()
FROM generate_series(1, %(count)s) AS n
ON CONFLICT (sku) DO NOTHING
"""

CREATE_FILLER_BINS = """
INSERT INTO locations (id, code, name, kind, parent_id, ancestor_ids, active, version, created_at,
                       updated_at)
SELECT gen_random_uuid(), 'FILL-BIN-' || lpad(n::text, 4, '0'), 'Filler bin ' || n, 'internal',
       %(warehouse)s, ARRAY[%(warehouse)s]::uuid[], true, 1, now(), now()
FROM generate_series(1, %(count)s) AS n
ON CONFLICT (code) DO NOTHING
"""

FILLER_ITEM_IDS = "SELECT id FROM items WHERE sku LIKE 'FILL-%%' ORDER BY sku"
FILLER_BIN_IDS = "SELECT id FROM locations WHERE code LIKE 'FILL-BIN-%%' ORDER BY code"
WAREHOUSE_OF = "SELECT warehouse_id FROM locations WHERE id = %(location)s"

COUNT_MOVEMENTS = "SELECT count(*) FROM movements"

# The whole range at once, from the sequence appends take theirs from (the bench grows the
# ledger while nothing else writes, so the range is ours), and the transaction's id, which the
# movements and their lines (written by another connection) both record as their ``txn``.
TAKE_SEQS = """
SELECT setval('movement_seq', nextval('movement_seq') + %(n)s - 1) - %(n)s + 1,
       inventory_feed_txn()::text
"""

# The rows to append. The cycle number continues from the first seq, so consecutive batches walk
# on through items and bins instead of starting over. Ids look like the application's (UUIDv7: a
# millisecond timestamp, then the seq to keep them unique); times step by a microsecond so a
# batch spans about a second up to ``now``, after the previous batch. Both connections of
# ``grow`` compute the same rows from the same parameters.
GENERATED = """
SELECT g.seq,
       (lpad(to_hex((extract(epoch FROM t.at) * 1000)::bigint), 12, '0') || '70008'
        || lpad(to_hex(g.seq), 15, '0'))::uuid AS id,
       t.at,
       (ARRAY['receipt', 'transfer', 'shipment', 'adjustment'])[c.step + 1] AS kind,
       CASE c.step WHEN 3 THEN 'loss' END AS reason,
       (%(items)s::uuid[])[1 + c.cycle %% cardinality(%(items)s::uuid[])] AS item_id,
       (ARRAY[4 + c.cycle %% 5, 2, 1, 1])[c.step + 1]::bigint AS quantity,
       (ARRAY[%(supplier)s::uuid, c.bin_a, c.bin_b, c.bin_a])[c.step + 1] AS from_id,
       (ARRAY[c.bin_a, c.bin_b, %(customer)s::uuid, %(adjustment)s::uuid])[c.step + 1] AS to_id
FROM generate_series(%(first)s::bigint, %(last)s::bigint) AS g(seq)
CROSS JOIN LATERAL (
    SELECT %(now)s::timestamptz - (%(last)s::bigint - g.seq) * interval '1 microsecond' AS at
) t
CROSS JOIN LATERAL (
    SELECT k.cycle, k.step,
           (%(bins)s::uuid[])[1 + (k.cycle / cardinality(%(items)s::uuid[]))
                                  %% cardinality(%(bins)s::uuid[])] AS bin_a,
           (%(bins)s::uuid[])[1 + (k.cycle / cardinality(%(items)s::uuid[]) + 1)
                                  %% cardinality(%(bins)s::uuid[])] AS bin_b
    FROM (SELECT %(first)s::bigint + (g.seq - %(first)s::bigint) / 4 AS cycle,
                 ((g.seq - %(first)s::bigint) %% 4)::int AS step) k
) c
"""

GENERATE = "CREATE TEMPORARY TABLE grown ON COMMIT DROP AS" + GENERATED

INSERT_MOVEMENTS = """
INSERT INTO movements (id, seq, txn, kind, reason, actor_id, occurred_at, recorded_at, reference)
SELECT id, seq, %(txn)s::xid8, kind, reason, %(actor)s, at, at, 'bench-ledger'
FROM grown ORDER BY seq
"""

INSERT_LINES = (
    """
INSERT INTO movement_lines (movement_id, line_no, seq, txn, item_id, quantity, from_location_id,
                            to_location_id)
SELECT id, 1, seq, %(txn)s::xid8, item_id, quantity, from_id, to_id FROM ("""
    + GENERATED
    + ") m ORDER BY seq"
)

# Each line: +quantity on its to side, -quantity on its from side.
_DELTAS = """
    SELECT item_id, to_id AS location_id, sum(quantity) AS delta FROM grown GROUP BY 1, 2
    UNION ALL
    SELECT item_id, from_id, -sum(quantity) FROM grown GROUP BY 1, 2
"""

# Rows in the adapter's lock order (stock-holding, then virtual; by item, location).
RAISE_LOCATION_LEVELS = (
    """
INSERT INTO location_stock AS s (item_id, location_id, holds_stock, on_hand)
SELECT d.item_id, d.location_id, l.holds_stock, sum(d.delta)
FROM ("""
    + _DELTAS
    + """) d
JOIN locations l ON l.id = d.location_id
GROUP BY d.item_id, d.location_id, l.holds_stock
ORDER BY NOT l.holds_stock, d.item_id, d.location_id
ON CONFLICT (item_id, location_id) DO UPDATE SET on_hand = s.on_hand + EXCLUDED.on_hand
"""
)

RAISE_WAREHOUSE_LEVELS = (
    """
INSERT INTO warehouse_stock AS w (item_id, warehouse_id, on_hand, reserved)
SELECT d.item_id, l.warehouse_id, sum(d.delta), 0
FROM ("""
    + _DELTAS
    + """) d
JOIN locations l ON l.id = d.location_id
WHERE l.holds_stock
GROUP BY d.item_id, l.warehouse_id
ORDER BY d.item_id, l.warehouse_id
ON CONFLICT (item_id, warehouse_id) DO UPDATE SET on_hand = w.on_hand + EXCLUDED.on_hand
"""
)

# Invariant 4 over the whole database, not just the rows grown here: every level row against the
# sum of the ledger lines (a missing row counts as 0 on either side), and that seqs are unique
# and every line carries its movement's seq and txn.
CHECK = """
WITH ledger AS (
    SELECT item_id, location_id, sum(delta) AS on_hand
    FROM (SELECT item_id, to_location_id AS location_id, quantity AS delta FROM movement_lines
          UNION ALL
          SELECT item_id, from_location_id, -quantity FROM movement_lines) d
    GROUP BY item_id, location_id
), ledger_wh AS (
    SELECT g.item_id, l.warehouse_id, sum(g.on_hand) AS on_hand
    FROM ledger g JOIN locations l ON l.id = g.location_id
    WHERE l.holds_stock
    GROUP BY g.item_id, l.warehouse_id
)
SELECT
    (SELECT count(*) FROM ledger g FULL JOIN location_stock s USING (item_id, location_id)
     WHERE coalesce(g.on_hand, 0) <> coalesce(s.on_hand, 0)) AS location_rows_off,
    (SELECT count(*) FROM ledger_wh g FULL JOIN warehouse_stock w USING (item_id, warehouse_id)
     WHERE coalesce(g.on_hand, 0) <> coalesce(w.on_hand, 0)) AS warehouse_rows_off,
    (SELECT count(*) FROM location_stock) AS location_rows,
    (SELECT count(*) FROM warehouse_stock) AS warehouse_rows,
    (SELECT count(*) FROM movement_lines x
     WHERE NOT EXISTS (SELECT 1 FROM movements m WHERE m.id = x.movement_id)) AS orphan_lines,
    (SELECT count(*) FROM movements m
     WHERE NOT EXISTS (SELECT 1 FROM movement_lines x WHERE x.movement_id = m.id)) AS empty,
    (SELECT count(*) FROM movements) AS movements,
    (SELECT count(*) FROM movement_lines) AS lines,
    (SELECT count(DISTINCT seq) FROM movements) AS seqs,
    (SELECT count(*) FROM movement_lines x JOIN movements m ON m.id = x.movement_id
     WHERE x.seq <> m.seq OR x.txn <> m.txn) AS misplaced_lines
"""


class LedgerBroken(Exception):
    """The stock levels no longer equal the sum of the ledger lines, or seq went astray."""


@attrs.frozen
class Grown:
    """What one ``grow`` call did: the ledger size before and after, and the seconds spent."""

    before: int
    after: int
    seconds: float


@attrs.frozen
class Checked:
    """The figures ``check`` found (all of them consistent, or it would have raised)."""

    movements: int
    lines: int
    location_rows: int
    warehouse_rows: int
    seconds: float


def grow(url: str, target: int, actor: UUID, beside: UUID) -> Grown:
    """Append filler movements until the ledger at ``url`` holds ``target`` movements (none if
    it already does), with filler items and bins in the warehouse of the location ``beside``.

    Two connections share the work, one writing the lines while the other writes the movements
    and the stock levels, as the index upkeep of the lines alone takes as long as all the rest;
    the lines commit only once everything else has succeeded, just before the rest. Either both
    transactions commit or, short of a failure between the two commits (which ``check`` would
    catch), neither does."""
    start = time.perf_counter()
    with (
        psycopg.connect(url, autocommit=True) as conn,
        psycopg.connect(url, autocommit=True) as helper,
        ThreadPoolExecutor(1) as pool,
        conn.transaction(),
    ):
        (before,) = _one(conn, COUNT_MOVEMENTS, {})
        n = target - before
        if n <= 0:
            return Grown(before, before, time.perf_counter() - start)
        (warehouse,) = _one(conn, WAREHOUSE_OF, {"location": beside})
        conn.execute(CREATE_FILLER_ITEMS, {"count": FILLER_ITEMS})
        conn.execute(CREATE_FILLER_BINS, {"count": FILLER_BINS, "warehouse": warehouse})
        items = [row[0] for row in conn.execute(FILLER_ITEM_IDS).fetchall()]
        bins = [row[0] for row in conn.execute(FILLER_BIN_IDS).fetchall()]
        first, txn = _one(conn, TAKE_SEQS, {"n": n})
        (now,) = _one(conn, "SELECT now()", {})
        params = {
            "first": first,
            "last": first + n - 1,
            "txn": txn,
            "now": now,
            "items": items,
            "bins": bins,
            "actor": actor,
            "supplier": SUPPLIER,
            "customer": CUSTOMER,
            "adjustment": ADJUSTMENT,
        }
        rest_done = threading.Event()
        rest_failed = threading.Event()

        def lines() -> None:
            with helper.transaction():
                _bulk_settings(helper)
                helper.execute(INSERT_LINES, params)
                rest_done.wait()
                if rest_failed.is_set():
                    raise LedgerBroken("the movements failed: the lines are rolled back")

        lines_done = pool.submit(lines)
        try:
            _bulk_settings(conn)
            for statement in (
                GENERATE,
                "ANALYZE grown",
                INSERT_MOVEMENTS,
                RAISE_LOCATION_LEVELS,
                RAISE_WAREHOUSE_LEVELS,
            ):
                conn.execute(statement, params)
        except BaseException:
            rest_failed.set()
            raise
        finally:
            rest_done.set()
        lines_done.result()  # raises, and so rolls this transaction back, if the lines failed
    return Grown(before, target, time.perf_counter() - start)


def _bulk_settings(conn: psycopg.Connection[Any]) -> None:
    # Without foreign key triggers: they would look up each line's movement one by one (over a
    # third of the time at 10^6), and the lines are written before their movements are visible;
    # check() looks for orphans in one join instead. Superuser only, as the bench's own cluster
    # allows.
    conn.execute("SET LOCAL session_replication_role = replica")
    conn.execute("SET LOCAL work_mem = '256MB'")


def check(conn: psycopg.Connection[Any]) -> Checked:
    """Raise LedgerBroken unless every stock level equals the sum of the ledger lines and the
    seqs are unique and every line carries its movement's position."""
    start = time.perf_counter()
    with conn.transaction():
        conn.execute("SET LOCAL work_mem = '256MB'")  # the aggregates of 10^6 lines fit in memory
        row = conn.execute(CHECK).fetchone()
    assert row is not None  # one row by construction
    loc_off, wh_off, loc_rows, wh_rows, orphans, empty, movements, lines, seqs, misplaced = row
    problems = []
    if orphans or empty:
        problems.append(f"{orphans} lines without their movement, {empty} movements without lines")
    if loc_off:
        problems.append(f"{loc_off} location_stock rows differ from the sum of the ledger")
    if wh_off:
        problems.append(f"{wh_off} warehouse_stock rows differ from the sum of the ledger")
    if seqs != movements:
        problems.append(f"{movements} movements but {seqs} distinct seqs")
    if misplaced:
        problems.append(f"{misplaced} lines with another seq or txn than their movement")
    if problems:
        raise LedgerBroken("; ".join(problems))
    return Checked(movements, lines, loc_rows, wh_rows, time.perf_counter() - start)


def _one(
    conn: psycopg.Connection[Any], sql: LiteralString, params: dict[str, Any]
) -> tuple[Any, ...]:
    row = conn.execute(sql, params).fetchone()
    if row is None:
        raise LedgerBroken(f"no row from {sql.split()[0]} ...")
    return tuple(row)
