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


@attrs.frozen
class CountResult:
    """The adjustment posted (``None`` when everything matched)."""

    movement: Movement | None
    """The adjustment posted; ``null`` when every line matched the ledger."""
    conflicts: tuple[CountConflictLine, ...] = ()
    """Lines whose ``expected_on_hand`` no longer matched (nothing is posted then)."""
