"""The Postgres unit of work and repositories beyond the contract: atomic calls, savepoints,
non-blocking idempotency claims, locking reads, and the round trips a use case costs."""

from __future__ import annotations

import contextlib
import re
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import pq
from psycopg_pool import ConnectionPool

from inventory_core.contract.adapter import Harness
from inventory_core.errors import (
    AlreadyExists,
    InsufficientStock,
    InvalidOperation,
    ValidationError,
)
from inventory_core.feed import FEED_START
from inventory_core.idempotency import IdempotencyOutcome, IdempotencyRecord
from inventory_core.locations import CUSTOMER_LOCATION_ID, SUPPLIER_LOCATION_ID
from inventory_core.ports import (
    ItemQuery,
    MovementQuery,
    UnitOfWork,
    WarehouseStockQuery,
)
from inventory_core.reservations import Reservation
from inventory_core.services.items import GetItem
from inventory_core.services.movements import (
    LineRequest,
    ListMovements,
    PostMovement,
    post_movement,
)
from inventory_core.services.reservations import ReserveStock
from inventory_core.stock import LocationChange, WarehouseChange
from inventory_pg import PgStore, configure_connection
from inventory_pg.testing import FreshDatabaseAdapter
from tests.integration._threads import wait_until_blocked

pytestmark = pytest.mark.postgres


@pytest.fixture
def h(pg: PgStore) -> Harness:
    """An Inventory (and helpers) on the emptied Postgres store."""
    return Harness(FreshDatabaseAdapter(pg))


def _on_hand(pg: PgStore, item: uuid.UUID, location: uuid.UUID) -> int:
    with pg.unit_of_work() as uow:
        return uow.stock.on_hand([(item, location)])[(item, location)]


def _receive(h: Harness, item: uuid.UUID, location: uuid.UUID, quantity: int) -> None:
    h.inventory.execute(
        h.admin, PostMovement("receipt", [LineRequest(item, quantity, to_location_id=location)])
    )


# ------------------------------------------------------------ atomic calls and savepoints


def test_a_refused_apply_leaves_no_trace_and_the_transaction_goes_on(
    h: Harness, pg: PgStore
) -> None:
    wh = h.warehouse()
    a, b = h.bin(wh), h.bin(wh)
    item, other, fresh = h.item(), h.item(), h.item()
    _receive(h, item, a, 5)
    _receive(h, other, a, 1)
    with pg.unit_of_work() as uow:
        with pytest.raises(InsufficientStock) as refused:
            uow.stock.apply(
                [
                    LocationChange(item, a, -5, True),
                    LocationChange(item, b, 5, True),
                    LocationChange(other, a, -2, True),  # short: 1 there
                    LocationChange(other, b, 2, True),
                    LocationChange(fresh, CUSTOMER_LOCATION_ID, 7, False),  # a row created...
                ],
                [WarehouseChange(fresh, wh, on_hand_delta=3)],  # ...and a warehouse level
            )
        assert (refused.value.item_id, refused.value.location_id) == (other, a)
        assert (refused.value.available, refused.value.requested) == (1, 2)
        # Everything the call had already changed is back as it was, within the transaction.
        assert uow.stock.on_hand([(item, a), (item, b), (fresh, CUSTOMER_LOCATION_ID)]) == {
            (item, a): 5,
            (item, b): 0,
            (fresh, CUSTOMER_LOCATION_ID): 0,
        }
        levels = uow.stock.warehouse_levels(
            WarehouseStockQuery(item_id=fresh), now=datetime.now(UTC), after=None, limit=None
        )
        assert levels == []  # "levels that ever existed": the refused call created none
        uow.stock.apply([LocationChange(item, a, -1, True), LocationChange(item, b, 1, True)], [])
    assert (_on_hand(pg, item, a), _on_hand(pg, item, b)) == (4, 1)


def test_a_refused_warehouse_change_names_the_warehouse(h: Harness, pg: PgStore) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    _receive(h, item, a, 3)
    h.inventory.execute(h.admin, ReserveStock(item, wh, 2))
    with pg.unit_of_work() as uow:
        with pytest.raises(InsufficientStock) as refused:
            uow.stock.apply([], [WarehouseChange(item, wh, reserved_delta=2)])
        assert (refused.value.location_id, refused.value.available) == (wh, 1)
        assert refused.value.requested == 2
        with pytest.raises(InvalidOperation):
            uow.stock.apply([], [WarehouseChange(item, wh, reserved_delta=-3)])


def test_a_failed_add_changes_nothing_and_the_transaction_goes_on(h: Harness, pg: PgStore) -> None:
    existing = h.inventory.execute(h.admin, GetItem(h.item()))
    with pg.unit_of_work() as uow:
        clash = existing.__class__(
            id=uuid.uuid4(),
            sku="NEW-1",
            name="n",
            created_at=existing.created_at,
            updated_at=existing.updated_at,
            barcodes=("B-1", "B-2"),
        )
        uow.items.add(clash)
        dup = clash.__class__(
            id=uuid.uuid4(),
            sku="NEW-2",
            name="n",
            created_at=existing.created_at,
            updated_at=existing.updated_at,
            barcodes=("B-3", "B-2"),  # B-3 would go in before B-2 clashes
        )
        with pytest.raises(AlreadyExists):
            uow.items.add(dup)
        assert uow.items.list(ItemQuery(barcode="B-3"), after=None, limit=5) == []
    with pg.unit_of_work() as uow:
        assert [i.sku for i in uow.items.list(ItemQuery(text="new"), after=None, limit=5)] == [
            "NEW-1"
        ]


