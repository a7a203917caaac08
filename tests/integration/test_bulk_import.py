"""Bulk receipts (``inventory_pg.bulk`` and ``inventory import-stock``) against real PostgreSQL.

Each test starts from an emptied database. After every import the DESIGN §2 invariants are
checked with the contract suite's own checker, on top of the exact expected levels.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import threading
from collections import Counter
from datetime import date
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from inventory_core.contract.adapter import Harness
from inventory_core.contract.invariants import check_invariants, snapshot
from inventory_core.errors import (
    ConcurrencyConflict,
    InsufficientStock,
    LimitExceeded,
    SerialConflict,
    ValidationError,
)
from inventory_core.events import EventQuery, EventType
from inventory_core.feed import FEED_START
from inventory_core.locations import ADJUSTMENT_LOCATION_ID, SUPPLIER_LOCATION_ID
from inventory_core.movements import MAX_LINES, Movement, MovementKind, MovementLine
from inventory_core.ports import WarehouseStockQuery
from inventory_core.present import present
from inventory_core.services.events import ListEvents
from inventory_core.services.items import ChangeItem, CreateItem, ItemChanges
from inventory_core.services.locations import ChangeLocation, CreateLocation, LocationChanges
from inventory_core.services.movements import LineRequest, PostMovement
from inventory_core.stock import MAX_TOTAL, LocationChange, WarehouseChange
from inventory_core.users import Role
from inventory_http.import_stock import import_stock, read_rows
from inventory_pg import PgStore
from inventory_pg.bulk import ImportRefused, ImportResult, ImportRow, import_receipts
from inventory_pg.testing import FreshDatabaseAdapter

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]


class World:
    """A harness on the emptied database with two warehouses, bins and items of known codes."""

    def __init__(self, store: PgStore) -> None:
        self.store = store
        self.h = Harness(FreshDatabaseAdapter(store))
        inv, admin = self.h.inventory, self.h.admin
        self.locations: dict[str, UUID] = {}
        self.warehouse_of: dict[str, UUID] = {}
        for w in ("WA", "WB"):
            wh = inv.execute(admin, CreateLocation(w, "Warehouse", "warehouse")).id
            self.locations[w] = wh
            self.warehouse_of[w] = wh
            for b in range(3):
                code = f"{w}-B{b}"
                self.locations[code] = inv.execute(
                    admin, CreateLocation(code, "Bin", "internal", wh)
                ).id
                self.warehouse_of[code] = wh
        self.items = {
            sku: inv.execute(admin, CreateItem(sku, f"Item {sku}")).id
            for sku in ("A-1", "a-1", "B-2", "C-3", "D-4")
        }

    def import_rows(self, rows: list[ImportRow], **kw: object) -> ImportResult:
        return import_receipts(self.store, rows, actor_id=self.h.admin.user_id, **kw)  # type: ignore[arg-type]

    def on_hand(self, sku: str, location_id: UUID) -> int:
        key = (self.items[sku], location_id)
        with self.store.unit_of_work() as uow:
            return uow.stock.on_hand([key])[key]

    def warehouse_on_hand(self) -> dict[tuple[UUID, UUID], int]:
        with self.store.unit_of_work() as uow:
            rows = uow.stock.warehouse_levels(
                WarehouseStockQuery(), now=self.h.clock.now(), after=None, limit=None
            )
        return {(r.item_id, r.warehouse_id): r.on_hand for r in rows}

    def movements(self) -> list[Movement]:
        with self.store.unit_of_work() as uow:
            ledger = uow.movements.ledger(after=FEED_START, limit=100_000)
        return [movement for _, movement in ledger]

    def tracked(self) -> None:
        """Add LOT-1 and LOT-2, tracked by lot, and SER-1 and SER-2, by serial number."""
        for sku, tracking in (
            ("LOT-1", "lot"),
            ("LOT-2", "lot"),
            ("SER-1", "serial"),
            ("SER-2", "serial"),
        ):
            self.items[sku] = self.h.inventory.execute(
                self.h.admin, CreateItem(sku, f"Item {sku}", tracking=tracking)
            ).id

    def sql(self, query: str, params: dict[str, Any] | None = None) -> list[tuple[Any, ...]]:
        with self.store.pool.connection() as conn:
            return conn.execute(query, params).fetchall()  # type: ignore[no-any-return]

    def lots(self) -> dict[tuple[str, str], tuple[UUID, date | None]]:
        """(sku, code) -> (lot id, expires_on) of every lot."""
        rows = self.sql(
            "SELECT i.sku, l.code, l.id, l.expires_on FROM lots l JOIN items i ON i.id = l.item_id"
        )
        return {(sku, code): (id_, expires) for sku, code, id_, expires in rows}

    def lot_levels(self) -> dict[tuple[str, str, str], int]:
        """(sku, location code, lot code) -> on hand, of every non-zero lot level."""
        rows = self.sql(
            """SELECT i.sku, loc.code, l.code, s.on_hand FROM lot_stock s
               JOIN items i ON i.id = s.item_id JOIN lots l ON l.id = s.lot_id
               JOIN locations loc ON loc.id = s.location_id WHERE s.on_hand <> 0"""
        )
        return {(sku, where, lot): on_hand for sku, where, lot, on_hand in rows}

    def serials(self) -> dict[tuple[str, str], str | None]:
        """(sku, serial) -> location code (None: not in stock)."""
        rows = self.sql(
            """SELECT i.sku, s.serial, loc.code FROM serials s JOIN items i ON i.id = s.item_id
               LEFT JOIN locations loc ON loc.id = s.location_id"""
        )
        return {(sku, serial): where for sku, serial, where in rows}

    def tracked_state(self) -> tuple[object, ...]:
        """Every row of the tracking tables, for "a refused import writes nothing"."""
        return (
            sorted(self.sql("SELECT id::text, item_id::text, code, expires_on FROM lots")),
            sorted(
                self.sql(
                    "SELECT item_id::text, location_id::text, lot_id::text, on_hand FROM lot_stock"
                )
            ),
            sorted(self.sql("SELECT item_id::text, serial, location_id::text FROM serials")),
        )

    def receipt(self, sku: str, code: str, quantity: int) -> int:
        movement = self.h.inventory.execute(
            self.h.admin,
            PostMovement(
                "receipt", [LineRequest(self.items[sku], quantity, None, self.locations[code])]
            ),
        )
        return movement.seq


@pytest.fixture
def world(pg_store: PgStore) -> World:
    return World(pg_store)


def _rows(n: int, *, start_line: int = 2) -> list[ImportRow]:
    skus = ["A-1", "a-1", "B-2", "C-3", "D-4"]
    bins = ["WA-B0", "WA-B1", "WA-B2", "WB-B0", "WB-B1", "WB", "WA"]
    refs = [None, None, "PO-7", None, "PO-8"]
    return [
        ImportRow(
            start_line + i, skus[i % 5], bins[i % 7], str(1 + (i * 37) % 500), refs[(i // 3) % 5]
        )
        for i in range(n)
    ]


# ---------------------------------------------------------------- posting


def test_import_posts_every_line_and_keeps_the_invariants(world: World) -> None:
    rows = _rows(3000)
    result = world.import_rows(rows, reference="BULK-1")

    total = sum(int(r.quantity or 0) for r in rows)
    assert (result.lines, result.units) == (3000, total)
    # Per reference (None -> BULK-1): runs of at most MAX_LINES lines.
    per_ref = Counter(r.reference or "BULK-1" for r in rows)
    expected_movements = sum(-(-n // MAX_LINES) for n in per_ref.values())
    assert result.movements == expected_movements
    assert (result.first_seq, result.last_seq) == (1, expected_movements)

    check_invariants(world.h)

    expected: Counter[tuple[str, str]] = Counter()
    for r in rows:
        assert r.sku is not None
        assert r.location_code is not None
        expected[(r.sku, r.location_code)] += int(r.quantity or 0)
    for (sku, code), qty in expected.items():
        assert world.on_hand(sku, world.locations[code]) == qty
    # Conservation: the supplier went down by exactly what came in, per item.
    for sku in world.items:
        received = sum(q for (s, _), q in expected.items() if s == sku)
        assert world.on_hand(sku, SUPPLIER_LOCATION_ID) == -received
    # Warehouse levels: the sum over each warehouse's tree.
    wh = world.warehouse_on_hand()
    for sku, item in world.items.items():
        for w in ("WA", "WB"):
            want = sum(q for (s, c), q in expected.items() if s == sku and c.startswith(w))
            assert wh.get((item, world.locations[w]), 0) == want


def test_the_ledger_says_what_the_file_said_in_file_order(world: World) -> None:
    rows = _rows(2500)
    result = world.import_rows(rows, reference="BULK-2")
    movements = world.movements()
    assert [m.id for m in movements] == list(result.movement_ids)
    assert [m.seq for m in movements] == list(range(result.first_seq, result.last_seq + 1))
    flattened = []
    for m in movements:
        assert m.kind is MovementKind.RECEIPT
        assert m.actor_id == world.h.admin.user_id
        assert 1 <= len(m.lines) <= MAX_LINES
        for line in m.lines:
            assert line.from_location_id == SUPPLIER_LOCATION_ID
            flattened.append((m.reference, line))
    # Every file line is one movement line; per reference, lines keep the file's order.
    assert len(flattened) == len(rows)
    inverse_items = {v: k for k, v in world.items.items()}
    inverse_locations = {v: k for k, v in world.locations.items()}
    for reference in {r.reference or "BULK-2" for r in rows}:
        from_file = [
            (r.sku, r.location_code, int(r.quantity or 0))
            for r in rows
            if (r.reference or "BULK-2") == reference
        ]
        from_ledger = [
            (
                inverse_items[line.item_id],
                inverse_locations[line.to_location_id],
                line.quantity,
            )
            for ref, line in flattened
            if ref == reference
        ]
        assert from_ledger == from_file
    # Movements are numbered in the order of their first line.
    first_refs = [m.reference for m in movements]
    assert first_refs[0] == "BULK-2"  # line 2 has no reference


def test_each_imported_movement_is_one_movement_posted_event_as_presented(world: World) -> None:
    result = world.import_rows(_rows(1200), reference="BULK-E")
    events = world.h.inventory.execute(
        world.h.admin, ListEvents(EventQuery(types=[EventType.MOVEMENT_POSTED]), limit=500)
    ).items
    assert [e.data for e in events] == [present(m) for m in world.movements()]
    assert [e.data["id"] for e in events] == [str(i) for i in result.movement_ids]
    refused = [ImportRow(2, "NO-SUCH-SKU", "X", "1")]
    with pytest.raises(ImportRefused):
        world.import_rows(refused)
    after = world.h.inventory.execute(world.h.admin, ListEvents(limit=500)).items
    assert [e.type for e in after].count(EventType.MOVEMENT_POSTED) == len(events)


def test_seqs_continue_the_ledger_and_levels_add_to_existing_stock(world: World) -> None:
    before = world.receipt("A-1", "WA-B0", 5)
    assert before == 1
    result = world.import_rows(
        [ImportRow(2, "A-1", "WA-B0", "7"), ImportRow(3, "B-2", "WB-B1", "1000000000000")]
    )
    assert (result.first_seq, result.last_seq, result.movements) == (2, 2, 1)
    assert result.units == 7 + 10**12
    assert world.receipt("A-1", "WA-B0", 1) == 3
    assert world.on_hand("A-1", world.locations["WA-B0"]) == 13
    assert world.on_hand("B-2", world.locations["WB-B1"]) == 10**12
    check_invariants(world.h)
    # The imported stock is real stock: it can be shipped.
    world.h.inventory.execute(
        world.h.admin,
        PostMovement(
            "shipment", [LineRequest(world.items["B-2"], 10**12, world.locations["WB-B1"])]
        ),
    )
    check_invariants(world.h)


def test_an_import_that_would_pass_the_json_safe_total_is_refused_whole(world: World) -> None:
    """Each row is bounded by CHECK constraints, but an item's total over warehouses has no row:
    the import checks it itself, and refuses the whole file with LimitExceeded."""
    item, wa_bin = world.items["A-1"], world.locations["WA-B0"]
    near = MAX_TOTAL - 10  # found stock (not received): the supplier's balance stays small
    with world.store.unit_of_work() as uow:
        uow.stock.apply(
            [
                LocationChange(item, wa_bin, near, True),
                LocationChange(item, ADJUSTMENT_LOCATION_ID, -near, False),
            ],
            [WarehouseChange(item, world.warehouse_of["WA-B0"], on_hand_delta=near)],
        )
    before = world.movements()
    with pytest.raises(LimitExceeded) as refused:
        world.import_rows([ImportRow(2, "B-2", "WB-B0", "5"), ImportRow(3, "A-1", "WB-B1", "11")])
    error = refused.value
    assert (error.item_id, error.location_id, error.level) == (item, None, "on_hand")
    assert (error.current, error.change, error.limit) == (near, 11, MAX_TOTAL)
    assert world.movements() == before  # nothing posted, B-2 included
    assert world.on_hand("B-2", world.locations["WB-B0"]) == 0
    result = world.import_rows([ImportRow(2, "A-1", "WB-B1", "10")])  # up to the bound is fine
    assert result.units == 10


def test_skus_are_compared_exactly(world: World) -> None:
    world.import_rows([ImportRow(2, "a-1", "WA-B0", "3")])
    assert world.on_hand("a-1", world.locations["WA-B0"]) == 3
    assert world.on_hand("A-1", world.locations["WA-B0"]) == 0


# ---------------------------------------------------------------- lots and serial numbers

# Every one of these queries returns no row while the per-lot and per-serial books balance.
TRACKING_OFF_BOOKS = {
    "lot levels == ledger sums per (item, location, lot)": """
        WITH ledger AS (
            SELECT item_id, location_id, lot_id, sum(delta)::bigint AS on_hand FROM (
                SELECT item_id, to_location_id AS location_id, lot_id, quantity AS delta
                FROM movement_lines WHERE lot_id IS NOT NULL
                UNION ALL
                SELECT item_id, from_location_id, lot_id, -quantity
                FROM movement_lines WHERE lot_id IS NOT NULL
            ) d GROUP BY item_id, location_id, lot_id
        )
        SELECT * FROM ledger l FULL JOIN lot_stock s USING (item_id, location_id, lot_id)
        WHERE coalesce(l.on_hand, 0) <> coalesce(s.on_hand, 0)
    """,
    "location levels == sums of lot levels, for lot items": """
        SELECT * FROM (
            SELECT s.item_id, s.location_id, s.on_hand FROM location_stock s
            JOIN items i ON i.id = s.item_id WHERE i.tracking = 'lot'
        ) loc FULL JOIN (
            SELECT item_id, location_id, sum(on_hand)::bigint AS on_hand FROM lot_stock
            GROUP BY item_id, location_id
        ) lot USING (item_id, location_id)
        WHERE coalesce(loc.on_hand, 0) <> coalesce(lot.on_hand, 0)
    """,
    "a lot's levels sum to 0 over all locations (conservation)": """
        SELECT lot_id, sum(on_hand) FROM lot_stock GROUP BY lot_id HAVING sum(on_hand) <> 0
    """,
    "stock-holding levels == serials there, for serial items": """
        SELECT * FROM (
            SELECT s.item_id, s.location_id, s.on_hand FROM location_stock s
            JOIN items i ON i.id = s.item_id WHERE i.tracking = 'serial' AND s.holds_stock
        ) loc FULL JOIN (
            SELECT item_id, location_id, count(*) AS on_hand FROM serials
            WHERE location_id IS NOT NULL GROUP BY item_id, location_id
        ) ser USING (item_id, location_id)
        WHERE coalesce(loc.on_hand, 0) <> coalesce(ser.on_hand, 0)
    """,
    "a line's lot is a lot of its item, with its code": """
        SELECT m.* FROM movement_lines m LEFT JOIN lots l ON l.id = m.lot_id
        WHERE (m.lot_id IS NULL) <> (m.lot IS NULL)
           OR (m.lot_id IS NOT NULL AND (l.item_id IS DISTINCT FROM m.item_id
                                         OR l.code IS DISTINCT FROM m.lot))
    """,
    "lines follow their item's tracking": """
        SELECT m.* FROM movement_lines m JOIN items i ON i.id = m.item_id
        WHERE (i.tracking = 'lot') <> (m.lot_id IS NOT NULL)
           OR (i.tracking = 'serial') <> (m.serials IS NOT NULL)
           OR (m.serials IS NOT NULL AND cardinality(m.serials) <> m.quantity)
    """,
}


def _check_tracking_books(world: World) -> None:
    for name, query in TRACKING_OFF_BOOKS.items():
        assert world.sql(query) == [], name


LOTS_CSV = (
    "sku,location_code,quantity,lot,expires_on,reference\n"
    "LOT-1,WA-B0,5,L1,2027-01-31,\n"  # 2: creates LOT-1/L1, expiring
    "LOT-1,WB-B1,7,L1,,PO-9\n"  # 3: the same lot, no date given: fine
    "LOT-1,WA-B0,2,L2,,\n"  # 4: a lot without expiry
    "LOT-2,WA-B0,4,L1,2028-02-29,\n"  # 5: L1 of another item: another lot
    "A-1,WA-B1,3,,,\n"  # 6: untracked
    "LOT-1,WA-B0,1,L1,2027-01-31,\n"  # 7: L1 again, the same date
    "LOT-2,WA-B0,6,L1,,PO-9\n"  # 8
)


def test_lot_rows_create_lots_with_their_expiry_and_keep_levels_per_lot(world: World) -> None:
    world.tracked()
    result = world.import_rows(list(read_rows(io.BytesIO(LOTS_CSV.encode()))))

    assert (result.lines, result.units, result.new_lots) == (7, 28, 3)
    lots = world.lots()
    assert {key: expires for key, (_, expires) in lots.items()} == {
        ("LOT-1", "L1"): date(2027, 1, 31),
        ("LOT-1", "L2"): None,
        ("LOT-2", "L1"): date(2028, 2, 29),
    }
    assert world.lot_levels() == {
        ("LOT-1", "WA-B0", "L1"): 6,
        ("LOT-1", "WB-B1", "L1"): 7,
        ("LOT-1", "SUPPLIER", "L1"): -13,
        ("LOT-1", "WA-B0", "L2"): 2,
        ("LOT-1", "SUPPLIER", "L2"): -2,
        ("LOT-2", "WA-B0", "L1"): 10,
        ("LOT-2", "SUPPLIER", "L1"): -10,
    }
    assert world.on_hand("LOT-1", world.locations["WA-B0"]) == 8
    assert world.on_hand("LOT-1", SUPPLIER_LOCATION_ID) == -15
    assert world.on_hand("A-1", world.locations["WA-B1"]) == 3
    # Each row is one line, carrying its lot (id and code); the untracked one none.
    lines = [line for m in world.movements() for line in m.lines]
    by_lot = [(line.quantity, line.lot, line.lot_id, line.serials) for line in lines]
    lot_1, lot_2, other = lots[("LOT-1", "L1")][0], lots[("LOT-1", "L2")][0], lots[("LOT-2", "L1")]
    assert sorted(by_lot, key=lambda x: (x[0], x[1] or "")) == [
        (1, "L1", lot_1, ()),
        (2, "L2", lot_2, ()),
        (3, None, None, ()),
        (4, "L1", other[0], ()),
        (5, "L1", lot_1, ()),
        (6, "L1", other[0], ()),
        (7, "L1", lot_1, ()),
    ]
    _check_tracking_books(world)
    check_invariants(world.h)

    # A second file adds to the lots it names (giving their date, or none) and creates L3.
    again = world.import_rows(
        [
            ImportRow(2, "LOT-1", "WA-B0", "10", lot="L1", expires_on="2027-01-31"),
            ImportRow(3, "LOT-1", "WB-B1", "1", lot="L2"),
            ImportRow(4, "LOT-1", "WB-B1", "2", lot="L3", expires_on="2026-07-01"),
        ]
    )
    assert again.new_lots == 1
    assert world.lots()[("LOT-1", "L3")][1] == date(2026, 7, 1)
    assert world.lots()[("LOT-1", "L1")] == lots[("LOT-1", "L1")]
    levels = world.lot_levels()
    assert levels[("LOT-1", "WA-B0", "L1")] == 16
    assert levels[("LOT-1", "SUPPLIER", "L1")] == -23
    assert levels[("LOT-1", "WB-B1", "L2")] == 1
    assert levels[("LOT-1", "WB-B1", "L3")] == 2
    _check_tracking_books(world)
    check_invariants(world.h)


def test_serial_rows_put_each_serial_at_its_location(world: World) -> None:
    world.tracked()
    result = world.import_rows(
        [
            ImportRow(2, "SER-1", "WA-B0", "1", serial="S-1"),
            ImportRow(3, "SER-1", "WA-B0", "1", serial="S-2"),
            ImportRow(4, "SER-1", "WB-B1", "1", serial="S-3", reference="PO-1"),
            ImportRow(5, "SER-2", "WA-B0", "1", serial="S-1"),  # the same serial, another item
            ImportRow(6, "B-2", "WA-B0", "9"),
        ]
    )
    assert (result.lines, result.units, result.new_lots) == (5, 13, 0)
    assert world.serials() == {
        ("SER-1", "S-1"): "WA-B0",
        ("SER-1", "S-2"): "WA-B0",
        ("SER-1", "S-3"): "WB-B1",
        ("SER-2", "S-1"): "WA-B0",
    }
    assert world.on_hand("SER-1", world.locations["WA-B0"]) == 2
    assert world.on_hand("SER-1", SUPPLIER_LOCATION_ID) == -3
    lines = [line for m in world.movements() for line in m.lines]
    assert sorted((line.serials, line.lot_id) for line in lines) == [
        ((), None),
        (("S-1",), None),
        (("S-1",), None),
        (("S-2",), None),
        (("S-3",), None),
    ]
    _check_tracking_books(world)
    check_invariants(world.h)


def test_a_serial_shipped_earlier_can_be_received_again(world: World) -> None:
    world.tracked()
    world.import_rows([ImportRow(2, "SER-1", "WA-B0", "1", serial="S-1")])
    world.h.inventory.execute(
        world.h.admin,
        PostMovement(
            "shipment",
            [LineRequest(world.items["SER-1"], 1, world.locations["WA-B0"], serials=("S-1",))],
        ),
    )
    assert world.serials() == {("SER-1", "S-1"): None}

    world.import_rows([ImportRow(2, "SER-1", "WB-B0", "1", serial="S-1")])

    assert world.serials() == {("SER-1", "S-1"): "WB-B0"}
    assert world.on_hand("SER-1", world.locations["WB-B0"]) == 1
    assert world.on_hand("SER-1", world.locations["WA-B0"]) == 0
    _check_tracking_books(world)
    check_invariants(world.h)


TRACKED_BAD_CSV = (
    "sku,location_code,quantity,lot,expires_on,serial,reference\n"  # 1
    "A-1,WA-B0,5,,,,\n"  # 2 ok
    "A-1,WA-B0,5,L1,,,\n"  # 3 lot on an untracked item
    "A-1,WA-B0,1,,,S1,\n"  # 4 serial on an untracked item
    "A-1,WA-B0,5,,2027-01-01,,\n"  # 5 expiry on an untracked item
    "LOT-1,WA-B0,5,,,,\n"  # 6 no lot
    "SER-1,WA-B0,1,,,,\n"  # 7 no serial
    "SER-1,WA-B0,2,,,S2,\n"  # 8 a serial row of quantity 2
    "LOT-1,WA-B0,5,bad lot!,,,\n"  # 9 not a code
    "SER-1,WA-B0,1,,,-S3,\n"  # 10 not a code
    "LOT-1,WA-B0,5,L-NEW,2027-02-29,,\n"  # 11 no such day
    "LOT-1,WA-B0,5,L-NEW,2027-13-01,,\n"  # 12 no such month
    "LOT-1,WA-B0,5,L-NEW,31/12/2027,,\n"  # 13 not ISO
    "LOT-1,WA-B0,5,L-NEW,2028-02-29,,\n"  # 14 ok: the first date given for L-NEW
    "LOT-1,WB-B0,5,L-NEW,,,\n"  # 15 ok: no date
    "LOT-1,WB-B0,5,L-NEW,2028-03-01,,\n"  # 16 another date than line 14's
    "LOT-1,WA-B0,5,L-OLD,2026-12-31,,\n"  # 17 ok: the existing lot's date
    "LOT-1,WA-B0,5,L-OLD,2027-01-01,,\n"  # 18 another date than the existing lot's
    "LOT-1,WA-B0,5,L-NEVER,2027-01-01,,\n"  # 19 a date for a lot that does not expire
    "SER-1,WA-B0,1,,,S-IN,\n"  # 20 already in stock
    "SER-1,WA-B0,1,,,S-DUP,\n"  # 21 ok
    "SER-1,WB-B0,1,,,S-DUP,\n"  # 22 the same serial as line 21
    "SER-1,WA-B0,1,L1,,S9,\n"  # 23 a lot for a serial item
    "SER-1,WA-B0,1,,2027-01-01,S10,\n"  # 24 an expiry for a serial item
    "LOT-1,WA-B0,5,L-X,,S11,\n"  # 25 a serial for a lot item
    "LOT-1,WA-B0,5,L-X,0000-01-01,,\n"  # 26 year 0
    "SER-2,WA-B0,1,,,S-DUP,\n"  # 27 ok: another item's S-DUP
    "SER-1,WB-B1,1,,,S-DUP,\n"  # 28 S-DUP of SER-1 a third time
)
TRACKED_EXPECTED_BAD = [
    (3, "item 'A-1' is not tracked by lot: leave lot empty"),
    (4, "item 'A-1' is not tracked by serial number: leave serial empty"),
    (5, "expires_on is given only with a lot: item 'A-1' is not tracked by lot"),
    (6, "lot is required: item 'LOT-1' is tracked by lot"),
    (7, "serial is required: item 'SER-1' is tracked by serial number (one row per unit)"),
    (
        8,
        "quantity must be 1: item 'SER-1' is tracked by serial number, one row per unit "
        "(serial 'S2', quantity '2')",
    ),
    (
        9,
        "lot must be 1-64 letters, digits or . _ / - starting with a letter or digit, "
        "not 'bad lot!'",
    ),
    (
        10,
        "serial must be 1-64 letters, digits or . _ / - starting with a letter or digit, not '-S3'",
    ),
    (11, "expires_on must be a date as YYYY-MM-DD, not '2027-02-29'"),
    (12, "expires_on must be a date as YYYY-MM-DD, not '2027-13-01'"),
    (13, "expires_on must be a date as YYYY-MM-DD, not '31/12/2027'"),
    (
        16,
        "lot 'L-NEW' of item 'LOT-1' expires 2028-02-29 on line 14: the rows of a lot give "
        "the same date or none",
    ),
    (18, "lot 'L-OLD' of item 'LOT-1' expires 2026-12-31: give the same date or none"),
    (19, "lot 'L-NEVER' of item 'LOT-1' expires never: give the same date or none"),
    (20, "serial 'S-IN' of item 'SER-1' is already in stock (at 'WA-B1')"),
    (22, "serial 'S-DUP' of item 'SER-1' is already on line 21: a serial is received once"),
    (23, "item 'SER-1' is not tracked by lot: leave lot empty"),
    (24, "expires_on is given only with a lot: item 'SER-1' is not tracked by lot"),
    (25, "item 'LOT-1' is not tracked by serial number: leave serial empty"),
    (26, "expires_on must be a date as YYYY-MM-DD, not '0000-01-01'"),
    (28, "serial 'S-DUP' of item 'SER-1' is already on line 21: a serial is received once"),
]


def test_tracking_mistakes_are_reported_by_line_and_nothing_is_written(world: World) -> None:
    world.tracked()
    world.import_rows(
        [
            ImportRow(2, "LOT-1", "WA-B0", "5", lot="L-OLD", expires_on="2026-12-31"),
            ImportRow(3, "LOT-1", "WA-B0", "2", lot="L-NEVER"),
            ImportRow(4, "SER-1", "WA-B1", "1", serial="S-IN"),
        ]
    )
    before, tracked_before = snapshot(world.h), world.tracked_state()

    with pytest.raises(ImportRefused) as refused:
        world.import_rows(list(read_rows(io.BytesIO(TRACKED_BAD_CSV.encode()))))

    got = [(row.line, row.message) for row in refused.value.bad_rows]
    assert got == TRACKED_EXPECTED_BAD
    assert refused.value.total == len(TRACKED_EXPECTED_BAD)
    assert snapshot(world.h) == before
    assert world.tracked_state() == tracked_before  # no lot created, no serial placed
    assert ("LOT-1", "L-NEW") not in world.lots()
    assert world.receipt("A-1", "WA-B0", 1) == 2  # not even a seq was used up
    _check_tracking_books(world)

    # The good rows alone post.
    good = [
        line
        for n, line in enumerate(TRACKED_BAD_CSV.splitlines(), start=1)
        if n == 1 or n not in {bad for bad, _ in TRACKED_EXPECTED_BAD}
    ]
    result = world.import_rows(list(read_rows(io.BytesIO("\n".join(good).encode()))))
    assert (result.lines, result.new_lots) == (6, 1)
    assert world.lots()[("LOT-1", "L-NEW")][1] == date(2028, 2, 29)
    assert world.serials()[("SER-1", "S-DUP")] == "WA-B0"
    assert world.serials()[("SER-2", "S-DUP")] == "WA-B0"
    _check_tracking_books(world)
    check_invariants(world.h)


@pytest.mark.parametrize(
    ("row", "message"),
    [
        (ImportRow(2, "LOT-1", "WA-B0", "1", lot="L1", expires_on="2027-1-01"), "YYYY-MM-DD"),
        (ImportRow(2, "LOT-1", "WA-B0", "1", lot="L1", expires_on="2027-04-31"), "YYYY-MM-DD"),
        (ImportRow(2, "LOT-1", "WA-B0", "1", lot="L1", expires_on="2100-02-29"), "YYYY-MM-DD"),
        (
            ImportRow(
                2, "LOT-1", "WA-B0", "1", lot="L1", expires_on="\uff12\uff10\uff12\uff17-01-01"
            ),
            "YYYY-MM-DD",
        ),
        (ImportRow(2, "LOT-1", "WA-B0", "1", lot="L" * 65), "lot must be 1-64"),
        (ImportRow(2, "LOT-1", "WA-B0", "1", lot="Lé"), "lot must be 1-64"),
        (ImportRow(2, "SER-1", "WA-B0", "1", serial="S\n1"), "serial must be 1-64"),
        (ImportRow(2, "SER-1", "WA-B0", "0", serial="S1"), "from 1 to 10^12"),
    ],
)
def test_each_bad_lot_serial_or_date_is_refused(world: World, row: ImportRow, message: str) -> None:
    world.tracked()
    with pytest.raises(ImportRefused) as refused:
        world.import_rows([row])
    ((bad,),) = [refused.value.bad_rows]
    assert bad.line == 2
    assert message in bad.message
    assert world.tracked_state() == ([], [], [])


def test_extreme_valid_codes_and_dates_are_taken(world: World) -> None:
    world.tracked()
    world.import_rows(
        [
            ImportRow(2, "LOT-1", "WA-B0", "1", lot="L" * 64, expires_on="9999-12-31"),
            ImportRow(3, "LOT-1", "WA-B0", "1", lot="a._/-Z9", expires_on="0001-01-01"),
            ImportRow(4, "LOT-1", "WA-B0", "1", lot="L2000", expires_on="2000-02-29"),
            ImportRow(5, "SER-1", "WA-B0", "1", serial="9" * 64),
        ]
    )
    assert {k[1]: v[1] for k, v in world.lots().items()} == {
        "L" * 64: date(9999, 12, 31),
        "a._/-Z9": date(1, 1, 1),
        "L2000": date(2000, 2, 29),
    }
    assert world.serials() == {("SER-1", "9" * 64): "WA-B0"}
    check_invariants(world.h)


def test_tracked_lines_are_presented_in_their_events_as_any_movement(world: World) -> None:
    world.tracked()
    result = world.import_rows(
        [
            ImportRow(2, "LOT-1", "WA-B0", "5", lot="L1", expires_on="2027-01-31"),
            ImportRow(3, "SER-1", "WB-B0", "1", serial="S-1"),
            ImportRow(4, "A-1", "WA-B1", "3"),
            ImportRow(5, "LOT-1", "WB-B1", "2", lot="L1", reference="PO-2"),
        ],
        reference="BULK-T",
    )
    events = world.h.inventory.execute(
        world.h.admin, ListEvents(EventQuery(types=[EventType.MOVEMENT_POSTED]), limit=500)
    ).items
    movements = world.movements()
    assert [m.id for m in movements] == list(result.movement_ids)
    assert [e.data for e in events] == [present(m) for m in movements]
    # ... and what they present is what the file said.
    lot_id = world.lots()[("LOT-1", "L1")][0]
    supplier = SUPPLIER_LOCATION_ID
    expected = [
        [
            MovementLine(
                world.items["LOT-1"], 5, supplier, world.locations["WA-B0"], lot_id=lot_id, lot="L1"
            ),
            MovementLine(
                world.items["SER-1"], 1, supplier, world.locations["WB-B0"], serials=("S-1",)
            ),
            MovementLine(world.items["A-1"], 3, supplier, world.locations["WA-B1"]),
        ],
        [
            MovementLine(
                world.items["LOT-1"], 2, supplier, world.locations["WB-B1"], lot_id=lot_id, lot="L1"
            ),
        ],
    ]
    assert [e.data["lines"] for e in events] == [
        [present(line) for line in lines] for lines in expected
    ]
    first_lines = events[0].data["lines"]
    assert first_lines[0]["lot"] == "L1"
    assert first_lines[0]["lot_id"] == str(lot_id)
    assert first_lines[1]["serials"] == ["S-1"]


def test_the_command_takes_lot_expiry_and_serial_columns(
    world: World, database_url: str, tmp_path: Path
) -> None:
    world.tracked()
    path = tmp_path / "stock.csv"
    path.write_text(
        "Serial,sku,location_code,quantity,Expires_On,lot\n"
        ",LOT-1,WA-B0,5,2027-01-31,L1\n"
        ",LOT-1,WB-B0,2,,L2\n"
        "S-1,SER-1,WA-B1,1,,\n"
        ",A-1,WA-B1,4,,\n"
    )
    status, out, err = _import(database_url, path)
    assert status == 0, (out, err)
    assert out == "posted 4 lines as 1 receipt movement (seq 1), 12 units, 2 new lots\n"
    assert world.lots()[("LOT-1", "L1")][1] == date(2027, 1, 31)
    assert world.serials() == {("SER-1", "S-1"): "WA-B1"}

    path.write_text("sku,location_code,quantity,serial\nSER-1,WA-B0,3,S-2\nSER-1,WA-B0,1,S-1\n")
    status, out, err = _import(database_url, path)
    assert status == 1, (out, err)
    assert out.splitlines() == [
        "line 2: quantity must be 1: item 'SER-1' is tracked by serial number, one row per unit "
        "(serial 'S-2', quantity '3')",
        "line 3: serial 'S-1' of item 'SER-1' is already in stock (at 'WA-B1')",
        "refused: 2 bad rows, nothing posted",
    ]
    _check_tracking_books(world)
    check_invariants(world.h)


def test_the_reader_reads_the_tracking_columns() -> None:
    data = (
        b"lot,sku,location_code,quantity,serial,expires_on\n L1 ,A,B,1, , 2027-01-01 \n,A,B,1,S,\n"
    )
    assert list(read_rows(io.BytesIO(data))) == [
        ImportRow(2, "A", "B", "1", lot="L1", expires_on="2027-01-01"),
        ImportRow(3, "A", "B", "1", serial="S"),
    ]
    with pytest.raises(ImportRefused) as refused:
        read_rows(io.BytesIO(b"sku,location_code,quantity,serials\n"))
    assert refused.value.bad_rows[0].message == (
        "header: unknown column(s) 'serials' (expected sku, location_code, quantity"
        "[, reference][, lot][, expires_on][, serial])"
    )


# ---------------------------------------------------------------- refusals


BAD_CSV = (
    "SKU, Location_Code ,quantity,reference\n"  # 1: header, any case and spaces
    "A-1,WA-B0,5,\n"  # 2 ok
    "NOPE,WA-B0,5,\n"  # 3 unknown SKU
    "A-1,NOWHERE,5,\n"  # 4 unknown location
    "A-1,SUPPLIER,5,\n"  # 5 virtual location
    "OLD,WA-B0,5,\n"  # 6 inactive item
    "A-1,WA-B2,5,\n"  # 7 inactive bin
    "A-1,WA-B0,0,\n"  # 8 quantity 0
    "A-1,WA-B0,1000000000001,\n"  # 9 above 10^12
    "A-1,WA-B0,1.5,\n"  # 10 not a whole number
    "A-1,WA-B0,-3,\n"  # 11 negative
    ",WA-B0,5,\n"  # 12 missing sku
    "A-1,,5,\n"  # 13 missing location
    "A-1,WA-B0,,\n"  # 14 missing quantity
    "A-1,WA-B0\n"  # 15 too few fields
    'A-1,"WA-\n'  # 16-17: a quoted field spanning two lines...
    'B0",5,\n'  # ...is one row starting on line 16: location "WA-\nB0" is unknown
    "\n"  # 18 blank: skipped
    'A-1,"WA-B0"x,5,\n'  # 19 malformed CSV
    "B-2,WB-B0,12,PO-1\n"  # 20 ok
    "B-2,WB-B0,12," + "R" * 201 + "\n"  # 21 reference too long
)
EXPECTED_BAD = [
    (3, "unknown SKU 'NOPE'"),
    (4, "unknown location 'NOWHERE'"),
    (5, "location 'SUPPLIER' does not hold stock"),
    (6, "item 'OLD' is inactive"),
    (7, "location 'WA-B2' is inactive"),
    (8, "quantity must be a whole number from 1 to 10^12, not '0'"),
    (9, "not '1000000000001'"),
    (10, "not '1.5'"),
    (11, "not '-3'"),
    (12, "sku is missing"),
    (13, "location_code is missing"),
    (14, "quantity is missing"),
    (15, "expected 4 fields, found 2"),
    (16, "unknown location 'WA-\\nB0'"),
    (19, "malformed CSV"),
    (21, "reference is longer than 200 characters"),
]


def _deactivate(world: World) -> None:
    inv, admin = world.h.inventory, world.h.admin
    world.items["OLD"] = inv.execute(admin, CreateItem("OLD", "Old item")).id
    inv.execute(admin, ChangeItem(world.items["OLD"], ItemChanges(active=False)))
    inv.execute(admin, ChangeLocation(world.locations["WA-B2"], LocationChanges(active=False)))


def test_bad_rows_are_reported_by_file_line_and_nothing_is_posted(world: World) -> None:
    _deactivate(world)
    world.receipt("A-1", "WA-B0", 5)
    before = snapshot(world.h)

    with pytest.raises(ImportRefused) as refused:
        world.import_rows(list(read_rows(io.BytesIO(BAD_CSV.encode()))))

    got = [(row.line, row.message) for row in refused.value.bad_rows]
    assert [line for line, _ in got] == [line for line, _ in EXPECTED_BAD]
    for (line, message), (_, expected) in zip(got, EXPECTED_BAD, strict=True):
        assert expected in message, (line, message)
    assert refused.value.total == len(EXPECTED_BAD)
    assert isinstance(refused.value, ValidationError)
    assert snapshot(world.h) == before
    # Not even a seq was used up.
    assert world.receipt("A-1", "WA-B0", 1) == 2
    check_invariants(world.h)


def test_one_bad_row_among_many_refuses_them_all(world: World) -> None:
    rows = _rows(2000)
    rows[1234] = rows[1234]._replace(quantity="12x")
    with pytest.raises(ImportRefused) as refused:
        world.import_rows(rows)
    assert [(r.line, r.message) for r in refused.value.bad_rows] == [
        (rows[1234].line, "quantity must be a whole number from 1 to 10^12, not '12x'")
    ]
    assert world.movements() == []
    assert world.on_hand("A-1", SUPPLIER_LOCATION_ID) == 0


def test_the_report_is_capped_but_counts_every_bad_row(world: World) -> None:
    rows = [ImportRow(n, "NOPE", "WA-B0", "1") for n in range(2, 1502)]
    with pytest.raises(ImportRefused) as refused:
        world.import_rows(rows)
    assert refused.value.total == 1500
    assert len(refused.value.bad_rows) == 1000
    assert refused.value.bad_rows[0].line == 2


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"", "the file is empty"),
        (b"sku,location,quantity\nA-1,WA-B0,1\n", "unknown column(s) 'location'"),
        (b"sku,quantity\n", "missing column(s) location_code"),
        (b"sku,sku,location_code,quantity\n", "repeated column(s) sku"),
        (b'"sku,location_code,quantity\n', "header: malformed CSV"),
        (b"s\xffku,location_code,quantity\n", "header: not valid UTF-8"),
    ],
)
def test_a_bad_header_is_line_1(content: bytes, message: str) -> None:
    with pytest.raises(ImportRefused) as refused:
        read_rows(io.BytesIO(content))
    ((row,),) = [refused.value.bad_rows]
    assert row.line == 1
    assert message in row.message


def test_the_reader_handles_bom_crlf_and_bad_encoding() -> None:
    data = b"\xef\xbb\xbfsku,location_code,quantity\r\nA-1, WA-B0 ,5\r\nB-\xff,WA,1\r\n\r\nC,D,2"
    rows = list(read_rows(io.BytesIO(data)))
    assert rows == [
        ImportRow(2, "A-1", "WA-B0", "5"),
        ImportRow(3, None, None, None, problem="not valid UTF-8"),
        ImportRow(5, "C", "D", "2"),
    ]


def test_no_data_rows_and_bad_arguments_are_refused(world: World) -> None:
    with pytest.raises(ValidationError, match="no lines"):
        world.import_rows([])
    with pytest.raises(ValidationError, match="reference"):
        world.import_rows([ImportRow(2, "A-1", "WA-B0", "1")], reference="x" * 201)
    assert world.movements() == []


# ---------------------------------------------------------------- concurrency


def _race(
    world: World, before: str, params: dict[str, Any], rows: list[ImportRow], waits_in: str
) -> dict[str, object]:
    """Run ``before`` in a transaction of its own, then the import in a thread; once the import
    waits for a lock in a statement containing ``waits_in`` (so after its rows were checked),
    commit the other transaction. Returns the import's ``result`` or ``error``."""
    outcome: dict[str, object] = {}

    def run() -> None:
        try:
            outcome["result"] = world.import_rows(rows)
        except Exception as exc:  # the test looks at it
            outcome["error"] = exc

    thread = threading.Thread(target=run)
    with world.store.pool.connection() as other:
        try:
            with other.transaction():  # committed at the end of the block
                other.execute(before, params)
                thread.start()
                for _ in range(500):
                    waiting = world.sql(
                        "SELECT count(*) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND wait_event_type = 'Lock' "
                        "AND position(%(text)s IN query) > 0",
                        {"text": waits_in},
                    )
                    if waiting[0][0]:
                        break
                    thread.join(0.02)
                else:
                    pytest.fail(f"the import never waited in {waits_in!r}: {outcome}")
        finally:
            if thread.ident is not None:  # started
                thread.join(30)
    return outcome


