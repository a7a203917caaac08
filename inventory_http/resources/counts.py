"""Stocktakes: ``POST /v1/counts``."""

from __future__ import annotations

import falcon

from inventory_core.counts import CountResult
from inventory_core.executor import Response
from inventory_core.services.counts import CountStock
from inventory_http.dependencies import Resource, actor_of
from inventory_http.operations import operation

__all__ = ["CountsResource"]

# The ids of the demo's item WID-RED and bin MAIN-A-01, as docs/http-api.md shows them.
_EXAMPLE_ITEM = "01a212cc-8bc2-72be-9c27-14590446082a"
_EXAMPLE_BIN = "01a212cc-8bc2-72be-9c27-145904460826"


class CountsResource(Resource):
    """``/v1/counts``: post a stocktake."""

    @operation(
        "postCount",
        summary="Post a stocktake",
        tag="counts",
        status=201,
        body=CountStock,
        response=CountResult,
        errors=(409,),
        replayable=True,
        example={
            "lines": [
                {
                    "item_id": _EXAMPLE_ITEM,
                    "location_id": _EXAMPLE_BIN,
                    "counted": 60,
                    "expected_on_hand": 62,
                }
            ],
            "reference": "STOCKTAKE-2026-11",
        },
    )
    def on_post(self, req: falcon.Request, resp: falcon.Response, body: CountStock) -> None:
        """Posts the differences between what was counted and what is on hand as one `count`
        adjustment; `movement` is `null` when everything matched. If any line's
        `expected_on_hand` no longer matches (stock moved while counting), nothing is posted
        and the answer is 409 `count-conflict` listing every such line in `conflicts`."""

        def render(result: CountResult) -> Response:
            return self.render.response(result, 201)

        self.deps.runner.run(req, resp, actor_of(req), body, render)
