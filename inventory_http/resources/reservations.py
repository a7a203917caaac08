"""Reservations: reserve, list, read, release, fulfil."""

from __future__ import annotations

from uuid import UUID

import falcon

from inventory_core.executor import Response
from inventory_core.ports import ReservationQuery
from inventory_core.reservations import Reservation, ReservationStatus
from inventory_core.services.reservations import (
    FulfilmentLine,
    FulfilReservation,
    GetReservation,
    ListReservations,
    ReleaseReservation,
    ReserveStock,
)
from inventory_http.dto import FulfilmentBody, ReservationBody
from inventory_http.resources import _views as views
from inventory_http.resources._common import (
    Query,
    Resource,
    actor_of,
    json_response,
    page,
    read_body,
    send_json,
)
from inventory_http.resources.movements import movement_created

__all__ = ["FulfilmentResource", "ReservationResource", "ReservationsResource"]


class ReservationsResource(Resource):
    """``POST`` reserves stock (clerk); ``GET`` lists reservations."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """201 with the reservation; 409 insufficient-stock."""
        actor = actor_of(req)
        body = read_body(req, self.ctx.deps, ReservationBody)
        command = ReserveStock(
            item_id=body.item_id,
            warehouse_id=body.warehouse_id,
            quantity=body.quantity,
            reference=body.reference,
            expires_at=body.expires_at,
        )

        def render(reservation: Reservation) -> Response:
            view = views.reservation(reservation, self.inventory.clock.now())
            return json_response(view, 201, (("Location", f"/v1/reservations/{reservation.id}"),))

        self.ctx.runner.run(req, resp, actor, command, render)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Reservations in creation order, by item, warehouse, status or reference."""
        actor = actor_of(req)
        query = Query(req)
        filters = ReservationQuery(
            item_id=query.uuid("item_id"),
            warehouse_id=query.uuid("warehouse_id"),
            status=query.choice("status", ReservationStatus),
            reference=query.text("reference"),
        )
        limit, after = query.limit(), query.cursor("id")
        query.check()
        result = self.inventory.execute(actor, ListReservations(filters, after=after, limit=limit))
        now = self.inventory.clock.now()
        send_json(resp, page([views.reservation(r, now) for r in result.items], result.next_after))


class ReservationResource(Resource):
    """``GET`` one reservation; ``DELETE`` releases it (clerk)."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, reservation_id: UUID) -> None:
        """The reservation, its status as of now."""
        reservation = self.inventory.execute(actor_of(req), GetReservation(reservation_id))
        send_json(resp, views.reservation(reservation, self.inventory.clock.now()))

    def on_delete(self, req: falcon.Request, resp: falcon.Response, reservation_id: UUID) -> None:
        """204 released; 409 if it is no longer active."""
        self.inventory.execute(actor_of(req), ReleaseReservation(reservation_id))
        resp.status = 204


class FulfilmentResource(Resource):
    """``POST /v1/reservations/{id}/fulfilment``: ship it from named locations (clerk)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, reservation_id: UUID) -> None:
        """201 with the shipment movement."""
        actor = actor_of(req)
        body = read_body(req, self.ctx.deps, FulfilmentBody)
        command = FulfilReservation(
            reservation_id,
            lines=[
                FulfilmentLine(location_id=x.location_id, quantity=x.quantity) for x in body.lines
            ],
            reference=body.reference,
            note=body.note,
        )

        self.ctx.runner.run(req, resp, actor, command, movement_created)
