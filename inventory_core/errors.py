"""The one error hierarchy of inventory-core.

Adapters translate their driver's exceptions into these at their boundary, so callers only ever
catch :class:`InventoryError` subclasses. Each error carries a stable ``code`` (a short slug
the HTTP layer uses as the problem ``type``) and a human readable message.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar
from uuid import UUID

import attrs

__all__ = [
    "AlreadyExists",
    "AuthenticationFailed",
    "ConcurrencyConflict",
    "CountConflict",
    "CountConflictLine",
    "CursorExpired",
    "FieldError",
    "IdempotencyKeyInUse",
    "IdempotencyKeyReused",
    "InsufficientStock",
    "InvalidOperation",
    "InventoryError",
    "LimitExceeded",
    "NotFound",
    "PermissionDenied",
    "SerialConflict",
    "Unavailable",
    "ValidationError",
    "VersionMismatch",
]


class InventoryError(Exception):
    """Base class of every error raised by inventory-core and its adapters."""

    code: ClassVar[str] = "inventory-error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotFound(InventoryError):
    """The named entity does not exist (or is not visible to the caller)."""

    code = "not-found"

    def __init__(self, entity: str, key: object) -> None:
        super().__init__(f"{entity} {key} not found")
        self.entity = entity
        self.key = key


class AlreadyExists(InventoryError):
    """A unique field (SKU, barcode, location code, username, ...) is already taken."""

    code = "already-exists"

    def __init__(self, entity: str, field: str, value: object) -> None:
        super().__init__(f"{entity} with {field} {value!r} already exists")
        self.entity = entity
        self.field = field
        self.value = value


class InsufficientStock(InventoryError):
    """An operation would take more than is there: on hand at a location, or available in a
    warehouse."""

    code = "insufficient-stock"

    def __init__(
        self,
        *,
        item_id: UUID,
        location_id: UUID,
        available: int,
        requested: int,
        lot_id: UUID | None = None,
    ) -> None:
        of_lot = f" (lot {lot_id})" if lot_id is not None else ""
        super().__init__(
            f"insufficient stock of item {item_id}{of_lot} at {location_id}: "
            f"{available} available, {requested} requested"
        )
        self.item_id = item_id
        self.location_id = location_id
        self.available = available
        self.requested = requested
        self.lot_id = lot_id
        """The lot short of stock, when the item is lot-tracked; else ``None``."""


class SerialConflict(InventoryError):
    """A serial number is not where a movement says it is: a receipt of one already in stock,
    or a move of one from a location it is not at. ``location_id`` is where it is (``None``:
    not in stock)."""

    code = "serial-conflict"

    def __init__(self, *, item_id: UUID, serial: str, location_id: UUID | None) -> None:
        where = f"at {location_id}" if location_id is not None else "not in stock"
        super().__init__(f"serial {serial} of item {item_id} is {where}")
        self.item_id = item_id
        self.serial = serial
        self.location_id = location_id


class LimitExceeded(InventoryError):
    """A change would take a stock level or total beyond ``limit`` in magnitude (2^53 - 1: the
    largest integer JSON clients read exactly); nothing was changed. Retrying cannot help until
    other movements bring the level back."""

    code = "limit-exceeded"

    def __init__(
        self,
        *,
        item_id: UUID,
        location_id: UUID | None,
        level: str,
        current: int,
        change: int,
        limit: int,
    ) -> None:
        where = f"at {location_id}" if location_id is not None else "over all warehouses"
        super().__init__(
            f"{level} of item {item_id} {where} is {current}; changing it by {change} would "
            f"take it beyond the limit of {limit} (or -{limit})"
        )
        self.item_id = item_id
        self.location_id = location_id
        """The location or warehouse of the level; ``None`` for the item's total."""
        self.level = level
        """``on_hand`` or ``reserved``."""
        self.current = current
        self.change = change
        self.limit = limit


class ConcurrencyConflict(InventoryError):
    """A concurrent transaction got in the way (serialization failure, deadlock). Safe to retry."""

    code = "concurrency-conflict"


class VersionMismatch(ConcurrencyConflict):
    """An optimistic update named a version that is no longer current (HTTP: 412)."""

    code = "version-mismatch"

    def __init__(self, entity: str, key: object, expected: int, actual: int) -> None:
        InventoryError.__init__(self, f"{entity} {key} is at version {actual}, not {expected}")
        self.entity = entity
        self.key = key
        self.expected = expected
        self.actual = actual


@attrs.frozen
class CountConflictLine:
    """A counted line whose ``expected_on_hand`` no longer matches the ledger."""

    item_id: UUID
    """The item counted."""
    location_id: UUID
    """Where it was counted."""
    expected_on_hand: int
    """What the counter expected to find."""
    on_hand: int
    """What the ledger says is there now."""
    lot: str | None = None
    """The lot counted, for an item tracked by lot."""


class CountConflict(InventoryError):
    """Stock moved while people were counting; nothing was posted."""

    code = "count-conflict"

    def __init__(self, conflicts: Sequence[CountConflictLine]) -> None:
        super().__init__(f"{len(conflicts)} counted line(s) no longer match the stock on hand")
        self.conflicts = tuple(conflicts)


class CursorExpired(InventoryError):
    """A feed position older than what the feed still keeps: entries after it were purged by
    retention, so resuming from it would silently skip them. Start again from the beginning
    (and resync whatever the feed was used to keep in step)."""

    code = "cursor-expired"


class InvalidOperation(InventoryError):
    """The request is well formed but not allowed in the current state (e.g. already reversed)."""

    code = "invalid-operation"


class PermissionDenied(InventoryError):
    """The acting user's role is too low for this use case."""

    code = "permission-denied"


class AuthenticationFailed(InventoryError):
    """Bad credentials; deliberately says nothing about which part was wrong."""

    code = "authentication-failed"

    def __init__(self, message: str = "invalid username or password") -> None:
        super().__init__(message)


@attrs.frozen
class FieldError:
    """One invalid field: a JSONPath-like ``path`` (``$.lines[0].quantity``) and a message."""

    path: str
    message: str


class ValidationError(InventoryError):
    """Input breaks a rule of the domain. Carries every field error found, not just the first."""

    code = "validation-error"

    def __init__(self, errors: Sequence[FieldError] | str, path: str = "$") -> None:
        if isinstance(errors, str):
            errors = [FieldError(path, errors)]
        self.errors = tuple(errors)
        super().__init__("; ".join(f"{e.path}: {e.message}" for e in self.errors))


class Unavailable(InventoryError):
    """A backing service (database, session store) cannot be reached. Retry later."""

    code = "unavailable"


class IdempotencyKeyReused(InventoryError):
    """The idempotency key was used before with a different request; nothing was run."""

    code = "idempotency-key-reused"


class IdempotencyKeyInUse(InventoryError):
    """Another call with the same idempotency key has not finished yet; retry shortly."""

    code = "idempotency-key-in-use"
