"""Lots, serial numbers and expiry: which batch or which unit of an item is where.

An item's ``tracking`` says how its stock is told apart: not at all (``none``), by lot (every
line names a lot, created by its first receipt, with an optional expiry date) or by serial number
(every line lists the serials it moves, one per unit). Levels are kept per (item, location, lot)
and per serial; the location and warehouse levels are their sums.
"""

from __future__ import annotations

import enum
from datetime import date
from uuid import UUID

import attrs

from inventory_core import _checks

__all__ = [
    "COUNTED_SERIALS",
    "LOT_CODE",
    "MAX_SERIALS",
    "MAX_SERIALS_PER_REQUEST",
    "SERIAL",
    "SERIALS",
    "Lot",
    "LotDetail",
    "LotLevel",
    "SerialLevel",
    "Tracking",
]

MAX_SERIALS = 1000
"""The most serial numbers one line lists (so the most units of a serial item it moves)."""

MAX_SERIALS_PER_REQUEST = 10_000
"""The most serial numbers one movement, fulfilment or count lists over all its lines: each is a
row written on its own (import-stock takes more)."""


class Tracking(enum.StrEnum):
    """How an item's stock is told apart: ``none``, by ``lot`` or by ``serial`` number."""

    NONE = "none"
    LOT = "lot"
    SERIAL = "serial"


LOT_CODE = _checks.code
"""A lot code: 1-64 letters, digits or . _ / -, unique per item."""

SERIAL = _checks.code
"""A serial number: 1-64 letters, digits or . _ / -, unique per item."""


def _serials(
    value: object, minimum: int = 1, maximum: int = MAX_SERIALS
) -> str | tuple[str, str] | None:
    if not isinstance(value, tuple) or not minimum <= len(value) <= maximum:
        return f"{minimum}-{maximum} serial numbers"
    seen: set[str] = set()
    for index, serial in enumerate(value):
        problem = SERIAL.problem(serial)
        if problem is not None:
            return f"[{index}]", str(problem)
        if serial in seen:
            return f"[{index}]", f"serial {serial} is listed twice"
        seen.add(serial)
    return None


SERIALS = _checks.Rule(
    _serials,
    {
        "type": "array",
        "minItems": 1,
        "maxItems": MAX_SERIALS,
        "uniqueItems": True,
        "items": SERIAL.json_schema,
    },
)
"""The serial numbers of a line: 1 to MAX_SERIALS, none repeated."""

COUNTED_SERIALS = _checks.Rule(
    lambda value: _serials(value, 0, MAX_SERIALS_PER_REQUEST),
    {**SERIALS.json_schema, "minItems": 0, "maxItems": MAX_SERIALS_PER_REQUEST},
)
"""The serial numbers found by a count at one location: up to MAX_SERIALS_PER_REQUEST (a whole
bin is counted at once), none repeated."""


@attrs.frozen
class Lot:
    """A batch of an item, created by its first receipt. ``code`` is unique per item."""

    id: UUID
    """The lot's id."""
    item_id: UUID
    """The item it is a batch of."""
    code: str = attrs.field(validator=LOT_CODE)
    """The batch code printed on the goods; unique per item."""
    expires_on: date | None = None
    """The last day it may be used; ``null``: it does not expire."""

    def is_expired(self, today: date) -> bool:
        """Whether the lot may no longer be used on ``today`` (the day after ``expires_on``)."""
        return self.expires_on is not None and self.expires_on < today


@attrs.frozen
class LotLevel:
    """On hand of one lot at one stock-holding location."""

    lot_id: UUID
    """The lot."""
    code: str
    """The lot's code."""
    expires_on: date | None
    """The lot's expiry date; ``null``: none."""
    location_id: UUID
    """The location."""
    warehouse_id: UUID
    """The location's warehouse."""
    on_hand: int
    """How much of the lot is there."""


@attrs.frozen
class SerialLevel:
    """Where one serial number of an item is: a stock-holding location, or ``null`` when it is
    not in stock (shipped, lost, or never received)."""

    serial: str
    """The serial number."""
    location_id: UUID | None
    """The stock-holding location it is at; ``null``: not in stock."""
    warehouse_id: UUID | None
    """That location's warehouse; ``null``: not in stock."""


@attrs.frozen
class LotDetail:
    """A lot and where its stock is (non-zero levels at stock-holding locations)."""

    id: UUID
    """The lot's id."""
    item_id: UUID
    """The item it is a batch of."""
    code: str
    """The batch code; unique per item."""
    expires_on: date | None
    """The last day it may be used; ``null``: it does not expire."""
    levels: tuple[LotLevel, ...]
    """On hand per location, ascending location id."""
