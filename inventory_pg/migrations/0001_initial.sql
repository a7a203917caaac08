-- inventory-core: the initial schema.
--
-- Conventions: ids are UUIDs made by the application (time-ordered v7); quantities and levels are
-- bigint (a line is at most 10^12); every timestamp is timestamptz. Constraint names matter: the
-- adapter maps them to AlreadyExists(entity, field) and friends (inventory_pg/errors.py).
--
-- The ledger tables and the stock levels carry no foreign keys to items and locations on
-- purpose: those are never deleted, the use cases check they exist before posting, and a foreign
-- key check takes FOR KEY SHARE on the referenced row -- on the virtual customer location, which
-- every shipment references, that turns one row into a MultiXact hot spot.

CREATE TABLE items (
    id               uuid PRIMARY KEY,
    sku              text        NOT NULL,
    name             text        NOT NULL,
    unit             text        NOT NULL,
    reorder_point    bigint      CHECK (reorder_point >= 0),
    reorder_quantity bigint      CHECK (reorder_quantity >= 1),
    active           boolean     NOT NULL,
    version          bigint      NOT NULL CHECK (version >= 1),
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    CONSTRAINT items_sku_key UNIQUE (sku)
);

-- Barcodes are unique across all items; position keeps the item's order of them.
CREATE TABLE item_barcodes (
    barcode  text     NOT NULL,
    item_id  uuid     NOT NULL,
    position smallint NOT NULL,
    CONSTRAINT item_barcodes_pkey PRIMARY KEY (barcode),
    CONSTRAINT item_barcodes_item_id_fkey FOREIGN KEY (item_id) REFERENCES items (id),
    CONSTRAINT item_barcodes_position_key UNIQUE (item_id, position)
);

-- Locations form warehouse trees. ancestor_ids is the materialized path from the warehouse root
-- down to the parent, so a subtree is "ancestor_ids @> ARRAY[id]" (GIN index) and the warehouse is
-- ancestor_ids[1]; moving a location rewrites the paths of its descendants in one UPDATE.
CREATE TABLE locations (
    id           uuid        PRIMARY KEY,
    code         text        NOT NULL,
    name         text        NOT NULL,
    kind         text        NOT NULL
        CHECK (kind IN ('warehouse', 'internal', 'supplier', 'customer', 'adjustment')),
    parent_id    uuid,
    ancestor_ids uuid[]      NOT NULL DEFAULT '{}',
    warehouse_id uuid GENERATED ALWAYS AS (
        CASE kind WHEN 'warehouse' THEN id WHEN 'internal' THEN ancestor_ids[1] END
    ) STORED,
    holds_stock  boolean GENERATED ALWAYS AS (kind IN ('warehouse', 'internal')) STORED,
    active       boolean     NOT NULL,
    version      bigint      NOT NULL CHECK (version >= 1),
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    CONSTRAINT locations_code_key UNIQUE (code),
    CONSTRAINT locations_parent_id_fkey FOREIGN KEY (parent_id) REFERENCES locations (id),
    CONSTRAINT locations_parent_check CHECK ((kind = 'internal') = (parent_id IS NOT NULL)),
    CONSTRAINT locations_path_check CHECK (
        CASE WHEN parent_id IS NULL THEN cardinality(ancestor_ids) = 0
             ELSE ancestor_ids[cardinality(ancestor_ids)] IS NOT DISTINCT FROM parent_id END
    )
);
CREATE INDEX locations_parent_id_idx ON locations (parent_id);
CREATE INDEX locations_warehouse_id_idx ON locations (warehouse_id);
CREATE INDEX locations_ancestor_ids_idx ON locations USING gin (ancestor_ids);

-- The three virtual locations, with the ids fixed in inventory_core.locations.
INSERT INTO locations (id, code, name, kind, active, version, created_at, updated_at) VALUES
    ('00000000-0000-7000-8000-000000000001', 'SUPPLIER', 'Supplier (virtual)', 'supplier',
     true, 1, now(), now()),
    ('00000000-0000-7000-8000-000000000002', 'CUSTOMER', 'Customer (virtual)', 'customer',
     true, 1, now(), now()),
    ('00000000-0000-7000-8000-000000000003', 'ADJUSTMENT', 'Adjustment (virtual)', 'adjustment',
     true, 1, now(), now());

CREATE TABLE users (
    id            uuid        PRIMARY KEY,
    username      text        NOT NULL,
    role          text        NOT NULL CHECK (role IN ('viewer', 'clerk', 'manager', 'admin')),
    password_hash text        NOT NULL,
    active        boolean     NOT NULL,
    version       bigint      NOT NULL CHECK (version >= 1),
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    CONSTRAINT users_username_key UNIQUE (username)
);

CREATE TABLE reservations (
    id           uuid        PRIMARY KEY,
    item_id      uuid        NOT NULL,
    warehouse_id uuid        NOT NULL,
    quantity     bigint      NOT NULL CHECK (quantity BETWEEN 1 AND 1000000000000),
    status       text        NOT NULL
        CHECK (status IN ('active', 'fulfilled', 'released', 'expired')),
    actor_id     uuid        NOT NULL,
    reference    text,
    expires_at   timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);
CREATE INDEX reservations_item_warehouse_idx ON reservations (item_id, warehouse_id);
-- What expiry and "reserved as of now" look for: active reservations with a deadline.
CREATE INDEX reservations_due_idx ON reservations (expires_at, item_id, warehouse_id)
    WHERE status = 'active' AND expires_at IS NOT NULL;

