-- The event outbox and feed (DESIGN §11).
--
-- A use case records its events in the same transaction as its change; the adapter defers the
-- INSERT to the COMMIT's round trip (inventory_pg/_batch.py), so an event costs no round trip of
-- its own. The feed is ordered and guarded exactly like the movement ledger's (migration 0002):
-- (txn, seq), served only below the snapshot's xmin, so a reader resuming from a position never
-- misses an event that commits later nor sees one twice.
--
-- data is json, not jsonb: json keeps the text as the application wrote it (the resource's keys
-- in the API's order), and nothing here queries inside it.
--
-- Retention deletes a prefix of the feed; event_feed_purged remembers where it ended, so a reader
-- whose cursor is older is told (410) instead of silently skipping what was deleted.

CREATE SEQUENCE event_seq AS bigint;

CREATE TABLE events (
    seq        bigint      PRIMARY KEY,
    txn        xid8        NOT NULL,
    id         uuid        NOT NULL UNIQUE,
    type       text        NOT NULL,
    occurred_at timestamptz NOT NULL,
    data       json        NOT NULL
);
CREATE UNIQUE INDEX events_feed_idx ON events (txn, seq);
CREATE INDEX events_type_feed_idx ON events (type, txn, seq);

CREATE TABLE event_feed_purged (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    txn      xid8    NOT NULL,
    seq      bigint  NOT NULL
);
INSERT INTO event_feed_purged (only_row, txn, seq) VALUES (true, '0', 0);
