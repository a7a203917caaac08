"""Items: the things that are stocked."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core.errors import ValidationError

__all__ = ["Item"]

MAX_BARCODES = 32


def _barcodes(_: object, attribute: Any, value: tuple[str, ...]) -> None:
    if len(value) > MAX_BARCODES:
        raise ValidationError(f"at most {MAX_BARCODES} barcodes", "$.barcodes")
    for index, barcode in enumerate(value):
        if not isinstance(barcode, str) or not _checks.CODE_PATTERN.fullmatch(barcode):
            raise ValidationError("must be 1-64 letters, digits or . _ / -", f"$.barcodes[{index}]")
    if len(set(value)) != len(value):
        raise ValidationError("barcodes must not repeat", "$.barcodes")


@attrs.frozen
class Item:
    """A stocked thing. Quantities of it are integers in its base ``unit``.

    ``sku`` and every barcode are unique across all items; ``version`` starts at 1 and grows by one
    with every change (it is the HTTP ``ETag``).
    """

    id: UUID
    sku: str = attrs.field(validator=_checks.code)
    name: str = attrs.field(validator=_checks.text(1, 200))
    created_at: datetime = attrs.field(validator=_checks.aware)
    updated_at: datetime = attrs.field(validator=_checks.aware)
    unit: str = attrs.field(default="each", validator=_checks.text(1, 32))
    barcodes: tuple[str, ...] = attrs.field(
        default=(), converter=_checks.strings, validator=_barcodes
    )
    reorder_point: int | None = attrs.field(
        default=None, validator=_checks.optional_integer(0, _checks.MAX_QUANTITY)
    )
    reorder_quantity: int | None = attrs.field(
        default=None, validator=_checks.optional_integer(1, _checks.MAX_QUANTITY)
    )
    active: bool = True
    version: int = attrs.field(default=1, validator=_checks.integer(1, 2**62))
