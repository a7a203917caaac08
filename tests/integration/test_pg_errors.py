"""Error translation at the adapter's boundary, each provoked for real on the server: no
psycopg exception escapes, and each becomes the core error it means."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest
from psycopg_pool import ConnectionPool

from inventory_core.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InsufficientStock,
    InvalidOperation,
    InventoryError,
    LimitExceeded,
    NotFound,
    Unavailable,
    ValidationError,
)
from inventory_core.feed import FEED_START
from inventory_core.idempotency import IdempotencyRecord
from inventory_core.items import Item
from inventory_core.locations import SUPPLIER_LOCATION_ID, Location
from inventory_core.movements import Movement, MovementLine
from inventory_core.stock import MAX_TOTAL, LocationChange, WarehouseChange
from inventory_core.users import User
from inventory_pg import DatabaseError, PgStore, configure_connection, translate

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _item(sku: str, *barcodes: str) -> Item:
    return Item(
        id=uuid.uuid4(), sku=sku, name="thing", created_at=NOW, updated_at=NOW, barcodes=barcodes
    )


def _warehouse(code: str) -> Location:
    return Location(
        id=uuid.uuid4(), code=code, name="wh", kind="warehouse", created_at=NOW, updated_at=NOW
    )


def _bin(code: str, parent: Location) -> Location:
    return Location(
        id=uuid.uuid4(),
        code=code,
        name="bin",
        kind="internal",
        created_at=NOW,
        updated_at=NOW,
        parent_id=parent.id,
        ancestor_ids=parent.path,
    )


def _receipt(item: Item, to: Location, quantity: int) -> Movement:
    return Movement(
        id=uuid.uuid4(),
        seq=0,
        kind="receipt",
        actor_id=uuid.uuid4(),
        occurred_at=NOW,
        recorded_at=NOW,
        lines=(MovementLine(item.id, quantity, SUPPLIER_LOCATION_ID, to.id),),
    )


def _stocked(pg: PgStore, quantity: int) -> tuple[Item, Location, Location]:
    item, wh = _item("SKU-1"), _warehouse("WH-1")
    a = _bin("A", wh)
    with pg.unit_of_work() as uow:
        uow.items.add(item)
        uow.locations.add(wh)
        uow.locations.add(a)
        uow.stock.apply(
            [
                LocationChange(item.id, SUPPLIER_LOCATION_ID, -quantity, False),
                LocationChange(item.id, a.id, quantity, True),
            ],
            [WarehouseChange(item.id, wh.id, on_hand_delta=quantity)],
        )
        uow.movements.append(_receipt(item, a, quantity))
    return item, wh, a


# ------------------------------------------------------------ unique violations


def test_unique_violations_are_already_exists_naming_the_field(pg: PgStore) -> None:
    item = _item("SKU-1", "BAR-1")
    with pg.unit_of_work() as uow:
        uow.items.add(item)
        uow.users.add(
            User(
                id=uuid.uuid4(),
                username="ann",
                role="clerk",
                password_hash="x",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        uow.locations.add(_warehouse("WH-1"))
    cases: list[tuple[Any, str, str, object]] = [
        (lambda u: u.items.add(_item("SKU-1")), "item", "sku", "SKU-1"),
        (lambda u: u.items.add(_item("SKU-2", "BAR-1")), "item", "barcode", "BAR-1"),
        (lambda u: u.items.add(item), "item", "id", item.id),
        (lambda u: u.locations.add(_warehouse("WH-1")), "location", "code", "WH-1"),
        (
            lambda u: u.users.add(
                User(
                    id=uuid.uuid4(),
                    username="ann",
                    role="viewer",
                    password_hash="y",
                    created_at=NOW,
                    updated_at=NOW,
                )
            ),
            "user",
            "username",
            "ann",
        ),
    ]
    for call, entity, field, value in cases:
        with pg.unit_of_work() as uow:
            with pytest.raises(AlreadyExists) as dup:
                call(uow)
            assert (dup.value.entity, dup.value.field, dup.value.value) == (entity, field, value)
            assert isinstance(dup.value.__cause__, psycopg.errors.UniqueViolation)
            # The failed call changed nothing and the transaction goes on.
            uow.items.add(_item(f"AFTER-{field}"))
        with pg.unit_of_work() as uow:
            assert uow.items.list(_query_sku(f"AFTER-{field}"), after=None, limit=5)


def _query_sku(sku: str) -> Any:
    from inventory_core.ports import ItemQuery  # noqa: PLC0415

    return ItemQuery(sku=sku)


def test_a_second_reversal_is_already_exists_and_leaves_the_transaction_usable(
    pg: PgStore,
) -> None:
    _stocked(pg, 5)
    with pg.unit_of_work() as uow:
        ((_, original),) = uow.movements.list(_all(), after=FEED_START, limit=1)
    reversal = Movement(
        id=uuid.uuid4(),
        seq=0,
        kind="reversal",
        actor_id=uuid.uuid4(),
        occurred_at=NOW,
        recorded_at=NOW,
        reverses_id=original.id,
        lines=tuple(line.mirrored() for line in original.lines),
    )
    with pg.unit_of_work() as uow:
        assert uow.movements.append(reversal).movement.seq == 2
    with pg.unit_of_work() as uow:
        again = reversal.__class__(**{**_fields(reversal), "id": uuid.uuid4()})
        with pytest.raises(AlreadyExists) as dup:
            uow.movements.append(again)
        assert dup.value.field == "reverses_id"
        assert uow.movements.reversal_of(original.id) == uow.movements.get(reversal.id)
    # The raw unique violation (e.g. from a writer that skips ON CONFLICT) means the same.
    with (
        psycopg.connect(_url(pg), autocommit=True) as conn,
        pytest.raises(psycopg.errors.UniqueViolation) as raw,
    ):
        conn.execute(
            "INSERT INTO movements (id, seq, txn, kind, actor_id, occurred_at, recorded_at,"
            " reverses_id) VALUES (%s, 99, inventory_feed_txn(), 'reversal', %s, %s, %s, %s)",
            (uuid.uuid4(), uuid.uuid4(), NOW, NOW, original.id),
        )
    error = translate(raw.value)
    assert isinstance(error, AlreadyExists)
    assert (error.entity, error.field, error.value) == ("movement", "reverses_id", str(original.id))


def _all() -> Any:
    from inventory_core.ports import MovementQuery  # noqa: PLC0415

    return MovementQuery()


def _fields(movement: Movement) -> dict[str, Any]:
    import attrs  # noqa: PLC0415

    return attrs.asdict(movement, recurse=False)


def _url(pg: PgStore) -> str:
    with pg.pool.connection() as conn:
        info = conn.info
        return f"postgresql://{info.user}@{info.host}:{info.port}/{info.dbname}"


# ------------------------------------------------------------ check and foreign keys


def test_a_level_past_the_json_safe_bound_is_limit_exceeded(pg: PgStore) -> None:
    """A writer that skips the conditional statements (a bulk path) still gets the core's
    LimitExceeded from the CHECK constraints, naming the level and the change."""
    item, wh, a = _stocked(pg, 3)
    with psycopg.connect(_url(pg), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.CheckViolation) as raw:
            conn.execute(
                "UPDATE location_stock SET on_hand = on_hand + %s"
                " WHERE item_id = %s AND location_id = %s",
                (MAX_TOTAL, item.id, a.id),
            )
        with pytest.raises(psycopg.errors.CheckViolation) as raw_reserved:
            conn.execute("UPDATE warehouse_stock SET reserved = %s", (MAX_TOTAL + 1,))
    error = translate(raw.value, deltas={(item.id, a.id): MAX_TOTAL})
    assert isinstance(error, LimitExceeded)
    assert (error.item_id, error.location_id, error.level) == (item.id, a.id, "on_hand")
    assert (error.current, error.change, error.limit) == (3, MAX_TOTAL, MAX_TOTAL)
    reserved = translate(raw_reserved.value)
    assert isinstance(reserved, LimitExceeded)
    assert (reserved.location_id, reserved.level) == (wh.id, "reserved")


def test_a_check_violation_on_stock_is_insufficient_stock(pg: PgStore) -> None:
    item, _, a = _stocked(pg, 3)
    with psycopg.connect(_url(pg), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.CheckViolation) as raw:
            conn.execute(
                "UPDATE location_stock SET on_hand = on_hand - 5"
                " WHERE item_id = %s AND location_id = %s",
                (item.id, a.id),
            )
        with pytest.raises(psycopg.errors.CheckViolation) as raw_reserved:
            conn.execute("UPDATE warehouse_stock SET reserved = -1")
    error = translate(raw.value, deltas={(item.id, a.id): -5})
    assert isinstance(error, InsufficientStock)
    assert (error.item_id, error.location_id, error.available, error.requested) == (
        item.id,
        a.id,
        3,
        5,
    )
    bare = translate(raw.value)  # without knowing the change: how far below zero it went
    assert isinstance(bare, InsufficientStock)
    assert (bare.item_id, bare.location_id, bare.requested) == (item.id, a.id, 2)
    assert isinstance(translate(raw_reserved.value), InvalidOperation)


def test_a_foreign_key_violation_is_not_found(pg: PgStore) -> None:
    with (
        psycopg.connect(_url(pg), autocommit=True) as conn,
        pytest.raises(psycopg.errors.ForeignKeyViolation) as raw,
    ):
        conn.execute(
            "INSERT INTO item_barcodes (barcode, item_id, position) VALUES ('X', %s, 0)",
            (uuid.uuid4(),),
        )
    error = translate(raw.value)
    assert isinstance(error, NotFound)
    assert error.entity == "item"


def test_an_out_of_range_level_is_a_validation_error(pg: PgStore) -> None:
    item, _, a = _stocked(pg, 10**12)
    with pytest.raises(ValidationError), pg.unit_of_work() as uow:
        uow.stock.apply([LocationChange(item.id, a.id, 2**63, True)], [])  # not even a bigint
    # within bigint but past the JSON-safe bound: refused by the conditional update itself
    with pytest.raises(LimitExceeded), pg.unit_of_work() as uow:
        uow.stock.apply([LocationChange(item.id, a.id, 2**63 - 10**12 + 1, True)], [])


def test_an_unexpected_database_error_is_still_an_inventory_error() -> None:
    error = translate(psycopg.errors.UndefinedTable("relation does not exist"))
    assert isinstance(error, DatabaseError)
    assert isinstance(error, InventoryError)


# ------------------------------------------------------------ concurrency


def test_a_serialization_failure_is_a_concurrency_conflict(pg: PgStore) -> None:
    _stocked(pg, 1)
    url = _url(pg)
    with psycopg.connect(url) as one, psycopg.connect(url) as two:
        for conn in (one, two):
            conn.execute("SET TRANSACTION ISOLATION LEVEL SERIALIZABLE")
            conn.execute("SELECT on_hand FROM location_stock").fetchall()
        one.execute("UPDATE location_stock SET on_hand = on_hand + 1")
        one.commit()
        with pytest.raises(psycopg.errors.SerializationFailure) as raw:
            two.execute("UPDATE location_stock SET on_hand = on_hand + 1")
    assert isinstance(translate(raw.value), ConcurrencyConflict)


def test_a_deadlock_inside_the_adapter_is_a_concurrency_conflict(pg: PgStore) -> None:
    """A foreign writer locks rows in the opposite order to the adapter's; the adapter, which
    started waiting first, is the one the server's deadlock detector picks."""
    item, _, a = _stocked(pg, 5)
    with pg.unit_of_work() as uow:
        supplier_before = uow.stock.on_hand([(item.id, SUPPLIER_LOCATION_ID)])
    foreign = psycopg.connect(_url(pg))
    try:
        # The foreign transaction holds the supplier row (which the adapter locks second).
        foreign.execute(
            "UPDATE location_stock SET on_hand = on_hand WHERE location_id = %s",
            (SUPPLIER_LOCATION_ID,),
        )
        outcome: list[BaseException] = []
        waiting = threading.Event()

        def adapter_side() -> None:
            try:
                with pg.unit_of_work() as uow:
                    waiting.set()
                    uow.stock.apply(
                        [
                            LocationChange(item.id, a.id, 1, True),  # locked first
                            LocationChange(item.id, SUPPLIER_LOCATION_ID, -1, False),
                        ],
                        [],
                    )
            except BaseException as exc:  # judged below
                outcome.append(exc)

        thread = threading.Thread(target=adapter_side)
        thread.start()
        assert waiting.wait(10)
        _wait_until_blocked(pg, deadline=10)
        foreign_error: Exception | None = None
        try:
            foreign.execute(
                "UPDATE location_stock SET on_hand = on_hand WHERE location_id = %s",
                (a.id,),
            )
        except psycopg.errors.DeadlockDetected as exc:  # not the expected victim, but possible
            foreign_error = exc
        foreign.rollback()
        thread.join(30)
    finally:
        foreign.close()
    if foreign_error is None:
        assert len(outcome) == 1, outcome
        assert isinstance(outcome[0], ConcurrencyConflict), outcome
        assert isinstance(outcome[0].__cause__, psycopg.errors.DeadlockDetected)
    else:  # the server picked the other side; the adapter then simply succeeded
        assert outcome == []
        assert isinstance(translate(foreign_error), ConcurrencyConflict)
    with pg.unit_of_work() as uow:
        now = uow.stock.on_hand([(item.id, SUPPLIER_LOCATION_ID)])
    assert now == supplier_before or foreign_error is not None