-- The ledger. seq is taken from ledger_seq (below) in the inserting transaction, so seq order is
-- commit order; see inventory_pg/repositories/movements.py.
CREATE TABLE movements (
    id             uuid        PRIMARY KEY,
    seq            bigint      NOT NULL CHECK (seq >= 1),
    kind           text        NOT NULL
        CHECK (kind IN ('receipt', 'shipment', 'transfer', 'adjustment', 'reversal')),
    reason         text
        CHECK (reason IN ('count', 'damage', 'loss', 'found', 'correction')),
    actor_id       uuid        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    recorded_at    timestamptz NOT NULL,
    reference      text,
    note           text,
    reverses_id    uuid,
    reservation_id uuid,
    CONSTRAINT movements_seq_key UNIQUE (seq),
    CONSTRAINT movements_reverses_id_key UNIQUE (reverses_id),
    CONSTRAINT movements_reverses_id_fkey FOREIGN KEY (reverses_id) REFERENCES movements (id),
    CONSTRAINT movements_adjustment_reason_check CHECK ((kind = 'adjustment') = (reason IS NOT NULL)),
    CONSTRAINT movements_reversal_check CHECK ((kind = 'reversal') = (reverses_id IS NOT NULL))
);

-- Lines carry their movement's seq so "movements of an item / at a location after seq N" is an
-- index range scan.
CREATE TABLE movement_lines (
    movement_id      uuid    NOT NULL,
    line_no          integer NOT NULL,
    seq              bigint  NOT NULL,
    item_id          uuid    NOT NULL,
    quantity         bigint  NOT NULL CHECK (quantity BETWEEN 1 AND 1000000000000),
    from_location_id uuid    NOT NULL,
    to_location_id   uuid    NOT NULL,
    CONSTRAINT movement_lines_pkey PRIMARY KEY (movement_id, line_no),
    CONSTRAINT movement_lines_movement_id_fkey FOREIGN KEY (movement_id) REFERENCES movements (id),
    CONSTRAINT movement_lines_sides_check CHECK (from_location_id <> to_location_id)
);
CREATE INDEX movement_lines_item_seq_idx ON movement_lines (item_id, seq);
CREATE INDEX movement_lines_from_seq_idx ON movement_lines (from_location_id, seq);
CREATE INDEX movement_lines_to_seq_idx ON movement_lines (to_location_id, seq);

-- The ledger is append-only: no UPDATE or DELETE, whoever asks.
CREATE FUNCTION inventory_ledger_is_append_only() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the movement ledger is append-only: % on % is not allowed',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER movements_append_only
    BEFORE UPDATE OR DELETE ON movements
    FOR EACH ROW EXECUTE FUNCTION inventory_ledger_is_append_only();
CREATE TRIGGER movement_lines_append_only
    BEFORE UPDATE OR DELETE ON movement_lines
    FOR EACH ROW EXECUTE FUNCTION inventory_ledger_is_append_only();

-- The last seq handed out. One row, updated by every append in the appending transaction: its
-- row lock is held until commit, so the next append gets the next number only after this one is
-- visible -- seq order is commit order. Low fillfactor keeps the update HOT.
CREATE TABLE ledger_seq (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_seq bigint  NOT NULL
) WITH (fillfactor = 10);
INSERT INTO ledger_seq (only_row, last_seq) VALUES (true, 0);

-- Stock levels: the projection of the ledger. A row per (item, location) ever touched, virtual
-- locations included (they go negative: double entry). holds_stock is copied from the location
-- so the CHECK can back invariant 2 on its own.
CREATE TABLE location_stock (
    item_id     uuid    NOT NULL,
    location_id uuid    NOT NULL,
    holds_stock boolean NOT NULL,
    on_hand     bigint  NOT NULL,
    CONSTRAINT location_stock_pkey PRIMARY KEY (item_id, location_id),
    CONSTRAINT location_stock_on_hand_check CHECK (NOT holds_stock OR on_hand >= 0)
) WITH (fillfactor = 70);
CREATE INDEX location_stock_location_idx ON location_stock (location_id, item_id);

-- Per (item, warehouse): on hand over the warehouse's tree and reserved by active reservations.
-- available = on_hand - reserved may go negative (a loss below reservations), so only the two
-- parts are checked (invariants 2 and 3).
CREATE TABLE warehouse_stock (
    item_id      uuid   NOT NULL,
    warehouse_id uuid   NOT NULL,
    on_hand      bigint NOT NULL,
    reserved     bigint NOT NULL,
    CONSTRAINT warehouse_stock_pkey PRIMARY KEY (item_id, warehouse_id),
    CONSTRAINT warehouse_stock_on_hand_check CHECK (on_hand >= 0),
    CONSTRAINT warehouse_stock_reserved_check CHECK (reserved >= 0)
) WITH (fillfactor = 70);
CREATE INDEX warehouse_stock_warehouse_idx ON warehouse_stock (warehouse_id, item_id);

-- Stored first responses of POSTs carrying an Idempotency-Key, kept >= 24 h and purged by age.
CREATE TABLE idempotency_records (
    user_id       uuid        NOT NULL,
    key           text        NOT NULL,
    fingerprint   text        NOT NULL,
    status        smallint    NOT NULL CHECK (status BETWEEN 100 AND 599),
    body          bytea       NOT NULL,
    header_names  text[]      NOT NULL,
    header_values text[]      NOT NULL,
    created_at    timestamptz NOT NULL,
    CONSTRAINT idempotency_records_pkey PRIMARY KEY (user_id, key),
    CONSTRAINT idempotency_records_headers_check
        CHECK (cardinality(header_names) = cardinality(header_values))
);
CREATE INDEX idempotency_records_created_at_idx ON idempotency_records (created_at);
