"""Stock queries: levels per location and availability per warehouse."""

from __future__ import annotations

from inventory_core.paging import Page
from inventory_core.ports import LocationStockQuery, StockKey, UnitOfWork, WarehouseStockQuery
from inventory_core.services._common import ServiceContext, fetch_page, require
from inventory_core.stock import LocationStock, WarehouseStock
from inventory_core.users import Actor, Role


def list_location_stock(
    uow: UnitOfWork,
    actor: Actor,
    query: LocationStockQuery,
    *,
    after: StockKey | None,
    limit: int,
) -> Page[LocationStock, StockKey]:
    """Non-zero on hand per (item, stock location)."""
    require(actor, Role.VIEWER)
    with uow:
        return fetch_page(
            lambda n: uow.stock.location_levels(query, after=after, limit=n),
            lambda r: (r.item_id, r.location_id),
            limit,
        )


def list_availability(
    ctx: ServiceContext,
    uow: UnitOfWork,
    actor: Actor,
    query: WarehouseStockQuery,
    *,
    after: StockKey | None,
    limit: int,
) -> Page[WarehouseStock, StockKey]:
    """On hand, reserved and available per (item, warehouse), as of now."""
    require(actor, Role.VIEWER)
    now = ctx.clock.now()
    with uow:
        return fetch_page(
            lambda n: uow.stock.warehouse_levels(query, now=now, after=after, limit=n),
            lambda r: (r.item_id, r.warehouse_id),
            limit,
        )
