"""``GET /openapi.json``: the OpenAPI 3.1 document of the API."""

from __future__ import annotations

from typing import Any

import falcon

from inventory_http.resources._common import dump

__all__ = ["OpenApiResource"]


class OpenApiResource:
    """Serves the document built at app creation (it never changes while the app runs)."""

    public_methods = frozenset({"GET"})

    def __init__(self, document: dict[str, Any]) -> None:
        self._body = dump(document)

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        """The document as JSON."""
        resp.content_type = "application/json"
        resp.data = self._body
