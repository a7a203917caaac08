"""Schema migrations: numbered ``.sql`` files shipped in ``inventory_pg/migrations``.

Each file ``NNNN_name.sql`` is applied once, in number order, and recorded in
``schema_migrations`` with a checksum. :func:`apply_migrations` runs every pending file in one
transaction that first takes a transaction-scoped advisory lock, so two concurrent runs are safe
(the second waits, then finds nothing to do) and a re-run is a no-op. Last, it realigns the
movement feed's transaction ids after a restore (``ALIGN_FEED_CLOCK``), which is why a restore is
followed by ``inventory migrate``.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import re
from typing import Any

import attrs
import psycopg

from inventory_core.errors import InventoryError, Unavailable
from inventory_pg.errors import MigrationError, translate

__all__ = ["Migration", "applied_migrations", "apply_migrations", "available_migrations"]

MIGRATION_LOCK = (0x1A7E, 1)
"""The advisory lock key (the two-int key space, apart from the single-bigint keys the
idempotency store uses) held while migrating."""

CREATE_SCHEMA_MIGRATIONS = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer     PRIMARY KEY,
    name       text        NOT NULL,
    checksum   text        NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
)
"""
TAKE_MIGRATION_LOCK = "SELECT pg_advisory_xact_lock(%s, %s)"
SELECT_APPLIED = "SELECT version, name, checksum FROM schema_migrations ORDER BY version"
RECORD_APPLIED = "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)"
SCHEMA_MIGRATIONS_EXISTS = "SELECT to_regclass('schema_migrations') IS NOT NULL"

# After a logical restore into another cluster, the stored feed entries may carry transaction
# ids (txn) the new cluster's counter is far behind: new entries would sort before them, and the
# xmin guard would hide them. Raise the offset added to transaction ids until every transaction
# after this one comes after every stored entry (migration 0002). Never lowered; a no-op in a
# database that was not restored, since every stored txn is then below this transaction's.
ALIGN_FEED_CLOCK = """
UPDATE feed_txn_offset SET txn_offset = greatest(
    txn_offset,
    (SELECT greatest(coalesce(max(m.txn)::text::bigint, 0), coalesce(max(e.txn)::text::bigint, 0))
     FROM (SELECT max(txn) AS txn FROM movements) m,
          (SELECT max(txn) AS txn FROM events) e)
        - pg_current_xact_id()::text::bigint + 1
)
"""

_FILE_NAME = re.compile(r"^(?P<version>\d{4})_(?P<slug>[a-z0-9_]+)\.sql$")


@attrs.frozen
class Migration:
    """One migration file: its number, name (file name without ``.sql``) and SQL text."""

    version: int
    name: str
    sql: str = attrs.field(repr=False)

    @property
    def checksum(self) -> str:
        """SHA-256 of the SQL text, recorded so an edited, already applied file is noticed."""
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations() -> list[Migration]:
    """The migrations shipped in the package, in version order."""
    found: list[Migration] = []
    for entry in (importlib.resources.files("inventory_pg") / "migrations").iterdir():
        match = _FILE_NAME.match(entry.name)
        if match:
            found.append(
                Migration(int(match["version"]), entry.name[:-4], entry.read_text("utf-8"))
            )
    found.sort(key=lambda m: m.version)
    versions = [m.version for m in found]
    if len(set(versions)) != len(versions):
        raise MigrationError(f"two migration files share a number: {versions}")
    return found


def apply_migrations(conninfo_or_connection: str | psycopg.Connection[Any]) -> list[str]:
    """Apply the pending migrations and return the names of those applied (empty when the
    schema is up to date).

    Takes a connection string, or a psycopg connection (left open; if it is inside a transaction
    the migrations join it through a savepoint). Raises MigrationError when an applied file has
    changed or a migration fails, Unavailable when the database cannot be reached.
    """
    if isinstance(conninfo_or_connection, str):
        try:
            conn = psycopg.connect(conninfo_or_connection, autocommit=True)
        except psycopg.Error as exc:
            raise translate(exc) from exc
        with conn:
            return _apply(conn)
    return _apply(conninfo_or_connection)


def applied_migrations(conninfo_or_connection: str | psycopg.Connection[Any]) -> list[str]:
    """The names of the migrations recorded as applied (empty on a fresh database)."""
    if isinstance(conninfo_or_connection, str):
        try:
            conn = psycopg.connect(conninfo_or_connection, autocommit=True)
        except psycopg.Error as exc:
            raise translate(exc) from exc
        with conn:
            return applied_migrations(conn)
    conn = conninfo_or_connection
    try:
        row = conn.execute(SCHEMA_MIGRATIONS_EXISTS).fetchone()
        if not row or not row[0]:
            return []
        return [name for _, name, _ in conn.execute(SELECT_APPLIED).fetchall()]
    except psycopg.Error as exc:
        raise translate(exc) from exc


def _apply(conn: psycopg.Connection[Any]) -> list[str]:
    migrations = available_migrations()
    applied_now: list[str] = []
    current = "schema_migrations"
    try:
        with conn.transaction():
            # The lock comes before anything else, CREATE TABLE IF NOT EXISTS included: two
            # concurrent first runs would otherwise race on creating schema_migrations.
            conn.execute(TAKE_MIGRATION_LOCK, MIGRATION_LOCK)
            conn.execute(CREATE_SCHEMA_MIGRATIONS)
            done = {v: (n, c) for v, n, c in conn.execute(SELECT_APPLIED).fetchall()}
            for migration in migrations:
                if migration.version in done:
                    name, checksum = done[migration.version]
                    if checksum != migration.checksum:
                        raise MigrationError(
                            f"migration {name} was applied but its file has changed since; "
                            "add a new migration instead of editing an applied one"
                        )
                    continue
                current = migration.name
                # No parameters: psycopg sends the file with the simple query protocol, which
                # allows the many statements of a migration file in one execute.
                conn.execute(migration.sql.encode())
                conn.execute(
                    RECORD_APPLIED, (migration.version, migration.name, migration.checksum)
                )
                applied_now.append(migration.name)
            current = "aligning the feed's transaction ids"
            conn.execute(ALIGN_FEED_CLOCK)
    except InventoryError:
        raise
    except psycopg.Error as exc:
        error = translate(exc)
        if isinstance(error, Unavailable):
            raise error from exc
        raise MigrationError(f"migration {current} failed: {exc}") from exc
    return applied_now
