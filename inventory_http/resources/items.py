"""Items: create, list, read, change (with ETags), and an item's stock everywhere."""

from __future__ import annotations

from uuid import UUID

import falcon

from inventory_core.executor import Response
from inventory_core.items import Item
from inventory_core.ports import ItemQuery
from inventory_core.services.items import (
    ChangeItem,
    CreateItem,
    GetItem,
    GetItemStock,
    ItemChanges,
    ListItems,
)
from inventory_http.dto import ChangeItemBody, CreateItemBody
from inventory_http.resources import _views as views
from inventory_http.resources._common import (
    Query,
    Resource,
    actor_of,
    if_match_version,
    json_response,
    page,
    read_body,
    send_json,
    send_versioned,
)

__all__ = ["ItemResource", "ItemStockResource", "ItemsResource"]


class ItemsResource(Resource):
    """``POST`` creates an item (manager); ``GET`` lists items by sku, barcode, text, active."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """201 with ``Location`` and ``ETag``; 409 for a taken SKU or barcode."""
        actor = actor_of(req)
        body = read_body(req, self.ctx.deps, CreateItemBody)
        command = CreateItem(
            sku=body.sku,
            name=body.name,
            unit=body.unit,
            barcodes=body.barcodes,
            reorder_point=body.reorder_point,
            reorder_quantity=body.reorder_quantity,
        )

        def render(item: Item) -> Response:
            headers = (("Location", f"/v1/items/{item.id}"), ("ETag", views.etag(item.version)))
            return json_response(views.item(item), 201, headers)

        self.ctx.runner.run(req, resp, actor, command, render)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Items in creation order."""
        actor = actor_of(req)
        query = Query(req)
        filters = ItemQuery(
            sku=query.text("sku"),
            barcode=query.text("barcode"),
            text=query.text("q"),
            active=query.boolean("active"),
        )
        limit, after = query.limit(), query.cursor("id")
        query.check()
        result = self.inventory.execute(actor, ListItems(filters, after=after, limit=limit))
        send_json(resp, page([views.item(i) for i in result.items], result.next_after))


class ItemResource(Resource):
    """``GET`` (``If-None-Match`` → 304) and ``PATCH`` (``If-Match`` → 412) one item."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, item_id: UUID) -> None:
        """The item with its ``ETag``."""
        item = self.inventory.execute(actor_of(req), GetItem(item_id))
        send_versioned(req, resp, item.version, lambda: views.item(item))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, item_id: UUID) -> None:
        """Change the fields given (``null`` clears the reorder fields)."""
        actor = actor_of(req)
        body = read_body(req, self.ctx.deps, ChangeItemBody)
        expected = if_match_version(
            req, lambda: self.inventory.execute(actor, GetItem(item_id)).version
        )
        changes = ItemChanges(
            sku=body.sku,
            name=body.name,
            unit=body.unit,
            barcodes=body.barcodes,
            reorder_point=body.reorder_point,
            reorder_quantity=body.reorder_quantity,
            active=body.active,
        )
        item = self.inventory.execute(
            actor, ChangeItem(item_id, changes, expected_version=expected)
        )
        send_versioned(req, resp, item.version, lambda: views.item(item), conditional=False)


class ItemStockResource(Resource):
    """``GET /v1/items/{id}/stock``: totals, per warehouse and per location."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, item_id: UUID) -> None:
        """The item's stock everywhere."""
        send_json(
            resp, views.item_stock(self.inventory.execute(actor_of(req), GetItemStock(item_id)))
        )
