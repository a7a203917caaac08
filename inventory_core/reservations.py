"""Reservations: a promise of stock in a warehouse, with an optional expiry."""

from __future__ import annotations

import enum
from datetime import datetime
from uuid import UUID

import attrs

from inventory_core import _checks

__all__ = ["Reservation", "ReservationStatus"]


class ReservationStatus(enum.StrEnum):
    """Only ``active`` reservations count against availability."""

    ACTIVE = "active"
    FULFILLED = "fulfilled"
    RELEASED = "released"
    EXPIRED = "expired"


@attrs.frozen
class Reservation:
    """``quantity`` of an item held in a warehouse. An active reservation whose ``expires_at``
    has passed stops counting at that instant, whether or not it has been marked expired yet."""

    id: UUID
    """The reservation's id."""
    item_id: UUID
    """The item held."""
    warehouse_id: UUID
    """The warehouse it is held in."""
    quantity: int = attrs.field(validator=_checks.quantity)
    """How much is held."""
    status: ReservationStatus = attrs.field(converter=ReservationStatus)
    """Only ``active`` reservations hold stock; an overdue one reads ``expired``."""
    actor_id: UUID
    """Who made it."""
    created_at: datetime = attrs.field(validator=_checks.aware)
    """When it was made."""
    updated_at: datetime = attrs.field(validator=_checks.aware)
    """When its status last changed."""
    reference: str | None = attrs.field(default=None, validator=_checks.reference)
    """The caller's reference, such as an order number."""
    expires_at: datetime | None = attrs.field(default=None, validator=_checks.optional_aware)
    """When it stops holding stock by itself; ``null``: never."""

    def is_overdue(self, now: datetime) -> bool:
        """Active, but past its expiry."""
        return (
            self.status is ReservationStatus.ACTIVE
            and self.expires_at is not None
            and self.expires_at <= now
        )

    def effective_status(self, now: datetime) -> ReservationStatus:
        """The status as of ``now``: an overdue active reservation is already expired."""
        return ReservationStatus.EXPIRED if self.is_overdue(now) else self.status
