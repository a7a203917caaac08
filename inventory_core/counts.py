"""Stocktakes: counted quantities that become one adjustment movement."""

from __future__ import annotations

from datetime import date
from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core._checks import accepts
from inventory_core.errors import CountConflictLine
from inventory_core.lots import COUNTED_SERIALS, LOT_CODE
from inventory_core.movements import Movement

__all__ = ["CountConflictLine", "CountLine", "CountResult"]


@attrs.frozen
class CountLine:
    """What was counted of an item at a location. ``expected_on_hand`` is what the counter saw in
    the system before counting; if it no longer matches, the count is a conflict."""

    item_id: UUID
    """The item counted."""
    location_id: UUID
    """Where it was counted."""
    counted: int = attrs.field(validator=_checks.integer(0, _checks.MAX_TOTAL))
    """How much was found."""
    expected_on_hand: int | None = attrs.field(
        default=None, validator=_checks.integer(0, _checks.MAX_TOTAL).or_none()
    )
    """What the system showed before counting; if the ledger has moved since, the count is a
    conflict and nothing is posted."""
    lot: str | None = attrs.field(default=None, metadata=accepts(LOT_CODE.or_none()))
    """The lot counted, for an item tracked by lot (each lot at a location is a line of its
    own); a lot the item does not have yet is created when some is found."""
    expires_on: date | None = None
    """The expiry date of a lot the count finds and creates (or, given, the lot's own)."""
    serials: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(_checks.strings),
        metadata=accepts(COUNTED_SERIALS.or_none()),
    )
    """For an item tracked by serial number, every serial found at the location (``counted`` is
    their number): those the ledger has there but were not found are adjusted out, those found
    but not in stock are adjusted in."""


@attrs.frozen
class CountResult:
    """The adjustment posted (``None`` when everything matched)."""

    movement: Movement | None
    """The adjustment posted; ``null`` when every line matched the ledger."""
    conflicts: tuple[CountConflictLine, ...] = ()
    """Lines whose ``expected_on_hand`` no longer matched (nothing is posted then)."""
