"""Locations: warehouse trees of internal locations, plus the three virtual locations."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core.errors import ValidationError

__all__ = [
    "ADJUSTMENT_LOCATION_ID",
    "CODE",
    "CREATABLE_KIND",
    "CUSTOMER_LOCATION_ID",
    "NAME",
    "SUPPLIER_LOCATION_ID",
    "VIRTUAL_LOCATION_IDS",
    "Location",
    "LocationKind",
    "virtual_locations",
]


class LocationKind(enum.StrEnum):
    """What a location is. Stock is held only at ``warehouse`` and ``internal`` locations."""

    WAREHOUSE = "warehouse"
    INTERNAL = "internal"
    SUPPLIER = "supplier"
    CUSTOMER = "customer"
    ADJUSTMENT = "adjustment"

    @property
    def is_virtual(self) -> bool:
        return self in _VIRTUAL_KINDS

    @property
    def holds_stock(self) -> bool:
        return not self.is_virtual


_VIRTUAL_KINDS = frozenset({LocationKind.SUPPLIER, LocationKind.CUSTOMER, LocationKind.ADJUSTMENT})

SUPPLIER_LOCATION_ID = UUID("00000000-0000-7000-8000-000000000001")
CUSTOMER_LOCATION_ID = UUID("00000000-0000-7000-8000-000000000002")
ADJUSTMENT_LOCATION_ID = UUID("00000000-0000-7000-8000-000000000003")
VIRTUAL_LOCATION_IDS = {
    LocationKind.SUPPLIER: SUPPLIER_LOCATION_ID,
    LocationKind.CUSTOMER: CUSTOMER_LOCATION_ID,
    LocationKind.ADJUSTMENT: ADJUSTMENT_LOCATION_ID,
}
"""The virtual locations have fixed ids so every adapter (and every deployment) agrees on them."""

CODE = _checks.code
NAME = _checks.text(1, 200)
CREATABLE_KIND = _checks.one_of(
    LocationKind.WAREHOUSE,
    LocationKind.INTERNAL,
    message="must be warehouse or internal: virtual locations are provided by the system",
)
"""The kinds a user can create (the virtual locations come with the system)."""


@attrs.frozen
class Location:
    """A place stock can be (warehouse, internal) or come from / go to (the virtual ones).

    ``ancestor_ids`` is the materialized path from the warehouse root down to the parent, so
    ``ancestor_ids[0]`` is the warehouse of an internal location. Warehouses and virtual locations
    have no parent and an empty path; internal locations always have a parent.
    """

    id: UUID
    """The location's id."""
    code: str = attrs.field(validator=CODE)
    """Short code, unique across all locations (``WH1``, ``WH1-A-03``)."""
    name: str = attrs.field(validator=NAME)
    """What people call it."""
    kind: LocationKind = attrs.field(converter=LocationKind)
    """``warehouse`` (a root), ``internal`` (inside a warehouse) or one of the virtual ones."""
    created_at: datetime = attrs.field(validator=_checks.aware)
    """When it was created."""
    updated_at: datetime = attrs.field(validator=_checks.aware)
    """When it last changed."""
    parent_id: UUID | None = None
    """The location it is inside; ``null`` for warehouses and virtual locations."""
    ancestor_ids: tuple[UUID, ...] = attrs.field(
        default=(), converter=_checks.uuids, metadata=_checks.INTERNAL
    )
    active: bool = True
    """Inactive locations take no new stock; stock can still leave them."""
    version: int = attrs.field(default=1, validator=_checks.version)
    """Grows by one with every change; the entity tag of the location."""
    warehouse_id: UUID | None = attrs.field(init=False)
    """The warehouse whose tree holds it (itself, for a warehouse); ``null`` for virtual
    locations."""

    def __attrs_post_init__(self) -> None:
        if self.kind is LocationKind.INTERNAL:
            if self.parent_id is None:
                raise ValidationError("an internal location needs a parent", "$.parent_id")
            if not self.ancestor_ids or self.ancestor_ids[-1] != self.parent_id:
                raise ValidationError("path must end with the parent", "$.parent_id")
            if self.id in self.ancestor_ids:
                raise ValidationError("a location cannot be its own ancestor", "$.parent_id")
        elif self.parent_id is not None or self.ancestor_ids:
            raise ValidationError(f"a {self.kind} location has no parent", "$.parent_id")
        if self.kind.is_virtual and VIRTUAL_LOCATION_IDS[self.kind] != self.id:
            raise ValidationError("virtual locations are provided by the system", "$.kind")
        warehouse_id = {
            LocationKind.WAREHOUSE: self.id,
            LocationKind.INTERNAL: self.ancestor_ids[0] if self.ancestor_ids else None,
        }.get(self.kind)
        object.__setattr__(self, "warehouse_id", warehouse_id)

    @property
    def path(self) -> tuple[UUID, ...]:
        """Ids from the warehouse root down to and including this location."""
        return (*self.ancestor_ids, self.id)


def virtual_locations(now: datetime) -> tuple[Location, ...]:
    """The three system locations every adapter must provide from the start."""
    return tuple(
        Location(
            id=location_id,
            code=kind.value.upper(),
            name=f"{kind.value.capitalize()} (virtual)",
            kind=kind,
            created_at=now,
            updated_at=now,
        )
        for kind, location_id in VIRTUAL_LOCATION_IDS.items()
    )