def test_a_lot_created_while_the_import_runs_refuses_it_and_a_retry_posts(world: World) -> None:
    world.tracked()
    rows = [ImportRow(2, "LOT-1", "WA-B0", "3", lot="L-RACE"), ImportRow(3, "A-1", "WA-B0", "1")]
    outcome = _race(
        world,
        "INSERT INTO lots (id, item_id, code) VALUES (gen_random_uuid(), %(item)s, 'L-RACE')",
        {"item": world.items["LOT-1"]},
        rows,
        "INSERT INTO lots",
    )
    error = outcome.get("error")
    assert isinstance(error, ConcurrencyConflict), outcome
    assert "lot L-RACE of item LOT-1 was created concurrently" in str(error)
    assert world.movements() == []
    assert world.lot_levels() == {}
    result = world.import_rows(rows)  # now the lot is found
    assert (result.lines, result.new_lots) == (2, 0)
    assert world.lot_levels()[("LOT-1", "WA-B0", "L-RACE")] == 3
    _check_tracking_books(world)


def test_a_serial_received_while_the_import_runs_refuses_it(world: World) -> None:
    world.tracked()
    rows = [ImportRow(2, "SER-1", "WA-B0", "1", serial="S-RACE"), ImportRow(3, "A-1", "WA", "1")]
    outcome = _race(
        world,
        "INSERT INTO serials (item_id, serial, location_id) VALUES (%(item)s, 'S-RACE', %(at)s)",
        {"item": world.items["SER-1"], "at": world.locations["WB-B1"]},
        rows,
        "INSERT INTO serials",
    )
    error = outcome.get("error")
    assert isinstance(error, SerialConflict), outcome
    assert (error.item_id, error.serial, error.location_id) == (
        world.items["SER-1"],
        "S-RACE",
        world.locations["WB-B1"],
    )
    assert world.movements() == []
    assert world.serials() == {("SER-1", "S-RACE"): "WB-B1"}  # as the other receipt left it
    assert world.on_hand("A-1", world.locations["WA"]) == 0


