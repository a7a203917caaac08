"""Lots and serial numbers: traceability (which lot is where, where a serial went) and picking
suggestions (first expired, first out)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core._checks import accepts, check
from inventory_core.commands import Command, handles
from inventory_core.errors import InsufficientStock, NotFound, ValidationError
from inventory_core.feed import FEED_START
from inventory_core.locations import LocationKind
from inventory_core.lots import SERIAL, Lot, LotDetail, Tracking
from inventory_core.movements import Movement
from inventory_core.paging import Page
from inventory_core.ports import (
    LocationStockQuery,
    LotLevelQuery,
    LotQuery,
    MovementQuery,
    SerialQuery,
    UnitOfWork,
    WarehouseStockQuery,
)
from inventory_core.services._support import Providers, fetch_page
from inventory_core.users import Actor, Role

MAX_SERIAL_HISTORY = 1000
"""The most movements a serial's history lists (the first ones; page the movement feed with
``serial`` for more)."""


@attrs.frozen
class ListLots(Command[Page[Lot, UUID]]):
    """Lots matching ``query`` in creation order, after the lot ``after``."""

    query: LotQuery = attrs.field(factory=LotQuery)
    """Which lots."""
    after: UUID | None = None
    """The id of the last lot of the previous page."""
    limit: int = 50
    """The most lots to return."""


@attrs.frozen
class GetLot(Command[LotDetail]):
    """One lot with its levels; NotFound."""

    lot_id: UUID
    """The lot."""


@attrs.frozen
class SerialHistory:
    """Where a serial number of an item is, and every movement that moved it."""

    serial: str
    """The serial number."""
    item_id: UUID
    """The item."""
    location_id: UUID | None
    """The stock-holding location it is at; ``null``: not in stock (shipped, lost)."""
    movements: tuple[Movement, ...]
    """The movements that moved it, in ledger order (at most 1000, the first ones)."""


@attrs.frozen
class GetSerial(Command[SerialHistory]):
    """Where a serial number of an item is and how it got there; NotFound when no movement ever
    named it."""

    item_id: UUID
    """The item the serial number belongs to."""
    serial: str = attrs.field(metadata=accepts(SERIAL))
    """The serial number (unique per item)."""


@attrs.frozen
class PickLine:
    """Pick ``quantity`` at ``location_id`` (of ``lot``, or these ``serials``)."""

    location_id: UUID
    """Where to pick."""
    lot: str | None
    """The lot to pick, for an item tracked by lot; ``null`` otherwise."""
    expires_on: date | None
    """That lot's expiry date; ``null`` when it has none (or the item has no lots)."""
    serials: tuple[str, ...] | None
    """The serial numbers to pick, for an item tracked by serial number; ``null`` otherwise."""
    quantity: int
    """How much to pick there."""


@attrs.frozen
class PickList:
    """Where to pick an item in a warehouse: lots first expired, first out (expired lots are
    skipped), then by location code."""

    lines: tuple[PickLine, ...]
    """The picks, in the order to make them."""


@attrs.frozen
class SuggestPicking(Command[PickList]):
    """Where to pick ``quantity`` of an item in a warehouse, after its reservations."""

    item_id: UUID
    """The item to pick."""
    warehouse_id: UUID
    """The warehouse to pick in."""
    quantity: int = attrs.field(metadata=accepts(_checks.quantity))
    """How much to pick."""


@handles(ListLots, role=Role.VIEWER)
def list_lots(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ListLots
) -> Page[Lot, UUID]:
    return fetch_page(
        lambda n: uow.lots.list(command.query, after=command.after, limit=n),
        lambda lot: lot.id,
        command.limit,
    )


@handles(GetLot, role=Role.VIEWER)
def get_lot(providers: Providers, uow: UnitOfWork, actor: Actor, command: GetLot) -> LotDetail:
    lot = uow.lots.get(command.lot_id)
    if lot is None:
        raise NotFound("lot", command.lot_id)
    levels = uow.stock.lot_levels(LotLevelQuery(lot_id=lot.id), after=None, limit=None)
    return LotDetail(lot.id, lot.item_id, lot.code, lot.expires_on, tuple(levels))


