"""The movement ledger: post, read as a feed (DESIGN §9), reverse."""

from __future__ import annotations

from uuid import UUID

import falcon

from inventory_core.executor import Response
from inventory_core.feed import FEED_START, FeedPage
from inventory_core.movements import Movement
from inventory_core.ports import MovementQuery
from inventory_core.services.movements import (
    GetMovement,
    ListMovements,
    PostMovement,
    ReverseMovement,
)
from inventory_http.cursors import feed
from inventory_http.dependencies import Resource, actor_of
from inventory_http.operations import Paging, operation
from inventory_http.responses import Renderer
from inventory_http.shapes import Feed

__all__ = ["MovementResource", "MovementsResource", "ReversalResource", "movement_created"]

# The ids of the demo's item WID-RED and bin MAIN-A-01, as docs/http-api.md shows them.
_EXAMPLE_ITEM = "01a212cc-8bc2-72be-9c27-14590446082a"
_EXAMPLE_BIN = "01a212cc-8bc2-72be-9c27-145904460826"


def movement_created(renderer: Renderer, movement: Movement) -> Response:
    """201 with the movement and its ``Location``."""
    return renderer.response(movement, 201, (("Location", f"/v1/movements/{movement.id}"),))


class MovementsResource(Resource):
    """``/v1/movements``: post a movement, read the ledger as a feed."""

    @operation(
        "postMovement",
        summary="Post a movement",
        tag="movements",
        status=201,
        body=PostMovement,
        response=Movement,
        headers=("Location",),
        errors=(409,),
        replayable=True,
        example={
            "kind": "receipt",
            "reference": "PO-1004",
            "lines": [{"item_id": _EXAMPLE_ITEM, "quantity": 12, "to_location_id": _EXAMPLE_BIN}],
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, body: PostMovement) -> None:
        """Posts a receipt, shipment, transfer or adjustment atomically and answers it with its
        `seq`. Outbound stock a location lacks, or that would leave its warehouse's `available`
        negative, is 409 `insufficient-stock` and nothing is posted (loss, damage and count
        adjustments always post)."""
        self.deps.runner.run(
            req, resp, actor_of(req), body, lambda movement: movement_created(self.render, movement)
        )

    @operation(
        "listMovements",
        summary="Read the movement feed",
        tag="movements",
        query=MovementQuery,
        paged="feed",
        retired={"after": "page with cursor, from next_cursor or a page's position"},
        response=Feed[Movement],
        command=ListMovements,
    )
    def on_get(
        self, req: falcon.Request, resp: falcon.Response, query: MovementQuery, paging: Paging
    ) -> None:
        """The ledger in feed order after `cursor`, optionally only movements with a line of an
        item or location. Every page carries its `position`: keep it and send it as `cursor`
        later to get exactly what committed since, never a movement missed or repeated. The old
        `after` parameter is refused (422)."""
        command = ListMovements(
            query, after=FEED_START if paging.after is None else paging.after, limit=paging.limit
        )
        result: FeedPage[Movement] = self.inventory.execute(actor_of(req), command)
        self.render.send(resp, feed(result))


class MovementResource(Resource):
    """``/v1/movements/{movement_id}``: one movement."""

    @operation(
        "getMovement",
        summary="Get a movement",
        tag="movements",
        response=Movement,
        command=GetMovement,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response, movement_id: UUID) -> None:
        """One movement of the ledger, with its lines."""
        self.render.send(resp, self.inventory.execute(actor_of(req), GetMovement(movement_id)))


class ReversalResource(Resource):
    """``/v1/movements/{movement_id}/reversal``: post the mirror of a movement, once."""

    @operation(
        "reverseMovement",
        summary="Reverse a movement",
        tag="movements",
        status=201,
        body=ReverseMovement,
        body_optional=True,
        from_path=("movement_id",),
        response=Movement,
        headers=("Location",),
        errors=(409,),
        replayable=True,
        example={"reference": "PO-1004", "note": "Received against the wrong purchase order"},
    )
    def on_post(
        self,
        req: falcon.Request,
        resp: falcon.Response,
        movement_id: UUID,
        body: ReverseMovement,
    ) -> None:
        """Posts the mirror image of a movement (the body is optional; `reference` defaults to
        the original's). A movement is reversed at most once and a reversal is never reversed:
        both are 409 `invalid-operation`; stock that has moved on since is 409
        `insufficient-stock`."""
        self.deps.runner.run(
            req, resp, actor_of(req), body, lambda movement: movement_created(self.render, movement)
        )
