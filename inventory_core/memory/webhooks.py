"""In-memory webhooks and their delivery queue (WebhookRepository, DeliveryRepository).

They run inside an InMemoryUnitOfWork, which holds the store's lock: transactions are serialised,
so dispatch never races another dispatch, and a lease is just a check of ``lease_until``. Every
write goes through the store's journaled tables -- the dispatch position too -- so a transaction
that fails leaves no trace.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import TYPE_CHECKING
from uuid import UUID, uuid4

import attrs

from inventory_core.errors import AlreadyExists, NotFound, VersionMismatch
from inventory_core.feed import FEED_START, FeedPosition
from inventory_core.webhooks import (
    ClaimedDelivery,
    Delivery,
    DeliveryAttempt,
    DeliveryStatus,
    Webhook,
)

if TYPE_CHECKING:
    from inventory_core.memory.store import InMemoryStore

__all__ = ["DeliveryRow", "InMemoryDeliveryRepository", "InMemoryWebhookRepository"]

_DISPATCH_TXN = "webhook_dispatch_txn"
_DISPATCH_SEQ = "webhook_dispatch_seq"
"""Keys of the store's counters that hold how far dispatch got in the event feed."""


@attrs.frozen
class DeliveryRow:
    """A delivery as the store keeps it: the entity, where its event is in the feed, and the
    bookkeeping a worker never sees (the lease, when it finished)."""

    delivery: Delivery
    event_seq: int
    seq: int
    """Dispatch order: among deliveries due at the same time, the first claimed."""
    lease: UUID | None = None
    lease_until: datetime | None = None
    finished_at: datetime | None = None


class InMemoryWebhookRepository:
    """Webhooks in an InMemoryStore."""

    def __init__(self, store: InMemoryStore) -> None:
        self._s = store

    def add(self, webhook: Webhook) -> None:
        if webhook.id in self._s.webhooks:
            raise AlreadyExists("webhook", "id", webhook.id)
        self._s.webhooks.put(webhook.id, webhook)

    def get(self, webhook_id: UUID) -> Webhook | None:
        return self._s.webhooks.get(webhook_id)

    def update(self, webhook: Webhook) -> None:
        old = self._s.webhooks.get(webhook.id)
        if old is None:
            raise NotFound("webhook", webhook.id)
        if webhook.version != old.version + 1:
            raise VersionMismatch(
                "webhook", webhook.id, expected=webhook.version - 1, actual=old.version
            )
        self._s.webhooks.put(webhook.id, webhook)

    def delete(self, webhook_id: UUID) -> bool:
        if webhook_id not in self._s.webhooks:
            return False
        for key, row in self._s.deliveries.items():
            if row.delivery.webhook_id == webhook_id:
                self._s.deliveries.delete(key)
                self._s.pending_deliveries.delete(key)
        for key, attempt in self._s.delivery_attempts.items():
            if attempt.webhook_id == webhook_id:
                self._s.delivery_attempts.delete(key)
        self._s.webhooks.delete(webhook_id)
        return True

    def list(self, *, after: UUID | None, limit: int) -> list[Webhook]:
        rows = sorted(self._s.webhooks.values(), key=lambda w: w.id)
        if after is not None:
            rows = [w for w in rows if w.id > after]
        return rows[:limit]


