"""Reading request bodies: size limit, media type, JSON, then the strict converter.

A body without ``Content-Length`` (``Transfer-Encoding: chunked``) is read to its end, up to the
size limit: Falcon's ``bounded_stream`` takes a missing length for an empty body. JSON objects
that repeat a key are refused (422, with the key's path) rather than letting the last one win:
parsers disagree on which one counts, which lets a request mean one thing to a proxy or a log
and another here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
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


class _Repeated(dict[str, Any]):
    """A JSON object that named some of its keys more than once (``repeated``)."""

    repeated: tuple[str, ...] = ()


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """``object_pairs_hook`` of the parser: the object, marked when a key repeats."""
    obj = dict(pairs)
    if len(obj) == len(pairs):
        return obj
    seen: set[str] = set()
    repeated: list[str] = []
    for key, _ in pairs:
        if key in seen and key not in repeated:
            repeated.append(key)
        seen.add(key)
    marked = _Repeated(obj)
    marked.repeated = tuple(repeated)
    return marked


def _repeated_paths(value: Any, path: str = "$") -> Iterator[str]:
    """The path of every repeated key in a parsed document, in document order."""
    if isinstance(value, dict):
        for key in getattr(value, "repeated", ()):
            yield f"{path}.{key}"
        for key, inner in value.items():
            yield from _repeated_paths(inner, f"{path}.{key}")
    elif isinstance(value, list):
        for index, inner in enumerate(value):
            yield from _repeated_paths(inner, f"{path}[{index}]")


def _loads(raw: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN or Infinity (400), no repeated key at any depth (422)."""
    repeated = False

    def hook(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        nonlocal repeated
        obj = _object(pairs)
        repeated = repeated or isinstance(obj, _Repeated)
        return obj

    try:
        data = json.loads(
            raw.decode("utf-8"), parse_constant=_reject_constant, object_pairs_hook=hook
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Problem(400, "malformed-json", "the body is not valid UTF-8 JSON") from None
    if repeated:  # walked only then: the common case costs nothing more
        raise ValidationError(
            [FieldError(path, "is given more than once") for path in _repeated_paths(data)]
        )
    return data


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
        if length is None and req.env.get("wsgi.input_terminated"):
            raw = self._read_to_end(req)
        else:
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
            data = _loads(raw)
        if from_path and isinstance(data, dict):
            taken = sorted(set(data) & set(from_path))
            if taken:
                raise ValidationError([FieldError("$", "unknown field(s): " + ", ".join(taken))])
            data = {**data, **{name: str(value) for name, value in from_path.items()}}
        return structure(self.converter, data, cls)

    def _read_to_end(self, req: falcon.Request) -> bytes:
        """A body of unknown length (chunked), read until the stream ends or the limit is
        passed by a byte. Only where the server says the stream ends with the body
        (``wsgi.input_terminated``, as gunicorn does): elsewhere, reading a body of unknown
        length may wait for bytes that never come."""
        chunks: list[bytes] = []
        left = self.max_bytes + 1
        while left > 0:
            chunk = req.stream.read(left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    def _too_large(self) -> Problem:
        return Problem(413, "content-too-large", f"bodies are limited to {self.max_bytes} bytes")
