"""Lots, serial numbers and expiry (DESIGN §12): traceability for recalls, and picking."""

from __future__ import annotations

from uuid import UUID

import falcon

from inventory_core.lots import Lot, LotDetail
from inventory_core.paging import Page
from inventory_core.ports import LotQuery
from inventory_core.services.lots import (
    GetLot,
    GetSerial,
    ListLots,
    PickList,
    SerialHistory,
    SuggestPicking,
)
from inventory_http.cursors import collection
from inventory_http.dependencies import Resource, actor_of
from inventory_http.operations import Paging, operation
from inventory_http.shapes import Collection

__all__ = ["LotResource", "LotsResource", "PickingResource", "SerialResource"]


class LotsResource(Resource):
    """``/v1/lots``: the lots of an item, or those expiring before a date."""

    @operation(
        "listLots",
        summary="List lots",
        tag="lots",
        query=LotQuery,
        paged="id",
        response=Collection[Lot],
        command=ListLots,
    )
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, query: LotQuery, paging: Paging
    ) -> None:
        """Lots in creation order, optionally of one item (`item_id`) or expiring before a day
        (`expires_before`, `YYYY-MM-DD`: lots without an expiry date never match). A lot is
        created by the first receipt of its code; for where its stock is, get the lot."""
        command = ListLots(query, after=paging.after, limit=paging.limit)
        result: Page[Lot, UUID] = self.inventory.execute(actor_of(req), command)
        self.render.send(resp, collection(result))


class LotResource(Resource):
    """``/v1/lots/{lot_id}``: one lot and where its stock is."""

    @operation(
        "getLot",
        summary="Get a lot and its stock",
        tag="lots",
        response=LotDetail,
        command=GetLot,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, lot_id: UUID) -> None:
        """The lot, with its on hand per stock-holding location (`levels`; a lot shipped or
        used up entirely has none). For every movement of it -- where each unit went, for a
        recall -- read `GET /v1/movements?lot_id=`."""
        self.render.send(resp, self.inventory.execute(actor_of(req), GetLot(lot_id)))


class SerialResource(Resource):
    """``/v1/items/{item_id}/serials/{serial}``: where one unit is and how it got there."""

    @operation(
        "getSerial",
        summary="Trace a serial number",
        tag="lots",
        response=SerialHistory,
        errors=(422,),
        command=GetSerial,
    )
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, item_id: UUID, serial: str
    ) -> None:
        """Where a serial number of the item is (`location_id`, `null` once shipped or written
        off) and every movement that moved it, in ledger order. 404 when no movement ever named
        it; a segment that is no serial number is 422 at `$.serial`. A `/` in a serial number is
        sent as it is (or as `%2F`)."""
        command = GetSerial(item_id, serial)
        self.render.send(resp, self.inventory.execute(actor_of(req), command))


class PickingResource(Resource):
    """``/v1/picking``: where to pick an item in a warehouse."""

    @operation(
        "suggestPicking",
        summary="Suggest where to pick",
        tag="lots",
        query=SuggestPicking,
        response=PickList,
        errors=(404, 409),
        command=SuggestPicking,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, query: SuggestPicking) -> None:
        """Proposes where to pick `quantity` of an item in a warehouse, after its reservations:
        lots first expired, first out (expired lots are never proposed), then by location code;
        for serial-tracked items, which serial numbers. Nothing is reserved or moved: post the
        shipment (or fulfil the reservation) with these lines. 409 `insufficient-stock` (naming
        the warehouse and what can be picked) when the warehouse cannot cover it; 404 for an
        unknown item; 422 at `$.warehouse_id` when it is not a warehouse."""
        self.render.send(resp, self.inventory.execute(actor_of(req), query))