def test_a_nested_block_that_fails_undoes_only_its_own_work(h: Harness, pg: PgStore) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()

    # The use cases themselves, inside units of work of the test's own.
    def run(uow: UnitOfWork, command: PostMovement) -> None:
        post_movement(h.inventory.context, uow, h.admin, command)

    def receive_then_fail(uow: UnitOfWork) -> None:
        with uow:
            run(uow, PostMovement("receipt", [LineRequest(item, 3, to_location_id=a)]))
            raise RuntimeError("the inner part fails")

    uow = pg.unit_of_work()
    with uow:
        run(uow, PostMovement("receipt", [LineRequest(item, 4, to_location_id=a)]))
        with pytest.raises(RuntimeError):
            receive_then_fail(uow)
        with pytest.raises(InsufficientStock), uow:  # a use case failing inside the outer block
            run(uow, PostMovement("shipment", [LineRequest(item, 9, from_location_id=a)]))
    assert _on_hand(pg, item, a) == 4
    assert [m.lines[0].quantity for m in h.inventory.execute(h.admin, ListMovements()).items] == [4]


def test_a_swallowed_database_error_cannot_be_committed(h: Harness, pg: PgStore) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    _receive(h, item, a, 10**12)
    uow = pg.unit_of_work()

    def swallow() -> None:
        with uow:
            uow.stock.apply([LocationChange(item, SUPPLIER_LOCATION_ID, -1, False)], [])
            with contextlib.suppress(ValidationError):  # not a bigint: aborts the transaction
                uow.stock.apply([LocationChange(item, a, 2**63, True)], [])

    with pytest.raises(InvalidOperation, match="failed earlier"):
        swallow()
    assert _on_hand(pg, item, SUPPLIER_LOCATION_ID) == -(10**12)
    # ...but a nested block around the failing part recovers the transaction.
    with pg.unit_of_work() as outer:
        outer.stock.apply([LocationChange(item, SUPPLIER_LOCATION_ID, -1, False)], [])
        with pytest.raises(ValidationError), outer:
            outer.stock.apply([LocationChange(item, a, 2**63, True)], [])
    assert _on_hand(pg, item, SUPPLIER_LOCATION_ID) == -(10**12) - 1


# ------------------------------------------------------------ locking and claims


def test_on_hand_with_lock_holds_even_absent_rows_until_commit(h: Harness, pg: PgStore) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    done = threading.Event()
    pid: list[int | None] = []
    with pg.unit_of_work() as counting:
        assert counting.stock.on_hand([(item, a)], lock=True) == {(item, a): 0}

        def receive() -> None:
            uow = pg.unit_of_work()
            with uow:
                pid.append(uow.backend_pid)
                uow.stock.apply([LocationChange(item, a, 1, True)], [])
            done.set()

        thread = threading.Thread(target=receive)
        thread.start()
        end = time.monotonic() + 10
        while not pid and time.monotonic() < end:
            thread.join(0.01)
        wait_until_blocked(pg, pid[0])
        assert not done.is_set()
    thread.join(10)
    assert done.is_set()
    assert _on_hand(pg, item, a) == 1


def test_idempotency_claims_never_block(h: Harness, pg: PgStore) -> None:
    user = h.admin.user_id
    claimed, release = threading.Event(), threading.Event()

    def first_request() -> None:
        with pg.unit_of_work() as uow:
            assert uow.idempotency.claim(user, "k", "fp").outcome is IdempotencyOutcome.NEW
            claimed.set()
            assert release.wait(10)
            uow.idempotency.complete(
                IdempotencyRecord(user, "k", "fp", 201, b"{}", (("X", "1"),), datetime.now(UTC))
            )

    thread = threading.Thread(target=first_request)
    thread.start()
    assert claimed.wait(10)
    started = time.monotonic()
    with pg.unit_of_work() as uow:
        assert uow.idempotency.claim(user, "k", "fp").outcome is IdempotencyOutcome.IN_PROGRESS
    assert time.monotonic() - started < 5  # answered at once, not after the first finished
    release.set()
    thread.join(10)
    with pg.unit_of_work() as uow:
        replay = uow.idempotency.claim(user, "k", "fp")
    assert replay.outcome is IdempotencyOutcome.REPLAY
    assert replay.record is not None
    assert replay.record.headers == (("X", "1"),)


