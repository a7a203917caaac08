"""The event feed is complete under concurrent writers (DESIGN §9 and §11), like the ledger.

Eight writers post receipts on items of their own (each writes a ``movement.posted`` event)
while a reader pages ``ListEvents`` the whole time, resuming from each page's position. The
reader must see every committed event exactly once; a second reader from the start afterwards,
the same order. The same race against an events table without the visibility guard must lose
events -- or the race could not tell a broken feed from a complete one.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator

import pytest

from inventory_core.contract.adapter import Harness
from inventory_core.events import EventQuery, EventType
from inventory_core.feed import FeedPosition
from inventory_core.services.events import ListEvents
from inventory_pg import PgStore
from inventory_pg.repositories import events as pg_events
from inventory_pg.repositories import movements as pg_movements
from inventory_pg.testing import FreshDatabaseAdapter, open_test_store
from tests.integration.test_feed import PAGE, WRITERS
from tests.integration.test_feed import race as movement_race

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

PER_WRITER = 300
POSTED = EventQuery(types=[EventType.MOVEMENT_POSTED])

GUARD = "  AND txn < (SELECT inventory_feed_horizon())\n"


@pytest.fixture(scope="module")
def store(database_url: str) -> Iterator[PgStore]:
    store = open_test_store(database_url, max_size=WRITERS + 4)
    yield store
    store.close()


def event_page(h: Harness, after: FeedPosition) -> tuple[list[uuid.UUID], FeedPosition, bool]:
    """A page of the event feed, naming the movements its ``movement.posted`` events carry."""
    page = h.inventory.execute(h.admin, ListEvents(POSTED, after=after, limit=PAGE))
    ids = [uuid.UUID(e.data["id"]) for e in page.items]
    return ids, page.position, page.next_position is not None


def test_a_reader_racing_the_writers_sees_every_event_once_in_a_stable_order(
    store: PgStore,
) -> None:
    race = movement_race(Harness(FreshDatabaseAdapter(store)), event_page, per_writer=PER_WRITER)
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
    race = movement_race(Harness(FreshDatabaseAdapter(store)), event_page, per_writer=PER_WRITER)
    assert race.pages_while_writing > 20, "the reader should have raced the writers"
    assert Counter(race.again) == race.written
    assert race.missed, "the broken feed lost nothing: this race cannot tell a broken feed"
