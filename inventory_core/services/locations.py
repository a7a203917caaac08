"""Location use cases: warehouse trees of internal locations."""

from __future__ import annotations

from typing import ClassVar
from uuid import UUID

import attrs

from inventory_core._checks import ClassRule, accepts, check, uuid_given, when
from inventory_core.commands import Command, handles
from inventory_core.errors import InvalidOperation, NotFound, ValidationError, VersionMismatch
from inventory_core.events import EventType
from inventory_core.locations import CODE, CREATABLE_KIND, NAME, Location, LocationKind
from inventory_core.paging import Page
from inventory_core.ports import LocationQuery, UnitOfWork
from inventory_core.services._events import record
from inventory_core.services._support import Providers, fetch_page
from inventory_core.unset import UNSET, Unset
from inventory_core.users import Actor, Role


def _parent_matches_kind(command: CreateLocation) -> list[tuple[str, str]]:
    if command.kind is LocationKind.INTERNAL and command.parent_id is None:
        return [("$.parent_id", "an internal location needs a parent")]
    if command.kind is LocationKind.WAREHOUSE and command.parent_id is not None:
        return [("$.parent_id", "a warehouse has no parent")]
    return []


PARENT_MATCHES_KIND = ClassRule(
    _parent_matches_kind,
    {
        "allOf": [
            when(
                "kind",
                LocationKind.INTERNAL,
                uuid_given("parent_id"),
                {"properties": {"parent_id": {"type": "null"}}},
            )
        ]
    },
)
"""An internal location has a parent; a warehouse has none."""


@attrs.frozen
class CreateLocation(Command[Location]):
    """A new warehouse (no parent) or internal location (with a parent in some warehouse tree)."""

    code: str = attrs.field(metadata=accepts(CODE))
    """Short code, unique across all locations (``WH1``, ``WH1-A-03``)."""
    name: str = attrs.field(metadata=accepts(NAME))
    """What people call it."""
    kind: LocationKind = attrs.field(converter=LocationKind, metadata=accepts(CREATABLE_KIND))
    """``warehouse`` (no parent) or ``internal`` (inside a warehouse or another location)."""
    parent_id: UUID | None = None
    """The location it is inside: required for ``internal``, refused for ``warehouse``."""

    rules: ClassVar[tuple[ClassRule, ...]] = (PARENT_MATCHES_KIND,)


@attrs.frozen
class LocationChanges:
    """Fields to change; ``parent_id`` may move an internal location within its warehouse."""

    code: str | Unset = attrs.field(default=UNSET, metadata=accepts(CODE))
    """A new code."""
    name: str | Unset = attrs.field(default=UNSET, metadata=accepts(NAME))
    """A new name."""
    parent_id: UUID | Unset = UNSET
    """Move an internal location under another location of the same warehouse."""
    active: bool | Unset = UNSET
    """``false`` retires the location (it takes no new stock); ``true`` brings it back."""


@attrs.frozen
class ChangeLocation(Command[Location]):
    """Apply ``changes`` to a location, refused as stale when ``expected_version`` is not the
    stored one."""

    location_id: UUID
    changes: LocationChanges = attrs.field(factory=LocationChanges)
    expected_version: int | None = None


@attrs.frozen
class GetLocation(Command[Location]):
    location_id: UUID


@attrs.frozen
class ListLocations(Command[Page[Location, UUID]]):
    query: LocationQuery = attrs.field(factory=LocationQuery)
    after: UUID | None = None
    limit: int = 50


def _parent(uow: UnitOfWork, parent_id: UUID) -> Location:
    parent = uow.locations.get(parent_id)
    if parent is None:
        raise ValidationError("no such location", "$.parent_id")
    if not parent.kind.holds_stock:
        raise ValidationError("a virtual location cannot be a parent", "$.parent_id")
    return parent


@handles(CreateLocation, role=Role.MANAGER)
def create_location(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: CreateLocation
) -> Location:
    """Create a warehouse or an internal location. AlreadyExists on a taken code."""
    check(command)
    now = providers.clock.now()
    ancestors: tuple[UUID, ...] = ()
    if command.parent_id is not None:
        ancestors = _parent(uow, command.parent_id).path
    location = Location(
        id=providers.ids.new_id(),
        code=command.code,
        name=command.name,
        kind=command.kind,
        parent_id=command.parent_id,
        ancestor_ids=ancestors,
        created_at=now,
        updated_at=now,
    )
    uow.locations.add(location)
    record(providers, uow, EventType.LOCATION_CREATED, location)
    return location


@handles(GetLocation, role=Role.VIEWER)
def get_location(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: GetLocation
) -> Location:
    location = uow.locations.get(command.location_id)
    if location is None:
        raise NotFound("location", command.location_id)
    return location


@handles(ListLocations, role=Role.VIEWER)
def list_locations(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ListLocations
) -> Page[Location, UUID]:
    return fetch_page(
        lambda n: uow.locations.list(command.query, after=command.after, limit=n),
        lambda x: x.id,
        command.limit,
    )


@handles(ChangeLocation, role=Role.MANAGER)
def change_location(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ChangeLocation
) -> Location:
    """Rename, recode, (de)activate, or move an internal location to another parent inside the
    same warehouse. Moving between warehouses would silently move stock between warehouses, so it
    is refused: transfer the stock instead. Values equal to the current ones change nothing: the
    location keeps its version and ``updated_at``."""
    location_id, expected_version = command.location_id, command.expected_version
    given = {
        k: v for k, v in attrs.asdict(command.changes, recurse=False).items() if v is not UNSET
    }
    location = uow.locations.get(location_id)
    if location is None:
        raise NotFound("location", location_id)
    if location.kind.is_virtual:
        raise InvalidOperation("virtual locations cannot be changed")
    if expected_version is not None and expected_version != location.version:
        raise VersionMismatch("location", location_id, expected_version, location.version)
    if not given:
        return location
    new_parent_id = given.pop("parent_id", location.parent_id)
    ancestors = location.ancestor_ids
    if new_parent_id != location.parent_id:
        if location.kind is not LocationKind.INTERNAL:
            raise ValidationError("a warehouse has no parent", "$.parent_id")
        parent = _parent(uow, new_parent_id)
        if location.id in parent.path:
            raise ValidationError(
                "a location cannot move under itself or its descendants", "$.parent_id"
            )
        if parent.warehouse_id != location.warehouse_id:
            raise ValidationError("a location can only move within its warehouse", "$.parent_id")
        ancestors = parent.path
    try:
        changed = attrs.evolve(location, **given, parent_id=new_parent_id, ancestor_ids=ancestors)
    except TypeError as exc:
        raise ValidationError(str(exc)) from exc
    if changed == location:  # the values it has: no new version (the ETag stays current)
        return location
    changed = attrs.evolve(changed, version=location.version + 1, updated_at=providers.clock.now())
    uow.locations.update(changed)
    record(providers, uow, EventType.LOCATION_UPDATED, changed)
    return changed
