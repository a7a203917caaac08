"""Lots and serial numbers on a real server (issue 17): migration 0007 keeps existing stock
untracked; racing shipments never take a lot below zero; a tracking switch racing receipts never
leaves stock under rules the item no longer has; a serial not where a movement says is a
SerialConflict that changes nothing; the traceability reads find a lot's and a serial's
movements."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime

import attrs
import psycopg
import pytest

from inventory_core.contract.adapter import Harness
from inventory_core.contract.invariants import check_invariants, snapshot
from inventory_core.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InsufficientStock,
    InvalidOperation,
    SerialConflict,
    ValidationError,
)
from inventory_core.feed import FEED_START
from inventory_core.locations import CUSTOMER_LOCATION_ID, SUPPLIER_LOCATION_ID
from inventory_core.lots import Lot, LotLevel, SerialLevel, Tracking
from inventory_core.movements import Movement
from inventory_core.ports import LotLevelQuery, MovementQuery, SerialQuery
from inventory_core.services.items import ChangeItem, GetItemStock, ItemChanges
from inventory_core.services.movements import LineRequest, PostMovement
from inventory_core.stock import LocationChange, LotChange, SerialChange, WarehouseChange
from inventory_pg import PgStore, apply_migrations, available_migrations
from inventory_pg.migrate import CREATE_SCHEMA_MIGRATIONS, RECORD_APPLIED
from inventory_pg.testing import FreshDatabaseAdapter, open_test_store
from tests.integration._threads import run_together, wait_until_blocked

pytestmark = pytest.mark.postgres


@pytest.fixture(scope="module")
def store(database_url: str) -> Iterator[PgStore]:
    """A store with a pool wide enough for the racing threads."""
    store = open_test_store(database_url, max_size=24)
    yield store
    store.close()


@pytest.fixture
def h(store: PgStore) -> Harness:
    return Harness(FreshDatabaseAdapter(store))


def _post(h: Harness, kind: str, *lines: LineRequest) -> Movement:
    return h.inventory.execute(h.admin, PostMovement(kind, list(lines)))


def _lot(h: Harness, item: uuid.UUID, code: str) -> Lot:
    with h.unit_of_work() as uow:
        return uow.lots.find([(item, code)])[(item, code)]


# ------------------------------------------------------------ migration 0007


NOW = datetime(2026, 1, 1, tzinfo=UTC)
# Stock as the release before 0007 wrote it: an item received into a bin, part of it shipped.
OLD_ITEM = """
INSERT INTO items (id, sku, name, unit, active, version, created_at, updated_at)
VALUES (%(item)s, 'OLD-1', 'Old', 'each', true, 1, %(now)s, %(now)s)
"""
OLD_LOCATIONS = """
INSERT INTO locations (id, code, name, kind, parent_id, ancestor_ids, active, version,
                       created_at, updated_at)
VALUES (%(wh)s, 'WH', 'Warehouse', 'warehouse', NULL, '{}', true, 1, %(now)s, %(now)s),
       (%(bin)s, 'BIN', 'Bin', 'internal', %(wh)s, ARRAY[%(wh)s]::uuid[], true, 1, %(now)s,
        %(now)s)
"""
OLD_MOVEMENT = """
WITH m AS (
    INSERT INTO movements (id, seq, txn, kind, actor_id, occurred_at, recorded_at)
    VALUES (%(movement)s, nextval('movement_seq'), inventory_feed_txn(), 'receipt', %(actor)s,
            %(now)s, %(now)s)
    RETURNING seq, txn
)
INSERT INTO movement_lines (movement_id, line_no, seq, txn, item_id, quantity,
                            from_location_id, to_location_id)
