"""Contract tests of webhooks: the subscription use cases and the delivery queue
(WebhookRepository, DeliveryRepository) on an adapter (DESIGN §11).

Subclass :class:`WebhookContract` with a ``contract_adapter`` fixture. Time is a manual clock
and the retry schedule has no jitter, so every due time, lease and retry is exact.

The feed serves an event only once every transaction that could still write one before it has
ended; on a database that is a cluster-wide condition, so a test that expects its own committed
events to be dispatched asks again (for a few seconds at most) while a transaction elsewhere is
still running -- see :func:`dispatch_all`.
"""

from __future__ import annotations

import re
import threading
import time
from collections import Counter
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import attrs
import pytest

from inventory_core.commands import Command
from inventory_core.contract.adapter import ContractAdapter, Harness
from inventory_core.errors import NotFound, PermissionDenied, ValidationError, VersionMismatch
from inventory_core.events import Event, EventQuery, EventType
from inventory_core.executor import Executor
from inventory_core.passwords import Pbkdf2PasswordHasher
from inventory_core.present import present
from inventory_core.retries import RetrySchedule
from inventory_core.services.events import ListEvents
from inventory_core.services.items import ChangeItem, ItemChanges
from inventory_core.services.webhooks import (
    ChangeWebhook,
    ClaimDeliveries,
    CreateWebhook,
    DeleteWebhook,
    DispatchEvents,
    GetWebhook,
    ListDeliveryAttempts,
    ListWebhooks,
    PurgeDeliveryLog,
    RecordDeliveryAttempt,
    WebhookChanges,
)
from inventory_core.users import Role
from inventory_core.webhooks import (
    ClaimedDelivery,
    DeliveryAttempt,
    DeliveryStatus,
    NewWebhook,
    Webhook,
)

__all__ = ["LEASE", "SCHEDULE", "WebhookContract", "dispatch_all"]

SECRET_FORMAT = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")
LEASE = timedelta(seconds=60)
SCHEDULE = RetrySchedule(jitter=0)
"""The Standard Webhooks schedule without jitter: 8 attempts over 27 h 35 min 5 s."""
REFUSED_HOST = "refused.example"
"""The test's address guard refuses URLs with this host."""
SETTLE_SECONDS = 10.0
"""The longest a test waits for transactions elsewhere to end (see the module docstring)."""

CREATED = (EventType.ITEM_CREATED,)
UNKNOWN_TYPE: Any = ("item.deleted",)
AS_STRINGS: Any = ["item.created"]  # what a library caller may pass


def _url_check(url: str) -> str | None:
    if REFUSED_HOST in url:
        return f"{REFUSED_HOST} resolves to 10.0.0.1, which is not a public address (private)"
    return None


def dispatch_all(inventory: Executor, expected: int, *, limit: int = 500) -> int:
    """Dispatch until ``expected`` events have been dispatched (asking again only while fewer
    came back, for at most SETTLE_SECONDS); returns how many were, which may be more."""
    total = inventory.execute(None, DispatchEvents(limit=limit))
    deadline = time.monotonic() + SETTLE_SECONDS
    while total < expected and time.monotonic() < deadline:
        time.sleep(0.01)
        total += inventory.execute(None, DispatchEvents(limit=limit))
    return total


def _dispatch_exactly(h: Harness, count: int, *, now: datetime) -> None:
    """Dispatch ``count`` events through the port, ``limit`` never more than are left."""
    taken = 0
    deadline = time.monotonic() + SETTLE_SECONDS
    while taken < count:
        with h.unit_of_work() as uow:
            taken += uow.deliveries.dispatch(now=now, limit=count - taken)
        if taken < count:
            assert time.monotonic() < deadline, "the feed stayed held back"
            time.sleep(0.01)


def _claim(h: Harness, limit: int = 500) -> list[ClaimedDelivery]:
    return h.inventory.execute(None, ClaimDeliveries(lease=LEASE, limit=limit))


