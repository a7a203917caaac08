"""The event feed is complete under concurrent writers (DESIGN §9 and §11), like the ledger.

Eight writers post receipts on items of their own (each writes a ``movement.posted`` event)
while a reader pages ``ListEvents`` the whole time, resuming from each page's position. The
reader must see every committed event exactly once; a second reader from the start afterwards,
the same order. The same race against an events table without the visibility guard must lose
events -- or the race could not tell a broken feed from a complete one.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator

import attrs
import pytest

from inventory_core.contract.adapter import Harness
from inventory_core.events import EventQuery, EventType
from inventory_core.feed import FEED_START
from inventory_core.services.events import ListEvents
from inventory_core.services.movements import LineRequest, PostMovement
from inventory_pg import PgStore
from inventory_pg.repositories import events as pg_events
from inventory_pg.repositories import movements as pg_movements
from inventory_pg.testing import FreshDatabaseAdapter, open_test_store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WRITERS = 8
PER_WRITER = 300
PAGE = 100
DEADLINE = 240.0
POSTED = EventQuery(types=[EventType.MOVEMENT_POSTED])

GUARD = "  AND txn < (SELECT inventory_feed_horizon())\n"


@pytest.fixture(scope="module")
def store(database_url: str) -> Iterator[PgStore]:
    store = open_test_store(database_url, max_size=WRITERS + 4)
    yield store
    store.close()


@attrs.frozen
class Race:
    written: Counter[uuid.UUID]
    seen: list[uuid.UUID]
    again: list[uuid.UUID]
    pages_while_writing: int

    @property
    def missed(self) -> set[uuid.UUID]:
        return set(self.written) - set(self.seen)


def _page(h: Harness, after: object) -> tuple[list[uuid.UUID], object, bool]:
    page = h.inventory.execute(h.admin, ListEvents(POSTED, after=after, limit=PAGE))  # type: ignore[arg-type]
    ids = [uuid.UUID(e.data["id"]) for e in page.items]
    return ids, page.position, page.next_position is not None


def _read_all(h: Harness) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    after: object = FEED_START
    more = True
    while more:
        got, after, more = _page(h, after)
        ids += got
    return ids


def _race(h: Harness) -> Race:
    wh = h.warehouse()
    bins = [h.bin(wh), h.bin(wh)]
    items = [h.item() for _ in range(WRITERS * 2)]
    written: Counter[uuid.UUID] = Counter()
    seen: list[uuid.UUID] = []
    lock = threading.Lock()
    done = threading.Event()
    errors: list[BaseException] = []
    pages = 0
    start = threading.Barrier(WRITERS + 1)

    def write(n: int) -> None:
        try:
            start.wait(30)
            for i in range(PER_WRITER):
                line = LineRequest(items[2 * n + i % 2], 1, to_location_id=bins[i % 2])
                movement = h.inventory.execute(h.admin, PostMovement("receipt", [line]))
                with lock:
                    written[movement.id] += 1
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    def read() -> None:
        nonlocal pages
        try:
            start.wait(30)
            after: object = FEED_START
            while True:
                finished = done.is_set()  # read first: then one more drain sees everything
                more = True
                while more:
                    got, after, more = _page(h, after)
                    seen.extend(got)
                    if not finished:
                        pages += 1
                if finished:
                    return
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(n,), daemon=True) for n in range(WRITERS)]
    reader = threading.Thread(target=read, daemon=True)
    for thread in [*threads, reader]:
        thread.start()
    deadline = time.monotonic() + DEADLINE
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    done.set()
    reader.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in [*threads, reader]), "the race did not end in time"
    if errors:
        raise errors[0]
    return Race(written, seen, _read_all(h), pages)


def test_a_reader_racing_the_writers_sees_every_event_once_in_a_stable_order(
    store: PgStore,
) -> None:
    race = _race(Harness(FreshDatabaseAdapter(store)))
    assert race.pages_while_writing > 20, "the reader should have raced the writers"
    assert not race.missed, f"{len(race.missed)} committed events never reached the reader"
    assert Counter(race.seen) == race.written, "an event was read twice or not at all"
    assert race.again == race.seen, "a second reader from the start saw another order"


def test_the_race_catches_an_event_feed_without_a_visibility_guard(
    store: PgStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert GUARD in pg_events.LIST_EVENTS_OF_TYPES, "the shipped query changed: update this test"
    monkeypatch.setattr(
        pg_movements,
        "APPEND_MOVEMENT_EVENT",
        pg_movements.APPEND_MOVEMENT_EVENT.replace("inventory_feed_txn()", "'0'"),
    )
    monkeypatch.setattr(
        pg_events, "LIST_EVENTS_OF_TYPES", pg_events.LIST_EVENTS_OF_TYPES.replace(GUARD, "")
    )
    race = _race(Harness(FreshDatabaseAdapter(store)))
    assert race.pages_while_writing > 20, "the reader should have raced the writers"
    assert Counter(race.again) == race.written
    assert race.missed, "the broken feed lost nothing: this race cannot tell a broken feed"
