"""Item use cases."""

from __future__ import annotations

from uuid import UUID

import attrs

from inventory_core._checks import accepts
from inventory_core.commands import Command, handles
from inventory_core.errors import InvalidOperation, NotFound, ValidationError, VersionMismatch
from inventory_core.events import EventType
from inventory_core.items import (
    BARCODES,
    NAME,
    REORDER_POINT,
    REORDER_QUANTITY,
    SKU,
    UNIT,
    Item,
)
from inventory_core.lots import LotLevel, SerialLevel, Tracking
from inventory_core.paging import Page
from inventory_core.ports import ItemQuery, UnitOfWork
from inventory_core.services._events import record
from inventory_core.services._support import Providers, fetch_page
from inventory_core.stock import LocationStock, WarehouseStock
from inventory_core.unset import UNSET, Unset
from inventory_core.users import Actor, Role


@attrs.frozen
class CreateItem(Command[Item]):
    """A new item (see :class:`~inventory_core.items.Item` for the rules of each field)."""

    sku: str = attrs.field(metadata=accepts(SKU))
    """Stock-keeping unit: unique, compared exactly (case included)."""
    name: str = attrs.field(metadata=accepts(NAME))
    """What people call it."""
    unit: str = attrs.field(default="each", metadata=accepts(UNIT))
    """The base unit every quantity of the item counts in (``each``, ``kg``, ``m``)."""
    barcodes: tuple[str, ...] = attrs.field(default=(), metadata=accepts(BARCODES))
    """Barcodes that identify the item, each unique across all items."""
    reorder_point: int | None = attrs.field(default=None, metadata=accepts(REORDER_POINT))
    """Replenish when a warehouse's ``available`` falls below this; ``null``: never."""
    reorder_quantity: int | None = attrs.field(default=None, metadata=accepts(REORDER_QUANTITY))
    """How much to order when replenishing."""
    tracking: Tracking = attrs.field(default=Tracking.NONE, converter=Tracking)
    """How its stock is told apart: ``none``, by ``lot`` or by ``serial`` number."""


@attrs.frozen
class ItemChanges:
    """Fields to change on an item; fields left UNSET stay as they are."""

    sku: str | Unset = attrs.field(default=UNSET, metadata=accepts(SKU))
    """A new SKU."""
    name: str | Unset = attrs.field(default=UNSET, metadata=accepts(NAME))
    """A new name."""
    unit: str | Unset = attrs.field(default=UNSET, metadata=accepts(UNIT))
    """A new base unit."""
    barcodes: tuple[str, ...] | Unset = attrs.field(default=UNSET, metadata=accepts(BARCODES))
    """The new list of barcodes (replaces the old one)."""
    reorder_point: int | Unset | None = attrs.field(default=UNSET, metadata=accepts(REORDER_POINT))
    """A new reorder point; ``null`` clears it."""
    reorder_quantity: int | Unset | None = attrs.field(
        default=UNSET, metadata=accepts(REORDER_QUANTITY)
    )
    """A new reorder quantity; ``null`` clears it."""
    active: bool | Unset = UNSET
    """``false`` retires the item (no new receipts); ``true`` brings it back."""
    tracking: Tracking | Unset = UNSET
    """New tracking: ``none``, ``lot`` or ``serial``; only while the item has no stock."""


@attrs.frozen
class ChangeItem(Command[Item]):
    """Apply ``changes`` to an item; with ``expected_version`` (HTTP If-Match) a stale edit is
    refused with VersionMismatch."""

    item_id: UUID
    changes: ItemChanges = attrs.field(factory=ItemChanges)
    expected_version: int | None = None


@attrs.frozen
class GetItem(Command[Item]):
    """One item; NotFound."""

    item_id: UUID


@attrs.frozen
class ListItems(Command[Page[Item, UUID]]):
    """Items matching ``query`` in creation order, after the item ``after``."""

    query: ItemQuery = attrs.field(factory=ItemQuery)
    after: UUID | None = None
    limit: int = 50


