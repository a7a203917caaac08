"""Use cases. Each function carries out one command (:mod:`inventory_core.commands`) in the unit
of work the :class:`~inventory_core.executor.Executor` gives it, after the executor has checked
the actor's role: a use case never opens, commits or retries a transaction itself.

Importing this package registers every handler."""

from inventory_core.services import (
    counts,
    events,
    items,
    locations,
    lots,
    movements,
    reservations,
    stock,
    tokens,
    users,
    webhooks,
)

__all__ = [
    "counts",
    "events",
    "items",
    "locations",
    "lots",
    "movements",
    "reservations",
    "stock",
    "tokens",
    "users",
    "webhooks",
]
