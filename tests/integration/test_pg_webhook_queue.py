"""The webhook delivery queue on Postgres under concurrency (DESIGN §11): any number of workers
share it without getting one delivery twice, and none waits for another.

The contract suite (tests/contract/test_webhook_contract.py) holds both adapters to the rules;
these tests hold the database's locking to them: claims that race, a claim and a dispatch that
find rows another transaction holds, and dispatch's place in the feed while a transaction that
wrote an earlier event is still open.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import pytest

from inventory_core.clocks import ManualClock
from inventory_core.contract.webhooks import dispatch_all
from inventory_core.events import Event, EventType
from inventory_core.executor import Executor
from inventory_core.ids import UuidV7Generator
from inventory_core.passwords import Pbkdf2PasswordHasher
from inventory_core.services.users import ProvisionUser
from inventory_core.services.webhooks import ClaimDeliveries, CreateWebhook, DispatchEvents
from inventory_core.users import Actor, Role
from inventory_core.webhooks import ClaimedDelivery
from inventory_pg import PgStore
from tests.contract.test_webhook_contract import reset_webhooks

pytestmark = pytest.mark.postgres

T = TypeVar("T")

LEASE = timedelta(seconds=60)
DELIVERIES = 200
CLAIMERS = 4
T0 = datetime(2026, 1, 1, tzinfo=UTC)


class _Setup:
    """An executor on the emptied store with a manual clock, an admin and one webhook."""

    def __init__(self, store: PgStore) -> None:
        reset_webhooks(store)
        self.store = store
        self.clock = ManualClock(T0)
        self.ids = UuidV7Generator()
        self.inventory = Executor(
            store.unit_of_work,
            clock=self.clock,
            ids=self.ids,
            password_hasher=Pbkdf2PasswordHasher(iterations=1),
        )
        self.admin: Actor = self.inventory.execute(
            None, ProvisionUser("admin", "webhook-queue-admin-pw", Role.ADMIN)
        ).actor
        self.webhook = self.inventory.execute(
            self.admin,
            CreateWebhook("https://hooks.example.com/queue", (EventType.ITEM_CREATED,)),
        ).webhook

    def event(self) -> Event:
        return Event(self.ids.new_id(), EventType.ITEM_CREATED, self.clock.now(), {"n": 1})

    def record_events(self, count: int) -> list[Event]:
        """``count`` events in one transaction (their order is the feed's)."""
        events = [self.event() for _ in range(count)]
        with self.store.unit_of_work() as uow:
            for event in events:
                uow.events.add(event)
        return events

    def claim(self, limit: int) -> list[ClaimedDelivery]:
        return self.inventory.execute(None, ClaimDeliveries(lease=LEASE, limit=limit))


@pytest.fixture
def setup(pg_store: PgStore) -> _Setup:
    return _Setup(pg_store)


def _in_thread(work: Callable[[], T], timeout: float = 30) -> T:
    """Run ``work`` on another thread and return its result; fail if it does not finish in
    ``timeout`` seconds (it waited for a lock it should have skipped)."""
    result: list[T] = []
    errors: list[BaseException] = []

    def run() -> None:
        try:
            result.append(work())
        except BaseException as exc:  # reported on the test's thread
            errors.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout)
    assert not thread.is_alive(), "it waited for another transaction's locks"
    if errors:
        raise errors[0]
    return result[0]


def test_concurrent_claimers_never_get_one_delivery_twice(setup: _Setup) -> None:
    events = setup.record_events(DELIVERIES)
    assert dispatch_all(setup.inventory, DELIVERIES) == DELIVERIES
    got: list[list[ClaimedDelivery]] = [[] for _ in range(CLAIMERS)]
    start = threading.Barrier(CLAIMERS)
    errors: list[BaseException] = []

    def claimer(mine: list[ClaimedDelivery]) -> None:
        try:
            start.wait(timeout=10)
            # Small batches, until nothing is left: the claimers keep meeting on the same rows.
            while batch := setup.claim(limit=7):
                mine += batch
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(mine,)) for mine in got]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors
    claimed = [c for mine in got for c in mine]
    times = Counter(c.delivery.id for c in claimed)
    assert [d for d, n in times.items() if n > 1] == []
    assert len(claimed) == DELIVERIES
    assert {c.event.id for c in claimed} == {e.id for e in events}
    assert all(c.delivery.webhook_id == setup.webhook.id for c in claimed)
    assert len({c.lease for c in claimed}) == DELIVERIES
    assert sum(1 for mine in got if mine) > 1, "one claimer took everything: no race was run"


def test_a_claim_skips_the_deliveries_another_transaction_holds(setup: _Setup) -> None:
    setup.record_events(10)
    assert dispatch_all(setup.inventory, 10) == 10
    with setup.store.unit_of_work() as holder:
        held = holder.deliveries.claim(now=setup.clock.now(), lease=LEASE, limit=6)
        assert len(held) == 6
        # Uncommitted: the rows are locked, not yet leased as far as others can see.
        others = _in_thread(lambda: setup.claim(limit=10))
        assert len(others) == 4
        assert not {c.delivery.id for c in others} & {c.delivery.id for c in held}
    assert setup.claim(limit=10) == []  # all leased now


def test_a_second_dispatcher_skips_instead_of_waiting(setup: _Setup) -> None:
    events = setup.record_events(5)
    deadline = time.monotonic() + 10
    with setup.store.unit_of_work() as first:
        taken = 0
        while taken == 0:  # the first dispatch takes the position row (and the events it can)
            assert time.monotonic() < deadline, "the feed stayed held back"
            taken = first.deliveries.dispatch(now=setup.clock.now(), limit=500)
        assert _in_thread(lambda: setup.inventory.execute(None, DispatchEvents())) == 0
    assert dispatch_all(setup.inventory, 5 - taken) == 5 - taken
    assert setup.inventory.execute(None, DispatchEvents()) == 0
    claimed = setup.claim(limit=500)
    assert sorted(c.event.id for c in claimed) == sorted(e.id for e in events)


def test_dispatch_never_passes_an_event_of_a_transaction_still_open(setup: _Setup) -> None:
    """An event written by a transaction that is still open holds dispatch back: events that
    commit after it (with later positions) wait, so the earlier one is not skipped when it
    commits."""
    early = setup.event()
    with setup.store.unit_of_work() as open_one:
        open_one.events.add(early)
        # A write sends the deferred INSERT: the event now has its place in the feed.
        assert open_one.deliveries.purge(T0 - timedelta(days=365)) == 0
        (late,) = _in_thread(lambda: setup.record_events(1))
        assert _in_thread(lambda: setup.inventory.execute(None, DispatchEvents())) == 0
    assert dispatch_all(setup.inventory, 2) == 2
    claimed = setup.claim(limit=500)
    assert [c.event.id for c in claimed] == [early.id, late.id]  # feed order
