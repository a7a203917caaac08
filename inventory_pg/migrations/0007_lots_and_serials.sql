-- Lots, serial numbers and expiry (DESIGN §12).
--
-- items.tracking says how an item's stock is told apart; every existing item becomes 'none', so
-- the stock already held stays exactly as it is: untracked.
--
-- lot_stock is the per-lot projection of the ledger under location_stock: a row per (item,
-- location, lot) ever touched, virtual locations included (negative: double entry), with the
-- same CHECK as location_stock. serials holds where each serial number of an item is: a
-- stock-holding location, or NULL when it is not in stock (shipped, lost). location_stock stays
-- the sum of both, as warehouse_stock stays the sum of location_stock.
--
-- movement_lines carry the lot (its id, and its code as the line echoes it) or the serials of
-- each line. The partial indexes serve the traceability reads -- every movement of a lot (a
-- recall), in feed order (txn, seq) like the item and location indexes of 0002, and every
-- movement of a serial -- and cost nothing to untracked lines.
--
-- Serial numbers sort by code point (COLLATE "C"), as the in-memory adapter sorts them, whatever
-- the database's collation: listings of serials page by them. lot_stock has the JSON-safe bound
-- of 0003 from the start (a new table: nothing to validate).
--
-- Adding columns without a default that needs a rewrite, and new tables: the release before
-- this one keeps serving while it runs (it never writes the new columns, which stay NULL). Two
-- steps hold writers up briefly: the CHECK on items.tracking reads the items table, and each
-- partial index on movement_lines reads that table once (no row matches yet) while movements
-- wait -- about 0.15 s per million lines each on the development machine.

ALTER TABLE items
    ADD COLUMN tracking text NOT NULL DEFAULT 'none'
        CONSTRAINT items_tracking_check CHECK (tracking IN ('none', 'lot', 'serial'));

CREATE TABLE lots (
    id         uuid PRIMARY KEY,
    item_id    uuid NOT NULL,
    code       text NOT NULL,
    expires_on date,
    CONSTRAINT lots_item_id_fkey FOREIGN KEY (item_id) REFERENCES items (id),
    CONSTRAINT lots_item_code_key UNIQUE (item_id, code)
);
CREATE INDEX lots_expires_on_idx ON lots (expires_on, id) WHERE expires_on IS NOT NULL;

CREATE TABLE lot_stock (
    item_id     uuid    NOT NULL,
    location_id uuid    NOT NULL,
    lot_id      uuid    NOT NULL,
    holds_stock boolean NOT NULL,
    on_hand     bigint  NOT NULL,
    CONSTRAINT lot_stock_pkey PRIMARY KEY (item_id, location_id, lot_id),
    CONSTRAINT lot_stock_lot_id_fkey FOREIGN KEY (lot_id) REFERENCES lots (id),
    CONSTRAINT lot_stock_on_hand_check CHECK (NOT holds_stock OR on_hand >= 0),
    CONSTRAINT lot_stock_on_hand_limit_check
        CHECK (on_hand BETWEEN -9007199254740991 AND 9007199254740991)
) WITH (fillfactor = 70);
CREATE INDEX lot_stock_lot_idx ON lot_stock (lot_id, location_id);

CREATE TABLE serials (
    item_id     uuid NOT NULL,
    serial      text COLLATE "C" NOT NULL,
    location_id uuid,
    CONSTRAINT serials_pkey PRIMARY KEY (item_id, serial),
    CONSTRAINT serials_item_id_fkey FOREIGN KEY (item_id) REFERENCES items (id)
) WITH (fillfactor = 70);
CREATE INDEX serials_location_idx ON serials (item_id, location_id, serial)
    WHERE location_id IS NOT NULL;

ALTER TABLE movement_lines
    ADD COLUMN lot_id  uuid,
    ADD COLUMN lot     text,
    ADD COLUMN serials text[];
CREATE INDEX movement_lines_lot_feed_idx ON movement_lines (lot_id, txn, seq)
    WHERE lot_id IS NOT NULL;
CREATE INDEX movement_lines_serials_idx ON movement_lines USING gin (serials)
    WHERE serials IS NOT NULL;
