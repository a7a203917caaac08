"""The in-memory store and its unit of work."""

from __future__ import annotations

import threading
from datetime import datetime
from types import TracebackType
from typing import Self
from uuid import UUID

from inventory_core.clocks import SystemClock
from inventory_core.events import Event
from inventory_core.feed import FeedPosition
from inventory_core.idempotency import IdempotencyRecord
from inventory_core.items import Item
from inventory_core.locations import Location, virtual_locations
from inventory_core.lots import Lot
from inventory_core.memory.lots import InMemoryLotRepository
from inventory_core.memory.repositories import (
    InMemoryEventRepository,
    InMemoryIdempotencyStore,
    InMemoryItemRepository,
    InMemoryLocationRepository,
    InMemoryMovementRepository,
    InMemoryReservationRepository,
    InMemoryStockRepository,
    InMemoryTokenRepository,
    InMemoryUserRepository,
)
from inventory_core.memory.tables import Journal, Table
from inventory_core.memory.webhooks import (
    DeliveryRow,
    InMemoryDeliveryRepository,
    InMemoryWebhookRepository,
)
from inventory_core.movements import Movement
from inventory_core.ports import Clock, StockKey
from inventory_core.reservations import Reservation
from inventory_core.tokens import ApiToken
from inventory_core.users import User
from inventory_core.webhooks import DeliveryAttempt, Webhook

__all__ = ["InMemoryStore", "InMemoryUnitOfWork"]


class InMemoryStore:
    """All inventory state in process memory: the embedded default and the reference adapter.

    Transactions are serialised by one lock (a unit of work holds it from its outermost ``with``
    to the end), which gives the strongest isolation there is; writes are journaled so a failed
    transaction is rolled back exactly. Create units of work with :meth:`unit_of_work`.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        self.lock = threading.Lock()
        self.transaction_number = 0  # of the transaction holding the lock; the feed's ``txn``
        self._journal: Journal | None = None
        self._owner: int | None = None
        journal = self.journal
        self.items: Table[UUID, Item] = Table(journal)
        self.skus: Table[str, UUID] = Table(journal)
        self.barcodes: Table[str, UUID] = Table(journal)
        self.locations: Table[UUID, Location] = Table(journal)
        self.location_codes: Table[str, UUID] = Table(journal)
        self.movements: Table[int, Movement] = Table(journal)
        self.movement_seqs: Table[UUID, int] = Table(journal)
        self.movement_txns: Table[int, int] = Table(journal)  # seq -> transaction number
        self.reversals: Table[UUID, UUID] = Table(journal)
        self.counters: Table[str, int] = Table(journal)
        self.location_levels: Table[StockKey, int] = Table(journal)
        self.warehouse_levels: Table[StockKey, tuple[int, int]] = Table(journal)
        # Per item, on hand and reserved summed over its warehouses: what bounds the item's
        # totals (MAX_TOTAL) without summing the warehouses at every change.
        self.item_totals: Table[UUID, tuple[int, int]] = Table(journal)
        self.lots: Table[UUID, Lot] = Table(journal)
        self.lot_codes: Table[tuple[UUID, str], UUID] = Table(journal)
        # Per (item, location, lot), virtual locations included, as location_levels.
        self.lot_levels: Table[tuple[UUID, UUID, UUID], int] = Table(journal)
        # Per (item, serial): its stock-holding location, or None when not in stock.
        self.serials: Table[tuple[UUID, str], UUID | None] = Table(journal)
        self.reservations: Table[UUID, Reservation] = Table(journal)
        self.users: Table[UUID, User] = Table(journal)
        self.usernames: Table[str, UUID] = Table(journal)
        self.idempotency: Table[tuple[UUID, str], IdempotencyRecord] = Table(journal)
        self.tokens: Table[UUID, ApiToken] = Table(journal)
        self.token_digests: Table[str, UUID] = Table(journal)
        self.events: Table[int, tuple[FeedPosition, Event]] = Table(journal)
        self.webhooks: Table[UUID, Webhook] = Table(journal)
        self.deliveries: Table[UUID, DeliveryRow] = Table(journal)
        # The pending ones (an index for claiming), with when their next attempt is due.
        self.pending_deliveries: Table[UUID, datetime] = Table(journal)
        self.delivery_attempts: Table[UUID, DeliveryAttempt] = Table(journal)
        # How far webhook dispatch got in the event feed: the counters webhook_dispatch_txn/_seq.
        self._seed((clock or SystemClock()).now())

    def _seed(self, now: object) -> None:
        self._journal = Journal()
        for location in virtual_locations(now):  # type: ignore[arg-type]
            self.locations.put(location.id, location)
            self.location_codes.put(location.code, location.id)
        self._journal = None

    def journal(self) -> Journal:
        if self._journal is None:
            raise RuntimeError("in-memory repositories are used only inside `with uow:`")
        return self._journal

    def begin(self) -> Journal:
        if self._owner == threading.get_ident():
            # Waiting on ourselves would hang forever; this is always a bug in the caller.
            raise RuntimeError(
                "this thread already has a unit of work open on this store: run everything that"
                " belongs together in that one unit of work"
            )
        self.lock.acquire()
        self.transaction_number += 1
        self._owner = threading.get_ident()
        self._journal = Journal()
        return self._journal

    def end(self, *, commit: bool) -> None:
        try:
            if not commit and self._journal is not None:
                self._journal.rollback_to(0)
        finally:
            self._journal = None
            self._owner = None
            self.lock.release()

    def unit_of_work(self) -> InMemoryUnitOfWork:
        """A new unit of work on this store (make one per use case call)."""
        return InMemoryUnitOfWork(self)


class InMemoryUnitOfWork:
    """A transaction on an :class:`InMemoryStore`.

    The outermost ``with`` takes the store's lock and commits (keeps the journaled writes) on a
    clean exit or rolls them back on an exception. A nested ``with`` joins the transaction and, if
    it exits by an exception, undoes just its own writes before the exception propagates.
    """

    def __init__(self, store: InMemoryStore) -> None:
        self._store = store
        self._marks: list[int] = []
        self._journal: Journal | None = None
        self.items = InMemoryItemRepository(store)
        self.locations = InMemoryLocationRepository(store)
        self.lots = InMemoryLotRepository(store)
        self.movements = InMemoryMovementRepository(store)
        self.stock = InMemoryStockRepository(store)
        self.reservations = InMemoryReservationRepository(store)
        self.users = InMemoryUserRepository(store)
        self.idempotency = InMemoryIdempotencyStore(store)
        self.tokens = InMemoryTokenRepository(store)
        self.events = InMemoryEventRepository(store)
        self.webhooks = InMemoryWebhookRepository(store)
        self.deliveries = InMemoryDeliveryRepository(store)

    def __enter__(self) -> Self:
        if self._journal is None:
            self._journal = self._store.begin()
        self._marks.append(self._journal.mark())
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        mark = self._marks.pop()
        if self._marks:
            if exc_type is not None and self._journal is not None:
                self._journal.rollback_to(mark)
            return
        self._journal = None
        self._store.end(commit=exc_type is None)
