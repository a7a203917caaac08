"""The webhook delivery worker against a real receiver (a stdlib HTTP server on 127.0.0.1), on
the in-memory store and on Postgres: events become signed deliveries that the ``standardwebhooks``
package verifies, a failed attempt comes back with the same ``webhook-id`` and the same body,
two workers on one database share the work without sending anything twice, and housekeeping
purges old events and the old delivery log.

The clock is a :class:`ManualClock` started at the real time (receivers check that the signed
timestamp is recent), so retries come when a test says, not after real seconds.
"""

from __future__ import annotations

import contextlib
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import attrs
import psycopg
import pytest
from psycopg import sql
from standardwebhooks.webhooks import Webhook as StandardWebhook
from standardwebhooks.webhooks import WebhookVerificationError

from inventory_core.clocks import ManualClock
from inventory_core.errors import Unavailable
from inventory_core.events import Event, EventType
from inventory_core.executor import Executor
from inventory_core.items import Item
from inventory_core.memory.store import InMemoryStore
from inventory_core.passwords import Pbkdf2PasswordHasher
from inventory_core.ports import Clock, UnitOfWork
from inventory_core.present import present
from inventory_core.retries import RetrySchedule
from inventory_core.services.events import ListEvents
from inventory_core.services.items import CreateItem
from inventory_core.services.locations import CreateLocation
from inventory_core.services.users import ProvisionUser
from inventory_core.services.webhooks import CreateWebhook
from inventory_core.signing import new_secret
from inventory_core.users import Actor
from inventory_core.webhooks import DeliveryAttempt, NewWebhook
from inventory_http.outbound import WebhookSender
from inventory_http.responses import dump
from inventory_http.settings import Settings
from inventory_http.wiring import webhook_url_check
from inventory_http.worker import DeliveryWorker
from inventory_pg import PgStore, apply_migrations

RETENTION = timedelta(days=30)
QUICK_RETRIES = RetrySchedule(delays=(timedelta(seconds=5),) * 3, jitter=0)
"""Retries 5 s apart by the manual clock, without jitter (the tests move the clock)."""
DEADLINE = 30.0


SETTLE = 10.0
"""Seconds a test waits at most for its events to become dispatchable."""

# ---------------------------------------------------------------- the receiver


@attrs.frozen
class Received:
    """One request as the receiver got it."""

    webhook_id: str
    headers: dict[str, str]
    """Names in lower case."""
    body: bytes
    answered: int
    """The status the receiver answered."""
    at: float = attrs.field(factory=time.monotonic, eq=False)
    """When it arrived (``time.monotonic()``)."""

    def verify(self, secret: str) -> Any:
        """What ``standardwebhooks`` makes of it (raises WebhookVerificationError if forged)."""
        return StandardWebhook(secret).verify(self.body, self.headers)


