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
    item_id: UUID
    warehouse_id: UUID
    quantity: int = attrs.field(validator=_checks.quantity)
    status: ReservationStatus = attrs.field(converter=ReservationStatus)
    actor_id: UUID
    created_at: datetime = attrs.field(validator=_checks.aware)
    updated_at: datetime = attrs.field(validator=_checks.aware)
    reference: str | None = attrs.field(default=None, validator=_checks.optional_text(200))
    expires_at: datetime | None = attrs.field(default=None, validator=_checks.optional_aware)

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
