"""Posting to the ledger: turning movement lines into stock changes, shared by every use case
that moves stock (movements, reversals, fulfilment, counts)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Mapping
from datetime import datetime
from uuid import UUID

from inventory_core.errors import InsufficientStock, InvalidOperation, SerialConflict
from inventory_core.events import EventType
from inventory_core.items import Item
from inventory_core.locations import Location
from inventory_core.lots import Tracking
from inventory_core.movements import Movement, MovementLine
from inventory_core.ports import StockKey, UnitOfWork
from inventory_core.services._events import new_event, record, record_drops_below_reorder
from inventory_core.services._support import Providers
from inventory_core.stock import LocationChange, LotChange, SerialChange, WarehouseChange


def expire_overdue(
    providers: Providers, uow: UnitOfWork, now: datetime, keys: Collection[StockKey] | None
) -> int:
    """Mark overdue reservations expired and give their quantity back to availability, so a
    check of ``available`` below sees the truth as of ``now``. Returns how many expired."""
    expired = uow.reservations.expire_due(now, keys=keys)
    released: dict[StockKey, int] = defaultdict(int)
    for reservation in expired:
        released[(reservation.item_id, reservation.warehouse_id)] += reservation.quantity
        record(providers, uow, EventType.RESERVATION_EXPIRED, reservation)
    if released:
        uow.stock.apply(
            [],
            [
                WarehouseChange(item, warehouse, reserved_delta=-qty, guard_available=False)
                for (item, warehouse), qty in sorted(released.items())
            ],
        )
    return len(expired)


def post(
    providers: Providers,
    uow: UnitOfWork,
    movement: Movement,
    locations: Mapping[UUID, Location],
    *,
    now: datetime,
    guard_available: bool,
    reserved_deltas: Mapping[StockKey, int] | None = None,
    items: Mapping[UUID, Item],
) -> Movement:
    """Apply the stock changes of ``movement``, append it to the ledger and record its events,
    in the caller's transaction. ``locations`` must hold every location the lines name,
    ``items`` every item: a line must follow its item's tracking (InvalidOperation otherwise,
    as when a reversal would bring untracked stock back to an item tracked since)."""
    location_deltas: dict[StockKey, int] = defaultdict(int)
    warehouse_deltas: dict[StockKey, int] = defaultdict(int)
    lot_deltas: dict[tuple[UUID, UUID, UUID], int] = defaultdict(int)
    serials: list[SerialChange] = []
    for line in movement.lines:
        _check_tracking(line, items[line.item_id].tracking)
        location_deltas[(line.item_id, line.from_location_id)] -= line.quantity
        location_deltas[(line.item_id, line.to_location_id)] += line.quantity
        if line.lot_id is not None:
            lot_deltas[(line.item_id, line.from_location_id, line.lot_id)] -= line.quantity
            lot_deltas[(line.item_id, line.to_location_id, line.lot_id)] += line.quantity
        source = (
            line.from_location_id if locations[line.from_location_id].kind.holds_stock else None
        )
        destination = (
            line.to_location_id if locations[line.to_location_id].kind.holds_stock else None
        )
        serials += [SerialChange(line.item_id, s, source, destination) for s in line.serials]
        for location_id, sign in ((line.from_location_id, -1), (line.to_location_id, 1)):
            warehouse = locations[location_id].warehouse_id
            if warehouse is not None:
                warehouse_deltas[(line.item_id, warehouse)] += sign * line.quantity
    reserved = dict(reserved_deltas or {})
    warehouse_keys = sorted(
        {k for k, d in warehouse_deltas.items() if d} | {k for k, d in reserved.items() if d}
    )
    if guard_available:
        lowering = [k for k in warehouse_keys if warehouse_deltas[k] - reserved.get(k, 0) < 0]
        if lowering:
            expire_overdue(providers, uow, now, lowering)
    # The levels, the ledger entry and its event in one call: an adapter can then send them
    # together, holding the locks on the (often hot) level rows for the shortest time. The event
    # is made before (presenting the movement is the costliest part of it); the append fills in
    # the seq it assigns.
    try:
        posted = uow.movements.append(
            movement,
            posted_event=new_event(providers, EventType.MOVEMENT_POSTED, movement),
            locations=[
                LocationChange(item, location, delta, locations[location].kind.holds_stock)
                for (item, location), delta in sorted(location_deltas.items())
                if delta
            ],
            warehouses=[
                WarehouseChange(
                    item,
                    warehouse,
                    on_hand_delta=warehouse_deltas[(item, warehouse)],
                    reserved_delta=reserved.get((item, warehouse), 0),
                    guard_available=guard_available,
                )
                for item, warehouse in warehouse_keys
            ],
            lots=[
                LotChange(item, location, lot, delta, locations[location].kind.holds_stock)
                for (item, location, lot), delta in sorted(lot_deltas.items())
                if delta
            ],
            serials=serials,
            tracking={line.item_id: items[line.item_id].tracking for line in movement.lines},
        )
    except InsufficientStock as exc:
        # A serial's unit is missing at its from location: say which serial is not there.
        raise _misplaced_serial(uow, movement, locations, exc) or exc from None
    record_drops_below_reorder(
        providers,
        uow,
        posted.warehouses,
        {k: warehouse_deltas[k] - reserved.get(k, 0) for k in warehouse_keys},
        items,
    )
    return posted.movement


def _misplaced_serial(
    uow: UnitOfWork,
    movement: Movement,
    locations: Mapping[UUID, Location],
    shortage: InsufficientStock,
) -> SerialConflict | None:
    """For a shortage of a serial item at a stock-holding location, the SerialConflict of the
    first serial the movement takes from there that is not there (read after the refusal, which
    changed nothing): the unit the caller named is elsewhere, which says more than a count."""
    for line in movement.lines:
        if (
            line.serials
            and line.item_id == shortage.item_id
            and line.from_location_id == shortage.location_id
            and locations[line.from_location_id].kind.holds_stock
        ):
            for serial in line.serials:
                level = uow.stock.serial(line.item_id, serial)
                where = None if level is None else level.location_id
                if where != line.from_location_id:
                    return SerialConflict(item_id=line.item_id, serial=serial, location_id=where)
    return None


def _check_tracking(line: MovementLine, tracking: Tracking) -> None:
    # A line carries a lot or serials, never both (MovementLine checks that).
    carries = (
        Tracking.LOT
        if line.lot_id is not None
        else Tracking.SERIAL
        if line.serials
        else Tracking.NONE
    )
    if carries is not tracking:
        raise InvalidOperation(
            f"a line of item {line.item_id} does not follow the item's tracking ({tracking}): "
            "its tracking changed since the stock was moved"
        )