SELECT %(movement)s, 1, m.seq, m.txn, %(item)s, 7, %(supplier)s, %(bin)s FROM m
"""
OLD_LEVELS = """
INSERT INTO location_stock (item_id, location_id, holds_stock, on_hand)
VALUES (%(item)s, %(bin)s, true, 7), (%(item)s, %(supplier)s, false, -7)
"""
OLD_WAREHOUSE = """
INSERT INTO warehouse_stock (item_id, warehouse_id, on_hand, reserved)
VALUES (%(item)s, %(wh)s, 7, 2)
"""
LOCATION_STOCK = "SELECT item_id, location_id, holds_stock, on_hand FROM location_stock"
TRACKING = "SELECT id, tracking FROM items"


def test_migration_0007_keeps_existing_stock_untracked(empty_schema: str) -> None:
    migrations = available_migrations()
    before = [m for m in migrations if m.version < 7]
    assert next(m.name for m in migrations if m.version >= 7) == "0007_lots_and_serials"
    item_id, wh, bin_, movement_id = uuid.uuid4(), uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    ids = {
        "item": item_id,
        "wh": wh,
        "bin": bin_,
        "movement": movement_id,
        "actor": uuid.uuid4(),
        "supplier": SUPPLIER_LOCATION_ID,
        "now": NOW,
    }
    with psycopg.connect(empty_schema, autocommit=True) as conn, conn.transaction():
        conn.execute(CREATE_SCHEMA_MIGRATIONS)
        for migration in before:  # as `inventory migrate` of the release before did
            conn.execute(migration.sql.encode())
            conn.execute(RECORD_APPLIED, (migration.version, migration.name, migration.checksum))
        for statement in (OLD_ITEM, OLD_LOCATIONS, OLD_MOVEMENT, OLD_LEVELS, OLD_WAREHOUSE):
            conn.execute(statement, ids)
    with psycopg.connect(empty_schema, autocommit=True) as conn:
        stock_before = sorted(conn.execute(LOCATION_STOCK).fetchall())

    assert apply_migrations(empty_schema) == [m.name for m in migrations if m.version >= 7]

    with psycopg.connect(empty_schema, autocommit=True) as conn:
        assert conn.execute(TRACKING).fetchall() == [(item_id, "none")]
        assert sorted(conn.execute(LOCATION_STOCK).fetchall()) == stock_before
    store = PgStore.open(empty_schema, min_size=1, max_size=2)
    try:
        with store.unit_of_work() as uow:
            item = uow.items.get(item_id)
            assert item is not None
            assert (item.tracking, item.version) == (Tracking.NONE, 1)
            levels = uow.stock.item_levels(item_id, now=NOW)
            assert levels is not None
            assert [(w.on_hand, w.reserved) for w in levels.warehouses] == [(7, 2)]
            assert [(s.location_id, s.on_hand) for s in levels.locations] == [(bin_, 7)]
            assert (levels.lots, levels.serials) == ((), ())
            movement = uow.movements.get(movement_id)
            assert movement is not None
            (line,) = movement.lines
            assert (line.lot_id, line.lot, line.serials) == (None, None, ())
            # The old stock leaves as untracked stock does: no lot, no serials.
            uow.stock.apply(
                [
                    LocationChange(item_id, bin_, -7, True),
                    LocationChange(item_id, CUSTOMER_LOCATION_ID, 7, False),
                ],
                [WarehouseChange(item_id, wh, on_hand_delta=-7, guard_available=False)],
                tracking={item_id: Tracking.NONE},
            )
            assert uow.stock.on_hand([(item_id, bin_)]) == {(item_id, bin_): 0}
    finally:
        store.close()


# ------------------------------------------------------------ the last units of a lot


def test_threads_racing_for_the_last_units_of_a_lot_ship_exactly_what_it_holds(
    h: Harness,
) -> None:
    """Eight threads keep shipping one unit of lot A from a bin that also holds lot B. The bin's
    level never refuses (it holds more than lot A), so only the lot row's conditional update
    stands between them and a negative lot: exactly A's units ship, each refusal names lot A."""
    wh = h.warehouse()
    bin_ = h.bin(wh)
    item = h.item(tracking="lot")
    in_a, in_b = 12, 30
    _post(
        h,
        "receipt",
        LineRequest(item, in_a, to_location_id=bin_, lot="A", expires_on=date(2030, 1, 1)),
        LineRequest(item, in_b, to_location_id=bin_, lot="B"),
    )
    lot_a = _lot(h, item, "A")
    shipped: list[int] = []
    refusals: list[InsufficientStock] = []
    lock = threading.Lock()

    def work(n: int) -> None:
        while True:
            try:
                _post(h, "shipment", LineRequest(item, 1, from_location_id=bin_, lot="A"))
            except InsufficientStock as exc:
                with lock:
                    refusals.append(exc)
                return
            with lock:
                shipped.append(n)

    run_together(8, work)

    assert len(shipped) == in_a, "exactly the lot's units ship"
    assert len(refusals) == 8
    assert all(r.lot_id == lot_a.id and r.location_id == bin_ for r in refusals)
    assert all(r.available == 0 and r.requested == 1 for r in refusals)
    with h.unit_of_work() as uow:
        assert uow.stock.lot_on_hand([(item, bin_, lot_a.id)]) == {(item, bin_, lot_a.id): 0}
        assert uow.stock.on_hand([(item, bin_)]) == {(item, bin_): in_b}
        lots = uow.stock.lot_levels(LotLevelQuery(item_id=item), after=None, limit=None)
        assert [(level.code, level.on_hand) for level in lots] == [("B", in_b)]
    stock = h.inventory.execute(h.admin, GetItemStock(item))
    assert stock.on_hand == in_b
    assert [level.on_hand for level in stock.locations] == [in_b]
    check_invariants(h)


