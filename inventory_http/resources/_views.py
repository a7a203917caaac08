"""JSON representations of the core's entities: small, ids as strings, times RFC 3339 UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from inventory_core.counts import CountResult
from inventory_core.items import Item
from inventory_core.locations import Location
from inventory_core.movements import Movement
from inventory_core.reservations import Reservation
from inventory_core.services.items import ItemStock
from inventory_core.sessions import Session
from inventory_core.stock import LocationStock, WarehouseStock
from inventory_core.users import User

__all__ = [
    "count_result",
    "etag",
    "item",
    "item_stock",
    "location",
    "location_stock",
    "movement",
    "reservation",
    "session_summary",
    "time",
    "user",
    "warehouse_stock",
]


def time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _opt_time(value: datetime | None) -> str | None:
    return None if value is None else time(value)


def _opt_id(value: UUID | None) -> str | None:
    return None if value is None else str(value)


def etag(version: int) -> str:
    """The strong entity tag of a version."""
    return f'"{version}"'


def user(value: User) -> dict[str, Any]:
    """A user, without anything about its password."""
    return {
        "id": str(value.id),
        "username": value.username,
        "role": value.role.value,
        "active": value.active,
        "version": value.version,
        "created_at": time(value.created_at),
        "updated_at": time(value.updated_at),
    }


def item(value: Item) -> dict[str, Any]:
    """An item."""
    return {
        "id": str(value.id),
        "sku": value.sku,
        "name": value.name,
        "unit": value.unit,
        "barcodes": list(value.barcodes),
        "reorder_point": value.reorder_point,
        "reorder_quantity": value.reorder_quantity,
        "active": value.active,
        "version": value.version,
        "created_at": time(value.created_at),
        "updated_at": time(value.updated_at),
    }


def location(value: Location) -> dict[str, Any]:
    """A location, with its warehouse (``null`` for the virtual ones)."""
    return {
        "id": str(value.id),
        "code": value.code,
        "name": value.name,
        "kind": value.kind.value,
        "parent_id": _opt_id(value.parent_id),
        "warehouse_id": _opt_id(value.warehouse_id),
        "active": value.active,
        "version": value.version,
        "created_at": time(value.created_at),
        "updated_at": time(value.updated_at),
    }


def movement(value: Movement) -> dict[str, Any]:
    """A movement with its lines."""
    return {
        "id": str(value.id),
        "seq": value.seq,
        "kind": value.kind.value,
        "reason": None if value.reason is None else value.reason.value,
        "reference": value.reference,
        "note": value.note,
        "actor_id": str(value.actor_id),
        "occurred_at": time(value.occurred_at),
        "recorded_at": time(value.recorded_at),
        "reverses_id": _opt_id(value.reverses_id),
        "reservation_id": _opt_id(value.reservation_id),
        "lines": [
            {
                "item_id": str(line.item_id),
                "quantity": line.quantity,
                "from_location_id": str(line.from_location_id),
                "to_location_id": str(line.to_location_id),
            }
            for line in value.lines
        ],
    }


def reservation(value: Reservation, now: datetime) -> dict[str, Any]:
    """A reservation with its status as of ``now`` (an overdue one reads ``expired``)."""
    return {
        "id": str(value.id),
        "item_id": str(value.item_id),
        "warehouse_id": str(value.warehouse_id),
        "quantity": value.quantity,
        "status": value.effective_status(now).value,
        "reference": value.reference,
        "expires_at": _opt_time(value.expires_at),
        "actor_id": str(value.actor_id),
        "created_at": time(value.created_at),
        "updated_at": time(value.updated_at),
    }


def location_stock(value: LocationStock) -> dict[str, Any]:
    """On hand of an item at a location."""
    return {
        "item_id": str(value.item_id),
        "location_id": str(value.location_id),
        "warehouse_id": _opt_id(value.warehouse_id),
        "on_hand": value.on_hand,
    }


def warehouse_stock(value: WarehouseStock) -> dict[str, Any]:
    """On hand, reserved and available of an item in a warehouse."""
    return {
        "item_id": str(value.item_id),
        "warehouse_id": str(value.warehouse_id),
        "on_hand": value.on_hand,
        "reserved": value.reserved,
        "available": value.available,
    }


def item_stock(value: ItemStock) -> dict[str, Any]:
    """An item's stock everywhere."""
    return {
        "item_id": str(value.item_id),
        "on_hand": value.on_hand,
        "reserved": value.reserved,
        "available": value.available,
        "warehouses": [warehouse_stock(w) for w in value.warehouses],
        "locations": [location_stock(s) for s in value.locations],
    }


def count_result(value: CountResult) -> dict[str, Any]:
    """The adjustment a count posted (``null`` when everything matched)."""
    return {
        "movement": None if value.movement is None else movement(value.movement),
        "conflicts": [
            {
                "item_id": str(c.item_id),
                "location_id": str(c.location_id),
                "expected_on_hand": c.expected_on_hand,
                "on_hand": c.on_hand,
            }
            for c in value.conflicts
        ],
    }


def session_summary(value: Session, *, current: bool) -> dict[str, Any]:
    """A session as its owner may see it: never its id, digest or CSRF token."""
    return {
        "created_at": time(value.created_at),
        "last_seen_at": time(value.last_seen_at),
        "expires_at": time(value.expires_at),
        "user_agent": value.user_agent,
        "remember": value.remember,
        "current": current,
    }