def test_expire_due_for_keys_touches_only_those(h: Harness, pg: PgStore) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item, other = h.item(), h.item()
    _receive(h, item, a, 5)
    _receive(h, other, a, 5)
    soon = h.clock.now() + timedelta(seconds=10)
    mine = h.inventory.execute(h.admin, ReserveStock(item, wh, 1, expires_at=soon))
    theirs = h.inventory.execute(h.admin, ReserveStock(other, wh, 1, expires_at=soon))
    later = soon + timedelta(seconds=1)
    with pg.unit_of_work() as uow:
        expired: list[Reservation] = uow.reservations.expire_due(later, keys=[(item, wh)])
        assert [r.id for r in expired] == [mine.id]
        assert uow.reservations.expire_due(later, keys=[]) == []
        assert [r.id for r in uow.reservations.expire_due(later)] == [theirs.id]


def test_movement_filters_match_any_line(h: Harness, pg: PgStore) -> None:
    wh = h.warehouse()
    a, b = h.bin(wh), h.bin(wh)
    item, other = h.item(), h.item()
    _receive(h, item, a, 5)
    _receive(h, other, b, 5)
    both = h.inventory.execute(
        h.admin,
        PostMovement(
            "transfer",
            [
                LineRequest(item, 1, from_location_id=a, to_location_id=b),
                LineRequest(other, 1, from_location_id=b, to_location_id=a),
            ],
        ),
    )
    with pg.unit_of_work() as uow:
        found = uow.movements.list(
            MovementQuery(item_id=other, location_id=a), after=FEED_START, limit=9
        )
        assert [m.id for _, m in found] == [both.id]
        at_a = uow.movements.list(MovementQuery(location_id=a), after=FEED_START, limit=9)
        assert [m.seq for _, m in at_a] == [1, 3]
        after_first = uow.movements.list(MovementQuery(location_id=a), after=at_a[0][0], limit=9)
        assert after_first == at_a[1:]
        everything = uow.movements.list(MovementQuery(), after=FEED_START, limit=2)
        assert [m.seq for _, m in everything] == [1, 2]


# ------------------------------------------------------------ round trips


@pytest.fixture
def traced(
    database_url: str, pg: PgStore
) -> Iterator[tuple[PgStore, Callable[[], int], Callable[[], str]]]:
    """A store of one connection whose protocol traffic libpq traces; the first callable counts
    the ReadyForQuery messages so far -- one per round trip that waited for the server -- and the
    second returns the trace so far."""
    pool: ConnectionPool[Any] = ConnectionPool(
        database_url, min_size=1, max_size=1, open=False, configure=configure_connection
    )
    pool.open(wait=True, timeout=10)
    with tempfile.TemporaryDirectory() as tmp:
        trace = Path(tmp) / "trace"
        # libpq writes to the descriptor for as long as tracing is on: keep it open until then.
        with trace.open("w") as sink:

            def start() -> None:
                with pool.connection() as conn:
                    conn.pgconn.trace(sink.fileno())
                    conn.pgconn.set_trace_flags(pq.Trace.SUPPRESS_TIMESTAMPS)

            def text() -> str:
                with pool.connection() as conn:
                    conn.pgconn.untrace()  # flushes libpq's buffer into the file
                start()
                return trace.read_text()

            def waits() -> int:
                return text().count("\tReadyForQuery\t")

            start()
            try:
                yield PgStore(pool), waits, text
            finally:
                with pool.connection() as conn:
                    conn.pgconn.untrace()
                pool.close()


def test_round_trips_per_use_case(
    h: Harness, traced: tuple[PgStore, Callable[[], int], Callable[[], str]]
) -> None:
    store, waits, text = traced
    wh = h.warehouse()
    a, b = h.bin(wh), h.bin(wh)
    item = h.item()

    def measure(command: PostMovement) -> tuple[int, int]:
        uow = store.unit_of_work()
        before = waits()
        with uow:
            post_movement(h.inventory.context, uow, h.admin, command)
        return uow.round_trips, waits() - before

    # items, locations, levels and append (+BEGIN), COMMIT
    assert measure(PostMovement("receipt", [LineRequest(item, 9, to_location_id=a)])) == (4, 4)
    # + expiring overdue reservations before an outbound guarded movement
    assert measure(PostMovement("shipment", [LineRequest(item, 1, from_location_id=a)])) == (5, 5)
    transfer = PostMovement(
        "transfer", [LineRequest(item, 1, from_location_id=a, to_location_id=b)]
    )
    sent = len(text())
    assert measure(transfer) == (4, 4)  # within one warehouse: availability does not change
    # The savepoint around levels and append is left to COMMIT to release: COMMIT goes alone.
    traced_text = text()[sent:]
    commands = re.findall(r'\t(?:Parse\t "[^"]*"|Query\t) "([A-Z]+)', traced_text)
    assert "RELEASE" not in commands
    assert commands.count("SAVEPOINT") == 1
    # The movement's event goes out with the append; the COMMIT goes alone, at once.
    assert commands[-1] == "COMMIT"
    uow = store.unit_of_work()
    before = waits()
    with uow:
        uow.items.get(item)
    assert (uow.round_trips, waits() - before) == (1, 1)  # a read: no BEGIN, no COMMIT
    with psycopg.connect(_conninfo(store)) as conn:
        assert conn.execute("SELECT count(*) FROM movements").fetchone() == (3,)


def _conninfo(store: PgStore) -> str:
    with store.pool.connection() as conn:
        info = conn.info
    return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"
