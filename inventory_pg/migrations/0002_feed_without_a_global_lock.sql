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
--
-- A logical dump restored into another cluster brings txn values from the old cluster's
-- transaction counter, which the new one may be far behind: its new entries would then sort
-- before the old ones, and the old ones would stay hidden behind the xmin guard. So the feed's
-- txn is the transaction id plus an offset, and `inventory migrate` (which a restore is followed
-- by) raises the offset until new transactions come after every stored entry
-- (inventory_pg/migrate.py, ALIGN_FEED_CLOCK). In a cluster that was never restored it stays 0.

CREATE TABLE feed_txn_offset (
    only_row   boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    txn_offset bigint  NOT NULL CHECK (txn_offset >= 0)
);
INSERT INTO feed_txn_offset (only_row, txn_offset) VALUES (true, 0);

-- The txn of an entry the current transaction writes (assigns the transaction an id).
CREATE FUNCTION inventory_feed_txn() RETURNS xid8 LANGUAGE sql VOLATILE AS $$
    SELECT (pg_current_xact_id()::text::bigint + txn_offset)::text::xid8 FROM feed_txn_offset
$$;
-- Entries below this have been written by transactions that have all ended, as of the calling
-- statement's snapshot (STABLE: a STABLE function sees its caller's snapshot).
CREATE FUNCTION inventory_feed_horizon() RETURNS xid8 LANGUAGE sql STABLE AS $$
    SELECT (pg_snapshot_xmin(pg_current_snapshot())::text::bigint + txn_offset)::text::xid8
    FROM feed_txn_offset
$$;

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
