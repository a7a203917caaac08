"""Stock levels: per location (``/v1/stock``) and per warehouse (``/v1/availability``)."""

from __future__ import annotations

import falcon

from inventory_core.ports import LocationStockQuery, WarehouseStockQuery
from inventory_core.services.stock import ListAvailability, ListLocationStock
from inventory_http.resources import _views as views
from inventory_http.resources._common import Query, Resource, actor_of, page, send_json

__all__ = ["AvailabilityResource", "StockResource"]


class StockResource(Resource):
    """Non-zero on hand per (item, location), by item, location or warehouse."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Location levels in (item, location) order."""
        actor = actor_of(req)
        query = Query(req)
        filters = LocationStockQuery(
            item_id=query.uuid("item_id"),
            location_id=query.uuid("location_id"),
            warehouse_id=query.uuid("warehouse_id"),
        )
        limit, after = query.limit(), query.cursor("key")
        query.check()
        result = self.inventory.execute(actor, ListLocationStock(filters, after=after, limit=limit))
        send_json(resp, page([views.location_stock(s) for s in result.items], result.next_after))


class AvailabilityResource(Resource):
    """On hand, reserved and available per (item, warehouse); ``below_reorder=true`` lists only
    what has fallen below its item's reorder point."""

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Warehouse levels in (item, warehouse) order."""
        actor = actor_of(req)
        query = Query(req)
        filters = WarehouseStockQuery(
            item_id=query.uuid("item_id"),
            warehouse_id=query.uuid("warehouse_id"),
            below_reorder=query.boolean("below_reorder") or False,
        )
        limit, after = query.limit(), query.cursor("key")
        query.check()
        result = self.inventory.execute(actor, ListAvailability(filters, after=after, limit=limit))
        send_json(resp, page([views.warehouse_stock(s) for s in result.items], result.next_after))