class _Handler(BaseHTTPRequestHandler):
    server: WebhookReceiver

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = self.rfile.read(length)
        headers = {name.lower(): value for name, value in self.headers.items()}
        status = self.server.record(headers, body)
        if self.server.hold:
            time.sleep(self.server.hold)
        self.send_response(status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


class WebhookReceiver(ThreadingHTTPServer):
    """A webhook endpoint on 127.0.0.1 (an ephemeral port) that records every request.

    ``fail_first``: answer 500 to the first request of each ``webhook-id``, 200 afterwards.
    ``hold``: wait that many seconds before answering (recorded on arrival, though)."""

    daemon_threads = True

    def __init__(self, *, fail_first: bool = False, hold: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.fail_first = fail_first
        self.hold = hold
        self.received: list[Received] = []
        self._changed = threading.Condition()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/hooks"

    def record(self, headers: dict[str, str], body: bytes) -> int:
        webhook_id = headers.get("webhook-id", "")
        with self._changed:
            seen = any(r.webhook_id == webhook_id for r in self.received)
            status = 500 if self.fail_first and not seen else 200
            self.received.append(Received(webhook_id, headers, body, status))
            self._changed.notify_all()
        return status

    def snapshot(self) -> list[Received]:
        with self._changed:
            return list(self.received)

    def by_id(self) -> dict[str, list[Received]]:
        grouped: dict[str, list[Received]] = {}
        for request in self.snapshot():
            grouped.setdefault(request.webhook_id, []).append(request)
        return grouped

    def wait_for(self, condition: Callable[[list[Received]], bool], deadline: float) -> bool:
        """Wait until ``condition(requests so far)`` holds; False after ``deadline`` seconds."""
        end = time.monotonic() + deadline
        with self._changed:
            while not condition(self.received):
                left = end - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            return True

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a sender that went away (killed, timed out) is what some tests are about


@contextlib.contextmanager
def serving(receiver: WebhookReceiver) -> Iterator[WebhookReceiver]:
    """Serve ``receiver`` from a thread until the block ends."""
    thread = threading.Thread(target=receiver.serve_forever, kwargs={"poll_interval": 0.01})
    thread.start()
    try:
        yield receiver
    finally:
        receiver.shutdown()
        receiver.server_close()
        thread.join()


# ---------------------------------------------------------------- stores and worlds


Opener = Callable[[Clock], Callable[[], UnitOfWork]]
"""A clock -> a new store's unit-of-work factory (a store of its own, on the same data)."""


@contextlib.contextmanager
def fresh_database(server_url: str) -> Iterator[str]:
    """A new, migrated database on the test server, dropped at the end."""
    name = f"worker_{secrets.token_hex(5)}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    url = server_url.rsplit("/", 1)[0] + "/" + name
    try:
        apply_migrations(url)
        yield url
    finally:
        with psycopg.connect(server_url, autocommit=True) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )


@pytest.fixture
def postgres_opener(database_url: str) -> Iterator[Opener]:
    """Opens stores (each its own pool) on one fresh database."""
    stores: list[PgStore] = []
    with fresh_database(database_url) as url:

        def open_store(clock: Clock) -> Callable[[], UnitOfWork]:
            store = PgStore.open(url, min_size=1, max_size=8, timeout=10)
            stores.append(store)
            return store.unit_of_work

        try:
            yield open_store
        finally:
            for store in stores:
                store.close()


@pytest.fixture(params=["memory", pytest.param("postgres", marks=pytest.mark.postgres)])
def opener(request: pytest.FixtureRequest) -> Opener:
    if request.param == "memory":
        return lambda clock: InMemoryStore(clock).unit_of_work
    opened: Opener = request.getfixturevalue("postgres_opener")
    return opened


@attrs.define
class World:
    """An executor on a store, an admin, and a manual clock at the real time."""

    executor: Executor
    clock: ManualClock
    admin: Actor

    @classmethod
    def make(cls, unit_of_work: Callable[[], UnitOfWork], clock: ManualClock) -> World:
        executor = Executor(
            unit_of_work,
            clock=clock,
            password_hasher=Pbkdf2PasswordHasher(iterations=1000),
            webhook_url_check=webhook_url_check(Settings(webhook_allow_private=True)),
            retry_schedule=QUICK_RETRIES,
        )
        admin = executor.execute(
            None,
            ProvisionUser(
                username=f"admin-{secrets.token_hex(3)}", password="x" * 12, role="admin"
            ),
        )
        return cls(executor, clock, admin.actor)

    def webhook(self, url: str, *types: EventType) -> NewWebhook:
        return self.executor.execute(self.admin, CreateWebhook(url=url, types=types))

    def items(self, count: int, tag: str = "IT") -> list[Item]:
        return [
            self.executor.execute(self.admin, CreateItem(sku=f"{tag}-{n}", name=f"Item {n}"))
            for n in range(count)
        ]

    def events(self) -> list[Event]:
        return list(self.executor.execute(self.admin, ListEvents(limit=500)).items)

    def attempts(self, webhook_id: Any) -> list[DeliveryAttempt]:
        """The webhook's delivery log, oldest first."""
        with self.executor.unit_of_work() as uow:
            return list(reversed(uow.deliveries.attempts(webhook_id, before=None, limit=1000)))

    def worker(self, **options: Any) -> DeliveryWorker:
        settings: dict[str, Any] = {
            "concurrency": 4,
            "idle_wait": 0.05,
            "event_retention": RETENTION,
            "delivery_log_retention": RETENTION,
        }
        settings.update(options)
        return DeliveryWorker(
            self.executor, WebhookSender(allow_private=True, timeout=5), **settings
        )


@pytest.fixture
def world(opener: Opener) -> World:
    clock = ManualClock(datetime.now(UTC))
    return World.make(opener(clock), clock)


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with serving(WebhookReceiver()) as running:
        yield running


@pytest.fixture
def failing_once() -> Iterator[WebhookReceiver]:
    with serving(WebhookReceiver(fail_first=True)) as running:
        yield running


@contextlib.contextmanager
def closing(worker: DeliveryWorker) -> Iterator[DeliveryWorker]:
    try:
        yield worker
    finally:
        worker.close()


def first_runs(worker: DeliveryWorker, expected: int) -> int:
    """``run_once`` until ``expected`` attempts were made (at most SETTLE seconds): on Postgres
    an event is dispatched only once every transaction that began before its commit has ended,
    anywhere on the server, so the very first run may find it not yet dispatchable."""
    made = worker.run_once()
    deadline = time.monotonic() + SETTLE
    while made < expected and time.monotonic() < deadline:
        time.sleep(0.01)
        made += worker.run_once()
    return made


# ---------------------------------------------------------------- tests


def test_events_become_signed_deliveries_of_the_event_as_the_feed_shows_it(
    world: World, receiver: WebhookReceiver
) -> None:
    hook = world.webhook(receiver.url, EventType.ITEM_CREATED)
    world.items(3)
    world.executor.execute(
        world.admin, CreateLocation(code="WH-1", name="Not subscribed", kind="warehouse")
    )
    feed = {str(e.id): e for e in world.events() if e.type is EventType.ITEM_CREATED}
    assert len(feed) == 3

    with closing(world.worker()) as worker:
        assert first_runs(worker, 3) == 3
        assert worker.run_once() == 0  # delivered: nothing is due any more

    requests = receiver.snapshot()
    assert sorted(r.webhook_id for r in requests) == sorted(feed)  # the location's is not sent
    for request in requests:
        event = feed[request.webhook_id]
        assert request.verify(hook.secret) == json.loads(request.body)
        # The body is the event as GET /v1/events shows it, in the API's JSON.
        assert request.body == dump(present(event))
        assert json.loads(request.body) == {
            "id": str(event.id),
            "type": "item.created",
            "timestamp": present(event.timestamp),
            "data": event.data,
        }
        assert request.headers["webhook-timestamp"] == str(int(world.clock.now().timestamp()))
        assert request.headers["content-type"] == "application/json"
    with pytest.raises(WebhookVerificationError):
        requests[0].verify(new_secret())  # signed with the webhook's secret, no other
    log = world.attempts(hook.webhook.id)
    assert sorted(str(a.event_id) for a in log) == sorted(feed)
    assert all(a.attempt == 1 and a.status_code == 200 and a.succeeded for a in log)
    assert all(a.next_attempt_at is None for a in log)


def test_a_failed_attempt_comes_again_with_the_same_id_and_body_when_due(
    world: World, failing_once: WebhookReceiver
) -> None:
    hook = world.webhook(failing_once.url, EventType.ITEM_CREATED)
    world.items(2)
    with closing(world.worker()) as worker:
        assert first_runs(worker, 2) == 2  # both answered 500
        assert worker.run_once() == 0  # the retry is not due yet
        world.clock.advance(4)
        assert worker.run_once() == 0
        world.clock.advance(1)  # 5 s after the failure: due
        assert worker.run_once() == 2
        world.clock.advance(3600)
        assert worker.run_once() == 0  # delivered: never again

    by_id = failing_once.by_id()
    assert len(by_id) == 2
    for first, second in by_id.values():
        assert (first.answered, second.answered) == (500, 200)
        assert first.body == second.body  # the same bytes on every attempt
        assert first.headers["webhook-id"] == second.headers["webhook-id"]
        # Signed again for each attempt, with that attempt's time.
        assert (
            int(second.headers["webhook-timestamp"]) == int(first.headers["webhook-timestamp"]) + 5
        )
        assert first.verify(hook.secret) == second.verify(hook.secret)
    log = world.attempts(hook.webhook.id)
    assert [(a.attempt, a.status_code) for a in log] == [(1, 500), (1, 500), (2, 200), (2, 200)]
    assert all(a.next_attempt_at is not None for a in log[:2])
    assert all(a.next_attempt_at is None for a in log[2:])


def test_an_endpoint_that_never_answers_is_given_up_and_deactivated(world: World) -> None:
    closed = world.webhook("http://127.0.0.1:9/nobody-listens", EventType.ITEM_CREATED)
    world.items(1)
    with closing(world.worker()) as worker:
        for _ in range(QUICK_RETRIES.max_attempts):
            assert first_runs(worker, 1) == 1
            world.clock.advance(5)
        assert worker.run_once() == 0
    log = world.attempts(closed.webhook.id)
    assert [a.attempt for a in log] == [1, 2, 3, 4]
    assert all(a.status_code is None and a.error == "connection refused" for a in log)
    assert log[-1].next_attempt_at is None
    with world.executor.unit_of_work() as uow:
        webhook = uow.webhooks.get(closed.webhook.id)
    assert webhook is not None
    assert not webhook.active
    assert webhook.deactivated_reason


@pytest.mark.postgres
def test_two_workers_on_one_database_deliver_every_event_exactly_once(
    postgres_opener: Opener,
) -> None:
    events = 60
    with serving(WebhookReceiver(hold=0.02)) as receiver:
        clock = ManualClock(datetime.now(UTC))
        first = World.make(postgres_opener(clock), clock)
        # The second worker has a pool and an executor of its own, on the same database.
        second = attrs.evolve(
            first,
            executor=Executor(postgres_opener(clock), clock=clock, retry_schedule=QUICK_RETRIES),
        )
        hook = first.webhook(receiver.url, EventType.ITEM_CREATED)
        first.items(events)
        workers = [
            DeliveryWorker(
                w.executor,
                WebhookSender(allow_private=True, timeout=5, user_agent=f"worker-{n}"),
                concurrency=4,
                batch=5,
                idle_wait=0.02,
                event_retention=RETENTION,
                delivery_log_retention=RETENTION,
            )
            for n, w in enumerate((first, second))
        ]
        stop = threading.Event()
        threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
        for thread in threads:
            thread.start()
        try:
            done = receiver.wait_for(
                lambda got: len({r.webhook_id for r in got}) == events, DEADLINE
            )
            time.sleep(0.3)  # room for a duplicate to show up
        finally:
            stop.set()
            for thread in threads:
                thread.join()
            for worker in workers:
                worker.close()
        assert done, f"{len(receiver.by_id())} of {events} events arrived"

    requests = receiver.snapshot()
    assert len(requests) == events, "some attempt was sent twice"
    assert all(len(copies) == 1 for copies in receiver.by_id().values())
    # Both took part: the exactly-once above is about sharing, not about one doing it all.
    assert {r.headers["user-agent"] for r in requests} == {"worker-0", "worker-1"}
    log = first.attempts(hook.webhook.id)
    assert len(log) == events
    assert all(a.attempt == 1 and a.succeeded for a in log)
    assert {str(a.event_id) for a in log} == {r.webhook_id for r in requests}


def test_housekeeping_purges_old_events_and_delivery_log_at_most_every_interval(
    world: World, receiver: WebhookReceiver
) -> None:
    hook = world.webhook(receiver.url, EventType.ITEM_CREATED)
    [old] = world.items(1, tag="OLD")
    with closing(world.worker(housekeeping_every=timedelta(days=60))) as worker:
        assert first_runs(worker, 1) == 1
        assert len(world.attempts(hook.webhook.id)) == 1

        world.clock.advance(days=31)
        [new] = world.items(1, tag="NEW")
        assert worker.housekeep_if_due() >= 2  # the old event and its attempt
        assert [e.data["sku"] for e in world.events()] == ["NEW-0"]
        assert world.attempts(hook.webhook.id) == []
        assert old.sku == "OLD-0"

        world.clock.advance(days=31)  # NEW is old now, but housekeeping ran 31 days ago
        assert worker.housekeep_if_due() == 0
        assert [e.data["sku"] for e in world.events()] == [new.sku]

        world.clock.advance(days=29)
        assert worker.housekeep_if_due() >= 1
        assert world.events() == []


def test_run_survives_a_failing_database_and_stops_when_told() -> None:
    clock = ManualClock(datetime.now(UTC))
    store = InMemoryStore(clock)
    healthy = World.make(store.unit_of_work, clock)
    broken = {"on": True}

    def unit_of_work() -> UnitOfWork:
        if broken["on"]:
            raise Unavailable("the database is down")
        return store.unit_of_work()

    with serving(WebhookReceiver()) as receiver:
        healthy.webhook(receiver.url, EventType.ITEM_CREATED)
        healthy.items(2)
        executor = Executor(unit_of_work, clock=clock)
        worker = DeliveryWorker(
            executor,
            WebhookSender(allow_private=True, timeout=5),
            idle_wait=0.02,
            event_retention=RETENTION,
            delivery_log_retention=RETENTION,
        )
        stop = threading.Event()
        thread = threading.Thread(target=worker.run, args=(stop,))
        thread.start()
        try:
            time.sleep(0.3)
            assert thread.is_alive()  # failing, backing off, not dead
            assert receiver.snapshot() == []
            broken["on"] = False  # back: delivered after the backoff (1 s, then 2 s)
            delivered = receiver.wait_for(lambda got: len(got) == 2, 5)
        finally:
            stop.set()
            thread.join(timeout=5)
            worker.close()
        assert delivered
        assert not thread.is_alive()
