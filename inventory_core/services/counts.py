"""Stocktakes."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core._checks import accepts
from inventory_core.commands import Command, handles
from inventory_core.counts import CountLine, CountResult
from inventory_core.errors import CountConflict, CountConflictLine, FieldError, ValidationError
from inventory_core.locations import ADJUSTMENT_LOCATION_ID
from inventory_core.movements import (
    LINES,
    MAX_LINES,
    AdjustmentReason,
    Movement,
    MovementKind,
    MovementLine,
)
from inventory_core.ports import UnitOfWork
from inventory_core.services import _ledger
from inventory_core.services._support import Providers, raise_if
from inventory_core.users import Actor, Role


def _count_lines(value: Iterable[CountLine]) -> tuple[CountLine, ...]:
    return tuple(value)


@attrs.frozen
class CountStock(Command[CountResult]):
    """What was counted; each (item, location) at most once."""

    lines: tuple[CountLine, ...] = attrs.field(converter=_count_lines, metadata=accepts(LINES))
    """What was counted where."""
    note: str | None = attrs.field(default=None, metadata=accepts(_checks.note))
    """Free text for people."""
    reference: str | None = attrs.field(default=None, metadata=accepts(_checks.reference))
    """Your reference, such as the stocktake's number."""


def _adjustment_lines(item_id: UUID, location_id: UUID, difference: int) -> list[MovementLine]:
    """The adjustment lines that take ``location_id`` from its on hand to the counted quantity:
    none for no difference, else lines of at most MAX_QUANTITY (a line's own limit) adding up to
    the difference. On hand may be up to MAX_TOTAL, far more than one line carries."""
    source, destination = ADJUSTMENT_LOCATION_ID, location_id
    if difference < 0:
        source, destination = location_id, ADJUSTMENT_LOCATION_ID
    remaining = abs(difference)
    lines: list[MovementLine] = []
    while remaining > 0:
        quantity = min(remaining, _checks.MAX_QUANTITY)
        lines.append(MovementLine(item_id, quantity, source, destination))
        remaining -= quantity
    return lines


@handles(CountStock, role=Role.CLERK)
def count_stock(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: CountStock
) -> CountResult:
    """Post the differences between counted and on hand as one ``count`` adjustment (a
    difference beyond MAX_QUANTITY, the most one line carries, as several lines).

    If any line's ``expected_on_hand`` no longer matches, nothing is posted and CountConflict
    lists every such line: a count never overwrites a movement made while people were counting.
    Downward counts always post, even if they leave the warehouse short of its reservations."""
    if not 1 <= len(command.lines) <= MAX_LINES:
        raise ValidationError(f"a count has 1-{MAX_LINES} lines", "$.lines")
    errors: list[FieldError] = []
    seen: set[tuple[UUID, UUID]] = set()
    for index, line in enumerate(command.lines):
        key = (line.item_id, line.location_id)
        if key in seen:
            errors.append(FieldError(f"$.lines[{index}]", "item and location counted twice"))
        seen.add(key)
    raise_if(errors)
    now = providers.clock.now()
    items = uow.items.get_many({line.item_id for line in command.lines})
    locations = uow.locations.get_many(
        {line.location_id for line in command.lines} | {ADJUSTMENT_LOCATION_ID}
    )
    for index, line in enumerate(command.lines):
        if line.item_id not in items:
            errors.append(FieldError(f"$.lines[{index}].item_id", "no such item"))
        location = locations.get(line.location_id)
        if location is None or not location.kind.holds_stock:
            errors.append(FieldError(f"$.lines[{index}].location_id", "no such stock location"))
    raise_if(errors)
    on_hand = uow.stock.on_hand(sorted(seen), lock=True)
    conflicts = [
        CountConflictLine(line.item_id, line.location_id, line.expected_on_hand, current)
        for line in command.lines
        if line.expected_on_hand is not None
        and line.expected_on_hand != (current := on_hand[(line.item_id, line.location_id)])
    ]
    if conflicts:
        raise CountConflict(conflicts)
    lines: list[MovementLine] = []
    for line in command.lines:
        difference = line.counted - on_hand[(line.item_id, line.location_id)]
        lines += _adjustment_lines(line.item_id, line.location_id, difference)
    if not lines:
        return CountResult(None)
    if len(lines) > MAX_LINES:
        # Only differences far beyond MAX_QUANTITY get here (each takes several adjustment
        # lines): counting fewer lines at a time posts them.
        raise ValidationError(
            f"the differences from the stock on hand need {len(lines)} adjustment lines of at "
            f"most {_checks.MAX_QUANTITY} each, more than the {MAX_LINES} of one movement: "
            "count these lines in several counts",
            "$.lines",
        )
    movement = Movement(
        id=providers.ids.new_id(),
        seq=0,
        kind=MovementKind.ADJUSTMENT,
        reason=AdjustmentReason.COUNT,
        lines=tuple(lines),
        actor_id=actor.user_id,
        occurred_at=now,
        recorded_at=now,
        reference=command.reference,
        note=command.note,
    )
    return CountResult(
        _ledger.post(providers, uow, movement, locations, now=now, guard_available=False)
    )