@attrs.frozen
class ItemStock:
    """An item's stock everywhere: totals, per warehouse and per location."""

    item_id: UUID
    """The item."""
    on_hand: int
    """How much is in all warehouses together."""
    reserved: int
    """How much active reservations hold, in all warehouses together."""
    warehouses: tuple[WarehouseStock, ...]
    """Per warehouse."""
    locations: tuple[LocationStock, ...]
    """Per location that holds some."""
    lots: tuple[LotLevel, ...]
    """Per lot and location that holds some (items tracked by lot)."""
    serials: tuple[SerialLevel, ...]
    """The serial numbers in stock and where (items tracked by serial number)."""
    available: int = attrs.field(init=False)
    """What can still be promised: ``on_hand`` minus ``reserved``."""

    def __attrs_post_init__(self) -> None:
        object.__setattr__(self, "available", self.on_hand - self.reserved)


@attrs.frozen
class GetItemStock(Command[ItemStock]):
    """An item's totals, warehouse levels and location levels; NotFound."""

    item_id: UUID


@handles(CreateItem, role=Role.MANAGER)
def create_item(providers: Providers, uow: UnitOfWork, actor: Actor, command: CreateItem) -> Item:
    """Create an item. AlreadyExists on a taken SKU or barcode."""
    now = providers.clock.now()
    item = Item(
        id=providers.ids.new_id(),
        sku=command.sku,
        name=command.name,
        unit=command.unit,
        barcodes=command.barcodes,
        reorder_point=command.reorder_point,
        reorder_quantity=command.reorder_quantity,
        tracking=command.tracking,
        created_at=now,
        updated_at=now,
    )
    uow.items.add(item)
    record(providers, uow, EventType.ITEM_CREATED, item)
    return item


@handles(GetItem, role=Role.VIEWER)
def get_item(providers: Providers, uow: UnitOfWork, actor: Actor, command: GetItem) -> Item:
    item = uow.items.get(command.item_id)
    if item is None:
        raise NotFound("item", command.item_id)
    return item


@handles(ListItems, role=Role.VIEWER)
def list_items(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ListItems
) -> Page[Item, UUID]:
    return fetch_page(
        lambda n: uow.items.list(command.query, after=command.after, limit=n),
        lambda i: i.id,
        command.limit,
    )


@handles(ChangeItem, role=Role.MANAGER)
def change_item(providers: Providers, uow: UnitOfWork, actor: Actor, command: ChangeItem) -> Item:
    """Change the given fields. Values equal to the current ones change nothing: the item keeps
    its version and ``updated_at``."""
    given = {
        k: v for k, v in attrs.asdict(command.changes, recurse=False).items() if v is not UNSET
    }
    item = uow.items.get(command.item_id)
    if item is None:
        raise NotFound("item", command.item_id)
    expected = command.expected_version
    if expected is not None and expected != item.version:
        raise VersionMismatch("item", command.item_id, expected, item.version)
    try:
        changed = attrs.evolve(item, **given)
    except TypeError as exc:  # a wrongly typed field from a library caller
        raise ValidationError(str(exc)) from exc
    if changed == item:
        # Nothing to change (nothing given, or the values it has): no new version, so the ETag
        # a client holds stays current and a repeated PATCH is harmless.
        return item
    changed = attrs.evolve(changed, version=item.version + 1, updated_at=providers.clock.now())
    uow.items.update(changed)
    # Judged after the update, which locks the item: a movement raising its stock locks it too,
    # so either it committed before (and is seen here) or it finds the new tracking.
    if changed.tracking is not item.tracking and uow.stock.has_stock(item.id):
        raise InvalidOperation(
            f"item {item.sku} has stock: its tracking changes only while it has none"
        )
    record(providers, uow, EventType.ITEM_UPDATED, changed)
    return changed


@handles(GetItemStock, role=Role.VIEWER)
def item_stock(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: GetItemStock
) -> ItemStock:
    levels = uow.stock.item_levels(command.item_id, now=providers.clock.now())
    if levels is None:
        raise NotFound("item", command.item_id)
    return ItemStock(
        item_id=command.item_id,
        on_hand=sum(w.on_hand for w in levels.warehouses),
        reserved=sum(w.reserved for w in levels.warehouses),
        warehouses=levels.warehouses,
        locations=levels.locations,
        lots=levels.lots,
        serials=levels.serials,
    )
