"""The movement ledger: post, read as a feed (DESIGN §9), reverse."""

from __future__ import annotations

from uuid import UUID

import falcon

from inventory_core.executor import Response
from inventory_core.feed import FEED_START
from inventory_core.movements import Movement
from inventory_core.ports import MovementQuery
from inventory_core.services.movements import (
    GetMovement,
    LineRequest,
    ListMovements,
    PostMovement,
    ReverseMovement,
)
from inventory_http.dto import MovementBody, ReversalBody
from inventory_http.resources import _views as views
from inventory_http.resources._common import (
    Query,
    Resource,
    actor_of,
    feed_page,
    json_response,
    read_body,
    send_json,
)

__all__ = ["MovementResource", "MovementsResource", "ReversalResource", "movement_created"]


def movement_created(movement: Movement) -> Response:
    """201 with the movement and its ``Location``."""
    return json_response(
        views.movement(movement), 201, (("Location", f"/v1/movements/{movement.id}"),)
    )


class MovementsResource(Resource):
    """``POST`` posts a movement (clerk); ``GET`` reads the ledger after a ``seq``."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """201 with the movement and its ``seq``; 409 insufficient-stock."""
        actor = actor_of(req)
        body = read_body(req, self.ctx.deps, MovementBody)
        command = PostMovement(
            kind=body.kind,
            lines=[
                LineRequest(
                    item_id=line.item_id,
                    quantity=line.quantity,
                    from_location_id=line.from_location_id,
                    to_location_id=line.to_location_id,
                )
                for line in body.lines
            ],
            reference=body.reference,
            note=body.note,
            reason=body.reason,
            occurred_at=body.occurred_at,
        )

        self.ctx.runner.run(req, resp, actor, command, movement_created)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The ledger in feed order after ``cursor``: every page says its ``position``, the
        cursor to resume from later (DESIGN §9)."""
        actor = actor_of(req)
        query = Query(req)
        filters = MovementQuery(
            item_id=query.uuid("item_id"), location_id=query.uuid("location_id")
        )
        cursor = query.cursor("feed")
        query.retired("after", "page with cursor, from next_cursor or a page's position")
        limit = query.limit()
        query.check()
        command = ListMovements(filters, after=cursor or FEED_START, limit=limit)
        result = self.inventory.execute(actor, command)
        send_json(resp, feed_page([views.movement(m) for m in result.items], result))


class MovementResource(Resource):
    """``GET /v1/movements/{id}``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, movement_id: UUID) -> None:
        """One movement."""
        send_json(
            resp, views.movement(self.inventory.execute(actor_of(req), GetMovement(movement_id)))
        )


class ReversalResource(Resource):
    """``POST /v1/movements/{id}/reversal`` (manager): post the mirror of a movement, once."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, movement_id: UUID) -> None:
        """201 with the reversing movement; 409 if already reversed or stock no longer allows."""
        actor = actor_of(req)
        body = read_body(req, self.ctx.deps, ReversalBody, optional=True)
        command = ReverseMovement(movement_id, reference=body.reference, note=body.note)

        self.ctx.runner.run(req, resp, actor, command, movement_created)
