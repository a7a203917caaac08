"""Opaque cursors: what the keyset of a page's end looks like to clients."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Literal, TypeVar
from uuid import UUID

from inventory_core.errors import InventoryError, ValidationError
from inventory_core.feed import FeedPage, FeedPosition
from inventory_core.paging import Page
from inventory_http.converter import StrictValueError, parse_uuid
from inventory_http.shapes import Collection, Feed

__all__ = ["CursorKind", "collection", "decode_cursor", "encode_cursor", "feed"]

T = TypeVar("T")

CursorKind = Literal["id", "feed", "key"]
"""What a cursor holds: an id (collections by id), a feed position, or an (id, id) key."""


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
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str, kind: CursorKind) -> Any:
    """The keyset value inside ``cursor``, which must be of ``kind``; ValidationError (422) for
    anything the server did not issue."""
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


def collection(page: Page[T, Any]) -> Collection[T]:
    """A page of a use case as the API shows it."""
    return Collection(tuple(page.items), encode_cursor(page.next_after))


def feed(page: FeedPage[T]) -> Feed[T]:
    """A feed page as the API shows it: a collection plus the ``position`` to resume from later,
    on every page (DESIGN §9)."""
    position = encode_cursor(page.position)
    assert position is not None
    return Feed(tuple(page.items), encode_cursor(page.next_position), position)
