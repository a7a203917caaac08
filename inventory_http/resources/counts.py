"""Stocktakes: ``POST /v1/counts``."""

from __future__ import annotations

import falcon

from inventory_core.counts import CountLine, CountResult
from inventory_core.executor import Response
from inventory_core.services.counts import CountStock
from inventory_http.dto import CountBody
from inventory_http.resources import _views as views
from inventory_http.resources._common import Resource, actor_of, json_response, read_body

__all__ = ["CountsResource"]


class CountsResource(Resource):
    """Post a count (clerk): 201 ``{movement | null, conflicts: []}``; 409 with the conflicting
    lines when stock moved while counting (nothing is posted then)."""

    def on_post(self, req: falcon.Request, resp: falcon.Response) -> None:
        """Post the differences as one count adjustment."""
        actor = actor_of(req)
        body = read_body(req, self.ctx.deps, CountBody)
        command = CountStock(
            lines=[
                CountLine(
                    item_id=x.item_id,
                    location_id=x.location_id,
                    counted=x.counted,
                    expected_on_hand=x.expected_on_hand,
                )
                for x in body.lines
            ],
            note=body.note,
            reference=body.reference,
        )

        def render(result: CountResult) -> Response:
            return json_response(views.count_result(result), 201)

        self.ctx.runner.run(req, resp, actor, command, render)
