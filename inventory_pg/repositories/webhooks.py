"""Webhooks, and their delivery queue and log (WebhookRepository, DeliveryRepository).

The queue is the ``webhook_deliveries`` table, shared by any number of workers with row locks
that skip what another holds (migration 0006). Each step is one statement, so one round trip:

- **dispatch** locks the one row of ``webhook_dispatch_position`` (a second dispatcher skips it
  and dispatches nothing), takes the next events after it in feed order -- only those below the
  snapshot's xmin, like the feed's readers (:mod:`inventory_pg.repositories.events`), so no
  event that commits later is ever placed behind the position -- inserts their deliveries and
  moves the position;
- **claim** locks due deliveries ``FOR UPDATE SKIP LOCKED`` and leases them, so concurrent
  claimers neither wait for each other nor get the same delivery;
- **record** updates the delivery only while the caller's lease still holds it, and logs the
  attempt in the same statement.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from inventory_core.errors import NotFound, VersionMismatch
from inventory_core.events import Event, EventType
from inventory_core.webhooks import (
    ClaimedDelivery,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Webhook,
)
from inventory_pg.repositories._base import Repository

__all__ = ["PgDeliveryRepository", "PgWebhookRepository"]

_WEBHOOK_COLUMNS = """
    id, url, types, secret, description, active, deactivated_reason, version, created_at,
    updated_at
"""
_ATTEMPT_COLUMNS = """
    id, webhook_id, event_id, event_type, attempt, attempted_at, status_code, error,
    duration_ms, next_attempt_at
"""

INSERT_WEBHOOK = """
INSERT INTO webhooks (id, url, types, secret, description, active, deactivated_reason, version,
                      created_at, updated_at)
VALUES (%(id)s, %(url)s, %(types)s, %(secret)s, %(description)s, %(active)s,
        %(deactivated_reason)s, %(version)s, %(created_at)s, %(updated_at)s)
"""
SELECT_WEBHOOK = "SELECT" + _WEBHOOK_COLUMNS + "FROM webhooks WHERE id = %(id)s"
SELECT_WEBHOOK_VERSION = "SELECT version FROM webhooks WHERE id = %(id)s"
UPDATE_WEBHOOK = """
UPDATE webhooks
SET url = %(url)s, types = %(types)s, description = %(description)s, active = %(active)s,
    deactivated_reason = %(deactivated_reason)s, version = %(version)s,
    updated_at = %(updated_at)s
WHERE id = %(id)s AND version = %(version)s::bigint - 1
RETURNING id
"""
# The cascades take the webhook's deliveries and log with it.
DELETE_WEBHOOK = "DELETE FROM webhooks WHERE id = %(id)s RETURNING id"
LIST_WEBHOOKS = (
    "SELECT"
    + _WEBHOOK_COLUMNS
    + """FROM webhooks
WHERE (%(after)s::uuid IS NULL OR id > %(after)s::uuid)
ORDER BY id
LIMIT %(limit)s"""
)

# Locking the position row first serialises dispatchers (the one that finds it locked skips it,
# takes no events and moves nothing). Under READ COMMITTED the lock returns the row's latest
# version, so a dispatcher whose snapshot predates another's commit still starts after the
# position that one left. Webhooks are read FOR KEY SHARE: one deleted meanwhile is skipped
# rather than failing the insert's foreign key, and changes of other columns do not wait.
DISPATCH = """
WITH position AS (
    SELECT txn, seq FROM webhook_dispatch_position FOR UPDATE SKIP LOCKED
), batch AS (
    -- The position as two scalars (NULL, so no row, when another dispatcher holds it): a range
    -- scan of the feed index from there, whatever the planner knows of the one-row table.
    SELECT e.txn, e.seq, e.id, e.type
    FROM events e
    WHERE (e.txn, e.seq) > ((SELECT txn FROM position), (SELECT seq FROM position))
      AND e.txn < (SELECT inventory_feed_horizon())
    ORDER BY e.txn, e.seq
    LIMIT %(limit)s
), hooks AS (
    SELECT id, types FROM webhooks WHERE active FOR KEY SHARE
), made AS (
    INSERT INTO webhook_deliveries (id, webhook_id, event_id, status, attempts,
                                    next_attempt_at, created_at)
    SELECT gen_random_uuid(), h.id, b.id, 'pending', 0, %(now)s, %(now)s
    FROM batch b JOIN hooks h ON b.type = ANY (h.types)
    ORDER BY b.txn, b.seq, h.id
), last AS (
    SELECT txn, seq FROM batch ORDER BY txn DESC, seq DESC LIMIT 1
), moved AS (
    UPDATE webhook_dispatch_position w SET txn = last.txn, seq = last.seq FROM last
)
SELECT count(*) FROM batch
"""

# A delivery is due when pending, its time has come, no live lease holds it, and its webhook
# is active; the oldest due first, and among those due at once, in dispatch (feed) order.
# SKIP LOCKED: a concurrent claimer's rows are passed over, not waited for; one it leased and
# committed meanwhile is re-checked on its new version (lease_until in the future) and
# dropped, so no two claimers ever get the same delivery.
CLAIM = """
WITH due AS (
    SELECT d.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
    WHERE d.status = 'pending' AND d.next_attempt_at <= %(now)s
      AND (d.lease_until IS NULL OR d.lease_until <= %(now)s)
      AND w.active
    ORDER BY d.next_attempt_at, d.seq
    LIMIT %(limit)s
    FOR UPDATE OF d SKIP LOCKED
), leased AS (
    UPDATE webhook_deliveries d SET lease = gen_random_uuid(), lease_until = %(until)s
    WHERE d.id IN (SELECT id FROM due)
    RETURNING d.id, d.webhook_id, d.event_id, d.status, d.attempts, d.next_attempt_at,
              d.created_at, d.lease, d.lease_until, d.seq
)
SELECT l.id, l.webhook_id, l.event_id, l.status, l.attempts, l.next_attempt_at, l.created_at,
       l.lease, l.lease_until, e.type, e.occurred_at, e.data, w.url, w.secret
