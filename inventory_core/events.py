"""Events: every state change, as an entry of a complete, ordered change feed (DESIGN §11).

A use case that changes state records its events in the same unit of work as the change (a
transactional outbox): the event commits with the change or not at all. The feed of events has
the same completeness promise and the same :class:`~inventory_core.feed.FeedPosition` as the
movement ledger, and webhooks deliver from it.

An event's ``data`` is the resource exactly as the API shows it, made by
:func:`inventory_core.present.present` -- the code that renders API responses -- when the event
is recorded.
"""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs

from inventory_core.items import Item
from inventory_core.locations import Location
from inventory_core.movements import Movement
from inventory_core.present import JsonValue
from inventory_core.reservations import Reservation
from inventory_core.stock import WarehouseStock

__all__ = ["BelowReorder", "Event", "EventQuery", "EventType", "event_types"]


class EventType(enum.StrEnum):
    """What happened. ``data`` is the resource named by the part before the dot."""

    MOVEMENT_POSTED = "movement.posted"
    RESERVATION_CREATED = "reservation.created"
    RESERVATION_RELEASED = "reservation.released"
    RESERVATION_FULFILLED = "reservation.fulfilled"
    RESERVATION_EXPIRED = "reservation.expired"
    ITEM_CREATED = "item.created"
    ITEM_UPDATED = "item.updated"
    LOCATION_CREATED = "location.created"
    LOCATION_UPDATED = "location.updated"
    STOCK_BELOW_REORDER = "stock.below_reorder"


@attrs.frozen
class BelowReorder:
    """The ``data`` of ``stock.below_reorder``: a warehouse level whose ``available`` has just
    dropped below the item's reorder point."""

    level: WarehouseStock
    """The warehouse level right after the change, as ``GET /v1/stock/warehouses`` shows it."""
    reorder_point: int
    """The item's reorder point at the time."""


@attrs.frozen(eq=True, hash=False)
class Event:
    """One change, as the feed and webhooks carry it."""

    id: UUID
    """Unique and stable: webhook deliveries send it as ``webhook-id``, for de-duplication."""
    type: EventType
    """What happened."""
    timestamp: datetime
    """When the change was made (the time of its transaction)."""
    data: JsonValue = attrs.field(
        metadata={"presents": (Item, Location, Movement, Reservation, BelowReorder)}
    )
    """The resource as the API shows it right after the change: an item, a location, a
    movement or a reservation, as named by ``type``; for ``stock.below_reorder``, the warehouse
    level and the item's reorder point."""


def event_types(value: object) -> tuple[EventType, ...]:
    """A collection of event types (or their values) as a sorted tuple without repeats: how
    queries and webhooks keep them, so equal sets compare equal."""
    if not isinstance(value, tuple | list | set | frozenset):
        raise TypeError("types must be a collection of event types")
    return tuple(sorted({EventType(v) for v in value}))


def _optional_event_types(value: object) -> tuple[EventType, ...] | None:
    return None if value is None else event_types(value)


@attrs.frozen
class EventQuery:
    """Filters of the event feed."""

    types: tuple[EventType, ...] | None = attrs.field(default=None, converter=_optional_event_types)
    """Only events of these types, comma-separated (all types when absent)."""
