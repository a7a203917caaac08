"""What every resource shares: reading bodies, reading query parameters, cursors, JSON out."""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Callable
from typing import Any, TypeVar
from uuid import UUID

import attrs
import cattrs
import falcon

from inventory_core.errors import FieldError, InventoryError, ValidationError
from inventory_core.executor import Executor, Response
from inventory_core.feed import FeedPage, FeedPosition
from inventory_core.paging import MAX_PAGE_SIZE
from inventory_core.ports import LoginThrottle, SessionStore
from inventory_core.users import Actor
from inventory_http.converter import StrictValueError, parse_uuid, structure
from inventory_http.errors import Problem
from inventory_http.idempotency import IdempotentRunner
from inventory_http.resources._views import etag

__all__ = [
    "JSON_CONTENT_TYPE",
    "AppContext",
    "Deps",
    "Query",
    "Resource",
    "actor_of",
    "decode_cursor",
    "dump",
    "encode_cursor",
    "feed_page",
    "if_match_version",
    "json_response",
    "not_modified",
    "page",
    "read_body",
    "read_raw",
    "send_json",
]

T = TypeVar("T")
E = TypeVar("E", bound=enum.Enum)

JSON_CONTENT_TYPE = "application/json"
DEFAULT_PAGE_SIZE = 50


@attrs.frozen
class Deps:
    """What resources need to turn request bodies into values."""

    converter: cattrs.Converter
    max_body_bytes: int


def actor_of(req: falcon.Request) -> Actor:
    """The authenticated actor (the session middleware guarantees one on non-public methods)."""
    actor = req.context.actor
    if not isinstance(actor, Actor):  # a resource declared a method public by mistake
        raise Problem(401, "unauthenticated", "log in first (POST /v1/session)")
    return actor


def _reject_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def read_raw(req: falcon.Request, deps: Deps, *, optional: bool = False) -> bytes:
    """The raw body, within the size limit and of type JSON (415 otherwise). With ``optional``,
    an empty body is allowed and returned as ``b""``. Kept on ``req.context.raw_body`` for the
    idempotency fingerprint."""
    length = req.content_length
    if length is not None and length > deps.max_body_bytes:
        raise Problem(
            413, "content-too-large", f"bodies are limited to {deps.max_body_bytes} bytes"
        )
    raw = req.bounded_stream.read(deps.max_body_bytes + 1)
    if len(raw) > deps.max_body_bytes:
        raise Problem(
            413, "content-too-large", f"bodies are limited to {deps.max_body_bytes} bytes"
        )
    req.context.raw_body = raw
    if not raw and optional:
        return raw
    media = (req.content_type or "").split(";", 1)[0].strip().lower()
    if media != JSON_CONTENT_TYPE:
        raise Problem(415, "unsupported-media-type", "send the body as application/json")
    return raw


def read_body(req: falcon.Request, deps: Deps, cls: type[T], *, optional: bool = False) -> T:
    """The request body as ``cls``: 413 too large, 415 not JSON, 400 malformed, 422 invalid."""
    raw = read_raw(req, deps, optional=optional)
    if not raw and optional:
        return structure(deps.converter, {}, cls)
    try:
        data = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise Problem(400, "malformed-json", "the body is not valid UTF-8 JSON") from None
    return structure(deps.converter, data, cls)


def dump(value: Any) -> bytes:
    """Compact JSON bytes (the API's only serialisation of response bodies)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def send_json(resp: falcon.Response, value: Any, status: int = 200) -> None:
    """Answer ``value`` as JSON with ``status``."""
    resp.status = status
    resp.content_type = JSON_CONTENT_TYPE
    resp.data = dump(value)


# ---------------------------------------------------------------- cursors


def encode_cursor(after: object) -> str | None:
    """An opaque cursor for a page's ``next_after`` (UUID, feed position or (UUID, UUID) key)."""
    if after is None:
        return None
    if isinstance(after, FeedPosition):
        payload: list[Any] = ["feed", after.txn, after.seq]
    elif isinstance(after, UUID):
        payload = ["id", str(after)]
    elif isinstance(after, tuple) and len(after) == 2:
        payload = ["key", str(after[0]), str(after[1])]
    else:
        raise TypeError(f"no cursor encoding for {after!r}")
    return base64.urlsafe_b64encode(dump(payload)).decode().rstrip("=")