FROM leased l
JOIN events e ON e.id = l.event_id
JOIN webhooks w ON w.id = l.webhook_id
ORDER BY l.next_attempt_at, l.seq
"""

# Only while the caller's lease holds the delivery: if it was lost (claimed again, or the
# webhook deleted) the UPDATE finds no row, and so the INSERT has none to log.
RECORD = """
WITH moved AS (
    UPDATE webhook_deliveries
    SET status = %(status)s, attempts = %(attempt)s,
        next_attempt_at = %(due_at)s::timestamptz, finished_at = %(finished_at)s::timestamptz,
        lease = NULL, lease_until = NULL
    WHERE id = %(delivery_id)s AND lease = %(lease)s
    RETURNING webhook_id
)
INSERT INTO webhook_attempts (id, webhook_id, event_id, event_type, attempt, attempted_at,
                              status_code, error, duration_ms, next_attempt_at)
SELECT %(id)s, moved.webhook_id, %(event_id)s, %(event_type)s, %(attempt)s, %(attempted_at)s,
       %(status_code)s::integer, %(error)s::text, %(duration_ms)s,
       %(next_attempt_at)s::timestamptz
FROM moved
RETURNING id
"""

LIST_ATTEMPTS = (
    "SELECT"
    + _ATTEMPT_COLUMNS
    + """FROM webhook_attempts