def _record(
    h: Harness,
    claimed: ClaimedDelivery,
    status: int | None = 200,
    error: str | None = None,
    duration_ms: int = 12,
) -> DeliveryAttempt | None:
    return h.inventory.execute(
        None,
        RecordDeliveryAttempt(
            claimed,
            attempted_at=h.clock.now(),
            status_code=status,
            error=error,
            duration_ms=duration_ms,
        ),
    )


def _pairs(claimed: list[ClaimedDelivery]) -> Counter[tuple[UUID, UUID]]:
    return Counter((c.delivery.webhook_id, c.delivery.event_id) for c in claimed)


def _events(h: Harness, count: int) -> list[Event]:
    """The feed, once it serves the ``count`` events the test committed (see dispatch_all)."""
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:
        events = list(h.inventory.execute(h.admin, ListEvents(EventQuery(), limit=500)).items)
        if len(events) >= count or time.monotonic() >= deadline:
            return events
        time.sleep(0.01)


def _log(h: Harness, webhook_id: UUID) -> list[DeliveryAttempt]:
    page = h.inventory.execute(h.admin, ListDeliveryAttempts(webhook_id, limit=500))
    return list(page.items)


class WebhookContract:
    """Webhooks on an adapter. Needs a ``contract_adapter`` fixture."""

    @pytest.fixture
    def h(self, contract_adapter: ContractAdapter) -> Harness:
        harness = Harness(contract_adapter)
        harness.inventory = Executor(
            harness.unit_of_work,
            clock=harness.clock,
            password_hasher=Pbkdf2PasswordHasher(iterations=1),
            webhook_url_check=_url_check,
            retry_schedule=SCHEDULE,
        )
        return harness

    def _hook(
        self,
        h: Harness,
        types: tuple[EventType, ...] = CREATED,
        url: str = "https://hooks.example.com/inventory",
        description: str | None = None,
    ) -> Webhook:
        return h.inventory.execute(h.admin, CreateWebhook(url, types, description)).webhook

    # ------------------------------------------------------------ subscriptions

    def test_a_webhook_is_created_with_a_secret_shown_once(self, h: Harness) -> None:
        created = h.inventory.execute(
            h.admin,
            CreateWebhook(
                "https://erp.example.com/hooks",
                (EventType.MOVEMENT_POSTED, EventType.ITEM_CREATED),
                "ERP sync",
            ),
        )
        assert isinstance(created, NewWebhook)
        assert SECRET_FORMAT.fullmatch(created.secret)
        webhook = created.webhook
        assert webhook.secret == created.secret
        assert created.secret not in repr(created)
        assert created.secret not in repr(webhook)
        assert (webhook.url, webhook.types, webhook.description) == (
            "https://erp.example.com/hooks",
            (EventType.ITEM_CREATED, EventType.MOVEMENT_POSTED),  # sorted
            "ERP sync",
        )
        now = h.clock.now()
        assert (webhook.created_at, webhook.updated_at, webhook.version) == (now, now, 1)
        assert (webhook.active, webhook.deactivated_reason) == (True, None)
        shown = present(webhook)
        assert "secret" not in shown
        assert created.secret not in repr(shown)
        assert shown["types"] == ["item.created", "movement.posted"]
        assert h.inventory.execute(h.admin, GetWebhook(webhook.id)) == webhook
        other = h.inventory.execute(
            h.admin, CreateWebhook("https://erp.example.com/hooks", CREATED)
        )
        assert other.secret != created.secret

    def test_create_rules(self, h: Harness) -> None:
        bad: list[tuple[CreateWebhook, str]] = [
            (CreateWebhook("ftp://files.example.com/x", CREATED), "$.url"),
            (CreateWebhook("https://", CREATED), "$.url"),
            (CreateWebhook("hooks.example.com/x", CREATED), "$.url"),
            (CreateWebhook("https://user:pw@hooks.example.com/", CREATED), "$.url"),
            (CreateWebhook("https://hooks.example.com/" + "a" * 1975, CREATED), "$.url"),
            (CreateWebhook("https://hooks.example.com:99999/", CREATED), "$.url"),
            (CreateWebhook("https://hooks.example.com/", ()), "$.types"),
            (CreateWebhook("https://hooks.example.com/", UNKNOWN_TYPE), "$.types[0]"),
            (
                CreateWebhook("https://hooks.example.com/", (EventType.ITEM_CREATED,) * 2),
                "$.types",
            ),
            (CreateWebhook("https://hooks.example.com/", CREATED, "d" * 501), "$.description"),
            (CreateWebhook("https://hooks.example.com/", CREATED, "bell\x07"), "$.description"),
        ]
        for command, path in bad:
            with pytest.raises(ValidationError) as refused:
                h.inventory.execute(h.admin, command)
            assert [e.path for e in refused.value.errors] == [path], command
        with pytest.raises(ValidationError) as guarded:
            h.inventory.execute(h.admin, CreateWebhook(f"https://{REFUSED_HOST}/hook", CREATED))
        assert [e.path for e in guarded.value.errors] == ["$.url"]
        assert "not a public address" in str(guarded.value)
        longest = "https://hooks.example.com/" + "a" * 1974
        assert len(longest) == 2000
        kept = h.inventory.execute(h.admin, CreateWebhook(longest, AS_STRINGS))
        assert kept.webhook.types == CREATED
        listed = h.inventory.execute(h.admin, ListWebhooks()).items
        assert listed == (kept.webhook,)  # the refused ones left nothing

    def test_only_admins_manage_webhooks(self, h: Harness) -> None:
        manager = h.user(Role.MANAGER)
        webhook = self._hook(h)
        commands: tuple[Command[Any], ...] = (
            CreateWebhook("https://hooks.example.com/", CREATED),
            ListWebhooks(),
            GetWebhook(webhook.id),
            ChangeWebhook(webhook.id, WebhookChanges(active=False)),
            DeleteWebhook(webhook.id),
            ListDeliveryAttempts(webhook.id),
        )
        for command in commands:
            with pytest.raises(PermissionDenied):
                h.inventory.execute(manager, command)
        assert h.inventory.execute(h.admin, GetWebhook(webhook.id)) == webhook

    def test_listing_pages_in_creation_order(self, h: Harness) -> None:
        hooks = [self._hook(h, url=f"https://hooks.example.com/{n}") for n in range(5)]
        page = h.inventory.execute(h.admin, ListWebhooks(limit=2))
        seen = list(page.items)
        while page.next_after is not None:
            page = h.inventory.execute(h.admin, ListWebhooks(after=page.next_after, limit=2))
            seen += page.items
        assert seen == hooks
        with pytest.raises(ValidationError):
            h.inventory.execute(h.admin, ListWebhooks(limit=0))

    def test_change_follows_the_version_rule(self, h: Harness) -> None:
        webhook = self._hook(h, description="first")
        same = h.inventory.execute(
            h.admin,
            ChangeWebhook(
                webhook.id,
                WebhookChanges(url=webhook.url, types=CREATED, description="first", active=True),
                expected_version=1,
            ),
        )
        assert same == webhook  # same values: no new version, no new updated_at
        later = h.clock.advance(minutes=1)
        changed = h.inventory.execute(
            h.admin,
            ChangeWebhook(
                webhook.id,
                WebhookChanges(
                    url="https://new.example.com/x",
                    types=(EventType.STOCK_BELOW_REORDER, EventType.ITEM_CREATED),
                    description=None,
                ),
                expected_version=1,
            ),
        )
        assert changed == attrs.evolve(
            webhook,
            url="https://new.example.com/x",
            types=(EventType.ITEM_CREATED, EventType.STOCK_BELOW_REORDER),
            description=None,
            version=2,
            updated_at=later,
        )
        assert h.inventory.execute(h.admin, GetWebhook(webhook.id)) == changed
        with pytest.raises(VersionMismatch):
            h.inventory.execute(
                h.admin,
                ChangeWebhook(webhook.id, WebhookChanges(active=False), expected_version=1),
            )
        for changes, path in (
            (WebhookChanges(url="gopher://x.example.com/"), "$.url"),
            (WebhookChanges(url=f"https://{REFUSED_HOST}/"), "$.url"),
            (WebhookChanges(types=()), "$.types"),
            (WebhookChanges(description="x" * 501), "$.description"),
        ):
            with pytest.raises(ValidationError) as refused:
                h.inventory.execute(h.admin, ChangeWebhook(webhook.id, changes))
            assert [e.path for e in refused.value.errors] == [path]
        off = h.inventory.execute(h.admin, ChangeWebhook(webhook.id, WebhookChanges(active=False)))
        assert (off.active, off.deactivated_reason, off.version) == (False, None, 3)
        assert h.inventory.execute(h.admin, GetWebhook(webhook.id)) == off
        assert off.secret == webhook.secret  # never changes

    def test_unknown_webhooks_are_not_found(self, h: Harness) -> None:
        webhook = self._hook(h)
        h.inventory.execute(h.admin, DeleteWebhook(webhook.id))
        for missing in (webhook.id, uuid4()):
            commands: tuple[Command[Any], ...] = (
                GetWebhook(missing),
                ChangeWebhook(missing, WebhookChanges(active=False)),
                DeleteWebhook(missing),
                ListDeliveryAttempts(missing),
            )
            for command in commands:
                with pytest.raises(NotFound):
                    h.inventory.execute(h.admin, command)
        assert h.inventory.execute(h.admin, ListWebhooks()).items == ()

    # ------------------------------------------------------------ dispatch

    def test_dispatch_makes_one_delivery_per_subscribed_active_webhook(self, h: Harness) -> None:
        items = self._hook(h, CREATED)
        both = self._hook(h, (EventType.ITEM_CREATED, EventType.LOCATION_CREATED))
        unsubscribed = self._hook(h, (EventType.MOVEMENT_POSTED,))
        inactive = self._hook(h, CREATED)
        h.inventory.execute(h.admin, ChangeWebhook(inactive.id, WebhookChanges(active=False)))
        h.warehouse()
        sku = h.item()
        h.inventory.execute(h.admin, ChangeItem(sku, ItemChanges(name="Renamed")))
        location_created, item_created, item_updated = _events(h, 3)
        assert dispatch_all(h.inventory, 3) == 3
        claimed = _claim(h)
        assert _pairs(claimed) == Counter(
            {
                (items.id, item_created.id): 1,
                (both.id, item_created.id): 1,
                (both.id, location_created.id): 1,
            }
        )
        assert unsubscribed.id not in {c.delivery.webhook_id for c in claimed}
        now = h.clock.now()
        for c in claimed:
            assert c.event == {e.id: e for e in (location_created, item_created)}[c.event.id]
            assert (c.delivery.status, c.delivery.attempts) == (DeliveryStatus.PENDING, 0)
            assert (c.delivery.next_attempt_at, c.delivery.created_at) == (now, now)
            assert c.lease_until == now + LEASE
            hook = items if c.delivery.webhook_id == items.id else both
            assert (c.url, c.secret) == (hook.url, hook.secret)
        assert len({c.lease for c in claimed}) == len(claimed)

        # Dispatched once: asking again finds nothing new, and a webhook created now does not
        # receive what was dispatched before it existed.
        late = self._hook(h, CREATED)
        # Nor does one turned on now receive what was dispatched while it was off.
        h.inventory.execute(h.admin, ChangeWebhook(inactive.id, WebhookChanges(active=True)))
        assert h.inventory.execute(None, DispatchEvents()) == 0
        h.clock.advance(LEASE.total_seconds())
        again = _claim(h)
        assert _pairs(again) == _pairs(claimed)
        assert not {late.id, inactive.id} & {c.delivery.webhook_id for c in again}
        assert item_updated.id not in {c.event.id for c in again}

    def test_dispatch_is_exactly_once_under_concurrent_dispatchers(self, h: Harness) -> None:
        webhook = self._hook(h, CREATED)
        skus = 24
        for _ in range(skus):
            h.item()
        totals: list[int] = []
        lock = threading.Lock()
        start = threading.Barrier(6)
        deadline = time.monotonic() + SETTLE_SECONDS

        def dispatcher() -> None:
            start.wait(timeout=10)
            while time.monotonic() < deadline:
                got = h.inventory.execute(None, DispatchEvents(limit=3))
                with lock:
                    totals.append(got)
                    if sum(totals) >= skus:
                        return

        threads = [threading.Thread(target=dispatcher) for _ in range(6)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert sum(totals) == skus
        assert all(0 <= t <= 3 for t in totals)
        assert h.inventory.execute(None, DispatchEvents()) == 0
        claimed = _claim(h)
        assert len(claimed) == skus
        assert {c.delivery.webhook_id for c in claimed} == {webhook.id}
        assert {c.event.id for c in claimed} == {e.id for e in _events(h, skus)}

    def test_an_event_rolled_back_is_never_dispatched(self, h: Harness) -> None:
        webhook = self._hook(h, CREATED)
        lost = Event(uuid4(), EventType.ITEM_CREATED, h.clock.now(), {"sku": "LOST"})
        with pytest.raises(RuntimeError), h.unit_of_work() as uow:  # noqa: PT012
            uow.events.add(lost)
            raise RuntimeError("roll back")
        h.item()
        (kept,) = _events(h, 1)
        # A dispatch rolled back is undone with its transaction: the events go out again.
        with pytest.raises(RuntimeError), h.unit_of_work() as uow:  # noqa: PT012
            deadline = time.monotonic() + SETTLE_SECONDS
            while not uow.deliveries.dispatch(now=h.clock.now(), limit=10):
                assert time.monotonic() < deadline
            raise RuntimeError("roll back")
        assert dispatch_all(h.inventory, 1) == 1
        claimed = _claim(h)
        assert [(c.delivery.webhook_id, c.event) for c in claimed] == [(webhook.id, kept)]

    def test_dispatch_leaves_the_events_of_its_own_transaction(self, h: Harness) -> None:
        """The feed is complete only up to the transactions still running, the dispatching
        one included: its own events go out with a later dispatch."""
        webhook = self._hook(h, CREATED)
        own = Event(uuid4(), EventType.ITEM_CREATED, h.clock.now(), {"sku": "OWN"})
        with h.unit_of_work() as uow:
            uow.events.add(own)
            assert uow.deliveries.dispatch(now=h.clock.now(), limit=10) == 0
        assert dispatch_all(h.inventory, 1) == 1
        claimed = _claim(h)
        assert [(c.delivery.webhook_id, c.event) for c in claimed] == [(webhook.id, own)]

    def test_dispatch_repository(self, h: Harness) -> None:
        """The port on its own: limit, feed order, due time, and a rollback undoing both the
        deliveries and the position."""
        webhook = self._hook(h, CREATED)
        for _ in range(5):
            h.item()
        events = _events(h, 5)
        later = h.clock.advance(hours=1)
        _dispatch_exactly(h, 2, now=later)
        assert [c.event for c in _claim(h)] == events[:2]  # feed order, oldest due first
        _dispatch_exactly(h, 3, now=later)
        h.clock.advance(LEASE.total_seconds())
        claimed = _claim(h)
        assert len(claimed) == 5
        assert {c.delivery.webhook_id for c in claimed} == {webhook.id}
        assert all(c.delivery.next_attempt_at == later for c in claimed)
        with h.unit_of_work() as uow:
            assert uow.deliveries.dispatch(now=later, limit=500) == 0

    # ------------------------------------------------------------ claim and record

    def test_a_claim_leases_a_delivery_until_the_lease_ends(self, h: Harness) -> None:
        self._hook(h, CREATED)
        h.item()
        assert dispatch_all(h.inventory, 1) == 1
        (first,) = _claim(h)
        assert _claim(h) == []  # leased
        h.clock.advance(LEASE.total_seconds() - 1)
        assert _claim(h) == []
        h.clock.advance(seconds=1)  # lease_until is the first moment it is free again
        (second,) = _claim(h)
        assert second.delivery == first.delivery
        assert second.lease != first.lease
        assert second.lease_until == h.clock.now() + LEASE
        # The first holder lost it: its outcome is not recorded, the second's is.
        assert _record(h, first) is None
        assert _log(h, first.delivery.webhook_id) == []
        recorded = _record(h, second)
        assert recorded is not None
        assert recorded.attempt == 1
        assert [a.id for a in _log(h, first.delivery.webhook_id)] == [recorded.id]

    def test_claim_takes_at_most_limit_oldest_due_first(self, h: Harness) -> None:
        self._hook(h, CREATED)
        for _ in range(3):
            h.item()
        events = _events(h, 3)
        assert dispatch_all(h.inventory, 3) == 3
        first = _claim(h, limit=2)
        assert [c.event for c in first] == events[:2]
        second = _claim(h, limit=2)
        assert [c.event for c in second] == events[2:]
        assert _claim(h) == []
        for command in (ClaimDeliveries(LEASE, 0), ClaimDeliveries(timedelta(0), 1)):
            with pytest.raises(ValidationError):
                h.inventory.execute(None, command)

    def test_recording_with_a_lost_lease_changes_nothing(self, h: Harness) -> None:
        webhook = self._hook(h, CREATED)
        h.item()
        assert dispatch_all(h.inventory, 1) == 1
        (claimed,) = _claim(h)
        forged = attrs.evolve(claimed, lease=uuid4())
        attempt = DeliveryAttempt(
            id=h.inventory.context.ids.new_id(),
            webhook_id=webhook.id,
            event_id=claimed.event.id,
            event_type=claimed.event.type,
            attempt=1,
            attempted_at=h.clock.now(),
            status_code=200,
            error=None,
            duration_ms=5,
            next_attempt_at=None,
        )
        with h.unit_of_work() as uow:
            assert uow.deliveries.record(forged, attempt) is False
        assert _record(h, forged) is None
        assert _log(h, webhook.id) == []
        h.clock.advance(LEASE.total_seconds())
        (again,) = _claim(h)  # still pending, no attempt counted
        assert again.delivery == claimed.delivery
        with h.unit_of_work() as uow:
            assert uow.deliveries.record(again, attempt) is True
            assert uow.deliveries.record(again, attempt) is False  # the lease is released
        assert _log(h, webhook.id) == [attempt]

    def test_a_delivered_event_is_not_claimed_again(self, h: Harness) -> None:
        webhook = self._hook(h, CREATED)
        h.item()
        assert dispatch_all(h.inventory, 1) == 1
        (claimed,) = _claim(h)
        recorded = _record(h, claimed, status=204, duration_ms=31)
        assert recorded is not None
        assert recorded.succeeded
        assert (recorded.webhook_id, recorded.event_id, recorded.event_type) == (
            webhook.id,
            claimed.event.id,
            EventType.ITEM_CREATED,
        )
        assert (recorded.attempt, recorded.status_code, recorded.error) == (1, 204, None)
        assert (recorded.duration_ms, recorded.next_attempt_at) == (31, None)
        assert recorded.attempted_at == h.clock.now()
        assert _log(h, webhook.id) == [recorded]
        h.clock.advance(days=2)
        assert _claim(h) == []

    def test_a_failed_attempt_is_retried_when_the_schedule_says(self, h: Harness) -> None:
        webhook = self._hook(h, CREATED)
        h.item()
        assert dispatch_all(h.inventory, 1) == 1
        (claimed,) = _claim(h)
        failed = _record(h, claimed, status=None, error="timed out after 10 s", duration_ms=10_000)
        assert failed is not None
        assert not failed.succeeded
        retry_at = h.clock.now() + timedelta(seconds=5)
        assert (failed.status_code, failed.error, failed.next_attempt_at) == (
            None,
            "timed out after 10 s",
            retry_at,
        )
        h.clock.advance(seconds=4)
        assert _claim(h) == []  # not due yet (the lease was released, not what holds it)
        h.clock.advance(seconds=1)
        (retry,) = _claim(h)
        assert (retry.delivery.attempts, retry.delivery.next_attempt_at) == (1, retry_at)
        second = _record(h, retry, status=503)
        assert second is not None
        assert (second.attempt, second.next_attempt_at) == (2, h.clock.now() + timedelta(minutes=5))
        assert [a.attempt for a in _log(h, webhook.id)] == [2, 1]
        assert h.inventory.execute(h.admin, GetWebhook(webhook.id)).active

    def test_exhausting_the_schedule_fails_the_delivery_and_deactivates_the_webhook(
        self, h: Harness
    ) -> None:
        webhook = self._hook(h, CREATED)
        bystander = self._hook(h, CREATED)
        h.item()
        assert dispatch_all(h.inventory, 1) == 1
        started = h.clock.now()
        attempt: DeliveryAttempt | None = None
        for number in range(1, SCHEDULE.max_attempts + 1):
            claimed = [c for c in _claim(h) if c.delivery.webhook_id == webhook.id]
            assert [c.delivery.attempts for c in claimed] == [number - 1]
            attempt = _record(h, claimed[0], status=500)
            assert attempt is not None
            assert attempt.attempt == number
            if number < SCHEDULE.max_attempts:
                assert attempt.next_attempt_at is not None
                assert h.inventory.execute(h.admin, GetWebhook(webhook.id)) == webhook
                h.clock.set(attempt.next_attempt_at)
        assert attempt is not None
        assert attempt.next_attempt_at is None
        assert h.clock.now() - started == SCHEDULE.total_span()
        off = h.inventory.execute(h.admin, GetWebhook(webhook.id))
        assert off == attrs.evolve(
            webhook,
            active=False,
            deactivated_reason="deliveries failed for 27 hours; last: HTTP 500",
            version=2,
            updated_at=h.clock.now(),
        )
        assert off in h.inventory.execute(h.admin, ListWebhooks()).items
        assert h.inventory.execute(h.admin, GetWebhook(bystander.id)) == bystander
        log = _log(h, webhook.id)
        assert [a.attempt for a in log] == list(range(SCHEDULE.max_attempts, 0, -1))
        h.clock.advance(days=1)
        assert all(c.delivery.webhook_id != webhook.id for c in _claim(h))

        # Turned back on: the reason goes, the failed delivery stays failed, new events flow.
        on = h.inventory.execute(h.admin, ChangeWebhook(webhook.id, WebhookChanges(active=True)))
        assert (on.active, on.deactivated_reason, on.version) == (True, None, 3)
        assert h.inventory.execute(h.admin, GetWebhook(webhook.id)) == on
        h.clock.advance(LEASE.total_seconds())
        assert all(c.delivery.webhook_id != webhook.id for c in _claim(h))
        h.item()
        assert dispatch_all(h.inventory, 1) == 1
        fresh = [c for c in _claim(h) if c.delivery.webhook_id == webhook.id]
        assert [c.delivery.attempts for c in fresh] == [0]

    def test_deliveries_of_a_webhook_turned_off_wait(self, h: Harness) -> None:
        webhook = self._hook(h, CREATED)
        h.item()
        assert dispatch_all(h.inventory, 1) == 1
        h.inventory.execute(h.admin, ChangeWebhook(webhook.id, WebhookChanges(active=False)))
        assert _claim(h) == []
        h.inventory.execute(h.admin, ChangeWebhook(webhook.id, WebhookChanges(active=True)))
        (claimed,) = _claim(h)
        assert claimed.delivery.webhook_id == webhook.id

    def test_the_log_pages_newest_first(self, h: Harness) -> None:
        webhook = self._hook(h, CREATED)
        other = self._hook(h, CREATED)
        h.item()
        h.item()
        assert dispatch_all(h.inventory, 2) == 2
        made: list[DeliveryAttempt] = []
        for status in (500, 502, 200, 200):
            mine = [c for c in _claim(h) if c.delivery.webhook_id == webhook.id]
            attempt = _record(h, mine[0], status=status)
            assert attempt is not None
            made.append(attempt)
            h.clock.advance(minutes=10)
        assert [a.attempt for a in made] == [1, 1, 2, 2]
        seen: list[DeliveryAttempt] = []
        page = h.inventory.execute(h.admin, ListDeliveryAttempts(webhook.id, limit=3))
        assert len(page.items) == 3
        seen += page.items
        assert page.next_after == page.items[-1].id
        page = h.inventory.execute(
            h.admin, ListDeliveryAttempts(webhook.id, before=page.next_after, limit=3)
        )
        seen += page.items
        assert page.next_after is None
        assert seen == made[::-1]
        assert _log(h, other.id) == []
        with pytest.raises(ValidationError):
            h.inventory.execute(h.admin, ListDeliveryAttempts(webhook.id, limit=501))

    def test_purge_deletes_the_old_log_and_finished_deliveries(self, h: Harness) -> None:
        webhook = self._hook(h, CREATED)
        for _ in range(3):
            h.item()
        assert dispatch_all(h.inventory, 3) == 3
        delivered, retried, also_delivered = _claim(h)
        assert _record(h, delivered) is not None
        assert _record(h, retried, status=500) is not None
        assert _record(h, also_delivered) is not None
        cut = h.clock.advance(seconds=1)
        assert h.inventory.execute(None, PurgeDeliveryLog(cut - timedelta(seconds=1))) == 0
        h.clock.advance(days=1)
        # Three log entries and the two finished deliveries; the pending one stays.
        assert h.inventory.execute(None, PurgeDeliveryLog(cut)) == 5
        assert _log(h, webhook.id) == []
        assert h.inventory.execute(None, PurgeDeliveryLog(cut)) == 0
        (pending,) = _claim(h)
        assert (pending.event, pending.delivery.attempts) == (retried.event, 1)
        last = _record(h, pending)
        assert last is not None
        assert _log(h, webhook.id) == [last]

    def test_deleting_a_webhook_deletes_its_deliveries_and_log(self, h: Harness) -> None:
        webhook = self._hook(h, CREATED)
        kept = self._hook(h, CREATED)
        h.item()
        h.item()
        assert dispatch_all(h.inventory, 2) == 2
        claimed = [c for c in _claim(h) if c.delivery.webhook_id == webhook.id]
        assert len(claimed) == 2
        assert _record(h, claimed[0], status=500) is not None
        h.inventory.execute(h.admin, DeleteWebhook(webhook.id))
        assert _record(h, claimed[1]) is None  # the lease went with the delivery
        with pytest.raises(NotFound):
            h.inventory.execute(h.admin, ListDeliveryAttempts(webhook.id))
        h.clock.advance(days=1)
        remaining = _claim(h)
        assert {c.delivery.webhook_id for c in remaining} == {kept.id}
        assert len(remaining) == 2
        assert h.inventory.execute(h.admin, ListWebhooks()).items == (kept,)
