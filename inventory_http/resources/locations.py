"""Locations: warehouses and the internal locations of their trees."""

from __future__ import annotations

from uuid import UUID

import falcon

from inventory_core.executor import Response
from inventory_core.locations import Location, LocationKind
from inventory_core.ports import LocationQuery
from inventory_core.services.locations import (
    ChangeLocation,
    CreateLocation,
    GetLocation,
    ListLocations,
    LocationChanges,
)
from inventory_http.dto import ChangeLocationBody, CreateLocationBody
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

__all__ = ["LocationResource", "LocationsResource"]


class LocationsResource(Resource):
    """``POST`` creates a location (manager); ``GET`` lists by parent, kind or warehouse."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """201 with ``Location`` and ``ETag``; 409 for a taken code."""
        actor = actor_of(req)
        body = read_body(req, self.ctx.deps, CreateLocationBody)
        command = CreateLocation(
            code=body.code, name=body.name, kind=body.kind, parent_id=body.parent_id
        )

        def render(location: Location) -> Response:
            headers = (
                ("Location", f"/v1/locations/{location.id}"),
                ("ETag", views.etag(location.version)),
            )
            return json_response(views.location(location), 201, headers)

        self.ctx.runner.run(req, resp, actor, command, render)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Locations in creation order (the three virtual ones included)."""
        actor = actor_of(req)
        query = Query(req)
        filters = LocationQuery(
            parent_id=query.uuid("parent_id"),
            kind=query.choice("kind", LocationKind),
            warehouse_id=query.uuid("warehouse_id"),
        )
        limit, after = query.limit(), query.cursor("id")
        query.check()
        result = self.inventory.execute(actor, ListLocations(filters, after=after, limit=limit))
        send_json(resp, page([views.location(x) for x in result.items], result.next_after))


class LocationResource(Resource):
    """``GET`` (``If-None-Match`` → 304) and ``PATCH`` (``If-Match`` → 412) one location."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, location_id: UUID) -> None:
        """The location with its ``ETag``."""
        location = self.inventory.execute(actor_of(req), GetLocation(location_id))
        send_versioned(req, resp, location.version, lambda: views.location(location))

    def on_patch(self, req: falcon.Request, resp: falcon.Response, location_id: UUID) -> None:
        """Rename, recode, (de)activate, or move within the warehouse."""
        actor = actor_of(req)
        body = read_body(req, self.ctx.deps, ChangeLocationBody)
        expected = if_match_version(
            req, lambda: self.inventory.execute(actor, GetLocation(location_id)).version
        )
        changes = LocationChanges(
            code=body.code, name=body.name, parent_id=body.parent_id, active=body.active
        )
        location = self.inventory.execute(
            actor, ChangeLocation(location_id, changes, expected_version=expected)
        )
        send_versioned(
            req, resp, location.version, lambda: views.location(location), conditional=False
        )