WHERE webhook_id = %(webhook_id)s AND (%(before)s::uuid IS NULL OR id < %(before)s::uuid)
ORDER BY id DESC
LIMIT %(limit)s"""
)

PURGE = """
WITH attempts AS (
    DELETE FROM webhook_attempts WHERE attempted_at < %(older_than)s RETURNING 1
), deliveries AS (
    DELETE FROM webhook_deliveries
    WHERE finished_at < %(older_than)s AND status <> 'pending'
    RETURNING 1
)
SELECT (SELECT count(*) FROM attempts) + (SELECT count(*) FROM deliveries)
"""


def _webhook_params(webhook: Webhook) -> dict[str, Any]:
    return {
        "id": webhook.id,
        "url": webhook.url,
        "types": [t.value for t in webhook.types],
        "secret": webhook.secret,
        "description": webhook.description,
        "active": webhook.active,
        "deactivated_reason": webhook.deactivated_reason,
        "version": webhook.version,
        "created_at": webhook.created_at,
        "updated_at": webhook.updated_at,
    }


def _webhook(row: tuple[Any, ...]) -> Webhook:
    id_, url, types, secret, description, active, reason, version, created, updated = row
    return Webhook(
        id=id_,
        url=url,
        types=types,
        secret=secret,
        created_at=created,
        updated_at=updated,
        description=description,
        active=active,
        deactivated_reason=reason,
        version=version,
    )


def _attempt(row: tuple[Any, ...]) -> DeliveryAttempt:
    id_, webhook_id, event_id, type_, number, at, status_code, error, duration, next_at = row
    return DeliveryAttempt(
        id=id_,
        webhook_id=webhook_id,
        event_id=event_id,
        event_type=EventType(type_),
        attempt=number,
        attempted_at=at,
        status_code=status_code,
        error=error,
        duration_ms=duration,
        next_attempt_at=next_at,
    )


def _claimed(row: tuple[Any, ...]) -> ClaimedDelivery:
    (
        id_,
        webhook_id,
        event_id,
        status,
        attempts,
        next_at,
        created,
        lease,
        lease_until,
        type_,
        occurred_at,
        data,
        url,
        secret,
    ) = row
    return ClaimedDelivery(
        delivery=Delivery(
            id=id_,
            webhook_id=webhook_id,
            event_id=event_id,
            status=DeliveryStatus(status),
            attempts=attempts,
            next_attempt_at=next_at,
            created_at=created,
        ),
        event=Event(id=event_id, type=EventType(type_), timestamp=occurred_at, data=data),
        url=url,
        secret=secret,
        lease=lease,
        lease_until=lease_until,
    )


class PgWebhookRepository(Repository):
    """Webhooks in Postgres (WebhookRepository)."""

    def add(self, webhook: Webhook) -> None:
        """Store a new webhook; a failure changes nothing."""
        self._batch().run(
            [(INSERT_WEBHOOK, _webhook_params(webhook))], atomic=True, values={"id": webhook.id}
        )

    def get(self, webhook_id: UUID) -> Webhook | None:
        rows = self._rows(SELECT_WEBHOOK, {"id": webhook_id})
        return _webhook(rows[0]) if rows else None

    def update(self, webhook: Webhook) -> None:
        """Replace a webhook whose stored version is ``webhook.version - 1`` (else
        VersionMismatch, or NotFound)."""
        if self._write(UPDATE_WEBHOOK, _webhook_params(webhook)):
            return
        found = self._rows(SELECT_WEBHOOK_VERSION, {"id": webhook.id})
        if not found:
            raise NotFound("webhook", webhook.id)
        raise VersionMismatch(
            "webhook", webhook.id, expected=webhook.version - 1, actual=found[0][0]
        )

    def delete(self, webhook_id: UUID) -> bool:
        return bool(self._write(DELETE_WEBHOOK, {"id": webhook_id}))

    def list(self, *, after: UUID | None, limit: int) -> list[Webhook]:
        rows = self._rows(LIST_WEBHOOKS, {"after": after, "limit": limit})
        return [_webhook(row) for row in rows]


class PgDeliveryRepository(Repository):
    """The delivery queue and log in Postgres (DeliveryRepository)."""

    def dispatch(self, *, now: datetime, limit: int) -> int:
        ((count,),) = self._write(DISPATCH, {"now": now, "limit": limit})
        return int(count)

    def claim(self, *, now: datetime, lease: timedelta, limit: int) -> list[ClaimedDelivery]:
        rows = self._write(CLAIM, {"now": now, "until": now + lease, "limit": limit})
        return [_claimed(row) for row in rows]

    def record(self, claimed: ClaimedDelivery, attempt: DeliveryAttempt) -> bool:
        if attempt.succeeded:
            status, finished = DeliveryStatus.DELIVERED, attempt.attempted_at
        elif attempt.next_attempt_at is not None:
            status, finished = DeliveryStatus.PENDING, None
        else:
            status, finished = DeliveryStatus.FAILED, attempt.attempted_at
        params = {
            "delivery_id": claimed.delivery.id,
            "lease": claimed.lease,
            "status": status.value,
            "finished_at": finished,
            "id": attempt.id,
            "event_id": attempt.event_id,
            "event_type": attempt.event_type.value,
            "attempt": attempt.attempt,
            "attempted_at": attempt.attempted_at,
            "status_code": attempt.status_code,
            "error": attempt.error,
            "duration_ms": attempt.duration_ms,
            "next_attempt_at": attempt.next_attempt_at,
            "due_at": attempt.next_attempt_at if status is DeliveryStatus.PENDING else None,
        }
        return bool(self._write(RECORD, params))

    def attempts(
        self, webhook_id: UUID, *, before: UUID | None, limit: int
    ) -> list[DeliveryAttempt]:
        params = {"webhook_id": webhook_id, "before": before, "limit": limit}
        return [_attempt(row) for row in self._rows(LIST_ATTEMPTS, params)]

    def purge(self, older_than: datetime) -> int:
        ((count,),) = self._write(PURGE, {"older_than": older_than})
        return int(count)
