"""Stock queries: levels per location and availability per warehouse."""

from __future__ import annotations

import attrs

from inventory_core.commands import Command, handles
from inventory_core.paging import Page
from inventory_core.ports import LocationStockQuery, StockKey, UnitOfWork, WarehouseStockQuery
from inventory_core.services._support import Providers, fetch_page
from inventory_core.stock import LocationStock, WarehouseStock
from inventory_core.users import Actor, Role


@attrs.frozen
class ListLocationStock(Command[Page[LocationStock, StockKey]]):
    """Non-zero on hand per (item, stock location), after the key ``after``."""

    query: LocationStockQuery = attrs.field(factory=LocationStockQuery)
    after: StockKey | None = None
    limit: int = 50


@attrs.frozen
class ListAvailability(Command[Page[WarehouseStock, StockKey]]):
    """On hand, reserved and available per (item, warehouse), as of now."""

    query: WarehouseStockQuery = attrs.field(factory=WarehouseStockQuery)
    after: StockKey | None = None
    limit: int = 50


@handles(ListLocationStock, role=Role.VIEWER)
def list_location_stock(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ListLocationStock
) -> Page[LocationStock, StockKey]:
    return fetch_page(
        lambda n: uow.stock.location_levels(command.query, after=command.after, limit=n),
        lambda r: (r.item_id, r.location_id),
        command.limit,
    )


@handles(ListAvailability, role=Role.VIEWER)
def list_availability(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ListAvailability
) -> Page[WarehouseStock, StockKey]:
    now = providers.clock.now()
    return fetch_page(
        lambda n: uow.stock.warehouse_levels(command.query, now=now, after=command.after, limit=n),
        lambda r: (r.item_id, r.warehouse_id),
        command.limit,
    )