def decode_cursor(cursor: str, kind: str) -> Any:
    """The keyset value inside ``cursor``, which must be of ``kind`` ("id", "feed" or "key");
    ValidationError (422) for anything the server did not issue."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        payload = json.loads(raw.decode("utf-8"))
        if not isinstance(payload, list) or not payload or payload[0] != kind:
            raise ValueError("wrong kind")
        if kind == "id" and len(payload) == 2:
            return parse_uuid(payload[1])
        if kind == "key" and len(payload) == 3:
            return (parse_uuid(payload[1]), parse_uuid(payload[2]))
        if kind == "feed" and len(payload) == 3 and all(type(n) is int for n in payload[1:]):
            return FeedPosition(payload[1], payload[2])
        raise ValueError("wrong shape")
    except (
        ValueError,
        binascii.Error,
        UnicodeDecodeError,
        StrictValueError,
        RecursionError,
        InventoryError,  # a feed position out of range
    ):
        raise ValidationError("is not a cursor this API issued", "$.cursor") from None


# ---------------------------------------------------------------- query parameters


class Query:
    """Reads query parameters strictly and reports every problem at once (422).

    Use the getters, then :meth:`check`, which raises ValidationError if any parameter was bad.
    """

    def __init__(self, req: falcon.Request) -> None:
        self._params = req.params
        self._errors: list[FieldError] = []

    def _raw(self, name: str) -> str | None:
        value = self._params.get(name)
        if isinstance(value, list):
            self._errors.append(FieldError(f"$.{name}", "must be given at most once"))
            return None
        return value

    def _parse(self, name: str, parse: Callable[[str], T]) -> T | None:
        raw = self._raw(name)
        if raw is None:
            return None
        try:
            return parse(raw)
        except (StrictValueError, ValueError) as exc:
            self._errors.append(FieldError(f"$.{name}", str(exc)))
            return None

    def text(self, name: str) -> str | None:
        """A string parameter (empty means absent)."""
        raw = self._raw(name)
        if raw is not None and "\x00" in raw:
            self._errors.append(FieldError(f"$.{name}", "must not contain NUL characters"))
            return None
        return raw or None

    def uuid(self, name: str) -> UUID | None:
        """A UUID parameter."""
        return self._parse(name, parse_uuid)

    def boolean(self, name: str) -> bool | None:
        """``true`` or ``false``."""

        def parse(raw: str) -> bool:
            if raw not in {"true", "false"}:
                raise StrictValueError("must be true or false")
            return raw == "true"

        return self._parse(name, parse)

    def integer(self, name: str, low: int, high: int) -> int | None:
        """A decimal integer in ``low..high``."""

        def parse(raw: str) -> int:
            if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
                raise StrictValueError(f"must be an integer between {low} and {high}")
            value = int(raw)
            if not low <= value <= high:
                raise StrictValueError(f"must be an integer between {low} and {high}")
            return value

        return self._parse(name, parse)

    def choice(self, name: str, cls: type[E]) -> E | None:
        """One of an enum's values."""

        def parse(raw: str) -> E:
            for member in cls:
                if member.value == raw:
                    return member
            raise StrictValueError("must be one of " + ", ".join(str(m.value) for m in cls))

        return self._parse(name, parse)

    def limit(self) -> int:
        """``limit``: 1..500, default 50."""
        return self.integer("limit", 1, MAX_PAGE_SIZE) or DEFAULT_PAGE_SIZE

    def cursor(self, kind: str) -> Any:
        """The keyset value of ``cursor`` (None when absent)."""
        raw = self._raw("cursor")
        if not raw:
            return None
        try:
            return decode_cursor(raw, kind)
        except ValidationError as exc:
            self._errors.extend(exc.errors)
            return None

    def retired(self, name: str, instead: str) -> None:
        """A parameter the API no longer takes: refused with what to use ``instead``, never
        silently ignored (a client relying on it would get something else than it asks for)."""
        if name in self._params:
            self._errors.append(FieldError(f"$.{name}", f"is no longer supported; {instead}"))

    def check(self) -> None:
        """Raise ValidationError (422) listing every bad parameter read so far."""
        if self._errors:
            raise ValidationError(self._errors)


