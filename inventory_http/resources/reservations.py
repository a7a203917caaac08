"""Reservations: reserve, list, read, release, fulfil.

A reservation is shown with its status as of now: an overdue active one reads ``expired``
before the sweeper has stored it so."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs
import falcon

from inventory_core.executor import Response
from inventory_core.movements import Movement
from inventory_core.paging import Page
from inventory_core.ports import ReservationQuery
from inventory_core.reservations import Reservation
from inventory_core.services.reservations import (
    FulfilReservation,
    GetReservation,
    ListReservations,
    ReleaseReservation,
    ReserveStock,
)
from inventory_http.cursors import collection
from inventory_http.dependencies import Resource, actor_of
from inventory_http.operations import Paging, operation
from inventory_http.resources.movements import movement_created
from inventory_http.shapes import Collection

__all__ = ["FulfilmentResource", "ReservationResource", "ReservationsResource"]

# The ids of the demo's item WID-RED and bin MAIN-A-01, as docs/http-api.md shows them; the
# warehouse's id is not shown there.
_EXAMPLE_ITEM = "01a212cc-8bc2-72be-9c27-14590446082a"
_EXAMPLE_BIN = "01a212cc-8bc2-72be-9c27-145904460826"
_EXAMPLE_WAREHOUSE = "0190a8e4-3b6c-7d4e-9f10-123456789abc"


def as_of(reservation: Reservation, now: datetime) -> Reservation:
    """``reservation`` with its effective status at ``now`` (an overdue active one is
    ``expired``)."""
    return attrs.evolve(reservation, status=reservation.effective_status(now))


class ReservationsResource(Resource):
    """``/v1/reservations``: reserve stock, list reservations."""

    @operation(
        "reserveStock",
        summary="Reserve stock",
        tag="reservations",
        status=201,
        body=ReserveStock,
        response=Reservation,
        headers=("Location",),
        errors=(409,),
        replayable=True,
        example={
            "item_id": _EXAMPLE_ITEM,
            "warehouse_id": _EXAMPLE_WAREHOUSE,
            "quantity": 5,
            "reference": "SO-5001",
            "expires_at": "2026-11-26T13:00:00Z",
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, body: ReserveStock) -> None:
        """Sets a quantity of an item aside in a warehouse, optionally until `expires_at`. More
        than the warehouse's `available` is 409 `insufficient-stock` and nothing is reserved."""

        def render(reservation: Reservation) -> Response:
            headers = (("Location", f"/v1/reservations/{reservation.id}"),)
            return self.render.response(
                as_of(reservation, self.inventory.clock.now()), 201, headers
            )

        self.deps.runner.run(req, resp, actor_of(req), body, render)

    @operation(
        "listReservations",
        summary="List reservations",
        tag="reservations",
        query=ReservationQuery,
        paged="id",
        response=Collection[Reservation],
        command=ListReservations,
    )
    def on_get(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        query: ReservationQuery,
        paging: Paging,
    ) -> None:
        """Reservations in creation order, filtered by item, warehouse, stored status or
        reference; each shows its `status` as of now."""
        command = ListReservations(query, after=paging.after, limit=paging.limit)
        result: Page[Reservation, UUID] = self.inventory.execute(actor_of(req), command)
        now = self.inventory.clock.now()
        page = collection(result)
        self.render.send(resp, attrs.evolve(page, data=tuple(as_of(r, now) for r in page.data)))


class ReservationResource(Resource):
    """``/v1/reservations/{reservation_id}``: read one reservation, release it."""

    @operation(
        "getReservation",
        summary="Get a reservation",
        tag="reservations",
        response=Reservation,
        command=GetReservation,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, reservation_id: UUID) -> None:
        """The reservation, its `status` as of now (an overdue active one reads `expired`)."""
        reservation = self.inventory.execute(actor_of(req), GetReservation(reservation_id))
        self.render.send(resp, as_of(reservation, self.inventory.clock.now()))

    @operation(
        "releaseReservation",
        summary="Release a reservation",
        tag="reservations",
        status=204,
        errors=(409,),
        command=ReleaseReservation,
    )
    def on_delete(self, req: falcon.Request, resp: falcon.Response, reservation_id: UUID) -> None:
        """Gives the reserved quantity back to the warehouse's `available`. A reservation that is
        no longer active (released, fulfilled or expired) is 409 `invalid-operation`."""
        self.inventory.execute(actor_of(req), ReleaseReservation(reservation_id))
        resp.status = 204


class FulfilmentResource(Resource):
    """``/v1/reservations/{reservation_id}/fulfilment``: ship a reservation."""

    @operation(
        "fulfilReservation",
        summary="Ship a reservation",
        tag="reservations",
        status=201,
        body=FulfilReservation,
        from_path=("reservation_id",),
        response=Movement,
        headers=("Location",),
        errors=(409,),
        replayable=True,
        example={"lines": [{"location_id": _EXAMPLE_BIN, "quantity": 5}], "reference": "SO-5001"},
    )
    def on_post(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        reservation_id: UUID,
        body: FulfilReservation,
    ) -> None:
        """Ships the reserved quantity from named locations of its warehouse and consumes the
        reservation in one transaction, answering the shipment movement. The lines must add up
        to the reserved quantity (else 422); a reservation no longer active is 409
        `invalid-operation`, and stock missing at a location 409 `insufficient-stock`."""
        self.deps.runner.run(
            req, resp, actor_of(req), body, lambda movement: movement_created(self.render, movement)
        )
