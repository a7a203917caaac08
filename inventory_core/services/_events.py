"""Recording events from the use cases, in their unit of work (the outbox)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from uuid import UUID

from inventory_core.events import BelowReorder, Event, EventType
from inventory_core.items import Item
from inventory_core.ports import StockKey, UnitOfWork
from inventory_core.present import present
from inventory_core.services._support import Providers
from inventory_core.stock import WarehouseStock


def new_event(providers: Providers, type_: EventType, subject: object) -> Event:
    """The event that ``subject`` (an entity, as the API shows it) changed, now."""
    return Event(
        id=providers.ids.new_id(),
        type=type_,
        timestamp=providers.clock.now(),
        data=present(subject),
    )


def record(providers: Providers, uow: UnitOfWork, type_: EventType, subject: object) -> None:
    """Record that ``subject`` changed, in the unit of work."""
    uow.events.add(new_event(providers, type_, subject))


def record_drops_below_reorder(
    providers: Providers,
    uow: UnitOfWork,
    levels: Sequence[WarehouseStock],
    available_deltas: Mapping[StockKey, int],
    items: Mapping[UUID, Item] | Callable[[Collection[UUID]], Mapping[UUID, Item]],
) -> None:
    """Record ``stock.below_reorder`` for each level whose ``available`` has just crossed from at
    or above its item's reorder point to below it. ``items`` are the items involved, or how to
    fetch them (asked only when some level went down: most changes need no extra read)."""
    lowered = [
        level
        for level in levels
        if available_deltas.get((level.item_id, level.warehouse_id), 0) < 0
    ]
    if not lowered:
        return
    known = items if isinstance(items, Mapping) else items({lv.item_id for lv in lowered})
    for level in lowered:
        item = known.get(level.item_id)
        point = item.reorder_point if item is not None else None
        if point is None:
            continue
        before = level.available - available_deltas[(level.item_id, level.warehouse_id)]
        if level.available < point <= before:
            record(providers, uow, EventType.STOCK_BELOW_REORDER, BelowReorder(level, point))
