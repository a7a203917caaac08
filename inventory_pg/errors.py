"""Translating psycopg errors into the core's error hierarchy.

Everything the adapter does with the database goes through :func:`translate` on failure, so no
psycopg (or psycopg_pool) exception ever reaches a caller: they see only
:class:`~inventory_core.errors.InventoryError` subclasses, with the psycopg error chained as
``__cause__`` for logs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from uuid import UUID

import psycopg
import psycopg_pool
from psycopg import errors as pg

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
from inventory_core.stock import MAX_TOTAL

__all__ = ["DatabaseError", "MigrationError", "translate"]


class DatabaseError(InventoryError):
    """A database error with no meaning in the domain (a bug, or a schema out of step with the
    code). Raised instead of letting a psycopg exception escape; the original is ``__cause__``."""

    code = "database-error"


class MigrationError(InventoryError):
    """The schema cannot be migrated: e.g. an applied migration's file has changed since."""

    code = "migration-error"


# Unique constraints by name -> (entity, field) of the AlreadyExists they mean.
_UNIQUE: dict[str, tuple[str, str]] = {
    "items_pkey": ("item", "id"),
    "items_sku_key": ("item", "sku"),
    "item_barcodes_pkey": ("item", "barcode"),
    "locations_pkey": ("location", "id"),
    "locations_code_key": ("location", "code"),
    "movements_pkey": ("movement", "id"),
    "movements_seq_key": ("movement", "seq"),
    "movements_reverses_id_key": ("movement", "reverses_id"),
    "reservations_pkey": ("reservation", "id"),
    "users_pkey": ("user", "id"),
    "users_username_key": ("user", "username"),
    "idempotency_records_pkey": ("idempotency record", "key"),
    "api_tokens_pkey": ("token", "id"),
    "api_tokens_digest_key": ("token", "digest"),
    "lots_pkey": ("lot", "id"),
    "lots_item_code_key": ("lot", "code"),
    "serials_pkey": ("serial", "serial"),
}

# Foreign keys by name -> the entity whose absence they report.
_FOREIGN: dict[str, str] = {
    "item_barcodes_item_id_fkey": "item",
    "locations_parent_id_fkey": "location",
    "movements_reverses_id_fkey": "movement",
    "movement_lines_movement_id_fkey": "movement",
    "api_tokens_user_id_fkey": "user",
    "lots_item_id_fkey": "item",
    "lot_stock_lot_id_fkey": "lot",
    "serials_item_id_fkey": "item",
}

# CHECK constraints on stock levels: they back invariants 2 and 3 even if a code path forgot to
# make its write conditional. Column order of the table, to read the "Failing row contains".
_STOCK_CHECKS = {
    "location_stock_on_hand_check": ("item_id", "location_id", "holds_stock", "on_hand"),
    "warehouse_stock_on_hand_check": ("item_id", "warehouse_id", "on_hand", "reserved"),
    "lot_stock_on_hand_check": ("item_id", "location_id", "lot_id", "holds_stock", "on_hand"),
}

# The JSON-safe bounds (migration 0003): they back the conditional writes, and catch paths that
# write levels in bulk (the CSV import). Constraint -> (columns of the table, level column).
_LIMIT_CHECKS = {
    "location_stock_on_hand_limit_check": (
        _STOCK_CHECKS["location_stock_on_hand_check"],
        "on_hand",
    ),
    "warehouse_stock_on_hand_limit_check": (
        _STOCK_CHECKS["warehouse_stock_on_hand_check"],
        "on_hand",
    ),
    "warehouse_stock_reserved_limit_check": (
        _STOCK_CHECKS["warehouse_stock_on_hand_check"],
        "reserved",
    ),
    "lot_stock_on_hand_limit_check": (_STOCK_CHECKS["lot_stock_on_hand_check"], "on_hand"),
}

_KEY_DETAIL = re.compile(r"Key \((?P<columns>.*?)\)=\((?P<values>.*)\) (already exists|is not)")
_FAILING_ROW = re.compile(r"Failing row contains \((?P<values>.*)\)\.?$", re.DOTALL)

# Errors that mean "the database is not there (or not for us) right now": retry later.
_UNAVAILABLE = (
    psycopg.OperationalError,  # lost or refused connections, admin shutdown, cancelled queries
    psycopg.InterfaceError,  # the connection was already closed on our side
    psycopg_pool.PoolTimeout,  # (an OperationalError too; named for the reader)
    psycopg_pool.PoolClosed,
)


def _key_values(detail: str | None) -> tuple[list[str], list[str]]:
    match = _KEY_DETAIL.search(detail or "")
    if not match:
        return [], []
    return match["columns"].split(", "), match["values"].split(", ")


def _failing_row(detail: str | None) -> list[str]:
    match = _FAILING_ROW.search(detail or "")
    return match["values"].split(", ") if match else []


