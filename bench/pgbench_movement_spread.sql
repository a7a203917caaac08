-- The database ceiling of DESIGN §8 for traffic spread over many items: the SQL of
-- bench/pgbench_movement.sql (one transfer as the Postgres adapter sends it: two conditional
-- stock updates and the ledger append -- seq, header, one line -- in one transaction), but each
-- transaction on an item drawn at random, as the HTTP POST load does, so the rows touched are
-- those of one item out of many, not the same two rows every time.
-- pgbench's variables are numbers or fixed strings, so the item's id is looked up by number in
-- pgbench_items (n, item_id), which bench/http_bench.py fills when it seeds: a primary key lookup
-- on a table of a few hundred rows, run inside each statement (no round trip of its own).
-- Variables (pgbench -D): items (how many rows pgbench_items has), bin1, bin2, actor (uuids).
-- Run with -M prepared or extended: the variables are then bound parameters.
\set i random(1, :items)
\set q random(1, 5)
\set dir random(0, 1)
\set d1 :q * (1 - 2 * :dir)
\set d2 -:d1
BEGIN;
-- Both rows in one fixed order (lower location id first), as the adapter does, so no two transfers deadlock;
-- each update is conditional on the row not going below zero.
UPDATE location_stock SET on_hand = on_hand + (CASE WHEN :bin1::uuid < :bin2::uuid THEN :d1::bigint ELSE :d2::bigint END)
WHERE item_id = (SELECT item_id FROM pgbench_items WHERE n = :i::int)
  AND location_id = LEAST(:bin1::uuid, :bin2::uuid)
  AND on_hand + (CASE WHEN :bin1::uuid < :bin2::uuid THEN :d1::bigint ELSE :d2::bigint END) >= 0
RETURNING false;
UPDATE location_stock SET on_hand = on_hand + (CASE WHEN :bin1::uuid < :bin2::uuid THEN :d2::bigint ELSE :d1::bigint END)
WHERE item_id = (SELECT item_id FROM pgbench_items WHERE n = :i::int)
  AND location_id = GREATEST(:bin1::uuid, :bin2::uuid)
  AND on_hand + (CASE WHEN :bin1::uuid < :bin2::uuid THEN :d2::bigint ELSE :d1::bigint END) >= 0
RETURNING false;
WITH movement AS (
    INSERT INTO movements (id, seq, txn, kind, reason, actor_id, occurred_at, recorded_at,
                           reference, note, reverses_id, reservation_id)
    VALUES (gen_random_uuid(), nextval('movement_seq'), inventory_feed_txn(), 'transfer', NULL,
            :actor::uuid, now(), now(), 'pgbench', NULL, NULL, NULL)
    RETURNING id, seq, txn
)
INSERT INTO movement_lines (movement_id, line_no, seq, txn, item_id, quantity, from_location_id,
                            to_location_id)
SELECT movement.id, 1, movement.seq, movement.txn, (SELECT item_id FROM pgbench_items WHERE n = :i::int),
       :q::bigint,
       (CASE WHEN :dir::int = 1 THEN :bin1::uuid ELSE :bin2::uuid END),
       (CASE WHEN :dir::int = 1 THEN :bin2::uuid ELSE :bin1::uuid END)
FROM movement;
COMMIT;