# ------------------------------------------------------------ switching tracking


def _switch(h: Harness, item: uuid.UUID, to: Tracking) -> bool:
    try:
        h.inventory.execute(h.admin, ChangeItem(item, ItemChanges(tracking=to)))
    except InvalidOperation:  # it has stock by now
        return False
    return True


def _switch_racing_receipts(
    h: Harness, item: uuid.UUID, bin_: uuid.UUID, to: Tracking, lot: str | None
) -> tuple[bool, int]:
    """One thread switches the item's tracking to ``to`` while four post receipts of one unit
    (of ``lot``); returns whether the switch went through and how many receipts posted."""
    switched: list[bool] = []
    received: list[int] = []

    def work(n: int) -> None:
        if n == 0:
            switched.append(_switch(h, item, to))
            return
        try:
            _post(h, "receipt", LineRequest(item, 1, to_location_id=bin_, lot=lot))
        except (ValidationError, ConcurrencyConflict):
            return  # the item's tracking changed under the receipt: it must not post
        received.append(n)

    run_together(5, work)
    return switched[0], len(received)


@pytest.mark.parametrize(
    ("start", "switch_to", "lot"),
    [(Tracking.NONE, Tracking.LOT, None), (Tracking.LOT, Tracking.NONE, "L1")],
)
def test_a_tracking_switch_racing_receipts_never_leaves_stock_under_other_rules(
    h: Harness, start: Tracking, switch_to: Tracking, lot: str | None
) -> None:
    """Receivers post receipts judged by the item's tracking as they read it, while one thread
    switches the tracking. Whichever wins, the item ends with stock only as its tracking keeps
    it (check_invariants: a lot item's levels are its lots' sums, an untracked item has no lot
    stock), and a switch succeeds only while the item has no stock."""
    wh = h.warehouse()
    bin_ = h.bin(wh)
    for _ in range(12):
        item = h.item(tracking=start.value)
        switched, received = _switch_racing_receipts(h, item, bin_, switch_to, lot)
        with h.unit_of_work() as uow:
            stored = uow.items.get(item)
            assert stored is not None
            on_hand = uow.stock.on_hand([(item, bin_)])[(item, bin_)]
        assert on_hand == received
        if switched:
            assert stored.tracking is switch_to
        else:
            assert stored.tracking is start
            assert on_hand > 0, "a switch is refused only when the item has stock"
    check_invariants(h)


def _receipt_changes(
    item: uuid.UUID, bin_: uuid.UUID, wh: uuid.UUID, quantity: int
) -> tuple[list[LocationChange], list[WarehouseChange]]:
    return (
        [
            LocationChange(item, bin_, quantity, True),
            LocationChange(item, SUPPLIER_LOCATION_ID, -quantity, False),
        ],
        [WarehouseChange(item, wh, on_hand_delta=quantity)],
    )


