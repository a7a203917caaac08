"""Item use cases."""

from __future__ import annotations

from uuid import UUID

import attrs

from inventory_core.errors import NotFound, ValidationError, VersionMismatch
from inventory_core.items import Item
from inventory_core.paging import Page
from inventory_core.ports import ItemQuery, UnitOfWork
from inventory_core.services._common import UNSET, ServiceContext, Unset, fetch_page, require
from inventory_core.stock import LocationStock, WarehouseStock
from inventory_core.users import Actor, Role


@attrs.frozen
class CreateItem:
    """A new item (see :class:`~inventory_core.items.Item` for the rules of each field)."""

    sku: str
    name: str
    unit: str = "each"
    barcodes: tuple[str, ...] = ()
    reorder_point: int | None = None
    reorder_quantity: int | None = None


@attrs.frozen
class ChangeItem:
    """Fields to change on an item; fields left UNSET stay as they are."""

    sku: str | Unset = UNSET
    name: str | Unset = UNSET
    unit: str | Unset = UNSET
    barcodes: tuple[str, ...] | Unset = UNSET
    reorder_point: int | Unset | None = UNSET
    reorder_quantity: int | Unset | None = UNSET
    active: bool | Unset = UNSET


@attrs.frozen
class ItemStock:
    """An item's stock everywhere: totals, per warehouse and per location."""

    item_id: UUID
    on_hand: int
    reserved: int
    warehouses: tuple[WarehouseStock, ...]
    locations: tuple[LocationStock, ...]

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def create_item(ctx: ServiceContext, uow: UnitOfWork, actor: Actor, command: CreateItem) -> Item:
    require(actor, Role.MANAGER)
    now = ctx.clock.now()
    item = Item(
        id=ctx.ids.new_id(),
        sku=command.sku,
        name=command.name,
        unit=command.unit,
        barcodes=command.barcodes,
        reorder_point=command.reorder_point,
        reorder_quantity=command.reorder_quantity,
        created_at=now,
        updated_at=now,
    )
    with uow:
        uow.items.add(item)
    return item


def get_item(uow: UnitOfWork, actor: Actor, item_id: UUID) -> Item:
    require(actor, Role.VIEWER)
    with uow:
        item = uow.items.get(item_id)
    if item is None:
        raise NotFound("item", item_id)
    return item


def list_items(
    uow: UnitOfWork, actor: Actor, query: ItemQuery, *, after: UUID | None, limit: int
) -> Page[Item, UUID]:
    require(actor, Role.VIEWER)
    with uow:
        return fetch_page(
            lambda n: uow.items.list(query, after=after, limit=n), lambda i: i.id, limit
        )


def change_item(
    ctx: ServiceContext,
    uow: UnitOfWork,
    actor: Actor,
    item_id: UUID,
    changes: ChangeItem,
    *,
    expected_version: int | None = None,
) -> Item:
    """Apply ``changes``; with ``expected_version`` (HTTP If-Match) refuse a stale edit."""
    require(actor, Role.MANAGER)
    given = {k: v for k, v in attrs.asdict(changes, recurse=False).items() if v is not UNSET}
    with uow:
        item = uow.items.get(item_id)
        if item is None:
            raise NotFound("item", item_id)
        if expected_version is not None and expected_version != item.version:
            raise VersionMismatch("item", item_id, expected_version, item.version)
        if not given:
            return item
        try:
            changed = attrs.evolve(
                item, **given, version=item.version + 1, updated_at=ctx.clock.now()
            )
        except TypeError as exc:  # a wrongly typed field from a library caller
            raise ValidationError(str(exc)) from exc
        uow.items.update(changed)
    return changed


def item_stock(ctx: ServiceContext, uow: UnitOfWork, actor: Actor, item_id: UUID) -> ItemStock:
    require(actor, Role.VIEWER)
    with uow:
        levels = uow.stock.item_levels(item_id, now=ctx.clock.now())
    if levels is None:
        raise NotFound("item", item_id)
    warehouses, locations = levels
    return ItemStock(
        item_id=item_id,
        on_hand=sum(w.on_hand for w in warehouses),
        reserved=sum(w.reserved for w in warehouses),
        warehouses=tuple(warehouses),
        locations=tuple(locations),
    )
