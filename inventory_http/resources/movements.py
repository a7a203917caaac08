"""The movement ledger: post, read in ``seq`` order, reverse."""

from __future__ import annotations

from uuid import UUID

import falcon

from inventory_core.errors import ValidationError
from inventory_core.movements import Movement
from inventory_core.ports import MovementQuery, UnitOfWork
from inventory_core.services.movements import LineRequest, PostMovement, ReverseMovement
from inventory_http.dto import MovementBody, ReversalBody
from inventory_http.idempotency import Rendered
from inventory_http.resources import _views as views
from inventory_http.resources._common import (
    Query,
    Resource,
    actor_of,
    json_rendered,
    page,
    read_body,
    send_json,
)

__all__ = ["MovementResource", "MovementsResource", "ReversalResource", "movement_created"]

MAX_SEQ = 2**63 - 1


def movement_created(movement: Movement) -> Rendered:
    """201 with the movement and its ``Location``."""
    return json_rendered(
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

        def action(uow: UnitOfWork) -> Rendered:
            return movement_created(self.inventory.post_movement(actor, command, uow=uow))

        self.ctx.runner.run(req, resp, actor, action)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Movements in ascending ``seq``: ``after`` (a seq) or ``cursor``, not both."""
        actor = actor_of(req)
        query = Query(req)
        filters = MovementQuery(
            item_id=query.uuid("item_id"), location_id=query.uuid("location_id")
        )
        after_seq = query.integer("after", 0, MAX_SEQ)
        cursor = query.cursor("seq")
        limit = query.limit()
        query.check()
        if after_seq is not None and cursor is not None:
            raise ValidationError("give after or cursor, not both", "$.cursor")
        after = cursor if cursor is not None else (after_seq or 0)
        result = self.inventory.list_movements(actor, filters, after=after, limit=limit)
        send_json(resp, page([views.movement(m) for m in result.items], result.next_after))


class MovementResource(Resource):
    """``GET /v1/movements/{id}``."""

    def on_get(self, req: falcon.Request, resp: falcon.Response, movement_id: UUID) -> None:
        """One movement."""
        send_json(resp, views.movement(self.inventory.get_movement(actor_of(req), movement_id)))


class ReversalResource(Resource):
    """``POST /v1/movements/{id}/reversal`` (manager): post the mirror of a movement, once."""

    def on_post(self, req: falcon.Request, resp: falcon.Response, movement_id: UUID) -> None:
        """201 with the reversing movement; 409 if already reversed or stock no longer allows."""
        actor = actor_of(req)
        body = read_body(req, self.ctx.deps, ReversalBody, optional=True)
        command = ReverseMovement(reference=body.reference, note=body.note)

        def action(uow: UnitOfWork) -> Rendered:
            reversal = self.inventory.reverse_movement(actor, movement_id, command, uow=uow)
            return movement_created(reversal)

        self.ctx.runner.run(req, resp, actor, action)
