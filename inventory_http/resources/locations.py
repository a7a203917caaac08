"""Locations: warehouses and the internal locations of their trees (with ETags)."""

from __future__ import annotations

from uuid import UUID

import falcon

from inventory_core.executor import Response
from inventory_core.locations import Location
from inventory_core.paging import Page
from inventory_core.ports import LocationQuery
from inventory_core.services.locations import (
    ChangeLocation,
    CreateLocation,
    GetLocation,
    ListLocations,
    LocationChanges,
)
from inventory_http.conditional import etag, if_match_version
from inventory_http.cursors import collection
from inventory_http.dependencies import Resource, actor_of
from inventory_http.operations import Paging, operation
from inventory_http.shapes import Collection

__all__ = ["LocationResource", "LocationsResource"]


class LocationsResource(Resource):
    """``/v1/locations``: create a location, list locations."""

    @operation(
        "createLocation",
        summary="Create a location",
        tag="locations",
        status=201,
        body=CreateLocation,
        response=Location,
        headers=("Location", "ETag"),
        errors=(409,),
        replayable=True,
        example={
            "code": "MAIN-C-01",
            "name": "Aisle C, bin 01",
            "kind": "internal",
            "parent_id": "0190a8e4-3b6c-7d4e-9f10-123456789abc",
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, body: CreateLocation) -> None:
        """Creates a warehouse (no `parent_id`) or an internal location inside a warehouse's
        tree (with one). Codes are unique across all locations: a taken one is 409
        `already-exists` naming the `field`. The virtual locations (`supplier`, `customer`,
        `adjustment`) come with the system and cannot be created."""

        def render(location: Location) -> Response:
            headers = (
                ("Location", f"/v1/locations/{location.id}"),
                ("ETag", etag(location.version)),
            )
            return self.render.response(location, 201, headers)

        self.deps.runner.run(req, resp, actor_of(req), body, render)

    @operation(
        "listLocations",
        summary="List locations",
        tag="locations",
        query=LocationQuery,
        paged="id",
        response=Collection[Location],
        command=ListLocations,
    )
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, query: LocationQuery, paging: Paging
    ) -> None:
        """Locations in creation order, the three virtual ones included, filtered by parent,
        kind or warehouse."""
        command = ListLocations(query, after=paging.after, limit=paging.limit)
        result: Page[Location, UUID] = self.inventory.execute(actor_of(req), command)
        self.render.send(resp, collection(result))


class LocationResource(Resource):
    """``/v1/locations/{location_id}``: read and change one location."""

    @operation(
        "getLocation",
        summary="Get a location",
        tag="locations",
        response=Location,
        headers=("ETag",),
        conditional=True,
        command=GetLocation,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, location_id: UUID) -> None:
        """The location, with its version as `ETag`; `If-None-Match` with that tag answers
        304."""
        location = self.inventory.execute(actor_of(req), GetLocation(location_id))
        self.send_versioned(req, resp, location, conditional=True)

    @operation(
        "changeLocation",
        summary="Change a location",
        tag="locations",
        body=LocationChanges,
        response=Location,
        headers=("ETag",),
        errors=(409,),
        conditional=True,
        command=ChangeLocation,
        example={"name": "Aisle A, bin 01 (top shelf)"},
    )
    def on_patch(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        location_id: UUID,
        body: LocationChanges,
    ) -> None:
        """Changes the fields sent and leaves the others: rename, recode, (de)activate, or move
        an internal location under another location of the same warehouse. With `If-Match`, the
        change applies only to that version (else 412). A taken code is 409 `already-exists`;
        changing a virtual location is 409 `invalid-operation`."""
        actor = actor_of(req)
        expected = if_match_version(
            req, lambda: self.inventory.execute(actor, GetLocation(location_id)).version
        )
        location = self.inventory.execute(
            actor, ChangeLocation(location_id, body, expected_version=expected)
        )
        self.send_versioned(req, resp, location)