def page(data: list[Any], next_after: object) -> dict[str, Any]:
    """A collection body."""
    return {"data": data, "next_cursor": encode_cursor(next_after)}


def feed_page(data: list[Any], result: FeedPage[Any]) -> dict[str, Any]:
    """A feed's body: a collection, plus the ``position`` to resume from later, on every page
    (DESIGN §9)."""
    return {**page(data, result.next_position), "position": encode_cursor(result.position)}


# ---------------------------------------------------------------- conditional requests


def if_match_version(req: falcon.Request, current: Callable[[], int]) -> int | None:
    """The version an ``If-Match`` header insists on (``None``: no condition).

    Strong comparison: weak tags never match. With several tags, the current version is read
    (``current``) and passed on if listed, so the use case still checks it atomically. A
    condition no version can meet is answered 412 at once."""
    tags = req.if_match
    if not tags or any(str(tag) == "*" and not hasattr(tag, "is_weak") for tag in tags):
        return None
    versions = {
        int(tag)
        for tag in tags
        if not getattr(tag, "is_weak", False) and tag.isascii() and tag.isdigit() and len(tag) < 19
    }
    if len(versions) == 1:
        return versions.pop()
    if versions:
        version = current()
        if version in versions:
            return version
    raise Problem(412, "version-mismatch", "If-Match names no current version")


def not_modified(req: falcon.Request, version: int) -> bool:
    """True when ``If-None-Match`` matches ``version`` (weak comparison, or ``*``)."""
    tags = req.if_none_match or []
    return any(str(tag) in {"*", str(version)} for tag in tags)


def send_versioned(
    req: falcon.Request,
    resp: falcon.Response,
    version: int,
    render: Callable[[], Any],
    *,
    conditional: bool = True,
) -> None:
    """Send a versioned entity (item, location) with its ``ETag``. With ``conditional`` (GET),
    a matching ``If-None-Match`` gets 304 and no body; ``render`` runs only when a body is sent."""
    resp.set_header("ETag", etag(version))
    if conditional and not_modified(req, version):
        resp.status = 304
        return
    send_json(resp, render())


@attrs.frozen
class AppContext:
    """Everything resources are built from (handed to each resource's constructor)."""

    inventory: Executor
    sessions: SessionStore
    throttle: LoginThrottle
    deps: Deps
    runner: IdempotentRunner
    cookie_name: str
    cookie_secure: bool


class Resource:
    """Base of the resources: keeps the context; subclasses declare ``public_methods`` and
    ``csrf_exempt_methods`` (see :mod:`inventory_http.middleware`)."""

    public_methods: frozenset[str] = frozenset()
    csrf_exempt_methods: frozenset[str] = frozenset()

    def __init__(self, ctx: AppContext) -> None:
        self.ctx = ctx
        self.inventory = ctx.inventory


def json_response(
    value: Any, status: int = 200, headers: tuple[tuple[str, str], ...] = ()
) -> Response:
    """A JSON response, as the executor stores it for replays (Content-Type among the headers)."""
    return Response(status, dump(value), (("Content-Type", JSON_CONTENT_TYPE), *headers))
