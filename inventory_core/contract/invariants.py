"""The six invariants of DESIGN §2, checked against what an adapter stores."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from uuid import UUID

from inventory_core.contract.adapter import Harness
from inventory_core.feed import FEED_START, FeedPosition
from inventory_core.locations import Location
from inventory_core.movements import Movement
from inventory_core.ports import LocationQuery, ReservationQuery, WarehouseStockQuery
from inventory_core.reservations import Reservation, ReservationStatus
from inventory_core.stock import MAX_TOTAL, WarehouseStock

__all__ = ["Snapshot", "check_invariants", "snapshot"]


def _ledger(h: Harness) -> list[tuple[FeedPosition, Movement]]:
    """The whole ledger as committed now: not the feed, which may hold entries back while any
    transaction of the database server runs (another test's, another database's)."""
    found: list[tuple[FeedPosition, Movement]] = []
    after = FEED_START
    with h.unit_of_work() as uow:
        while True:
            page = uow.movements.ledger(after=after, limit=200)
            found.extend(page)
            if len(page) < 200:
                return found
            after = page[-1][0]


def _all_movements(h: Harness) -> list[Movement]:
    return [movement for _, movement in _ledger(h)]


def _locations(h: Harness) -> list[Location]:
    with h.unit_of_work() as uow:
        return uow.locations.list(LocationQuery(), after=None, limit=1_000_000)


def _reservations(h: Harness) -> list[Reservation]:
    with h.unit_of_work() as uow:
        return uow.reservations.list(ReservationQuery(), after=None, limit=1_000_000)


def _warehouse_levels(h: Harness) -> list[WarehouseStock]:
    with h.unit_of_work() as uow:
        return uow.stock.warehouse_levels(
            WarehouseStockQuery(), now=h.clock.now(), after=None, limit=None
        )


Snapshot = tuple[object, ...]


def snapshot(h: Harness) -> Snapshot:
    """Everything observable about stock, for "a failed operation changes nothing" (inv. 6)."""
    movements = _all_movements(h)
    locations = _locations(h)
    items = {line.item_id for m in movements for line in m.lines}
    keys = sorted((i, loc.id) for i in items for loc in locations)
    with h.unit_of_work() as uow:
        levels = uow.stock.on_hand(keys)
    return (
        tuple(movements),
        tuple(sorted(levels.items())),
        tuple(sorted(_warehouse_levels(h), key=lambda w: (w.item_id, w.warehouse_id))),
        tuple(_reservations(h)),
    )


def check_invariants(h: Harness, *, short_allowed: Iterable[tuple[UUID, UUID]] = ()) -> None:
    """Assert invariants 1-5 (6 is checked around each failing operation with ``snapshot``),
    and that every level and every item's totals are JSON-safe (within MAX_TOTAL).
    ``short_allowed`` lists (item, warehouse) pairs a loss or downward count may have left with
    ``available < 0``; without it, any negative availability is a failure... unless it can be
    explained by such a movement in the ledger, which is what the default checks."""
    ledger = _ledger(h)
    movements = [movement for _, movement in ledger]
    positions = [position for position, _ in ledger]
    assert positions == sorted(set(positions)), "invariant 5: the feed must strictly ascend"
    assert all(p.seq == m.seq for p, m in ledger), "invariant 5: a position names another seq"
    seqs = [m.seq for m in movements]
    assert len(set(seqs)) == len(seqs), f"invariant 5: duplicate seq: {seqs}"
    assert len({m.id for m in movements}) == len(movements), "invariant 5: duplicate movement"

    locations = {loc.id: loc for loc in _locations(h)}
    expected: dict[tuple[UUID, UUID], int] = defaultdict(int)
    for movement in movements:
        for line in movement.lines:
            expected[(line.item_id, line.from_location_id)] -= line.quantity
            expected[(line.item_id, line.to_location_id)] += line.quantity
    items = {item for item, _ in expected}
    keys = sorted((i, loc) for i in items for loc in locations)
    with h.unit_of_work() as uow:
        stored = uow.stock.on_hand(keys)
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
    for r in _reservations(h):
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
    for row in _warehouse_levels(h):
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
