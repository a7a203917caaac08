"""Stock levels: a projection of the ledger, per location and per warehouse."""

from __future__ import annotations

from uuid import UUID

import attrs

from inventory_core._checks import MAX_TOTAL
from inventory_core.lots import LotLevel, SerialLevel

__all__ = [
    "MAX_TOTAL",
    "ItemLevels",
    "LocationChange",
    "LocationStock",
    "LotChange",
    "SerialChange",
    "WarehouseChange",
    "WarehouseStock",
]


@attrs.frozen
class LocationStock:
    """On hand of one item at one location (virtual locations go negative: double entry)."""

    item_id: UUID
    """The item."""
    location_id: UUID
    """The location."""
    warehouse_id: UUID | None
    """The location's warehouse; ``null`` for virtual locations."""
    on_hand: int
    """How much of the item is there."""


@attrs.frozen
class WarehouseStock:
    """One item in one warehouse: ``on_hand`` over the warehouse's tree, ``reserved`` by active
    reservations. ``available`` is negative only after a loss or a downward count (invariant 3)."""

    item_id: UUID
    """The item."""
    warehouse_id: UUID
    """The warehouse."""
    on_hand: int
    """How much is anywhere in the warehouse's tree."""
    reserved: int
    """How much active reservations hold."""
    available: int = attrs.field(init=False)
    """What can still be promised: ``on_hand`` minus ``reserved``."""

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "available", self.on_hand - self.reserved)


@attrs.frozen
class LocationChange:
    """Add ``delta`` to the on hand of ``item_id`` at ``location_id``. When ``holds_stock`` the
    result must not be negative (invariant 2), else the whole change raises InsufficientStock;
    at any location it must stay within MAX_TOTAL in magnitude, else LimitExceeded."""

    item_id: UUID
    location_id: UUID
    delta: int
    holds_stock: bool


@attrs.frozen
class LotChange:
    """Add ``delta`` to the on hand of lot ``lot_id`` of ``item_id`` at ``location_id``: the
    per-lot level under a :class:`LocationChange` of the same item and location (which the same
    call makes too, by the same amount). Refused like it: InsufficientStock naming the lot when
    a stock-holding location would go negative, LimitExceeded beyond MAX_TOTAL."""

    item_id: UUID
    location_id: UUID
    lot_id: UUID
    delta: int
    holds_stock: bool


@attrs.frozen
class SerialChange:
    """Move serial number ``serial`` of ``item_id`` from ``from_location_id`` to
    ``to_location_id``, each a stock-holding location or ``None`` (not in stock: received from
    a supplier, shipped, lost). Refused with SerialConflict unless the serial is at
    ``from_location_id`` now (``None``: not in stock, or never seen)."""

    item_id: UUID
    serial: str
    from_location_id: UUID | None
    to_location_id: UUID | None


@attrs.frozen
class WarehouseChange:
    """Add to on hand and reserved of ``item_id`` in ``warehouse_id``.

    ``reserved`` must stay ≥ 0. When ``guard_available`` is set and the change lowers
    ``available`` (``on_hand_delta - reserved_delta < 0``), the resulting ``available`` must be ≥ 0,
    else InsufficientStock. Changes that record physical reality pass ``guard_available=False``.
    Both parts stay at most MAX_TOTAL, and so do the item's totals over all its warehouses where
    a change raises them, else LimitExceeded.
    """

    item_id: UUID
    warehouse_id: UUID
    on_hand_delta: int = 0
    reserved_delta: int = 0
    guard_available: bool = True

    @property
    def available_delta(self) -> int:
        return self.on_hand_delta - self.reserved_delta


@attrs.frozen
class ItemLevels:
    """Every level of one item, read together (see ``StockRepository.item_levels``)."""

    warehouses: tuple[WarehouseStock, ...]
    """Per warehouse, ascending warehouse id."""
    locations: tuple[LocationStock, ...]
    """Non-zero per stock-holding location, ascending location id."""
    lots: tuple[LotLevel, ...] = ()
    """Non-zero per lot and stock-holding location, ascending (lot id, location id)."""
    serials: tuple[SerialLevel, ...] = ()
    """The serial numbers in stock, ascending."""
