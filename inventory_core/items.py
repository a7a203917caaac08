"""Items: the things that are stocked."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core.lots import Tracking

__all__ = ["BARCODES", "NAME", "REORDER_POINT", "REORDER_QUANTITY", "SKU", "UNIT", "Item"]

MAX_BARCODES = 32


def _barcodes(value: object) -> str | tuple[str, str] | None:
    if not isinstance(value, tuple) or len(value) > MAX_BARCODES:
        return f"at most {MAX_BARCODES} barcodes"
    for index, barcode in enumerate(value):
        if not isinstance(barcode, str) or not _checks.CODE_PATTERN.fullmatch(barcode):
            return f"[{index}]", "must be 1-64 letters, digits or . _ / -"
    if len(set(value)) != len(value):
        return "barcodes must not repeat"
    return None


SKU = _checks.code
NAME = _checks.text(1, 200)
UNIT = _checks.text(1, 32)
BARCODES = _checks.Rule(
    _barcodes,
    {"type": "array", "maxItems": MAX_BARCODES, "uniqueItems": True, "items": SKU.json_schema},
)
REORDER_POINT = _checks.count.or_none()
REORDER_QUANTITY = _checks.quantity.or_none()


@attrs.frozen
class Item:
    """A stocked thing. Quantities of it are integers in its base ``unit``.

    ``sku`` and every barcode are unique across all items; ``version`` starts at 1 and grows by one
    with every change (it is the HTTP ``ETag``).
    """

    id: UUID
    """The item's id."""
    sku: str = attrs.field(validator=SKU)
    """Stock-keeping unit: unique, compared exactly (case included)."""
    name: str = attrs.field(validator=NAME)
    """What people call it."""
    created_at: datetime = attrs.field(validator=_checks.aware)
    """When it was created."""
    updated_at: datetime = attrs.field(validator=_checks.aware)
    """When it last changed."""
    unit: str = attrs.field(default="each", validator=UNIT)
    """The base unit every quantity of the item counts in (``each``, ``kg``, ``m``)."""
    barcodes: tuple[str, ...] = attrs.field(
        default=(), converter=_checks.strings, validator=BARCODES
    )
    """Barcodes that identify the item, each unique across all items."""
    reorder_point: int | None = attrs.field(default=None, validator=REORDER_POINT)
    """Replenish when a warehouse's ``available`` falls below this; ``null``: never."""
    reorder_quantity: int | None = attrs.field(default=None, validator=REORDER_QUANTITY)
    """How much to order when replenishing; ``null``: not set."""
    active: bool = True
    """Inactive items take no new receipts; their stock can still leave."""
    version: int = attrs.field(default=1, validator=_checks.version)
    """Grows by one with every change; the entity tag of the item."""
    tracking: Tracking = attrs.field(default=Tracking.NONE, converter=Tracking)
    """How its stock is told apart: ``none``, by ``lot`` or by ``serial`` number. Changes only
    while the item has no stock."""