def _wait_until_blocked(pg: PgStore, *, deadline: float) -> None:
    """Wait until some session of this database waits for a lock (the adapter's apply)."""
    end = time.monotonic() + deadline
    with pg.pool.connection() as conn:
        while time.monotonic() < end:
            row = conn.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            ).fetchone()
            if row and row[0]:
                return
            conn.execute("SELECT pg_sleep(0.01)")
    raise AssertionError("the adapter never blocked on the foreign transaction's lock")


# ------------------------------------------------------------ connections


def test_a_lost_connection_is_unavailable_and_the_pool_recovers(pg: PgStore) -> None:
    def lose_the_connection_midway() -> None:
        with pg.unit_of_work() as uow:
            uow.items.add(_item("SKU-1"))  # the transaction has begun
            with pg.pool.connection() as killer:
                killer.execute("SELECT pg_terminate_backend(%s::integer)", (uow.backend_pid,))
            uow.items.get(uuid.uuid4())

    with pytest.raises(Unavailable) as lost:
        lose_the_connection_midway()
    assert isinstance(lost.value.__cause__, psycopg.OperationalError)
    with pg.unit_of_work() as uow:  # nothing was committed, and a new connection works
        assert uow.items.list(_query_sku("SKU-1"), after=None, limit=1) == []


