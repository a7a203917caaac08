"""Keyset paging shared by every collection query."""

from __future__ import annotations

from typing import Generic, TypeVar

import attrs

from inventory_core.errors import ValidationError

__all__ = ["MAX_PAGE_SIZE", "Page", "check_limit"]

T = TypeVar("T")
K = TypeVar("K")

MAX_PAGE_SIZE = 500


@attrs.frozen
class Page(Generic[T, K]):
    """One page of results; ``next_after`` is the keyset value to pass as ``after`` for the next
    page, ``None`` on the last page."""

    items: tuple[T, ...]
    next_after: K | None


def check_limit(limit: int) -> None:
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise ValidationError(f"must be between 1 and {MAX_PAGE_SIZE}", "$.limit")
