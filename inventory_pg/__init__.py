"""inventory-core's PostgreSQL adapter: psycopg 3 + psycopg_pool.

Build a store in the process that uses it, after migrating the schema::

    from inventory_pg import PgStore, apply_migrations

    apply_migrations(url)
    store = PgStore.open(url)
    inventory = Inventory(store.unit_of_work)

Nothing here connects anywhere at import time.
"""

from __future__ import annotations

from inventory_pg.errors import DatabaseError, MigrationError, translate
from inventory_pg.migrate import applied_migrations, apply_migrations, available_migrations
from inventory_pg.uow import PgStore, PgUnitOfWork, check_connection, configure_connection

__all__ = [
    "DatabaseError",
    "MigrationError",
    "PgStore",
    "PgUnitOfWork",
    "applied_migrations",
    "apply_migrations",
    "available_migrations",
    "check_connection",
    "configure_connection",
    "translate",
]