def test_a_connection_dropped_while_idle_is_replaced_on_checkout(database_url: str) -> None:
    with PgStore.open(database_url, min_size=1, max_size=1) as store:
        with store.unit_of_work() as uow:
            uow.items.get(uuid.uuid4())
            pid = uow.backend_pid
            assert pid is not None
        with psycopg.connect(database_url, autocommit=True) as killer:
            killer.execute("SELECT pg_terminate_backend(%s::integer)", (pid,))
            _wait_gone(killer, pid)
        with store.unit_of_work() as uow:  # the check on checkout noticed: a fresh connection
            assert uow.items.get(uuid.uuid4()) is None
            assert uow.backend_pid not in (pid, None)


def _wait_gone(conn: psycopg.Connection[Any], pid: int) -> None:
    end = time.monotonic() + 10
    while time.monotonic() < end:
        row = conn.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s::integer", (pid,))
        if row.fetchone() == (0,):
            return
        conn.execute("SELECT pg_sleep(0.01)")
    raise AssertionError(f"backend {pid} did not go away")


def test_a_refused_connection_is_unavailable() -> None:
    with pytest.raises(Unavailable):
        PgStore.open("postgresql://nobody@127.0.0.1:1/nothing?connect_timeout=1", timeout=1)


def test_a_pool_timeout_is_unavailable(database_url: str) -> None:
    pool: ConnectionPool[Any] = ConnectionPool(
        database_url, min_size=1, max_size=1, open=False, configure=configure_connection
    )
    pool.open(wait=True, timeout=10)
    store = PgStore(pool, checkout_timeout=0.2)
    try:
        with store.unit_of_work() as busy:
            busy.items.get(uuid.uuid4())
            with pytest.raises(Unavailable) as timed_out, store.unit_of_work():
                pass
            assert "unavailable" in str(timed_out.value)
    finally:
        pool.close()


def test_idempotency_complete_twice_is_already_exists(pg: PgStore) -> None:
    user = uuid.uuid4()
    record = IdempotencyRecord(user, "k", "fp", 201, b"{}", (), NOW)
    with pg.unit_of_work() as uow:
        uow.idempotency.complete(record)
        with pytest.raises(AlreadyExists) as dup:
            uow.idempotency.complete(record)
        assert (dup.value.entity, dup.value.field, dup.value.value) == (
            "idempotency record",
            "key",
            "k",
        )


def test_a_write_on_a_read_only_server_is_unavailable(pg: PgStore) -> None:
    """After a failover the pool may hold connections to a standby: writes there must be a
    retryable 503, not a 500."""
    item, _, a = _stocked(pg, 3)
    with psycopg.connect(_url(pg), autocommit=True) as conn:
        conn.execute("SET default_transaction_read_only = on")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as raw:
            conn.execute(
                "UPDATE location_stock SET on_hand = on_hand + 1"
                " WHERE item_id = %s AND location_id = %s",
                (item.id, a.id),
            )
    error = translate(raw.value)
    assert isinstance(error, Unavailable)
    assert "read-only" in error.message