def test_a_receipt_judged_before_a_committed_switch_is_a_concurrency_conflict(
    h: Harness, store: PgStore
) -> None:
    """The switch updates the item (locking it), finds no stock and commits while a receipt
    judged by the old tracking waits for the item's lock: the receipt's check, in a new
    snapshot, sees the new tracking and refuses, leaving nothing behind."""
    wh = h.warehouse()
    bin_ = h.bin(wh)
    item_id = h.item()
    locations, warehouses = _receipt_changes(item_id, bin_, wh, 5)
    started = threading.Event()
    pid: list[int] = []
    failures: list[BaseException] = []

    def receive() -> None:
        try:
            with store.unit_of_work() as uow:
                assert isinstance(uow.backend_pid, int)
                pid.append(uow.backend_pid)
                started.set()
                uow.stock.apply(locations, warehouses, tracking={item_id: Tracking.NONE})
        except BaseException as exc:  # judged below
            failures.append(exc)

    with h.unit_of_work() as uow:
        item = uow.items.get(item_id)
        assert item is not None
        uow.items.update(
            attrs.evolve(item, tracking=Tracking.LOT, version=item.version + 1, updated_at=NOW)
        )
        receiver = threading.Thread(target=receive, daemon=True)
        receiver.start()
        assert started.wait(10)
        wait_until_blocked(store, pid[0])
        assert not uow.stock.has_stock(item_id)
    receiver.join(30)
    assert not receiver.is_alive()
    assert len(failures) == 1
    assert isinstance(failures[0], ConcurrencyConflict), failures
    assert "tracking" in str(failures[0])
    with h.unit_of_work() as uow:
        assert uow.stock.on_hand([(item_id, bin_)]) == {(item_id, bin_): 0}
        stored = uow.items.get(item_id)
        assert stored is not None
        assert stored.tracking is Tracking.LOT


def test_a_switch_waiting_for_a_receipt_sees_its_stock(h: Harness, store: PgStore) -> None:
    """The other order: the receipt holds the item's lock when the switch updates the item. The
    switch waits, and its stock check (after the receipt commits) sees the stock."""
    wh = h.warehouse()
    bin_ = h.bin(wh)
    item_id = h.item()
    locations, warehouses = _receipt_changes(item_id, bin_, wh, 5)
    started = threading.Event()
    pid: list[int] = []
    seen: list[bool] = []

    def switch() -> None:
        with store.unit_of_work() as uow:
            assert isinstance(uow.backend_pid, int)
            pid.append(uow.backend_pid)
            item = uow.items.get(item_id)
            assert item is not None
            started.set()
            changed = attrs.evolve(
                item, tracking=Tracking.SERIAL, version=item.version + 1, updated_at=NOW
            )
            uow.items.update(changed)
            seen.append(uow.stock.has_stock(item_id))

    with h.unit_of_work() as uow:
        uow.stock.apply(locations, warehouses, tracking={item_id: Tracking.NONE})
        switcher = threading.Thread(target=switch, daemon=True)
        switcher.start()
        assert started.wait(10)
        wait_until_blocked(store, pid[0])
    switcher.join(30)
    assert seen == [True]


# ------------------------------------------------------------ serial numbers


def test_a_serial_not_where_the_movement_says_is_a_conflict_that_changes_nothing(
    h: Harness,
) -> None:
    wh = h.warehouse()
    first, second = h.bin(wh), h.bin(wh)
    item = h.item(tracking="serial")
    _post(h, "receipt", LineRequest(item, 2, to_location_id=first, serials=("SN-1", "SN-2")))
    _post(h, "receipt", LineRequest(item, 1, to_location_id=second, serials=("SN-3",)))
    before = snapshot(h)

    # Received twice: the new serials of the line were applied before SN-2 was refused, and are
    # undone with it.
    with pytest.raises(SerialConflict) as received:
        _post(h, "receipt", LineRequest(item, 2, to_location_id=second, serials=("SN-0", "SN-2")))
    assert (received.value.item_id, received.value.serial) == (item, "SN-2")
    assert received.value.location_id == first
    assert snapshot(h) == before

    # Moved from a bin it is not in (that bin has stock of the item, so only the serial says no).
    with pytest.raises(SerialConflict) as moved:
        _post(
            h,
            "transfer",
            LineRequest(item, 1, from_location_id=second, to_location_id=first, serials=("SN-1",)),
        )
    assert (moved.value.serial, moved.value.location_id) == ("SN-1", first)
    assert snapshot(h) == before

    # Shipped, then shipped again: it is not in stock any more.
    _post(h, "shipment", LineRequest(item, 1, from_location_id=first, serials=("SN-1",)))
    after_shipping = snapshot(h)
    with pytest.raises(SerialConflict) as again:
        _post(h, "shipment", LineRequest(item, 1, from_location_id=first, serials=("SN-1",)))
    assert (again.value.serial, again.value.location_id) == ("SN-1", None)
    assert snapshot(h) == after_shipping
    with h.unit_of_work() as uow:
        assert uow.stock.serial(item, "SN-1") == SerialLevel("SN-1", None, None)
        assert uow.stock.serial(item, "SN-0") is None
        assert uow.stock.serial(item, "SN-2") == SerialLevel("SN-2", first, wh)
    # A serial shipped may come back (a return): it is not in stock, so a receipt takes it.
    _post(h, "receipt", LineRequest(item, 1, to_location_id=second, serials=("SN-1",)))
    check_invariants(h)


