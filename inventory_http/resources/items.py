"""Items: create, list, read, change (with ETags), and an item's stock everywhere."""

from __future__ import annotations

from uuid import UUID

import falcon

from inventory_core.executor import Response
from inventory_core.items import Item
from inventory_core.paging import Page
from inventory_core.ports import ItemQuery
from inventory_core.services.items import (
    ChangeItem,
    CreateItem,
    GetItem,
    GetItemStock,
    ItemChanges,
    ItemStock,
    ListItems,
)
from inventory_http.conditional import etag, if_match_version
from inventory_http.cursors import collection
from inventory_http.dependencies import Resource, actor_of
from inventory_http.operations import Paging, operation
from inventory_http.shapes import Collection

__all__ = ["ItemResource", "ItemStockResource", "ItemsResource"]


class ItemsResource(Resource):
    """``/v1/items``: create an item, list items."""

    @operation(
        "createItem",
        summary="Create an item",
        tag="items",
        status=201,
        body=CreateItem,
        response=Item,
        headers=("Location", "ETag"),
        errors=(409,),
        replayable=True,
        example={"sku": "BOLT-M8", "name": "Hex bolt M8x40", "unit": "each", "reorder_point": 50},
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, body: CreateItem) -> None:
        """Adds an item to the catalogue. SKUs and barcodes are unique: a taken one is 409
        `already-exists` naming the `field`."""

        def render(item: Item) -> Response:
            headers = (("Location", f"/v1/items/{item.id}"), ("ETag", etag(item.version)))
            return self.render.response(item, 201, headers)

        self.deps.runner.run(req, resp, actor_of(req), body, render)

    @operation(
        "listItems",
        summary="List items",
        tag="items",
        query=ItemQuery,
        query_names={"text": "q"},
        paged="id",
        response=Collection[Item],
        command=ListItems,
    )
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, query: ItemQuery, paging: Paging
    ) -> None:
        """Items in creation order, filtered by SKU, barcode, text or active flag."""
        command = ListItems(query, after=paging.after, limit=paging.limit)
        result: Page[Item, UUID] = self.inventory.execute(actor_of(req), command)
        self.render.send(resp, collection(result))


class ItemResource(Resource):
    """``/v1/items/{item_id}``: read and change one item."""

    @operation(
        "getItem",
        summary="Get an item",
        tag="items",
        response=Item,
        headers=("ETag",),
        conditional=True,
        command=GetItem,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, item_id: UUID) -> None:
        """The item, with its version as `ETag`; `If-None-Match` with that tag answers 304."""
        item = self.inventory.execute(actor_of(req), GetItem(item_id))
        self.send_versioned(req, resp, item, conditional=True)

    @operation(
        "changeItem",
        summary="Change an item",
        tag="items",
        body=ItemChanges,
        response=Item,
        headers=("ETag",),
        errors=(409,),
        conditional=True,
        command=ChangeItem,
        example={"reorder_point": 80, "barcodes": ["4006381333931"]},
    )
    def on_patch(
        self, req: falcon.Request, resp: falcon.Response, item_id: UUID, body: ItemChanges
    ) -> None:
        """Changes the fields sent and leaves the others; `null` clears the reorder fields.
        With `If-Match`, the change applies only to that version (else 412)."""
        actor = actor_of(req)
        expected = if_match_version(
            req, lambda: self.inventory.execute(actor, GetItem(item_id)).version
        )
        item = self.inventory.execute(actor, ChangeItem(item_id, body, expected_version=expected))
        self.send_versioned(req, resp, item)


class ItemStockResource(Resource):
    """``/v1/items/{item_id}/stock``: an item's stock everywhere."""

    @operation(
        "getItemStock",
        summary="Get an item's stock",
        tag="stock",
        response=ItemStock,
        command=GetItemStock,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, item_id: UUID) -> None:
        """Totals, then per warehouse and per location that holds some."""
        self.render.send(resp, self.inventory.execute(actor_of(req), GetItemStock(item_id)))