def test_a_tracking_changed_while_the_import_runs_refuses_it(world: World) -> None:
    world.tracked()
    rows = [ImportRow(2, "A-1", "WA-B0", "3"), ImportRow(3, "LOT-1", "WA-B0", "1", lot="L1")]
    outcome = _race(
        world,
        "UPDATE items SET tracking = 'lot' WHERE id = %(item)s",
        {"item": world.items["A-1"]},
        rows,
        "FOR NO KEY UPDATE OF i",
    )
    error = outcome.get("error")
    assert isinstance(error, ConcurrencyConflict), outcome
    assert "the tracking of item(s) A-1 changed during the import" in str(error)
    assert world.movements() == []
    assert world.tracked_state() == ([], [], [])
    assert world.on_hand("A-1", world.locations["WA-B0"]) == 0


def test_an_import_racing_ordinary_postings_keeps_seq_order_and_levels(world: World) -> None:
    world.receipt("A-1", "WA-B0", 1000)
    errors: list[BaseException] = []
    stop = threading.Event()

    def post_forever() -> None:
        inv, admin = world.h.inventory, world.h.admin
        try:
            while not stop.is_set():
                inv.execute(
                    admin,
                    PostMovement(
                        "transfer",
                        [
                            LineRequest(
                                world.items["A-1"],
                                1,
                                world.locations["WA-B0"],
                                world.locations["WB-B0"],
                            ),
                        ],
                    ),
                )
                inv.execute(
                    admin,
                    PostMovement(
                        "receipt",
                        [LineRequest(world.items["B-2"], 2, None, world.locations["WB-B1"])],
                    ),
                )
        except InsufficientStock:
            pass
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=post_forever) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        results = [world.import_rows(_rows(1500)) for _ in range(3)]
    finally:
        stop.set()
        for t in threads:
            t.join()
    assert errors == []
    movements = world.movements()
    seqs = [m.seq for m in movements]
    assert len(set(seqs)) == len(seqs)  # no duplicates (and no gaps to rely on)
    for r in results:
        # Each import's movements, in the feed, in file order and with increasing seqs.
        imported = [m for m in movements if m.id in set(r.movement_ids)]
        assert [m.id for m in imported] == list(r.movement_ids)
        assert [m.seq for m in imported] == sorted(m.seq for m in imported)
        assert (imported[0].seq, imported[-1].seq) == (r.first_seq, r.last_seq)
    check_invariants(world.h)


