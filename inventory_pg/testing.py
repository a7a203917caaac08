"""Helpers for tests and benchmarks: empty an inventory database. Destroys all its data."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, LiteralString

import psycopg

from inventory_core.locations import virtual_locations
from inventory_core.ports import UnitOfWork
from inventory_pg.errors import translate
from inventory_pg.migrate import apply_migrations
from inventory_pg.uow import PgStore

__all__ = ["FreshDatabaseAdapter", "open_test_store", "reset_database"]

TRUNCATE_ALL = """
TRUNCATE items, item_barcodes, locations, users, api_tokens, reservations, movements,
         movement_lines, location_stock, warehouse_stock, lots, lot_stock, serials,
         idempotency_records, events, webhooks, webhook_deliveries, webhook_attempts
RESTART IDENTITY
"""
# DELETE is ~50x faster than TRUNCATE on small tables (TRUNCATE swaps files per table), which is
# what tests have; but the ledger's append-only trigger refuses DELETE. Replica mode skips
# triggers for the transaction; it needs superuser (or GRANT SET ON PARAMETER), else TRUNCATE.
SKIP_TRIGGERS = "SET LOCAL session_replication_role = replica"
DELETE_ALL: list[LiteralString] = [
    "DELETE FROM movement_lines",
    "DELETE FROM movements",
    "DELETE FROM lot_stock",  # before lots, and those before items (foreign keys)
    "DELETE FROM lots",
    "DELETE FROM serials",
    "DELETE FROM item_barcodes",
    "DELETE FROM items",
    "DELETE FROM locations",
    "DELETE FROM api_tokens",  # before users: replica mode skips the cascade's trigger too
    "DELETE FROM users",
    "DELETE FROM reservations",
    "DELETE FROM location_stock",
    "DELETE FROM warehouse_stock",
    "DELETE FROM idempotency_records",
    "DELETE FROM webhook_attempts",
    "DELETE FROM webhook_deliveries",
    "DELETE FROM webhooks",
    "DELETE FROM events",
]
RESET_MOVEMENT_SEQ = "SELECT setval('movement_seq', 1, false)"
RESET_EVENT_FEED = "UPDATE event_feed_purged SET txn = '0', seq = 0"
RESET_DISPATCH = "UPDATE webhook_dispatch_position SET txn = '0', seq = 0"
# Tests reset the database thousands of times a run (every state-machine example), and each
# DELETE leaves dead rows behind. With autovacuum off (as on the CI machine) they pile up across
# runs in a reused database until every scan wades through them: the Postgres state machine went
# from about a minute to over 15. So a reset vacuums once the dead rows pass a bound.
DEAD_ROWS = """
SELECT coalesce(sum(n_dead_tup), 0)::bigint FROM pg_stat_user_tables WHERE schemaname = 'public'
"""
VACUUM_AFTER_DEAD_ROWS = 20_000
VACUUM = "VACUUM"
SEED_VIRTUAL_LOCATION = """
INSERT INTO locations (id, code, name, kind, active, version, created_at, updated_at)
VALUES (%(id)s, %(code)s, %(name)s, %(kind)s, true, 1, %(now)s, %(now)s)
"""


def reset_database(target: PgStore | psycopg.Connection[Any]) -> None:
    """Delete every row of every inventory table and put back the three virtual locations, so
    the database is as :func:`~inventory_pg.apply_migrations` left it, and vacuum it when the
    resets have left many dead rows. For tests only."""
    if isinstance(target, PgStore):
        try:
            with target.pool.connection() as conn:
                _reset(conn)
                _vacuum_if_bloated(conn)
        except psycopg.Error as exc:
            raise translate(exc) from exc
    else:
        _reset(target)
        _vacuum_if_bloated(target)


def _vacuum_if_bloated(conn: psycopg.Connection[Any]) -> None:
    if conn.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
        return  # inside the caller's transaction, where VACUUM cannot run
    row = conn.execute(DEAD_ROWS).fetchone()
    if not conn.autocommit:
        conn.rollback()  # ends the transaction the statistics read opened
    if row is None or row[0] < VACUUM_AFTER_DEAD_ROWS:
        return
    autocommit = conn.autocommit
    conn.autocommit = True
    try:
        conn.execute(VACUUM)
    finally:
        conn.autocommit = autocommit


def _reset(conn: psycopg.Connection[Any]) -> None:
    now = datetime.now(UTC)
    with conn.transaction():
        try:
            with conn.transaction():
                conn.execute(SKIP_TRIGGERS)
                for statement in DELETE_ALL:
                    conn.execute(statement)
        except psycopg.errors.InsufficientPrivilege:
            conn.execute(TRUNCATE_ALL)
        conn.execute(RESET_MOVEMENT_SEQ)
        conn.execute(RESET_EVENT_FEED)
        conn.execute(RESET_DISPATCH)
        with conn.cursor() as cur:
            cur.executemany(
                SEED_VIRTUAL_LOCATION,
                [
                    {
                        "id": loc.id,
                        "code": loc.code,
                        "name": loc.name,
                        "kind": loc.kind.value,
                        "now": now,
                    }
                    for loc in virtual_locations(now)
                ],
            )


def open_test_store(conninfo: str, *, max_size: int = 16, timeout: float = 30.0) -> PgStore:
    """Migrate the database at ``conninfo`` (a no-op when up to date) and open a store on it."""
    apply_migrations(conninfo)
    return PgStore.open(conninfo, min_size=1, max_size=max_size, timeout=timeout)


class FreshDatabaseAdapter:
    """The store as ``inventory_core.contract`` sees it (a ContractAdapter): every ``fresh()``
    empties the database with :func:`reset_database` and hands out the store's units of work."""

    def __init__(self, store: PgStore) -> None:
        self.store = store

    def fresh(self) -> Callable[[], UnitOfWork]:
        reset_database(self.store)
        return self.store.unit_of_work
