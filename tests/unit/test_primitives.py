"""UuidV7Generator, ManualClock, paging limits and the in-memory unit of work."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from inventory_core.clocks import ManualClock, SystemClock
from inventory_core.contract.adapter import Harness, InMemoryContractAdapter
from inventory_core.errors import ValidationError
from inventory_core.feed import FEED_START, FeedPage
from inventory_core.ids import UuidV7Generator
from inventory_core.memory.store import InMemoryStore
from inventory_core.paging import MAX_PAGE_SIZE, Page, check_limit
from inventory_core.ports import ItemQuery, LocationStockQuery, MovementQuery
from inventory_core.services.items import ListItems
from inventory_core.services.locations import ListLocations
from inventory_core.services.movements import (
    LineRequest,
    ListMovements,
    PostMovement,
    post_movement,
)
from inventory_core.services.reservations import ListReservations
from inventory_core.services.stock import ListAvailability, ListLocationStock
from inventory_core.services.users import ListUsers

# ---------------------------------------------------------------- ids


def test_uuid_v7_layout() -> None:
    generated = UuidV7Generator().new_id()
    assert generated.version == 7
    assert generated.variant == "specified in RFC 4122"
    ms = generated.int >> 80
    now_ms = datetime.now(UTC).timestamp() * 1000
    assert abs(ms - now_ms) < 60_000


def test_uuid_v7_strictly_increase_within_one_millisecond() -> None:
    ids = UuidV7Generator()
    batch = [ids.new_id() for _ in range(5000)]  # far more than one per millisecond
    assert batch == sorted(batch)
    assert len(set(batch)) == len(batch)
    assert all(u.version == 7 for u in batch)


def test_uuid_v7_counter_overflow_borrows_the_next_millisecond() -> None:
    ids = UuidV7Generator()
    first = ids.new_id()
    ids._last_tail = (1 << 74) - 1  # the counter of this millisecond is exhausted
    ids._last_ms = first.int >> 80
    second = ids.new_id()
    assert second > first
    assert (second.int >> 80) >= (first.int >> 80) + 1


def test_uuid_v7_monotonic_across_threads() -> None:
    ids = UuidV7Generator()
    per_thread: list[list[UUID]] = [[] for _ in range(8)]
    barrier = threading.Barrier(8)

    def run(n: int) -> None:
        barrier.wait()
        per_thread[n].extend(ids.new_id() for _ in range(500))

    threads = [threading.Thread(target=run, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [u for batch in per_thread for u in batch]
    assert len(set(everything)) == 4000
    for batch in per_thread:
        assert batch == sorted(batch)


# ---------------------------------------------------------------- clocks


def test_manual_clock_moves_only_forward() -> None:
    clock = ManualClock()
    start = clock.now()
    assert start == datetime(2026, 1, 1, tzinfo=UTC)
    assert clock.now() == start  # does not move by itself
    assert clock.advance(90) == start + timedelta(seconds=90)
    assert clock.advance(minutes=1, seconds=1) == start + timedelta(seconds=151)
    with pytest.raises(ValueError, match="forward"):
        clock.advance(-1)
    later = start + timedelta(days=1)
    clock.set(later)
    assert clock.now() == later
    clock.set(later)  # standing still is fine
    with pytest.raises(ValueError, match="forward"):
        clock.set(start)
    assert clock.now() == later


def test_manual_clock_needs_an_aware_start() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        ManualClock(datetime(2026, 1, 1))  # naive on purpose
    custom = datetime(2030, 5, 6, 7, 8, tzinfo=UTC)
    assert ManualClock(custom).now() == custom


def test_system_clock_is_aware_utc() -> None:
    now = SystemClock().now()
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)


# ---------------------------------------------------------------- paging


@pytest.mark.parametrize("limit", [1, 2, MAX_PAGE_SIZE])
def test_limit_in_bounds(limit: int) -> None:
    check_limit(limit)


@pytest.mark.parametrize("limit", [0, -1, MAX_PAGE_SIZE + 1, True, 1.0, "10", None])
def test_limit_out_of_bounds(limit: object) -> None:
    with pytest.raises(ValidationError) as bad:
        check_limit(limit)  # type: ignore[arg-type]
    assert bad.value.errors[0].path == "$.limit"


@pytest.fixture
def h() -> Harness:
    return Harness(InMemoryContractAdapter())


def test_every_listing_validates_its_limit(h: Harness) -> None:
    listings: list[Callable[[int], object]] = [
        lambda limit: h.inventory.execute(h.admin, ListItems(limit=limit)),
        lambda limit: h.inventory.execute(h.admin, ListLocations(limit=limit)),
        lambda limit: h.inventory.execute(h.admin, ListMovements(limit=limit)),
        lambda limit: h.inventory.execute(h.admin, ListLocationStock(limit=limit)),
        lambda limit: h.inventory.execute(h.admin, ListAvailability(limit=limit)),
        lambda limit: h.inventory.execute(h.admin, ListReservations(limit=limit)),
        lambda limit: h.inventory.execute(h.admin, ListUsers(limit=limit)),
    ]
    for listing in listings:
        for bad in (0, MAX_PAGE_SIZE + 1):
            with pytest.raises(ValidationError):
                listing(bad)
        assert isinstance(listing(MAX_PAGE_SIZE), Page | FeedPage)


@pytest.mark.parametrize("after", [-1, True, "3", 1.5, (0, 0)])
def test_movement_after_must_be_a_feed_position(h: Harness, after: object) -> None:
    with pytest.raises(ValidationError) as bad:
        h.inventory.execute(h.admin, ListMovements(after=after))  # type: ignore[arg-type]
    assert bad.value.errors[0].path == "$.after"


def test_pages_have_next_after_only_when_there_is_more(h: Harness) -> None:
    wh = h.warehouse()
    bins = [h.bin(wh) for _ in range(3)]
    item = h.item()
    for b in bins:
        h.inventory.execute(
            h.admin, PostMovement("receipt", [LineRequest(item, 1, to_location_id=b)])
        )
    full = h.inventory.execute(
        h.admin, ListLocationStock(LocationStockQuery(item_id=item), limit=3)
    )
    assert (len(full.items), full.next_after) == (3, None)
    first = h.inventory.execute(
        h.admin, ListLocationStock(LocationStockQuery(item_id=item), limit=2)
    )
    assert first.next_after == (item, first.items[-1].location_id)
    rest = h.inventory.execute(
        h.admin,
        ListLocationStock(LocationStockQuery(item_id=item), after=first.next_after, limit=2),
    )
    assert [r.location_id for r in first.items + rest.items] == sorted(bins)
    assert rest.next_after is None
    everything = h.inventory.execute(h.admin, ListMovements(MovementQuery(item_id=item)))
    first_moves = h.inventory.execute(h.admin, ListMovements(MovementQuery(item_id=item), limit=1))
    assert first_moves.next_position == first_moves.position
    moves = h.inventory.execute(
        h.admin,
        ListMovements(MovementQuery(item_id=item), after=first_moves.position, limit=1),
    )
    assert moves.items == everything.items[1:2]
    assert moves.next_position == moves.position > first_moves.position
    last = h.inventory.execute(h.admin, ListMovements(after=moves.position, limit=5))
    assert (last.items, last.next_position) == (everything.items[2:], None)
    assert last.position > moves.position
    assert h.inventory.execute(h.admin, ListItems(ItemQuery(sku="nope"))).items == ()


# ---------------------------------------------------------------- the in-memory unit of work


def test_repositories_only_write_inside_a_unit_of_work() -> None:
    store = InMemoryStore()
    with pytest.raises(RuntimeError, match="only inside"):
        store.counters.put("seq", 1)
    with store.unit_of_work():
        store.counters.put("seq", 1)
    assert store.counters.get("seq") == 1


def test_nested_block_failure_undoes_only_its_own_writes(h: Harness) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    uow = h.unit_of_work()

    def receive(quantity: int) -> None:
        # The use case itself, inside the caller's unit of work (as a library user may).
        command = PostMovement("receipt", [LineRequest(item, quantity, to_location_id=a)])
        post_movement(h.inventory.context, uow, h.admin, command)

    with uow:
        receive(5)
        with pytest.raises(ZeroDivisionError), uow:  # noqa: PT012
            receive(7)
            _ = 1 / 0
        receive(1)
    with h.unit_of_work() as check:
        assert check.stock.on_hand([(item, a)])[(item, a)] == 6
        feed = check.movements.list(MovementQuery(), after=FEED_START, limit=10)
        assert [m.seq for _, m in feed] == [1, 2]


def test_a_thread_cannot_open_two_units_of_work_on_one_store() -> None:
    store = InMemoryStore()
    with store.unit_of_work(), pytest.raises(RuntimeError, match="one unit of work"):
        store.unit_of_work().__enter__()
    with store.unit_of_work() as again:  # the lock was released after the failure
        assert again.locations.get(UUID(int=1)) is None


def test_an_open_unit_of_work_excludes_other_threads() -> None:
    store = InMemoryStore()
    seen: list[str] = []
    tried = threading.Event()

    def other() -> None:
        if store.lock.acquire(blocking=False):  # must not get in while the uow is open
            store.lock.release()
            seen.append("got in")
        else:
            seen.append("excluded")
        tried.set()
        with store.unit_of_work():  # blocks until the main thread's uow ends
            seen.append("entered after")

    with store.unit_of_work():
        thread = threading.Thread(target=other)
        thread.start()
        assert tried.wait(10)
        assert seen == ["excluded"]
    thread.join(10)
    assert seen == ["excluded", "entered after"]
