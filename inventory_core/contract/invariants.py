"""The six invariants of DESIGN §2, checked against what an adapter stores -- per location and
warehouse, and per lot and serial number (DESIGN §12)."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from uuid import UUID

import attrs

from inventory_core.contract.adapter import Harness
from inventory_core.feed import FEED_START, FeedPosition
from inventory_core.items import Item
from inventory_core.locations import Location
from inventory_core.lots import Lot, LotLevel, SerialLevel, Tracking
from inventory_core.movements import Movement
from inventory_core.ports import (
    ItemQuery,
    LocationQuery,
    LotLevelQuery,
    LotQuery,
    ReservationQuery,
    SerialQuery,
    UnitOfWork,
    WarehouseStockQuery,
)
from inventory_core.reservations import Reservation, ReservationStatus
from inventory_core.stock import MAX_TOTAL, WarehouseStock

__all__ = ["Snapshot", "check_invariants", "snapshot"]

_ALL = 1_000_000
"""A listing limit no contract store reaches."""

LotKey = tuple[UUID, UUID, UUID]
"""(item_id, location_id, lot_id)."""
SerialKey = tuple[UUID, str]
"""(item_id, serial)."""


def _ledger(uow: UnitOfWork) -> list[tuple[FeedPosition, Movement]]:
    """The whole ledger as committed now: not the feed, which may hold entries back while any
    transaction of the database server runs (another test's, another database's)."""
    found: list[tuple[FeedPosition, Movement]] = []
    after = FEED_START
    while True:
        page = uow.movements.ledger(after=after, limit=200)
        found.extend(page)
        if len(page) < 200:
            return found
        after = page[-1][0]


@attrs.frozen
class _Stored:
    """Everything the checks read, in one unit of work (one transaction, few round trips)."""

    ledger: list[tuple[FeedPosition, Movement]]
    locations: dict[UUID, Location]
    items: dict[UUID, Item]
    lots: list[Lot]
    reservations: list[Reservation]
    warehouses: list[WarehouseStock]
    on_hand: dict[tuple[UUID, UUID], int]
    """Per (item, location) for every item the ledger names, at every location."""
    lot_on_hand: dict[LotKey, int]
    """Per (item, location, lot) for every lot, at every location (virtual ones included)."""
    lot_levels: list[LotLevel]
    """:meth:`StockRepository.lot_levels` of every item."""
    serial_levels: dict[UUID, list[SerialLevel]]
    """:meth:`StockRepository.serial_levels` per item (every item)."""
    serials: dict[SerialKey, SerialLevel | None]
    """:meth:`StockRepository.serial` of every serial the ledger names that is not in stock
    (those in stock are read by ``serial_levels``)."""

    @property
    def movements(self) -> list[Movement]:
        return [movement for _, movement in self.ledger]


def _read(h: Harness) -> _Stored:
    with h.unit_of_work() as uow:
        ledger = _ledger(uow)
        movements = [movement for _, movement in ledger]
        locations = {
            loc.id: loc for loc in uow.locations.list(LocationQuery(), after=None, limit=_ALL)
        }
        items = {item.id: item for item in uow.items.list(ItemQuery(), after=None, limit=_ALL)}
        lots = uow.lots.list(LotQuery(), after=None, limit=_ALL)
        reservations = uow.reservations.list(ReservationQuery(), after=None, limit=_ALL)
        warehouses = uow.stock.warehouse_levels(
            WarehouseStockQuery(), now=h.clock.now(), after=None, limit=None
        )
        moved = {line.item_id for m in movements for line in m.lines}
        on_hand = uow.stock.on_hand(sorted((i, loc) for i in moved for loc in locations))
        lot_on_hand = uow.stock.lot_on_hand(
            sorted((lot.item_id, loc, lot.id) for lot in lots for loc in locations)
        )
        lot_levels = uow.stock.lot_levels(LotLevelQuery(), after=None, limit=None)
        serial_levels = {
            item: uow.stock.serial_levels(SerialQuery(item), after=None, limit=None)
            for item in sorted(items)
        }
        in_stock = {(item, s.serial) for item, rows in serial_levels.items() for s in rows}
        named = {
            (line.item_id, serial) for m in movements for line in m.lines for serial in line.serials
        }
        serials = {key: uow.stock.serial(*key) for key in sorted(named - in_stock)}
    return _Stored(
        ledger,
        locations,
        items,
        lots,
        reservations,
        warehouses,
        on_hand,
        lot_on_hand,
        lot_levels,
        serial_levels,
        serials,
    )


Snapshot = tuple[object, ...]


def snapshot(h: Harness) -> Snapshot:
    """Everything observable about stock, for "a failed operation changes nothing" (inv. 6):
    the ledger, the items and lots, every level (per location, warehouse, lot and serial) and
    the reservations."""
    s = _read(h)
    return (
        tuple(s.movements),
        tuple(sorted(s.on_hand.items())),
        tuple(sorted(s.warehouses, key=lambda w: (w.item_id, w.warehouse_id))),
        tuple(s.reservations),
        tuple(s.items.values()),
        tuple(s.lots),
        tuple(sorted(s.lot_on_hand.items())),
        tuple(s.lot_levels),
        tuple((item, tuple(rows)) for item, rows in s.serial_levels.items()),
        tuple(sorted(s.serials.items())),
    )


def check_invariants(h: Harness, *, short_allowed: Iterable[tuple[UUID, UUID]] = ()) -> None:
    """Assert invariants 1-5 (6 is checked around each failing operation with ``snapshot``),
    per location and warehouse and per lot and serial number, and that every level and every
    item's totals are JSON-safe (within MAX_TOTAL).
    ``short_allowed`` lists (item, warehouse) pairs a loss or downward count may have left with
    ``available < 0``; without it, any negative availability is a failure... unless it can be
    explained by such a movement in the ledger, which is what the default checks."""
    s = _read(h)
    ledger = s.ledger
    movements = s.movements
    positions = [position for position, _ in ledger]
    assert positions == sorted(set(positions)), "invariant 5: the feed must strictly ascend"
    assert all(p.seq == m.seq for p, m in ledger), "invariant 5: a position names another seq"
    seqs = [m.seq for m in movements]
    assert len(set(seqs)) == len(seqs), f"invariant 5: duplicate seq: {seqs}"
    assert len({m.id for m in movements}) == len(movements), "invariant 5: duplicate movement"

    locations = s.locations
    expected: dict[tuple[UUID, UUID], int] = defaultdict(int)
    for movement in movements:
        for line in movement.lines:
            expected[(line.item_id, line.from_location_id)] -= line.quantity
            expected[(line.item_id, line.to_location_id)] += line.quantity
    items = {item for item, _ in expected}
    keys = sorted((i, loc) for i in items for loc in locations)
    stored = s.on_hand
    for key in keys:
        assert stored[key] == expected.get(key, 0), (
            f"invariant 4: level {key} is {stored[key]}, ledger says {expected.get(key, 0)}"
        )
    for item in items:
        total = sum(stored[(item, loc)] for loc in locations)
        assert total == 0, f"invariant 1: item {item} sums to {total}, not 0"
    for (item, loc), on_hand in stored.items():
        if locations[loc].kind.holds_stock:
            assert on_hand >= 0, f"invariant 2: {item} at {loc} is {on_hand}"
        assert abs(on_hand) <= MAX_TOTAL, f"JSON-safe levels: {item} at {loc} is {on_hand}"

    now = h.clock.now()
    reserved: dict[tuple[UUID, UUID], int] = defaultdict(int)
    for r in s.reservations:
        if r.status is ReservationStatus.ACTIVE and not r.is_overdue(now):
            reserved[(r.item_id, r.warehouse_id)] += r.quantity
    physical = {
        (line.item_id, locations[line.from_location_id].warehouse_id)
        for m in movements
        if m.reason is not None and m.reason.records_physical_reality
        for line in m.lines
    }
    allowed = set(short_allowed) | physical
    totals: dict[UUID, tuple[int, int]] = defaultdict(lambda: (0, 0))
    for row in s.warehouses:
        on_hand_total, reserved_total = totals[row.item_id]
        totals[row.item_id] = (on_hand_total + row.on_hand, reserved_total + row.reserved)
        assert row.on_hand <= MAX_TOTAL, f"JSON-safe levels: {row} on hand"
        assert row.reserved <= MAX_TOTAL, f"JSON-safe levels: {row} reserved"
        key = (row.item_id, row.warehouse_id)
        tree_on_hand = sum(
            stored.get((row.item_id, loc.id), 0)
            for loc in locations.values()
            if loc.warehouse_id == row.warehouse_id
        )
        assert row.on_hand == tree_on_hand, f"invariant 4: warehouse {key} on hand"
        assert row.reserved == reserved.get(key, 0), (
            f"invariant 3: warehouse {key} reserved {row.reserved}, "
            f"reservations say {reserved.get(key, 0)}"
        )
        assert row.reserved >= 0, f"invariant 3: reserved < 0 for {key}"
        if row.available < 0:
            assert key in allowed, f"invariant 3: {key} available {row.available} < 0"
    for item, (on_hand_total, reserved_total) in totals.items():
        assert max(on_hand_total, reserved_total) <= MAX_TOTAL, (
            f"JSON-safe levels: item {item} totals {on_hand_total} on hand, "
            f"{reserved_total} reserved"
        )
    _check_lots(s)
    _check_serials(s)


def _check_lots(s: _Stored) -> None:
    """Every invariant of §2 per lot: conservation, no negative lot level where stock is held,
    lot levels the projection of the ledger lines carrying the lot; and the levels of an item
    tracked by lot are the sums of its lot levels."""
    locations, lots = s.locations, {lot.id: lot for lot in s.lots}
    assert len(lots) == len(s.lots), "lots: a lot is listed twice"
    codes = Counter((lot.item_id, lot.code) for lot in s.lots)
    assert all(n == 1 for n in codes.values()), f"lots: a code is not unique per item: {codes}"
    for lot in s.lots:
        assert lot.item_id in s.items, f"lots: lot {lot.id} of an unknown item"

    expected: dict[LotKey, int] = defaultdict(int)
    for movement in s.movements:
        for line in movement.lines:
            if line.lot_id is None:
                continue
            named = lots.get(line.lot_id)
            assert named is not None, f"lots: movement {movement.id} names an unknown lot"
            assert (named.item_id, named.code) == (line.item_id, line.lot), (
                f"lots: movement {movement.id} names lot {line.lot_id} as {line.lot} of "
                f"{line.item_id}; it is {named.code} of {named.item_id}"
            )
            expected[(line.item_id, line.from_location_id, line.lot_id)] -= line.quantity
            expected[(line.item_id, line.to_location_id, line.lot_id)] += line.quantity
    unnamed = set(lots) - {lot for _, _, lot in expected}
    assert not unnamed, f"lots: {unnamed} exist but no movement created them (first receipt)"

    for key, level in sorted(s.lot_on_hand.items()):
        of, location, lot_id = key
        assert level == expected.get(key, 0), (
            f"invariant 4 per lot: lot {lot_id} of {of} at {location} is {level}, "
            f"the ledger says {expected.get(key, 0)}"
        )
        if locations[location].kind.holds_stock:
            assert level >= 0, f"invariant 2 per lot: lot {lot_id} at {location} is {level}"
        assert abs(level) <= MAX_TOTAL, f"JSON-safe levels: lot {lot_id} at {location}"
    for lot_id, lot in lots.items():
        total = sum(s.lot_on_hand[(lot.item_id, loc, lot_id)] for loc in locations)
        assert total == 0, f"invariant 1 per lot: lot {lot_id} sums to {total}, not 0"

    # The listing agrees with the levels: the non-zero ones at stock-holding locations.
    listed = [
        LotLevel(
            lot_id,
            lots[lot_id].code,
            lots[lot_id].expires_on,
            location,
            warehouse,
            level,
        )
        for (_, location, lot_id), level in s.lot_on_hand.items()
        if level != 0 and (warehouse := locations[location].warehouse_id) is not None
    ]
    want = sorted(listed, key=lambda r: (r.lot_id, r.location_id))
    assert s.lot_levels == want, f"lot levels listed {s.lot_levels}, stored {want}"

    # Location levels are the sums of the lot levels of items tracked by lot; other items have
    # no lot stock.
    per_location: dict[tuple[UUID, UUID], int] = defaultdict(int)
    for row in s.lot_levels:
        per_location[(lots[row.lot_id].item_id, row.location_id)] += row.on_hand
    holding = [loc for loc in locations.values() if loc.kind.holds_stock]
    for item_id, item in s.items.items():
        if item.tracking is Tracking.LOT:
            for loc in holding:
                level = s.on_hand.get((item_id, loc.id), 0)
                in_lots = per_location.get((item_id, loc.id), 0)
                assert level == in_lots, (
                    f"lot-tracked item {item.sku} at {loc.code}: {level} on hand, "
                    f"{in_lots} in its lots"
                )
        else:
            stray = {k: v for k, v in per_location.items() if k[0] == item_id}
            assert not stray, f"item {item.sku} ({item.tracking}) has lot stock {stray}"


def _check_serials(s: _Stored) -> None:
    """A serial is at one location or none, as the ledger lines naming it say (the last one's
    destination, when it holds stock); and the levels of an item tracked by serial number count
    its serials."""
    locations = s.locations
    replayed: dict[SerialKey, UUID | None] = {}
    for movement in s.movements:
        for line in movement.lines:
            source = locations[line.from_location_id]
            destination = locations[line.to_location_id]
            for serial in line.serials:
                key = (line.item_id, serial)
                was = replayed.get(key)
                assert was == (source.id if source.kind.holds_stock else None), (
                    f"serials: movement {movement.id} moves {serial} of {line.item_id} from "
                    f"{source.code}, but the ledger has it at {was}"
                )
                replayed[key] = destination.id if destination.kind.holds_stock else None

    for item_id, rows in s.serial_levels.items():
        item = s.items[item_id]
        assert [r.serial for r in rows] == sorted({r.serial for r in rows}), (
            f"serial levels of {item.sku} are not ascending and unique: {rows}"
        )
        want = sorted(
            (serial, location)
            for (i, serial), location in replayed.items()
            if i == item_id and location is not None
        )
        got = sorted((r.serial, r.location_id) for r in rows)
        assert got == want, f"serials of {item.sku} in stock: {got}, the ledger says {want}"
        for r in rows:
            assert r.location_id is not None, f"serial levels list {r} as not in stock"
            assert r.warehouse_id == locations[r.location_id].warehouse_id, f"serial {r}"
        if item.tracking is not Tracking.SERIAL:
            assert not rows, f"item {item.sku} ({item.tracking}) has serials in stock: {rows}"
            continue
        at = Counter(r.location_id for r in rows)
        for loc in locations.values():
            if loc.kind.holds_stock:
                level = s.on_hand.get((item_id, loc.id), 0)
                assert level == at.get(loc.id, 0), (
                    f"serial-tracked item {item.sku} at {loc.code}: {level} on hand, "
                    f"{at.get(loc.id, 0)} serials there"
                )
    for (item_id, serial), stored in s.serials.items():
        assert replayed[(item_id, serial)] is None, (
            f"serial {serial} of {item_id} is at {replayed[(item_id, serial)]} by the ledger, "
            "but not in the serial levels"
        )
        assert stored == SerialLevel(serial, None, None), (
            f"serial {serial} of {item_id}: stored {stored}, the ledger says not in stock"
        )
