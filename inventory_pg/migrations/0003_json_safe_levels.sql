-- Stock levels stay JSON-safe: within 2^53 - 1 in magnitude (9007199254740991), the largest
-- integer a JSON number read as a double keeps exactly (inventory_core.stock.MAX_TOTAL).
--
-- The adapter's conditional statements refuse a change beyond it (LimitExceeded, HTTP 409
-- limit-exceeded) before it is written, as they refuse stock going short; these CHECKs back the
-- same bounds should a write ever skip its condition. Virtual locations go negative (double
-- entry), so location levels are bounded both ways; warehouse levels have their floor already.
-- An item's totals over its warehouses are sums, not rows: the adapter bounds them by locking
-- (inventory_pg/repositories/stock.py).
--
-- NOT VALID: existing rows are not scanned. Validating would hold an exclusive lock on the stock
-- tables for the whole scan while the previous release still serves (docs/operations.md, "Run it
-- before the new code"), and a level beyond the bound could only have been written before this
-- release. The constraints hold for every row written from now on.

ALTER TABLE location_stock
    ADD CONSTRAINT location_stock_on_hand_limit_check
        CHECK (on_hand BETWEEN -9007199254740991 AND 9007199254740991) NOT VALID;

ALTER TABLE warehouse_stock
    ADD CONSTRAINT warehouse_stock_on_hand_limit_check
        CHECK (on_hand <= 9007199254740991) NOT VALID,
    ADD CONSTRAINT warehouse_stock_reserved_limit_check
        CHECK (reserved <= 9007199254740991) NOT VALID;
