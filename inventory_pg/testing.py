"""Helpers for tests and benchmarks: empty an inventory database. Destroys all its data."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import psycopg

from inventory_core.locations import virtual_locations
from inventory_pg.errors import translate
from inventory_pg.uow import PgStore

__all__ = ["reset_database"]

# TRUNCATE rather than DELETE: it is one statement for every table, and the ledger's
# append-only trigger is about UPDATE and DELETE of rows, not about wiping a test database.
TRUNCATE_ALL = """
TRUNCATE items, item_barcodes, locations, users, reservations, movements, movement_lines,
         location_stock, warehouse_stock, idempotency_records
RESTART IDENTITY
"""
RESET_LEDGER_SEQ = "UPDATE ledger_seq SET last_seq = 0"
SEED_VIRTUAL_LOCATION = """
INSERT INTO locations (id, code, name, kind, active, version, created_at, updated_at)
VALUES (%(id)s, %(code)s, %(name)s, %(kind)s, true, 1, %(now)s, %(now)s)
"""


def reset_database(target: PgStore | psycopg.Connection[Any]) -> None:
    """Delete every row of every inventory table and put back the three virtual locations, so
    the database is as :func:`~inventory_pg.apply_migrations` left it. For tests only."""
    if isinstance(target, PgStore):
        try:
            with target.pool.connection() as conn:
                _reset(conn)
        except psycopg.Error as exc:
            raise translate(exc) from exc
    else:
        _reset(target)


def _reset(conn: psycopg.Connection[Any]) -> None:
    now = datetime.now(UTC)
    with conn.transaction():
        conn.execute(TRUNCATE_ALL)
        conn.execute(RESET_LEDGER_SEQ)
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
