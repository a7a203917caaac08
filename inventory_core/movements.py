"""The double-entry movement ledger: every change of stock is a movement of lines from one
location to another. The ledger is append-only; a mistake is undone by a ``reversal``."""

from __future__ import annotations

import enum
from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core.errors import ValidationError
from inventory_core.locations import Location, LocationKind
from inventory_core.lots import LOT_CODE, SERIALS
from inventory_core.stock import WarehouseStock

__all__ = [
    "LINES",
    "MAX_LINES",
    "POSTABLE_KIND",
    "AdjustmentReason",
    "Movement",
    "MovementKind",
    "MovementLine",
    "Posted",
    "check_sides",
]

MAX_LINES = 1000


class MovementKind(enum.StrEnum):
    """What a movement records; each kind allows certain sides (see :func:`check_sides`)."""

    RECEIPT = "receipt"
    SHIPMENT = "shipment"
    TRANSFER = "transfer"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"


POSTABLE_KIND = _checks.one_of(
    MovementKind.RECEIPT,
    MovementKind.SHIPMENT,
    MovementKind.TRANSFER,
    MovementKind.ADJUSTMENT,
    message="must be receipt, shipment, transfer or adjustment (a reversal is made by "
    "reversing a movement)",
)
"""The kinds posted directly; a reversal is made by reversing a movement."""


class AdjustmentReason(enum.StrEnum):
    """Why an adjustment was made. ``count``, ``damage`` and ``loss`` record physical reality and
    always post, even when they leave a warehouse short of its reservations (invariant 3)."""

    COUNT = "count"
    DAMAGE = "damage"
    LOSS = "loss"
    FOUND = "found"
    CORRECTION = "correction"

    @property
    def records_physical_reality(self) -> bool:
        return self in {AdjustmentReason.COUNT, AdjustmentReason.DAMAGE, AdjustmentReason.LOSS}


@attrs.frozen
class MovementLine:
    """``quantity`` of one item going from one location to another."""

    item_id: UUID
    """The item moved."""
    quantity: int = attrs.field(validator=_checks.quantity)
    """How much, in the item's unit."""
    from_location_id: UUID
    """Where it left (a virtual location for receipts and found stock)."""
    to_location_id: UUID
    """Where it went (a virtual location for shipments and losses)."""
    lot_id: UUID | None = None
    """The lot moved, for a lot-tracked item; ``null`` otherwise."""
    lot: str | None = attrs.field(default=None, validator=LOT_CODE.or_none())
    """That lot's code; ``null`` for items not tracked by lot."""
    serials: tuple[str, ...] = attrs.field(default=(), converter=_checks.strings)
    """The serial numbers moved, one per unit, for a serial-tracked item; empty otherwise."""

    def __attrs_post_init__(self) -> None:
        if self.from_location_id == self.to_location_id:
            raise ValidationError("from and to must differ", "$.to_location_id")
        if (self.lot_id is None) != (self.lot is None):
            raise ValidationError("a lot is given by its id and code together", "$.lot")
        if self.serials:
            SERIALS.check(self.serials, "$.serials")
            if self.lot is not None:
                raise ValidationError("a line carries a lot or serials, not both", "$.serials")
            if len(self.serials) != self.quantity:
                raise ValidationError(
                    f"lists {len(self.serials)} serials for a quantity of {self.quantity}",
                    "$.serials",
                )

    def mirrored(self) -> MovementLine:
        """The same quantity going back the other way."""
        return attrs.evolve(
            self, from_location_id=self.to_location_id, to_location_id=self.from_location_id
        )


def _movement_lines(value: Iterable[MovementLine]) -> tuple[MovementLine, ...]:
    return tuple(value)


def _lines(value: object) -> str | None:
    if not isinstance(value, tuple) or not 1 <= len(value) <= MAX_LINES:
        return f"a movement has 1-{MAX_LINES} lines"
    return None


LINES = _checks.Rule(_lines, {"type": "array", "minItems": 1, "maxItems": MAX_LINES})
"""A movement has 1 to MAX_LINES lines."""


@attrs.frozen
class Movement:
    """An atomic, append-only ledger entry. ``seq`` grows strictly across the whole ledger, in
    commit order, so a reader paging with ``after=seq`` sees every movement exactly once."""

    id: UUID
    """The movement's id."""
    seq: int
    """Unique and increasing within a transaction; feed order is (transaction, ``seq``)."""
    kind: MovementKind = attrs.field(converter=MovementKind)
    """What the movement records."""
    lines: tuple[MovementLine, ...] = attrs.field(converter=_movement_lines, validator=LINES)
    """What moved, from where, to where."""
    actor_id: UUID
    """Who posted it."""
    occurred_at: datetime = attrs.field(validator=_checks.aware)
    """When it happened physically (defaults to when it was recorded)."""
    recorded_at: datetime = attrs.field(validator=_checks.aware)
    """When the ledger recorded it."""
    reference: str | None = attrs.field(default=None, validator=_checks.reference)
    """The caller's reference, such as a delivery note or order number."""
    note: str | None = attrs.field(default=None, validator=_checks.note)
    """Free text for people."""
    reason: AdjustmentReason | None = attrs.field(
        default=None, converter=attrs.converters.optional(AdjustmentReason)
    )
    """Why stock was adjusted: given for adjustments, and only for them."""
    reverses_id: UUID | None = None
    """The movement this reversal undoes; given for reversals, and only for them."""
    reservation_id: UUID | None = None
    """The reservation this shipment fulfilled."""

    def __attrs_post_init__(self) -> None:
        if (self.kind is MovementKind.ADJUSTMENT) != (self.reason is not None):
            raise ValidationError("a reason is given for adjustments and only for them", "$.reason")
        if (self.kind is MovementKind.REVERSAL) != (self.reverses_id is not None):
            raise ValidationError("reverses_id is given for reversals and only for them", "$")


def _a(word: str) -> str:
    return f"an {word}" if word[:1] in set("aeiou") else f"a {word}"


def check_sides(
    kind: MovementKind, source: Location, destination: Location, *, path: str = "$"
) -> None:
    """Raise :class:`ValidationError` unless ``kind`` may move stock from ``source`` to
    ``destination``: receipt supplier→stock, shipment stock→customer, transfer stock→stock,
    adjustment stock↔adjustment. Reversals mirror an earlier movement and are checked there."""
    internal = {LocationKind.WAREHOUSE, LocationKind.INTERNAL}
    if kind is MovementKind.RECEIPT:
        ok = source.kind is LocationKind.SUPPLIER and destination.kind in internal
    elif kind is MovementKind.SHIPMENT:
        ok = source.kind in internal and destination.kind is LocationKind.CUSTOMER
    elif kind is MovementKind.TRANSFER:
        ok = source.kind in internal and destination.kind in internal
    elif kind is MovementKind.ADJUSTMENT:
        ok = (source.kind in internal and destination.kind is LocationKind.ADJUSTMENT) or (
            source.kind is LocationKind.ADJUSTMENT and destination.kind in internal
        )
    else:  # a reversal mirrors lines that were checked when first posted
        ok = source.kind in internal or destination.kind in internal
    if not ok:
        raise ValidationError(
            f"{_a(kind)} cannot move stock from {_a(source.kind)} location to "
            f"{_a(destination.kind)} location",
            path,
        )


@attrs.frozen
class Posted:
    """A movement as appended to the ledger, and the warehouse levels it changed."""

    movement: Movement
    """The movement with its ``seq``."""
    warehouses: tuple[WarehouseStock, ...]
    """Each warehouse level the append changed, as it is right after (stored ``reserved``),
    ascending (item_id, warehouse_id)."""
