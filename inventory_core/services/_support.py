"""What every use case shares: its providers (clock, ids, hasher, ...), role checks and paging."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

import attrs

from inventory_core.errors import FieldError, PermissionDenied, ValidationError
from inventory_core.paging import Page, check_limit
from inventory_core.ports import Clock, IdGenerator, PasswordHasher
from inventory_core.retries import RetrySchedule
from inventory_core.users import Actor, Role

T = TypeVar("T")
K = TypeVar("K")


@attrs.frozen
class Providers:
    """What use cases need besides the unit of work."""

    clock: Clock
    ids: IdGenerator
    password_hasher: PasswordHasher
    webhook_url_check: Callable[[str], str | None]
    """Judges a webhook URL that passed the syntax rule (WEBHOOK_URL): what is wrong with it
    (the use case refuses it with that message at ``$.url``), or None. The HTTP app passes its
    address guard here (no loopback, private, link-local or metadata addresses)."""
    retry_schedule: RetrySchedule
    """When a failed webhook delivery is tried again, and when it is given up."""


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
