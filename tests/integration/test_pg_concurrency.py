"""Concurrency on a real server: racing threads never oversell
the last units nor take an item's total beyond the JSON-safe limit, opposite-order movements
never deadlock, and a client killed mid-movement leaves no partial movement."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from inventory_core._checks import MAX_QUANTITY
from inventory_core.contract.adapter import Harness
from inventory_core.contract.invariants import check_invariants
from inventory_core.counts import CountLine
from inventory_core.errors import CountConflict, InsufficientStock, LimitExceeded
from inventory_core.executor import Executor
from inventory_core.feed import FEED_START
from inventory_core.locations import CUSTOMER_LOCATION_ID
from inventory_core.movements import MAX_LINES, AdjustmentReason, Movement
from inventory_core.ports import MovementQuery, ReservationQuery, WarehouseStockQuery
from inventory_core.reservations import ReservationStatus
from inventory_core.services.counts import CountStock
from inventory_core.services.items import GetItemStock
from inventory_core.services.movements import LineRequest, PostMovement
from inventory_core.services.reservations import (
    FulfilmentLine,
    FulfilReservation,
    ReleaseReservation,
    ReserveStock,
)
from inventory_core.services.stock import ListAvailability
from inventory_core.stock import MAX_TOTAL
from inventory_pg import PgStore
from inventory_pg.testing import FreshDatabaseAdapter, open_test_store
from tests.integration._threads import run_together

pytestmark = pytest.mark.postgres

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def store(database_url: str) -> Iterator[PgStore]:
    """A store with a pool wide enough for the racing threads (64 threads share 32
    connections, as an application's threads share its pool)."""
    store = open_test_store(database_url, max_size=32)
    yield store
    store.close()


@pytest.fixture
def h(store: PgStore) -> Harness:
    return Harness(FreshDatabaseAdapter(store))


def _receive(h: Harness, item: uuid.UUID, location: uuid.UUID, quantity: int) -> Movement:
    return h.inventory.execute(
        h.admin, PostMovement("receipt", [LineRequest(item, quantity, to_location_id=location)])
    )


# The feed's completeness under concurrent writers: tests/integration/test_feed.py.


# ------------------------------------------------------------ the last units


def test_64_threads_racing_for_the_last_units_never_oversell(h: Harness) -> None:
    warehouses = [h.warehouse() for _ in range(3)]
    bins = {wh: [h.bin(wh), h.bin(wh)] for wh in warehouses}
    items = [h.item() for _ in range(4)]
    per_bin = 3
    for item in items:
        for wh in warehouses:
            for location in bins[wh]:
                _receive(h, item, location, per_bin)
    stock = 2 * per_bin  # per (item, warehouse)
    shipped: Counter[tuple[uuid.UUID, uuid.UUID]] = Counter()
    lock = threading.Lock()

    def ship_one(rng: random.Random, item: uuid.UUID, wh: uuid.UUID) -> bool:
        for location in rng.sample(bins[wh], 2):
            try:
                h.inventory.execute(
                    h.admin,
                    PostMovement("shipment", [LineRequest(item, 1, from_location_id=location)]),
                )
            except InsufficientStock:
                continue
            return True
        return False

    def reserve_and_fulfil(rng: random.Random, item: uuid.UUID, wh: uuid.UUID) -> bool:
        try:
            reservation = h.inventory.execute(h.admin, ReserveStock(item, wh, 1))
        except InsufficientStock:
            return False
        for location in rng.sample(bins[wh], 2):
            try:
                h.inventory.execute(
                    h.admin, FulfilReservation(reservation.id, [FulfilmentLine(location, 1)])
                )
            except InsufficientStock:
                continue
            return True
        # A reserved unit is always in one of the bins: only a bug gets here.
        h.inventory.execute(h.admin, ReleaseReservation(reservation.id))
        raise AssertionError(f"reservation {reservation.id} could not be fulfilled")

    def work(n: int) -> None:
        rng = random.Random(n)
        for _ in range(8):
            item, wh = rng.choice(items), rng.choice(warehouses)
            attempt = ship_one if rng.random() < 0.5 else reserve_and_fulfil
            if attempt(rng, item, wh):
                with lock:
                    shipped[(item, wh)] += 1

    run_together(64, work)

    levels = {
        (w.item_id, w.warehouse_id): w
        for w in h.inventory.execute(
            h.admin, ListAvailability(WarehouseStockQuery(), limit=500)
        ).items
    }
    for item in items:
        for wh in warehouses:
            assert shipped[(item, wh)] <= stock, "oversold"
            level = levels[(item, wh)]
            assert level.on_hand == stock - shipped[(item, wh)]
            assert (level.reserved, level.on_hand) == (0, 0), "512 attempts sell 72 units out"
    with h.unit_of_work() as uow:
        customer = uow.stock.on_hand([(item, CUSTOMER_LOCATION_ID) for item in items])
        reservations = uow.reservations.list(ReservationQuery(), after=None, limit=10_000)
    assert sum(customer.values()) == sum(shipped.values()) == len(items) * len(warehouses) * stock
    assert all(r.status is ReservationStatus.FULFILLED for r in reservations)
    check_invariants(h)


# ------------------------------------------------------------ counts against movements


def test_counts_racing_movements_post_the_difference_against_the_level_they_locked(
    h: Harness,
) -> None:
    """Counters count a bin while movers keep moving stock in and out of it. A count reads the
    bin's level with a row lock, so no movement can land between that read and its commit: it
    either conflicts (the counter's expectation is stale) or leaves the bin at exactly what was
    counted. Without the lock a movement slips in between, and the bin ends the count at the
    counted value plus that movement."""
    wh = h.warehouse()
    counted_bin, other_bin = h.bin(wh), h.bin(wh)
    item = h.item()
    _receive(h, item, counted_bin, 500)
    _receive(h, item, other_bin, 500)
    counters, movers, counts_each = 4, 4, 40
    counted_by_movement: dict[uuid.UUID, int] = {}
    conflicts = 0
    finished = threading.Event()
    lock = threading.Lock()

    def count(rng: random.Random) -> None:
        nonlocal conflicts
        for _ in range(counts_each):
            with h.unit_of_work() as uow:
                seen = uow.stock.on_hand([(item, counted_bin)])[(item, counted_bin)]
            counted = max(0, seen + rng.choice([-2, -1, 1, 2]))
            line = CountLine(item, counted_bin, counted, expected_on_hand=seen)
            try:
                result = h.inventory.execute(h.admin, CountStock([line]))
            except CountConflict:
                with lock:
                    conflicts += 1
                continue
            assert result.movement is not None
            with lock:
                counted_by_movement[result.movement.id] = counted

    def move(rng: random.Random) -> None:
        while not finished.is_set():
            out = rng.random() < 0.5
            source, dest = (counted_bin, other_bin) if out else (other_bin, counted_bin)
            line = LineRequest(item, 1, from_location_id=source, to_location_id=dest)
            try:
                h.inventory.execute(h.admin, PostMovement("transfer", [line]))
            except InsufficientStock:
                continue

    def work(n: int) -> None:
        rng = random.Random(n)
        if n < counters:
            try:
                count(rng)
            finally:
                with lock:
                    done_counting.append(n)
                    if len(done_counting) == counters:
                        finished.set()
        else:
            move(rng)

    done_counting: list[int] = []
    run_together(counters + movers, work)

    assert counted_by_movement, "no count posted: the race proved nothing"
    assert conflicts + len(counted_by_movement) == counters * counts_each
    # Replay the bin's ledger. Every movement takes its seq after it has locked the bin's level
    # row, so the seq order of the movements touching one row is the order they committed in.
    movements = _all_movements(h)
    level = 0
    for movement in sorted(movements, key=lambda m: m.seq):
        for line in movement.lines:
            if line.item_id != item:
                continue
            if line.to_location_id == counted_bin:
                level += line.quantity
            if line.from_location_id == counted_bin:
                level -= line.quantity
        if movement.id in counted_by_movement:
            assert level == counted_by_movement[movement.id], (
                f"count {movement.id} left the bin at {level}, "
                f"not the {counted_by_movement[movement.id]} counted"
            )
    with h.unit_of_work() as uow:
        assert uow.stock.on_hand([(item, counted_bin)])[(item, counted_bin)] == level
    check_invariants(h)


def _all_movements(h: Harness) -> list[Movement]:
    with h.unit_of_work() as uow:
        ledger = uow.movements.ledger(after=FEED_START, limit=1_000_000)
    return [movement for _, movement in ledger]


# ------------------------------------------------------------ lock order


def test_opposite_order_movements_never_deadlock(h: Harness, store: PgStore) -> None:
    """Lines naming the same rows in opposite orders, within and across warehouses. The
    executor here never retries a conflict, so a retry cannot hide a deadlock."""
    east, west = h.warehouse(), h.warehouse()
    a, b, c = h.bin(east), h.bin(east), h.bin(west)
    x, y = h.item(), h.item()
    for item in (x, y):
        for location in (a, b, c):
            _receive(h, item, location, 1000)

    def lines(first: uuid.UUID, second: uuid.UUID, here: uuid.UUID, there: uuid.UUID) -> Any:
        return [
            LineRequest(first, 1, from_location_id=here, to_location_id=there),
            LineRequest(second, 1, from_location_id=there, to_location_id=here),
        ]

    def work(n: int) -> None:
        forward = n % 2 == 0
        for i in range(15):
            here, there = (a, b) if i % 2 else (a, c)  # within east, then east <-> west
            command = PostMovement(
                "transfer", lines(x, y, here, there) if forward else lines(y, x, there, here)
            )
            no_retries.execute(h.admin, command)

    no_retries = Executor(store.unit_of_work, conflict_retries=0)
    run_together(16, work)
    assert len(_all_movements(h)) == 6 + 16 * 15
    check_invariants(h)


# ------------------------------------------------------------ JSON-safe totals


def _fill(h: Harness, item: uuid.UUID, location: uuid.UUID, quantity: int) -> None:
    """Receive ``quantity`` (up to 2^53 - 1) in movements of full lines."""
    line = MAX_QUANTITY * MAX_LINES
    while quantity > 0:
        part = min(quantity, line)
        whole, rest = divmod(part, MAX_QUANTITY)
        lines = [LineRequest(item, MAX_QUANTITY, to_location_id=location)] * whole
        if rest:
            lines.append(LineRequest(item, rest, to_location_id=location))
        h.inventory.execute(h.admin, PostMovement("receipt", lines))
        quantity -= part


def _waits_for_a_lock(store: PgStore, pid: int) -> bool:
    with store.pool.connection() as conn:
        row = conn.execute(
            "SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s::integer", (pid,)
        ).fetchone()
    return row is not None and row[0] == "Lock"


def test_movements_racing_in_two_warehouses_cannot_pass_the_items_total_limit(
    h: Harness, store: PgStore
) -> None:
    """A receipt in one warehouse and found stock in another share no level row, only the item:
    each alone keeps the total within 2^53 - 1, both would not. The second, held up until the
    first commits, sees it and is refused; without the lock on the item it would not wait, and
    both would commit."""
    east, west = h.warehouse(), h.warehouse()
    a, b = h.bin(east), h.bin(west)
    item = h.item()
    _fill(h, item, a, MAX_TOTAL - 1)
    first = PostMovement("receipt", [LineRequest(item, 1, to_location_id=a)])
    second = PostMovement(
        "adjustment", [LineRequest(item, 1, to_location_id=b)], reason=AdjustmentReason.FOUND
    )
    results: dict[str, object] = {}
    first_posted, commit_first, second_done = (
        threading.Event(),
        threading.Event(),
        threading.Event(),
    )
    second_pid: list[int | None] = []

    def run(name: str, command: PostMovement, started: Callable[[int | None], None]) -> None:
        uow = store.unit_of_work()
        # The use case inside a transaction of our own, so we say when it commits.
        held = Executor(lambda: uow, clock=h.clock, conflict_retries=0)
        try:
            with uow:
                started(uow.backend_pid)
                results[name] = held.execute(h.admin, command)
                if name == "first":
                    first_posted.set()
                    assert commit_first.wait(30)
        except Exception as exc:  # judged below
            results[name] = exc
        finally:
            first_posted.set()
            if name == "second":
                second_done.set()

    one = threading.Thread(target=run, args=("first", first, lambda _: None), daemon=True)
    one.start()
    assert first_posted.wait(30)
    assert isinstance(results.get("first"), Movement), results
    two = threading.Thread(target=run, args=("second", second, second_pid.append), daemon=True)
    two.start()
    deadline = time.monotonic() + 10
    while not second_done.is_set():
        pid = second_pid[0] if second_pid else None
        if pid is not None and _waits_for_a_lock(store, pid):
            break
        assert time.monotonic() < deadline, "the second movement neither waited nor finished"
        second_done.wait(0.01)
    commit_first.set()
    one.join(30)
    two.join(30)
    assert not one.is_alive()
    assert not two.is_alive()
    refused = results["second"]
    assert isinstance(refused, LimitExceeded), results
    assert (refused.item_id, refused.location_id, refused.level) == (item, None, "on_hand")
    assert (refused.current, refused.change) == (MAX_TOTAL, 1)
    assert h.inventory.execute(h.admin, GetItemStock(item)).on_hand == MAX_TOTAL
    check_invariants(h)


# ------------------------------------------------------------ a client killed mid-movement

_CHILD = """
import sys, uuid
from inventory_core.executor import Executor
from inventory_core.services.movements import LineRequest, PostMovement, post_movement
from inventory_core.users import Actor, Role
from inventory_pg import PgStore

url, item, location = sys.argv[1], uuid.UUID(sys.argv[2]), uuid.UUID(sys.argv[3])
store = PgStore.open(url, min_size=1, max_size=1)
executor = Executor(store.unit_of_work)
uow = store.unit_of_work()
with uow:
    # The use case itself, in a unit of work of our own: so we can stop before the commit.
    shipment = post_movement(
        executor.context,
        uow,
        Actor(uuid.uuid4(), Role.CLERK),
        PostMovement("shipment", [LineRequest(item, 3, from_location_id=location)]),
    )
    # Levels changed and the movement appended, in a transaction not yet committed.
    print("ready", uow.backend_pid, shipment.id, shipment.seq, flush=True)
    sys.stdin.read()  # wait here until killed
"""


def _read_line(stream: Any, timeout: float) -> str:
    line: list[str] = []
    reader = threading.Thread(target=lambda: line.append(stream.readline()), daemon=True)
    reader.start()
    reader.join(timeout)
    assert line, "the child never reported readiness"
    return line[0]


def test_a_client_killed_mid_movement_leaves_no_partial_movement(
    h: Harness, store: PgStore, database_url: str
) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    _receive(h, item, a, 10)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]),
    }
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD, database_url, str(item), str(a)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    try:
        ready = _read_line(child.stdout, 60).split()
        assert ready[0] == "ready", (ready, child.stderr.read() if child.stderr else "")
        backend, movement_id, dead_seq = int(ready[1]), uuid.UUID(ready[2]), int(ready[3])
        with psycopg.connect(database_url, autocommit=True) as conn:
            # While the child is alive its shipment is in flight, holding the bin's row lock.
            state = conn.execute(
                "SELECT state FROM pg_stat_activity WHERE pid = %s", (backend,)
            ).fetchone()
            assert state == ("idle in transaction",)
            os.kill(child.pid, signal.SIGKILL)
            child.wait(30)
            end = time.monotonic() + 30
            while conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (backend,)
            ).fetchone() != (0,):
                assert time.monotonic() < end, "the server never noticed the dead client"
                conn.execute("SELECT pg_sleep(0.01)")
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(30)
        for stream in (child.stdin, child.stdout, child.stderr):
            if stream:
                stream.close()
    with h.unit_of_work() as uow:
        assert uow.movements.get(movement_id) is None
        feed = uow.movements.list(MovementQuery(), after=FEED_START, limit=10)
        assert [m.kind for _, m in feed] == ["receipt"]
        assert uow.stock.on_hand([(item, a), (item, CUSTOMER_LOCATION_ID)]) == {
            (item, a): 10,
            (item, CUSTOMER_LOCATION_ID): 0,
        }
    # The dead transaction's locks are gone: all ten units can ship now.
    shipped = h.inventory.execute(
        h.admin, PostMovement("shipment", [LineRequest(item, 10, from_location_id=a)])
    )
    # Seqs are unique, not dense: the number the dead transaction took is never used again.
    assert shipped.seq > dead_seq
    check_invariants(h)
