-- The movement feed without a global lock (DESIGN §9).
--
-- Until now every append took the next seq by updating the one row of ledger_seq and held that
-- row's lock until commit: seq order was commit order, so a reader paging by seq never skipped a
-- movement -- and every movement in the system waited for the one before it to commit.
--
-- Now seq comes from a sequence (nothing is held until commit), and each entry records the
-- transaction that wrote it (pg_current_xact_id()). The feed is ordered by (txn, seq) and serves
-- only entries whose transaction is below the reading statement's snapshot xmin: every
-- transaction that could still commit an entry at an earlier position has ended by then. See
-- inventory_pg/repositories/movements.py and docs/decisions.md ("The feed").
--
-- Entries written before this migration get txn 0, so they keep their seq order, ahead of every
-- new entry; a seq is still unique, and increases within a transaction.

CREATE SEQUENCE movement_seq AS bigint;
SELECT setval('movement_seq', (SELECT last_seq + 1 FROM ledger_seq), false);
DROP TABLE ledger_seq;

-- A constant default adds the column without rewriting (or updating: the ledger is append-only)
-- a single row; new entries always name their transaction.
ALTER TABLE movements ADD COLUMN txn xid8 NOT NULL DEFAULT '0';
ALTER TABLE movements ALTER COLUMN txn DROP DEFAULT;
ALTER TABLE movement_lines ADD COLUMN txn xid8 NOT NULL DEFAULT '0';
ALTER TABLE movement_lines ALTER COLUMN txn DROP DEFAULT;

CREATE UNIQUE INDEX movements_feed_idx ON movements (txn, seq);
-- The filtered feeds ("movements of an item / at a location after a position") find their
-- entries through the lines, in feed order.
DROP INDEX movement_lines_item_seq_idx;
DROP INDEX movement_lines_from_seq_idx;
DROP INDEX movement_lines_to_seq_idx;
CREATE INDEX movement_lines_item_feed_idx ON movement_lines (item_id, txn, seq);
CREATE INDEX movement_lines_from_feed_idx ON movement_lines (from_location_id, txn, seq);
CREATE INDEX movement_lines_to_feed_idx ON movement_lines (to_location_id, txn, seq);
