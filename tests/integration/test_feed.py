"""The movement feed is complete under concurrent writers (DESIGN §9, invariant 5).

Eight writers post thousands of movements on items of their own -- so they never wait for each
other's rows -- while a reader pages the feed the whole time, resuming from each page's position.
The reader must see every committed movement exactly once, and a second reader paging from the
start afterwards must see the same order.

The same race runs against three ways of numbering and serving the ledger, swapped into the
real adapter:

- ``xmin-guard``: the adapter as shipped (a sequence, the writing transaction's id, and only
  entries below the snapshot's xmin served);
- ``single-row``: the design before it (every append takes the next seq from one row whose lock
  is held to commit, so seq order is commit order; correct, but every writer queues on that row);
- ``broken``: a plain sequence with no visibility guard. Commit order then differs from seq
  order, and a reader that has paged past a seq never comes back for a smaller one that commits
  later. The test must catch that, or it could not be trusted to catch anything.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator

import attrs
import psycopg
import pytest

from inventory_core.contract.adapter import Harness
from inventory_core.feed import FEED_START, FeedPosition
from inventory_core.locations import SUPPLIER_LOCATION_ID
from inventory_core.services.movements import LineRequest, ListMovements, PostMovement
from inventory_pg import PgStore, apply_migrations
from inventory_pg.repositories import movements as pg_movements
from inventory_pg.testing import FreshDatabaseAdapter, open_test_store

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

WRITERS = 8
PER_WRITER = 400  # 3,200 movements
PAGE = 100
DEADLINE = 240.0

GUARD = "  AND m.txn < (SELECT inventory_feed_horizon())\n"

# The single-row design: the next seq from one row, locked until commit; no transaction ids.
SINGLE_ROW_TABLE = """
CREATE TABLE IF NOT EXISTS feed_test_ledger_seq (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    last_seq bigint NOT NULL
)
"""
RESET_SINGLE_ROW = """
INSERT INTO feed_test_ledger_seq (only_row, last_seq) VALUES (true, 0)
ON CONFLICT (only_row) DO UPDATE SET last_seq = 0
"""
APPEND_FROM_ONE_ROW = """
WITH next_seq AS (
    UPDATE feed_test_ledger_seq SET last_seq = last_seq + 1 RETURNING last_seq
), movement AS (
    INSERT INTO movements (id, seq, txn, kind, reason, actor_id, occurred_at, recorded_at,
                           reference, note, reverses_id, reservation_id)
    SELECT %(id)s, next_seq.last_seq, '0', %(kind)s, %(reason)s, %(actor_id)s, %(occurred_at)s,
           %(recorded_at)s, %(reference)s, %(note)s, %(reverses_id)s, %(reservation_id)s
    FROM next_seq
    ON CONFLICT (reverses_id) DO NOTHING
    RETURNING seq, txn
), lines AS (
    INSERT INTO movement_lines (movement_id, line_no, seq, txn, item_id, quantity,
                                from_location_id, to_location_id)
    SELECT %(id)s, l.line_no, movement.seq, movement.txn, l.item_id, l.quantity, l.from_id,
           l.to_id
    FROM movement,
         unnest(%(item_ids)s::uuid[], %(quantities)s::bigint[], %(from_ids)s::uuid[],
                %(to_ids)s::uuid[]) WITH ORDINALITY AS l(item_id, quantity, from_id, to_id, line_no)
)
SELECT seq FROM movement
"""


def _swap(query: str, part: str, instead: str) -> str:
    assert part in query, "the shipped query changed: update the variants of this test"
    return query.replace(part, instead)


def _without(query: str, line: str) -> str:
    return _swap(query, line, "")


# The broken design: the shipped append, minus the transaction id (all entries in one txn).
APPEND_PLAIN_SEQUENCE = _swap(pg_movements.APPEND_MOVEMENT, "inventory_feed_txn()", "'0'::xid8")
LIST_WITHOUT_GUARD = _without(pg_movements.LIST_MOVEMENTS, GUARD)


@attrs.frozen
class Design:
    name: str
    append: str | None  # None: the shipped query
    listing: str | None


DESIGNS = {
    "xmin-guard": Design("xmin-guard", None, None),
    "single-row": Design("single-row", APPEND_FROM_ONE_ROW, LIST_WITHOUT_GUARD),
    "broken": Design("broken", APPEND_PLAIN_SEQUENCE, LIST_WITHOUT_GUARD),
}


@pytest.fixture(scope="module")
def store(database_url: str) -> Iterator[PgStore]:
    store = open_test_store(database_url, max_size=WRITERS + 4)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(SINGLE_ROW_TABLE)
    yield store
    store.close()
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS feed_test_ledger_seq")


def _use(design: Design, store: PgStore, monkeypatch: pytest.MonkeyPatch) -> Harness:
    h = Harness(FreshDatabaseAdapter(store))
    with store.pool.connection() as conn:
        conn.execute(RESET_SINGLE_ROW)
    if design.append is not None:
        monkeypatch.setattr(pg_movements, "APPEND_MOVEMENT", design.append)
    if design.listing is not None:
        monkeypatch.setattr(pg_movements, "LIST_MOVEMENTS", design.listing)
    return h


@attrs.frozen
class Race:
    written: Counter[uuid.UUID]
    seen: list[uuid.UUID]  # by the reader that paged while the writers wrote
    again: list[uuid.UUID]  # by a second reader, from the start, afterwards
    pages_while_writing: int

    @property
    def missed(self) -> set[uuid.UUID]:
        return set(self.written) - set(self.seen)

    @property
    def repeated(self) -> set[uuid.UUID]:
        return {i for i, n in Counter(self.seen).items() if n > 1}


PageReader = Callable[[Harness, FeedPosition], tuple[list[uuid.UUID], FeedPosition, bool]]
"""Reads one page of a feed after a position: the ids it names, its ``position``, and whether
more is ready now. The race below runs on any feed that names the movements it serves."""


def movement_page(h: Harness, after: FeedPosition) -> tuple[list[uuid.UUID], FeedPosition, bool]:
    page = h.inventory.execute(h.admin, ListMovements(after=after, limit=PAGE))
    return [m.id for m in page.items], page.position, page.next_position is not None


def read_all(h: Harness, page: PageReader = movement_page) -> list[uuid.UUID]:
    ids: list[uuid.UUID] = []
    after, more = FEED_START, True
    while more:
        got, after, more = page(h, after)
        ids += got
    return ids


def race(h: Harness, page: PageReader = movement_page, *, per_writer: int = PER_WRITER) -> Race:
    """WRITERS threads post ``per_writer`` receipts each, on items of their own, while one reader
    pages the feed with ``page`` the whole time, resuming from each page's position."""
    wh = h.warehouse()
    bins = [h.bin(wh), h.bin(wh)]
    items = [h.item() for _ in range(WRITERS * 2)]  # two of its own per writer
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
            for i in range(per_writer):
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
            after = FEED_START
            while True:
                finished = done.is_set()  # read first: then one more drain sees everything
                more = True
                while more:
                    got, after, more = page(h, after)
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
    assert sum(written.values()) == WRITERS * per_writer
    return Race(written, seen, read_all(h, page), pages)