def translate(
    exc: BaseException,
    *,
    values: Mapping[str, object] | None = None,
    deltas: Mapping[tuple[UUID, UUID], int] | None = None,
) -> InventoryError:
    """The core error that ``exc`` (a psycopg or psycopg_pool error) means.

    ``values`` gives the exact value of a field for AlreadyExists (else it is read from the
    server's message); ``deltas`` gives the stock changes a statement applied, so a CHECK violation
    on a stock level can say what was available and what was requested.
    """
    if isinstance(exc, InventoryError):
        return exc
    values = values or {}
    if isinstance(exc, pg.UniqueViolation):
        constraint = exc.diag.constraint_name or ""
        entity, field = _UNIQUE.get(constraint, ("record", constraint or "key"))
        if field in values:
            value = values[field]
        else:
            columns, found = _key_values(exc.diag.message_detail)
            value = found[-1] if found else None
            if field in columns and len(columns) == len(found):
                value = found[columns.index(field)]
        return AlreadyExists(entity, field, value)
    if isinstance(exc, pg.ForeignKeyViolation):
        constraint = exc.diag.constraint_name or ""
        _, found = _key_values(exc.diag.message_detail)
        return NotFound(_FOREIGN.get(constraint, "referenced record"), found[0] if found else "?")
    if isinstance(exc, pg.CheckViolation):
        return _check_violation(exc, deltas or {})
    if isinstance(exc, pg.SerializationFailure | pg.DeadlockDetected | pg.LockNotAvailable):
        return ConcurrencyConflict(f"a concurrent transaction got in the way: {exc}")
    if isinstance(exc, pg.RestrictViolation):  # the ledger's append-only trigger
        return InvalidOperation(str(exc).strip())
    if isinstance(exc, pg.InFailedSqlTransaction):
        return InvalidOperation(
            "the transaction failed earlier and can only be rolled back; "
            "leave the unit of work by its exception"
        )
    if isinstance(exc, pg.ReadOnlySqlTransaction):  # a standby after a failover: retry later
        return Unavailable(f"the database is read-only, not the primary: {exc}".strip())
    if isinstance(exc, pg.NumericValueOutOfRange):
        return ValidationError("a quantity or stock level is out of range")
    if isinstance(exc, pg.DataError):
        return ValidationError(f"the database refused a value: {exc}".strip())
    if isinstance(exc, _UNAVAILABLE):
        return Unavailable(f"the database is unavailable: {exc}".strip())
    return DatabaseError(f"unexpected database error: {type(exc).__name__}: {exc}".strip())


def _check_violation(
    exc: pg.CheckViolation, deltas: Mapping[tuple[UUID, UUID], int]
) -> InventoryError:
    constraint = exc.diag.constraint_name or ""
    if constraint == "warehouse_stock_reserved_check":
        return InvalidOperation("reserved stock would go negative")
    if constraint in _LIMIT_CHECKS:
        return _limit_violation(exc, *_LIMIT_CHECKS[constraint], deltas)
    columns = _STOCK_CHECKS.get(constraint)
    row = _failing_row(exc.diag.message_detail)
    if columns is None or len(row) != len(columns):
        return ValidationError(f"a value breaks a rule of the schema ({constraint or exc})")
    fields = dict(zip(columns, row, strict=True))
    try:
        item_id = UUID(fields["item_id"])
        where = UUID(fields.get("location_id") or fields["warehouse_id"])
        lot_id = UUID(fields["lot_id"]) if "lot_id" in fields else None
        after = int(fields["on_hand"])
    except ValueError:
        return ValidationError(f"a value breaks a rule of the schema ({constraint})")
    # ``deltas`` are the changes of (item, location) rows: not those of a lot under one.
    delta = deltas.get((item_id, where)) if lot_id is None else None
    if delta is None:  # unknown change: all we know is how far below zero it would have gone
        return InsufficientStock(
            item_id=item_id, location_id=where, available=0, requested=-after, lot_id=lot_id
        )
    return InsufficientStock(
        item_id=item_id, location_id=where, available=after - delta, requested=-delta
    )


def _limit_violation(
    exc: pg.CheckViolation,
    columns: tuple[str, ...],
    level: str,
    deltas: Mapping[tuple[UUID, UUID], int],
) -> InventoryError:
    """A level past the JSON-safe bound, as the LimitExceeded the conditional writes raise."""
    row = _failing_row(exc.diag.message_detail)
    if len(row) != len(columns):
        return ValidationError(f"a stock level would pass the limit of {MAX_TOTAL}")
    fields = dict(zip(columns, row, strict=True))
    try:
        item_id = UUID(fields["item_id"])
        where = UUID(fields.get("location_id") or fields["warehouse_id"])
        after = int(fields[level])
    except ValueError:
        return ValidationError(f"a stock level would pass the limit of {MAX_TOTAL}")
    lot_row = "lot_id" in columns  # ``deltas`` are those of (item, location) rows only
    change = deltas.get((item_id, where), 0) if level == "on_hand" and not lot_row else 0
    return LimitExceeded(
        item_id=item_id,
        location_id=where,
        level=level,
        current=after - change,
        change=change,
        limit=MAX_TOTAL,
    )