class InMemoryDeliveryRepository:
    """The delivery queue and log in an InMemoryStore."""

    def __init__(self, store: InMemoryStore) -> None:
        self._s = store

    def _position(self) -> FeedPosition:
        txn = self._s.counters.get(_DISPATCH_TXN)
        seq = self._s.counters.get(_DISPATCH_SEQ)
        return FEED_START if txn is None or seq is None else FeedPosition(txn, seq)

    def dispatch(self, *, now: datetime, limit: int) -> int:
        """Events in seq order (the feed's order here), after the position. Events of the
        transaction in progress are not complete yet, as on a database: they wait for the next
        dispatch."""
        after = self._position()
        head = self._s.counters.get("event_seq") or 0
        hooks = sorted((w for w in self._s.webhooks.values() if w.active), key=lambda w: w.id)
        taken = 0
        last = after
        for seq in range(after.seq + 1, head + 1):
            if taken >= limit:
                break
            entry = self._s.events.get(seq)
            if entry is None or entry[0] <= after:
                continue  # purged
            position, event = entry
            if position.txn == self._s.transaction_number:
                break  # this transaction's own: its events are the feed's last
            for hook in hooks:
                if event.type in hook.types:
                    delivery = Delivery(
                        id=uuid4(),
                        webhook_id=hook.id,
                        event_id=event.id,
                        status=DeliveryStatus.PENDING,
                        attempts=0,
                        next_attempt_at=now,
                        created_at=now,
                    )
                    order = (self._s.counters.get("delivery_seq") or 0) + 1
                    self._s.counters.put("delivery_seq", order)
                    self._s.deliveries.put(delivery.id, DeliveryRow(delivery, seq, order))
                    self._s.pending_deliveries.put(delivery.id, now)
            taken += 1
            last = position
        if last != after:
            self._s.counters.put(_DISPATCH_TXN, last.txn)
            self._s.counters.put(_DISPATCH_SEQ, last.seq)
        return taken

    def claim(self, *, now: datetime, lease: timedelta, limit: int) -> list[ClaimedDelivery]:
        due: list[tuple[DeliveryRow, Webhook]] = []
        for key, next_attempt_at in self._s.pending_deliveries.items():
            if next_attempt_at > now:
                continue
            row = self._s.deliveries.get(key)
            if row is None:
                continue
            delivery = row.delivery
            hook = self._s.webhooks.get(delivery.webhook_id)
            if (
                delivery.status is DeliveryStatus.PENDING
                and delivery.next_attempt_at is not None
                and delivery.next_attempt_at <= now
                and (row.lease_until is None or row.lease_until <= now)
                and hook is not None
                and hook.active
                and self._s.events.get(row.event_seq) is not None  # else purged with its event
            ):
                due.append((row, hook))
        due.sort(key=lambda pair: (pair[0].delivery.next_attempt_at, pair[0].seq))
        claimed: list[ClaimedDelivery] = []
        until = now + lease
        for row, hook in due[:limit]:
            entry = self._s.events.get(row.event_seq)
            assert entry is not None
            lease_id = uuid4()
            self._s.deliveries.put(
                row.delivery.id, attrs.evolve(row, lease=lease_id, lease_until=until)
            )
            claimed.append(
                ClaimedDelivery(
                    delivery=row.delivery,
                    event=entry[1],
                    url=hook.url,
                    secret=hook.secret,
                    lease=lease_id,
                    lease_until=until,
                )
            )
        return claimed

    def record(self, claimed: ClaimedDelivery, attempt: DeliveryAttempt) -> bool:
        row = self._s.deliveries.get(claimed.delivery.id)
        if row is None or row.lease != claimed.lease:
            return False
        if attempt.succeeded:
            status, finished = DeliveryStatus.DELIVERED, attempt.attempted_at
        elif attempt.next_attempt_at is not None:
            status, finished = DeliveryStatus.PENDING, None
        else:
            status, finished = DeliveryStatus.FAILED, attempt.attempted_at
        moved = attrs.evolve(
            row.delivery,
            status=status,
            attempts=attempt.attempt,
            next_attempt_at=attempt.next_attempt_at if status is DeliveryStatus.PENDING else None,
        )
        self._s.deliveries.put(
            moved.id, DeliveryRow(moved, row.event_seq, row.seq, finished_at=finished)
        )
        if moved.next_attempt_at is None:
            self._s.pending_deliveries.delete(moved.id)
        else:
            self._s.pending_deliveries.put(moved.id, moved.next_attempt_at)
        self._s.delivery_attempts.put(attempt.id, attempt)
        return True

    def attempts(
        self, webhook_id: UUID, *, before: UUID | None, limit: int
    ) -> list[DeliveryAttempt]:
        mine = [
            a
            for a in self._s.delivery_attempts.values()
            if a.webhook_id == webhook_id and (before is None or a.id < before)
        ]
        mine.sort(key=lambda a: a.id, reverse=True)
        return mine[:limit]

    def purge(self, older_than: datetime) -> int:
        gone = 0
        for key, attempt in self._s.delivery_attempts.items():
            if attempt.attempted_at < older_than:
                self._s.delivery_attempts.delete(key)
                gone += 1
        for key, row in self._s.deliveries.items():
            finished = row.finished_at is not None and row.finished_at < older_than
            orphaned = self._s.events.get(row.event_seq) is None  # its event was purged
            if finished or orphaned:
                self._s.deliveries.delete(key)
                self._s.pending_deliveries.delete(key)
                gone += 1
        return gone