def test_a_refused_apply_undoes_the_lot_and_serial_rows_it_changed(h: Harness) -> None:
    """StockRepository.apply puts back what it applied before a later row refused -- lot rows,
    serials inserted and serials moved -- and the transaction stays usable."""
    wh = h.warehouse()
    first, second = h.bin(wh), h.bin(wh)
    lot_item = h.item(tracking="lot")
    serial_item = h.item(tracking="serial")
    _post(h, "receipt", LineRequest(lot_item, 4, to_location_id=first, lot="L"))
    _post(h, "receipt", LineRequest(serial_item, 2, to_location_id=first, serials=("A", "Z")))
    lot = _lot(h, lot_item, "L")
    before = snapshot(h)
    with h.unit_of_work() as uow:
        with pytest.raises(SerialConflict) as refused:
            uow.stock.apply(
                [
                    LocationChange(lot_item, first, -3, True),
                    LocationChange(lot_item, second, 3, True),
                    LocationChange(serial_item, first, -1, True),
                    LocationChange(serial_item, second, 2, True),
                    LocationChange(serial_item, SUPPLIER_LOCATION_ID, -1, False),
                ],
                [],
                lots=[
                    LotChange(lot_item, first, lot.id, -3, True),
                    LotChange(lot_item, second, lot.id, 3, True),
                ],
                serials=[
                    SerialChange(serial_item, "A", first, second),  # applies
                    SerialChange(serial_item, "B", None, second),  # new: applies
                    SerialChange(serial_item, "Z", second, first),  # Z is at `first`: refused
                ],
            )
        assert (refused.value.serial, refused.value.location_id) == ("Z", first)
        # Usable, and nothing of the call is left.
        assert uow.stock.serial(serial_item, "A") == SerialLevel("A", first, wh)
        assert uow.stock.serial(serial_item, "B") is None
        assert uow.stock.lot_on_hand([(lot_item, second, lot.id)]) == {
            (lot_item, second, lot.id): 0
        }
    assert snapshot(h) == before
    check_invariants(h)


def test_serials_list_by_code_point_and_page(h: Harness) -> None:
    wh = h.warehouse()
    bin_ = h.bin(wh)
    item = h.item(tracking="serial")
    serials = ("b-2", "B-10", "a.1", "10", "9", "A_1")
    _post(h, "receipt", LineRequest(item, len(serials), to_location_id=bin_, serials=serials))
    ordered = sorted(serials)
    with h.unit_of_work() as uow:
        listed = uow.stock.serial_levels(SerialQuery(item), after=None, limit=None)
        assert [s.serial for s in listed] == ordered
        page = uow.stock.serial_levels(
            SerialQuery(item, warehouse_id=wh), after=ordered[1], limit=2
        )
        assert [s.serial for s in page] == ordered[2:4]
        levels = uow.stock.item_levels(item, now=h.clock.now())
        assert levels is not None
        assert [s.serial for s in levels.serials] == ordered


# ------------------------------------------------------------ traceability and lots


