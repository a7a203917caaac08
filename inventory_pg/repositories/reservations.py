"""Reservations. Their warehouse ``reserved`` levels are kept by the use cases via the stock
repository; this module touches the reservations table only."""

from __future__ import annotations

from collections.abc import Collection
from datetime import datetime
from typing import Any
from uuid import UUID

from inventory_core.ports import ReservationQuery, StockKey
from inventory_core.reservations import Reservation, ReservationStatus
from inventory_pg._adapt import UuidArray
from inventory_pg.repositories._base import Repository

__all__ = ["PgReservationRepository"]

_COLUMNS = """
    id, item_id, warehouse_id, quantity, status, actor_id, reference, expires_at, created_at,
    updated_at
"""

_R_COLUMNS = """
    r.id, r.item_id, r.warehouse_id, r.quantity, r.status, r.actor_id, r.reference, r.expires_at,
    r.created_at, r.updated_at
"""

INSERT_RESERVATION = """
INSERT INTO reservations (id, item_id, warehouse_id, quantity, status, actor_id, reference,
                          expires_at, created_at, updated_at)
VALUES (%(id)s, %(item_id)s, %(warehouse_id)s, %(quantity)s, %(status)s, %(actor_id)s,
        %(reference)s, %(expires_at)s, %(created_at)s, %(updated_at)s)
"""

SELECT_RESERVATION = "SELECT" + _COLUMNS + "FROM reservations WHERE id = %(id)s"

# A conditional update: of two racing transitions the second waits for the first's row lock,
# then re-checks the condition on the new row (READ COMMITTED) and changes nothing.
TRANSITION = (
    """
UPDATE reservations SET status = %(to)s, updated_at = %(now)s
WHERE id = %(id)s AND status = 'active' AND (expires_at IS NULL OR expires_at > %(now)s)
RETURNING"""
    + _COLUMNS
)

# Lock the due rows in id order first (the same order for every caller, so two expiries cannot
# deadlock), then mark them; a row another transaction changed meanwhile is re-checked and skipped.
EXPIRE_DUE = (
    "WITH due AS ("  # noqa: S608 -- constant fragments only; values are always bound
    + """
    SELECT id FROM reservations
    WHERE status = 'active' AND expires_at <= %(now)s
    ORDER BY id
    FOR UPDATE
)
UPDATE reservations r SET status = 'expired', updated_at = %(now)s
FROM due WHERE r.id = due.id AND r.status = 'active'
RETURNING"""
    + _R_COLUMNS
)

EXPIRE_DUE_FOR_KEYS = (
    "WITH due AS ("  # noqa: S608 -- constant fragments only; values are always bound
    + """
    SELECT id FROM reservations
    WHERE status = 'active' AND expires_at <= %(now)s
      AND (item_id, warehouse_id) IN (
          SELECT * FROM unnest(%(item_ids)s::uuid[], %(warehouse_ids)s::uuid[]))
    ORDER BY id
    FOR UPDATE
)
UPDATE reservations r SET status = 'expired', updated_at = %(now)s
FROM due WHERE r.id = due.id AND r.status = 'active'
RETURNING"""
    + _R_COLUMNS
)

LIST_RESERVATIONS = (
    "SELECT"
    + _COLUMNS
    + """FROM reservations
WHERE (%(after)s::uuid IS NULL OR id > %(after)s::uuid)
  AND (%(item_id)s::uuid IS NULL OR item_id = %(item_id)s::uuid)
  AND (%(warehouse_id)s::uuid IS NULL OR warehouse_id = %(warehouse_id)s::uuid)
  AND (%(status)s::text IS NULL OR status = %(status)s::text)
  AND (%(reference)s::text IS NULL OR reference = %(reference)s::text)
ORDER BY id
LIMIT %(limit)s"""
)


def _reservation(row: tuple[Any, ...]) -> Reservation:
    id_, item_id, warehouse_id, quantity, status, actor_id, reference, expires, created, updated = (
        row
    )
    return Reservation(
        id=id_,
        item_id=item_id,
        warehouse_id=warehouse_id,
        quantity=quantity,
        status=status,
        actor_id=actor_id,
        reference=reference,
        expires_at=expires,
        created_at=created,
        updated_at=updated,
    )


class PgReservationRepository(Repository):
    """Reservations in Postgres (ReservationRepository)."""

    def add(self, reservation: Reservation) -> None:
        """Store a new reservation; AlreadyExists(field="id") changes nothing."""
        self._batch().run(
            [
                (
                    INSERT_RESERVATION,
                    {
                        "id": reservation.id,
                        "item_id": reservation.item_id,
                        "warehouse_id": reservation.warehouse_id,
                        "quantity": reservation.quantity,
                        "status": reservation.status.value,
                        "actor_id": reservation.actor_id,
                        "reference": reservation.reference,
                        "expires_at": reservation.expires_at,
                        "created_at": reservation.created_at,
                        "updated_at": reservation.updated_at,
                    },
                )
            ],
            atomic=True,
            values={"id": reservation.id},
        )

    def get(self, reservation_id: UUID) -> Reservation | None:
        """The reservation as stored (an overdue one may still say active), or None."""
        rows = self._rows(SELECT_RESERVATION, {"id": reservation_id})
        return _reservation(rows[0]) if rows else None

    def transition(
        self, reservation_id: UUID, *, to: ReservationStatus, now: datetime
    ) -> Reservation | None:
        """Move an active, not overdue reservation to ``to``; None (no change) otherwise.
        Exactly one of two racing transitions wins."""
        rows = self._write(TRANSITION, {"id": reservation_id, "to": to.value, "now": now})
        return _reservation(rows[0]) if rows else None

    def expire_due(
        self, now: datetime, *, keys: Collection[StockKey] | None = None
    ) -> list[Reservation]:
        """Mark active reservations with ``expires_at <= now`` (of ``keys`` when given) expired;
        returns them as they now are, in id order."""
        if keys is None:
            rows = self._write(EXPIRE_DUE, {"now": now})
        elif not keys:
            return []
        else:
            rows = self._write(
                EXPIRE_DUE_FOR_KEYS,
                {
                    "now": now,
                    "item_ids": UuidArray(item for item, _ in keys),
                    "warehouse_ids": UuidArray(warehouse for _, warehouse in keys),
                },
            )
        return sorted((_reservation(row) for row in rows), key=lambda r: r.id)

    def list(self, query: ReservationQuery, *, after: UUID | None, limit: int) -> list[Reservation]:
        """Ascending id; stored status is reported."""
        rows = self._rows(
            LIST_RESERVATIONS,
            {
                "after": after,
                "item_id": query.item_id,
                "warehouse_id": query.warehouse_id,
                "status": query.status.value if query.status is not None else None,
                "reference": query.reference,
                "limit": limit,
            },
        )
        return [_reservation(row) for row in rows]