@handles(GetSerial, role=Role.VIEWER)
def get_serial(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: GetSerial
) -> SerialHistory:
    """The serial's location and the movements that moved it, read from the whole ledger (not
    the feed, which may hold back the newest movements for a moment)."""
    check(command)
    level = uow.stock.serial(command.item_id, command.serial)
    if level is None:
        raise NotFound("serial", command.serial)
    movements = uow.movements.ledger(
        query=MovementQuery(item_id=command.item_id, serial=command.serial),
        after=FEED_START,
        limit=MAX_SERIAL_HISTORY,
    )
    return SerialHistory(
        command.serial, command.item_id, level.location_id, tuple(m for _, m in movements)
    )


@attrs.frozen
class _Stock:
    """Pickable stock at one location (of one lot, or these serials)."""

    location_id: UUID
    on_hand: int
    lot: str | None = None
    expires_on: date | None = None
    serials: tuple[str, ...] | None = None


@handles(SuggestPicking, role=Role.VIEWER)
def suggest_picking(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: SuggestPicking
) -> PickList:
    """Propose where to pick: lots that expire first go first and expired lots are never
    proposed; ties, and items without lots, go by location code. InsufficientStock (naming the
    warehouse) when what is there, unexpired and not reserved, does not cover ``quantity``."""
    check(command)
    item = uow.items.get(command.item_id)
    if item is None:
        raise NotFound("item", command.item_id)
    warehouse = uow.locations.get(command.warehouse_id)
    if warehouse is None or warehouse.kind is not LocationKind.WAREHOUSE:
        raise ValidationError("must be a warehouse", "$.warehouse_id")
    now = providers.clock.now()
    stock = _pickable(uow, item.id, item.tracking, warehouse.id, now.date())
    codes = {
        loc.id: loc.code for loc in uow.locations.get_many({s.location_id for s in stock}).values()
    }
    stock.sort(
        key=lambda s: (
            s.expires_on is None,
            s.expires_on or date.max,
            codes.get(s.location_id, ""),
            s.lot or "",
        )
    )
    levels = uow.stock.warehouse_levels(
        WarehouseStockQuery(item_id=item.id, warehouse_id=warehouse.id),
        now=now,
        after=None,
        limit=1,
    )
    on_hand, reserved = (levels[0].on_hand, levels[0].reserved) if levels else (0, 0)
    usable = sum(s.on_hand for s in stock)
    coverable = max(0, min(on_hand, usable) - reserved)
    if command.quantity > coverable:
        raise InsufficientStock(
            item_id=item.id,
            location_id=warehouse.id,
            available=coverable,
            requested=command.quantity,
        )
    lines: list[PickLine] = []
    remaining = command.quantity
    for s in stock:
        if remaining == 0:
            break
        take = min(remaining, s.on_hand)
        serials = None if s.serials is None else s.serials[:take]
        lines.append(PickLine(s.location_id, s.lot, s.expires_on, serials, take))
        remaining -= take
    return PickList(tuple(lines))


def _pickable(
    uow: UnitOfWork, item_id: UUID, tracking: Tracking, warehouse_id: UUID, today: date
) -> list[_Stock]:
    """The item's stock in the warehouse that may be picked today: per location, per lot
    (unexpired only) or with its serials."""
    if tracking is Tracking.LOT:
        return [
            _Stock(level.location_id, level.on_hand, level.code, level.expires_on)
            for level in uow.stock.lot_levels(
                LotLevelQuery(item_id=item_id, warehouse_id=warehouse_id), after=None, limit=None
            )
            if level.expires_on is None or level.expires_on >= today
        ]
    if tracking is Tracking.SERIAL:
        at: dict[UUID, list[str]] = {}
        for level in uow.stock.serial_levels(
            SerialQuery(item_id, warehouse_id=warehouse_id), after=None, limit=None
        ):
            assert level.location_id is not None
            at.setdefault(level.location_id, []).append(level.serial)
        return [
            _Stock(location, len(serials), serials=tuple(serials))
            for location, serials in at.items()
        ]
    return [
        _Stock(level.location_id, level.on_hand)
        for level in uow.stock.location_levels(
            LocationStockQuery(item_id=item_id, warehouse_id=warehouse_id), after=None, limit=None
        )
    ]
