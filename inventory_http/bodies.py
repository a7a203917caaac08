"""Reading request bodies: size limit, media type, JSON, then the strict converter."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

import attrs
import cattrs
import falcon

from inventory_core.errors import FieldError, ValidationError
from inventory_http.converter import structure
from inventory_http.errors import Problem
from inventory_http.responses import JSON_MEDIA_TYPE

__all__ = ["BodyReader"]

T = TypeVar("T")


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


@attrs.frozen
class BodyReader:
    """Turns request bodies into values: 413 too large, 415 not JSON, 400 malformed, 422 invalid."""

    converter: cattrs.Converter
    max_bytes: int

    def raw(self, req: falcon.Request, *, optional: bool = False) -> bytes:
        """The raw body, within the size limit and of type JSON (415 otherwise). With
        ``optional``, an empty body is allowed and returned as ``b""``. Kept on
        ``req.context.raw_body`` for the idempotency fingerprint."""
        length = req.content_length
        if length is not None and length > self.max_bytes:
            raise self._too_large()
        raw = req.bounded_stream.read(self.max_bytes + 1)
        if len(raw) > self.max_bytes:
            raise self._too_large()
        req.context.raw_body = raw
        if not raw and optional:
            return raw
        media = (req.content_type or "").split(";", 1)[0].strip().lower()
        if media != JSON_MEDIA_TYPE:
            raise Problem(415, "unsupported-media-type", "send the body as application/json")
        return raw

    def read(
        self,
        req: falcon.Request,
        cls: type[T],
        *,
        optional: bool = False,
        from_path: Mapping[str, Any] | None = None,
    ) -> T:
        """The body as a ``cls``. ``from_path`` holds fields of ``cls`` taken from the URL (a
        body that sends them too is refused: the URL says which resource)."""
        raw = self.raw(req, optional=optional)
        data: Any = {}
        if raw or not optional:
            try:
                data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
            except (UnicodeDecodeError, ValueError, RecursionError):
                raise Problem(400, "malformed-json", "the body is not valid UTF-8 JSON") from None
        if from_path and isinstance(data, dict):
            taken = sorted(set(data) & set(from_path))
            if taken:
                raise ValidationError([FieldError("$", "unknown field(s): " + ", ".join(taken))])
            data = {**data, **{name: str(value) for name, value in from_path.items()}}
        return structure(self.converter, data, cls)

    def _too_large(self) -> Problem:
        return Problem(413, "content-too-large", f"bodies are limited to {self.max_bytes} bytes")