@pytest.mark.parametrize("design", ["xmin-guard", "single-row"])
def test_a_reader_racing_the_writers_sees_every_movement_once_in_a_stable_order(
    design: str, store: PgStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = race(_use(DESIGNS[design], store, monkeypatch))
    assert result.pages_while_writing > 20, "the reader should have raced the writers"
    assert not result.missed, f"{len(result.missed)} committed movements never reached the reader"
    assert not result.repeated, f"{len(result.repeated)} movements were read twice"
    assert Counter(result.seen) == result.written
    assert result.again == result.seen, "a second reader from the start saw another order"


def test_the_race_catches_a_feed_without_a_visibility_guard(
    store: PgStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = race(_use(DESIGNS["broken"], store, monkeypatch))
    assert result.pages_while_writing > 20, "the reader should have raced the writers"
    # The movements are all there afterwards, but the reader paged past some before they
    # committed, and never came back for them.
    assert Counter(result.again) == result.written
    assert result.missed, "the broken feed lost nothing: this race cannot tell a broken feed"
    assert result.again != result.seen


# ---------------------------------------------------------------- after a logical restore

# A restored dump brings txn values from a cluster whose counter was far ahead of this one's.
RESTORED_ENTRY = """
WITH movement AS (
    INSERT INTO movements (id, seq, txn, kind, reason, actor_id, occurred_at, recorded_at)
    VALUES (%(id)s, nextval('movement_seq'),
            (inventory_feed_txn()::text::bigint + %(ahead)s)::text::xid8, 'receipt', NULL,
            %(actor)s, now(), now())
    RETURNING seq, txn
)
INSERT INTO movement_lines (movement_id, line_no, seq, txn, item_id, quantity,
                            from_location_id, to_location_id)
SELECT %(id)s, 1, seq, txn, %(item)s, 1, %(supplier)s, %(to)s FROM movement
"""
AHEAD = 10**9


def _feed_ids(h: Harness, after: FeedPosition = FEED_START) -> list[uuid.UUID]:
    page = h.inventory.execute(h.admin, ListMovements(after=after, limit=500))
    return [m.id for m in page.items]


def test_migrate_realigns_the_feed_after_a_restore_from_a_cluster_further_ahead(
    store: PgStore, database_url: str
) -> None:
    h = Harness(FreshDatabaseAdapter(store))
    wh = h.warehouse()
    item = h.item()
    line = LineRequest(item, 1, to_location_id=wh)
    first = h.inventory.execute(h.admin, PostMovement("receipt", [line]))
    restored = uuid.uuid4()
    with store.pool.connection() as conn:
        conn.execute(
            RESTORED_ENTRY,
            {
                "id": restored,
                "ahead": AHEAD,
                "actor": h.admin.user_id,
                "item": item,
                "supplier": SUPPLIER_LOCATION_ID,
                "to": wh,
            },
        )
    # Before realigning, the entry from "the future" is held back by the guard: what a restore
    # into a younger cluster would do to every restored movement.
    assert _feed_ids(h) == [first.id]

    apply_migrations(database_url)  # what follows a restore: inventory migrate

    assert _feed_ids(h) == [first.id, restored]
    page = h.inventory.execute(h.admin, ListMovements())
    later = h.inventory.execute(h.admin, PostMovement("receipt", [line]))
    # New movements come after the restored ones, and a reader resuming from the end sees them.
    assert _feed_ids(h) == [first.id, restored, later.id]
    assert _feed_ids(h, page.position) == [later.id]
    apply_migrations(database_url)  # a no-op now
    assert _feed_ids(h) == [first.id, restored, later.id]


def test_the_ledger_read_shows_what_the_feed_still_holds_back(
    store: PgStore, database_url: str
) -> None:
    """While a transaction that holds a transaction id stays open -- here another connection's;
    it could as well be in another database of the same server -- the feed holds back what
    commits after it began; ``ledger`` (for checks at rest) does not."""
    h = Harness(FreshDatabaseAdapter(store))
    wh = h.warehouse()
    line = LineRequest(h.item(), 1, to_location_id=wh)
    first = h.inventory.execute(h.admin, PostMovement("receipt", [line]))
    with psycopg.connect(database_url) as other:
        other.execute("SELECT pg_current_xact_id()")  # a transaction id, held until rollback
        later = h.inventory.execute(h.admin, PostMovement("receipt", [line]))
        assert _feed_ids(h) == [first.id]
        with store.unit_of_work() as uow:
            ledger = uow.movements.ledger(after=FEED_START, limit=10)
        assert [m.id for _, m in ledger] == [first.id, later.id]
        other.rollback()
    assert _feed_ids(h) == [first.id, later.id]
