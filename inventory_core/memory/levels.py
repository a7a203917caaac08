"""Judging one change of an in-memory stock level: the checks every kind of level shares."""

from __future__ import annotations

from uuid import UUID

from inventory_core.errors import InsufficientStock, LimitExceeded
from inventory_core.stock import MAX_TOTAL


def beyond(value: int) -> bool:
    """Whether ``value`` is beyond MAX_TOTAL in magnitude."""
    return not -MAX_TOTAL <= value <= MAX_TOTAL


def check_limit(item_id: UUID, where: UUID | None, *changes: tuple[str, int, int]) -> None:
    """Raise LimitExceeded for the first ``(level, current, change)`` of ``item_id`` at
    ``where`` (a location or warehouse; ``None``: the item's totals) that ends beyond MAX_TOTAL
    in magnitude, or changes by more."""
    for level, current, change in changes:
        if beyond(current + change) or beyond(change):
            raise LimitExceeded(
                item_id=item_id,
                location_id=where,
                level=level,
                current=current,
                change=change,
                limit=MAX_TOTAL,
            )


def next_on_hand(
    current: int,
    delta: int,
    *,
    holding: bool,
    item_id: UUID,
    location_id: UUID,
    lot_id: UUID | None = None,
) -> int:
    """The on hand after adding ``delta`` to ``current`` at a location (of a lot, when
    ``lot_id`` is given): InsufficientStock when a stock-holding one would go negative,
    LimitExceeded beyond MAX_TOTAL."""
    if holding and current + delta < 0:
        raise InsufficientStock(
            item_id=item_id,
            location_id=location_id,
            available=current,
            requested=-delta,
            lot_id=lot_id,
        )
    check_limit(item_id, location_id, ("on_hand", current, delta))
    return current + delta
