"""Positions in the movement feed (DESIGN §9).

The feed is ordered by (``txn``, ``seq``): the id of the transaction that wrote an entry, then
the entry's ``seq`` within it. An adapter serves an entry only once every transaction that could
still write an entry before it has finished, so a reader that resumes after a position never
misses an entry that commits later and never sees one twice -- without making writers queue
behind one lock (see docs/decisions.md, "The feed").
"""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs

from inventory_core import _checks

__all__ = ["FEED_START", "FeedPage", "FeedPosition"]

T = TypeVar("T")

MAX_POSITION = 2**63 - 1


@attrs.frozen(order=True)
class FeedPosition:
    """A place in the feed: the entry at (``txn``, ``seq``) and everything before it have been
    read. Compare positions to order them; clients see them only as opaque cursors."""

    txn: int = attrs.field(validator=_checks.integer(0, MAX_POSITION))
    seq: int = attrs.field(validator=_checks.integer(0, MAX_POSITION))


FEED_START = FeedPosition(0, 0)
"""Before the first entry."""


@attrs.frozen
class FeedPage(Generic[T]):
    """Entries after a position, in feed order.

    ``position`` is where to resume later, present on every page (the last one included):
    the position of the last entry served, or the position asked for when nothing was.
    ``next_position`` is set when more entries are ready now: ask again from it at once."""

    items: tuple[T, ...]
    position: FeedPosition
    next_position: FeedPosition | None