# ---------------------------------------------------------------- the command


def _run_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "INVENTORY_DATABASE_URL": database_url, "PYTHONPATH": str(REPO)}
    return subprocess.run(
        [sys.executable, "-m", "inventory_http", "import-stock", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=60,
        check=False,
    )


def test_the_command_posts_and_says_so(world: World, database_url: str, tmp_path: Path) -> None:
    world.receipt("C-3", "WB-B0", 1)
    path = tmp_path / "stock.csv"
    path.write_text("sku,location_code,quantity\nA-1,WA-B0,5\nB-2,WB-B1,7\nA-1,WA,30\n")

    done = _run_cli(database_url, str(path), "--reference", "PO-42")

    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == (
        "posted 3 lines as 1 receipt movement (seq 2), 42 units"
    )
    assert done.stderr == ""  # no progress when stderr is not a terminal
    (movement,) = [m for m in world.movements() if m.seq == 2]
    assert movement.reference == "PO-42"
    assert movement.actor_id == world.h.admin.user_id
    assert world.on_hand("A-1", world.locations["WA"]) == 30
    check_invariants(world.h)


def test_the_command_refuses_bad_rows_with_exit_1(
    world: World, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("sku,location_code,quantity\nA-1,WA-B0,5\nZZZ,WA-B0,1\nA-1,WA-B0,many\n")

    done = _run_cli(database_url, str(path))

    assert done.returncode == 1, done.stderr
    assert done.stdout.splitlines() == [
        "line 3: unknown SKU 'ZZZ'",
        "line 4: quantity must be a whole number from 1 to 10^12, not 'many'",
        "refused: 2 bad rows, nothing posted",
    ]
    assert world.movements() == []


def test_the_command_exits_2_for_an_unknown_user(
    world: World, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("sku,location_code,quantity\nA-1,WA-B0,5\n")
    done = _run_cli(database_url, str(path), "--user", "ghost")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.splitlines()[-1] == (
        "inventory: error: no user named 'ghost' (give one with --user); nothing posted"
    )
    assert world.movements() == []


def _import(
    database_url: str, path: Path, *, reference: str | None = None, username: str = "admin"
) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = import_stock(
        str(path),
        reference=reference,
        username=username,
        database_url=database_url,
        out=out,
        err=err,
    )
    return status, out.getvalue(), err.getvalue()


def test_many_lines_name_the_seq_range(world: World, database_url: str, tmp_path: Path) -> None:
    path = tmp_path / "stock.csv"
    lines = ["sku,location_code,quantity"] + [f"D-4,WB-B1,{n % 9 + 1}" for n in range(2100)]
    path.write_text("\n".join(lines) + "\n")
    status, out, err = _import(database_url, path, username=" ADMIN ")
    units = sum(n % 9 + 1 for n in range(2100))
    assert status == 0, err
    assert out.splitlines()[-1] == (
        f"posted 2100 lines as 3 receipt movements (seq 1-3), {units} units"
    )
    check_invariants(world.h)


@pytest.mark.parametrize(
    ("setup", "kw", "message"),
    [
        ("viewer", {"username": "viewer-1"}, "needs at least the clerk role"),
        ("none", {"reference": "x" * 201}, "--reference refused: reference is longer than 200"),
        ("missing", {}, "cannot read"),
    ],
)
def test_usage_errors_exit_2(
    world: World,
    database_url: str,
    tmp_path: Path,
    setup: str,
    kw: dict[str, str],
    message: str,
) -> None:
    path = tmp_path / "stock.csv"
    if setup != "missing":
        path.write_text("sku,location_code,quantity\nA-1,WA-B0,5\n")
    if setup == "viewer":
        assert world.h.user(Role.VIEWER).role is Role.VIEWER  # named viewer-1 by the harness
    status, out, err = _import(
        database_url, path, reference=kw.get("reference"), username=kw.get("username", "admin")
    )
    assert status == 2, (out, err)
    last = err.splitlines()[-1]
    assert message in last
    assert last.endswith("nothing posted")
    assert world.movements() == []


def test_an_unreachable_database_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("sku,location_code,quantity\nA-1,WA-B0,5\n")
    status, _, err = _import("postgresql://postgres@127.0.0.1:1/nowhere?connect_timeout=2", path)
    assert status == 2
    assert "cannot reach the database" in err.splitlines()[-1]


def test_an_empty_file_is_refused_with_exit_1(
    world: World, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("sku,location_code,quantity\n\n")
    assert _import(database_url, path) == (
        1,
        "refused: the file has no data rows, nothing posted\n",
        "",
    )


def test_import_stock_in_process_reports_like_the_command(
    world: World, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("quantity,sku,location_code\n4,C-3,WA-B1\n")
    out, err = io.StringIO(), io.StringIO()
    status = import_stock(str(path), database_url=database_url, out=out, err=err)
    assert status == 0, err.getvalue()
    assert out.getvalue() == "posted 1 line as 1 receipt movement (seq 1), 4 units\n"
    assert world.on_hand("C-3", world.locations["WA-B1"]) == 4


class _Terminal(io.StringIO):
    """A text stream that says it is a terminal, as stderr does in an interactive shell."""

    def isatty(self) -> bool:
        return True


def test_progress_is_shown_on_a_terminal_and_cleared(
    world: World, database_url: str, tmp_path: Path
) -> None:
    path = tmp_path / "stock.csv"
    path.write_text("sku,location_code,quantity\nA-1,WA-B0,5\nB-2,WA-B1,6\n")
    out, err = io.StringIO(), _Terminal()
    assert import_stock(str(path), database_url=database_url, out=out, err=err) == 0
    shown = err.getvalue()
    assert "\r\x1b[Kchecking 2 lines..." in shown
    assert "\r\x1b[Kposting 2 lines..." in shown
    assert shown.endswith("\r\x1b[K")  # the progress line is erased before the report
    assert out.getvalue() == "posted 2 lines as 1 receipt movement (seq 1), 11 units\n"
