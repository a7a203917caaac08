"""``GET /openapi.json``: the OpenAPI 3.1 document of the API."""

from __future__ import annotations

from typing import Any

import falcon

from inventory_http.operations import operation
from inventory_http.responses import JSON_MEDIA_TYPE, dump

__all__ = ["OpenApiResource"]


class OpenApiResource:
    """Serves the document built at app creation (it never changes while the app runs).

    The document describes the route table this resource is part of, so it can be handed in
    after construction with :meth:`serve` (or directly to the constructor)."""

    def __init__(self, document: dict[str, Any] | None = None) -> None:
        self._body: bytes | None = None
        if document is not None:
            self.serve(document)

    def serve(self, document: dict[str, Any]) -> None:
        """Serve ``document`` from now on (serialised once, here)."""
        self._body = dump(document)

    @operation(
        "openapi",
        summary="Get the OpenAPI document",
        tag="health",
        public=True,
    )
    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """This OpenAPI 3.1 document, as JSON (any JSON object: it has no schema of its own
        here). It lists every operation the server serves, generated from the same
        declarations the server runs."""
        if self._body is None:  # create_app serves the document before adding the route
            raise RuntimeError("the OpenAPI document was never handed to serve()")
        resp.content_type = JSON_MEDIA_TYPE
        resp.data = self._body
