"""Stock levels: per location (``/v1/stock``) and per warehouse (``/v1/availability``)."""

from __future__ import annotations

import falcon

from inventory_core.paging import Page
from inventory_core.ports import LocationStockQuery, StockKey, WarehouseStockQuery
from inventory_core.services.stock import ListAvailability, ListLocationStock
from inventory_core.stock import LocationStock, WarehouseStock
from inventory_http.cursors import collection
from inventory_http.dependencies import Resource, actor_of
from inventory_http.operations import Paging, operation
from inventory_http.shapes import Collection

__all__ = ["AvailabilityResource", "StockResource"]


class StockResource(Resource):
    """``/v1/stock``: on hand per (item, location)."""

    @operation(
        "listStock",
        summary="List on-hand stock per location",
        tag="stock",
        query=LocationStockQuery,
        paged="key",
        response=Collection[LocationStock],
        command=ListLocationStock,
    )
    def on_get(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        query: LocationStockQuery,
        paging: Paging,
    ) -> None:
        """Non-zero on hand per item and location, in (item, location) order, filtered by
        item, location or warehouse."""
        command = ListLocationStock(query, after=paging.after, limit=paging.limit)
        result: Page[LocationStock, StockKey] = self.inventory.execute(actor_of(req), command)
        self.render.send(resp, collection(result))


class AvailabilityResource(Resource):
    """``/v1/availability``: on hand, reserved and available per (item, warehouse)."""

    @operation(
        "listAvailability",
        summary="List availability per warehouse",
        tag="stock",
        query=WarehouseStockQuery,
        paged="key",
        response=Collection[WarehouseStock],
        command=ListAvailability,
    )
    def on_get(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        query: WarehouseStockQuery,
        paging: Paging,
    ) -> None:
        """On hand, reserved and `available` per item and warehouse, in (item, warehouse)
        order. `below_reorder=true` lists only the levels whose `available` has fallen below
        the item's reorder point."""
        command = ListAvailability(query, after=paging.after, limit=paging.limit)
        result: Page[WarehouseStock, StockKey] = self.inventory.execute(actor_of(req), command)
        self.render.send(resp, collection(result))
