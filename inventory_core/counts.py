"""Stocktakes: counted quantities that become one adjustment movement."""

from __future__ import annotations

from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core.errors import CountConflictLine
from inventory_core.movements import Movement

__all__ = ["CountConflictLine", "CountLine", "CountResult"]


@attrs.frozen
class CountLine:
    """What was counted of an item at a location. ``expected_on_hand`` is what the counter saw in
    the system before counting; if it no longer matches, the count is a conflict."""

    item_id: UUID
    location_id: UUID
    counted: int = attrs.field(validator=_checks.integer(0, _checks.MAX_QUANTITY))
    expected_on_hand: int | None = attrs.field(
        default=None, validator=_checks.optional_integer(0, _checks.MAX_QUANTITY)
    )


@attrs.frozen
class CountResult:
    """The adjustment posted (``None`` when everything matched)."""

    movement: Movement | None
    conflicts: tuple[CountConflictLine, ...] = ()
