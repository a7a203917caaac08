"""Writing responses: the one JSON serialisation of bodies, and how values become JSON."""

from __future__ import annotations

import json
from typing import Any

import falcon

from inventory_core.executor import Response
from inventory_core.present import present

__all__ = ["JSON_MEDIA_TYPE", "Renderer", "dump", "json_response", "send_json"]

JSON_MEDIA_TYPE = "application/json"


def dump(value: Any) -> bytes:
    """Compact JSON bytes (the API's only serialisation of response bodies)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


class Renderer:
    """Turns the core's entities and the HTTP shapes into JSON bytes (public fields only), by
    :func:`inventory_core.present.present` -- the same code that writes events' ``data``."""

    def json(self, value: Any) -> Any:
        """``value`` as JSON values (dicts, lists, strings, numbers)."""
        return present(value)

    def send(self, resp: falcon.Response, value: Any, status: int = 200) -> None:
        """Answer ``value`` as JSON with ``status``."""
        send_json(resp, self.json(value), status)

    def response(
        self, value: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
    ) -> Response:
        """``value`` as a response the executor can store for replays."""
        return json_response(self.json(value), status, headers)


def send_json(resp: falcon.Response, value: Any, status: int = 200) -> None:
    """Answer the JSON value ``value`` with ``status``."""
    resp.status = status
    resp.content_type = JSON_MEDIA_TYPE
    resp.data = dump(value)


def json_response(
    value: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    """A JSON response, as the executor stores it for replays (Content-Type among the headers)."""
    return Response(status, dump(value), (("Content-Type", JSON_MEDIA_TYPE), *headers))
