"""What every use case shares: its context, role checks, paging and the "unset" marker."""

from __future__ import annotations

import enum
from collections.abc import Callable, Sequence
from typing import Final, TypeVar

import attrs

from inventory_core.errors import FieldError, PermissionDenied, ValidationError
from inventory_core.paging import Page, check_limit
from inventory_core.ports import Clock, IdGenerator, PasswordHasher
from inventory_core.users import Actor, Role

T = TypeVar("T")
K = TypeVar("K")


class _Unset(enum.Enum):
    UNSET = "UNSET"

    def __repr__(self) -> str:
        return "UNSET"


UNSET: Final = _Unset.UNSET
"""Marks a field of a change command that the caller did not give (so it stays as it is)."""

Unset = _Unset


@attrs.frozen
class Providers:
    """What use cases need besides the unit of work."""

    clock: Clock
    ids: IdGenerator
    password_hasher: PasswordHasher


def require(actor: Actor, role: Role) -> None:
    """Raise PermissionDenied unless ``actor`` has ``role`` or a higher one."""
    if not actor.role.allows(role):
        raise PermissionDenied(f"this needs the {role} role or higher; you are {actor.role}")


def fetch_page(
    fetch: Callable[[int], Sequence[T]], key: Callable[[T], K], limit: int
) -> Page[T, K]:
    """Ask the repository for one more row than the page holds, to know whether there is more."""
    check_limit(limit)
    rows = list(fetch(limit + 1))
    if len(rows) > limit:
        rows = rows[:limit]
        return Page(tuple(rows), key(rows[-1]))
    return Page(tuple(rows), None)


def raise_if(errors: list[FieldError]) -> None:
    if errors:
        raise ValidationError(errors)