def test_a_lots_and_a_serials_movements_are_found_for_a_recall(h: Harness) -> None:
    wh = h.warehouse()
    first, second = h.bin(wh), h.bin(wh)
    lot_item, serial_item, plain = h.item(tracking="lot"), h.item(tracking="serial"), h.item()
    received = _post(
        h,
        "receipt",
        LineRequest(lot_item, 5, to_location_id=first, lot="R1", expires_on=date(2027, 5, 1)),
        LineRequest(lot_item, 5, to_location_id=first, lot="R2"),
        LineRequest(serial_item, 2, to_location_id=first, serials=("X1", "X2")),
        LineRequest(plain, 3, to_location_id=first),
    )
    assert [(line.lot, line.serials) for line in received.lines] == [
        ("R1", ()),
        ("R2", ()),
        (None, ("X1", "X2")),
        (None, ()),
    ]
    moved = _post(
        h,
        "transfer",
        LineRequest(lot_item, 2, from_location_id=first, to_location_id=second, lot="R1"),
        LineRequest(serial_item, 1, from_location_id=first, to_location_id=second, serials=("X2",)),
    )
    _post(h, "shipment", LineRequest(lot_item, 1, from_location_id=first, lot="R2"))
    _post(h, "shipment", LineRequest(plain, 1, from_location_id=first))
    r1 = _lot(h, lot_item, "R1")

    def seqs(query: MovementQuery) -> list[int]:
        with h.unit_of_work() as uow:
            listed = [m.seq for _, m in uow.movements.list(query, after=FEED_START, limit=50)]
            at_rest = [
                m.seq for _, m in uow.movements.ledger(query=query, after=FEED_START, limit=50)
            ]
        # The feed may still hold entries back while any transaction of the server runs
        # (another database's too): what it serves is where the ledger at rest starts.
        assert listed == at_rest[: len(listed)]
        return at_rest

    assert seqs(MovementQuery(lot_id=r1.id)) == [received.seq, moved.seq]
    assert seqs(MovementQuery(lot_id=r1.id, location_id=second)) == [moved.seq]
    assert seqs(MovementQuery(lot_id=r1.id, item_id=plain)) == [received.seq]
    assert seqs(MovementQuery(lot_id=r1.id, serial="X2")) == [received.seq, moved.seq]
    assert seqs(MovementQuery(serial="X2")) == [received.seq, moved.seq]
    assert seqs(MovementQuery(serial="X2", item_id=serial_item)) == [received.seq, moved.seq]
    assert seqs(MovementQuery(serial="X2", item_id=plain)) == []
    assert seqs(MovementQuery(serial="X2", location_id=second)) == [moved.seq]
    assert seqs(MovementQuery(serial="X1", location_id=second)) == []
    assert seqs(MovementQuery(serial="X1", location_id=first)) == [received.seq]
    assert seqs(MovementQuery(serial="nope")) == []
    with h.unit_of_work() as uow:
        got = uow.movements.get(moved.id)
        assert got == moved
        levels = uow.stock.lot_levels(LotLevelQuery(lot_id=r1.id), after=None, limit=None)
        assert levels == sorted(
            [
                LotLevel(r1.id, "R1", date(2027, 5, 1), first, wh, 3),
                LotLevel(r1.id, "R1", date(2027, 5, 1), second, wh, 2),
            ],
            key=lambda level: level.location_id,
        )
        assert (
            uow.stock.lot_levels(
                LotLevelQuery(lot_id=r1.id), after=(r1.id, levels[0].location_id), limit=5
            )
            == levels[1:]
        )
    check_invariants(h)


def test_a_lot_code_taken_is_already_exists_and_leaves_the_transaction_usable(
    h: Harness,
) -> None:
    item = h.item(tracking="lot")
    with h.unit_of_work() as uow:
        uow.lots.add(Lot(uuid.uuid4(), item, "DUP", None))
    with h.unit_of_work() as uow:
        with pytest.raises(AlreadyExists) as taken:
            uow.lots.add(Lot(uuid.uuid4(), item, "DUP", date(2030, 1, 1)))
        assert (taken.value.entity, taken.value.field, taken.value.value) == ("lot", "code", "DUP")
        other = Lot(uuid.uuid4(), item, "OTHER", None)
        uow.lots.add(other)
    with h.unit_of_work() as uow:
        assert uow.lots.get(other.id) == other
        found = uow.lots.find([(item, "DUP"), (item, "OTHER"), (item, "NONE")])
        assert sorted(found) == [(item, "DUP"), (item, "OTHER")]
        assert found[(item, "DUP")].expires_on is None
