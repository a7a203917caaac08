"""Stocktakes."""

from __future__ import annotations

from collections.abc import Iterable
from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core._checks import accepts, check
from inventory_core.commands import Command, handles
from inventory_core.counts import CountLine, CountResult
from inventory_core.errors import CountConflict, CountConflictLine, FieldError, ValidationError
from inventory_core.locations import ADJUSTMENT_LOCATION_ID
from inventory_core.lots import MAX_SERIALS
from inventory_core.movements import (
    LINES,
    MAX_LINES,
    AdjustmentReason,
    Movement,
    MovementKind,
    MovementLine,
)
from inventory_core.ports import SerialQuery, UnitOfWork
from inventory_core.services import _ledger
from inventory_core.services._support import Providers, raise_if
from inventory_core.services._tracking import TrackedLine, resolve_lots, tracking_problems
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
    difference beyond MAX_QUANTITY, the most one line carries, as several lines). Items tracked
    by lot are counted per lot, items tracked by serial number by the serials found.

    If any line's ``expected_on_hand`` no longer matches, nothing is posted and CountConflict
    lists every such line: a count never overwrites a movement made while people were counting.
    Downward counts always post, even if they leave the warehouse short of its reservations."""
    if not 1 <= len(command.lines) <= MAX_LINES:
        raise ValidationError(f"a count has 1-{MAX_LINES} lines", "$.lines")
    check(command)
    errors: list[FieldError] = []
    seen: set[tuple[UUID, UUID, str | None]] = set()
    for index, line in enumerate(command.lines):
        key = (line.item_id, line.location_id, line.lot)
        if key in seen:
            what = "item, location and lot" if line.lot is not None else "item and location"
            errors.append(FieldError(f"$.lines[{index}]", f"{what} counted twice"))
        seen.add(key)
    raise_if(errors)
    now = providers.clock.now()
    items = uow.items.get_many({line.item_id for line in command.lines})
    locations = uow.locations.get_many(
        {line.location_id for line in command.lines} | {ADJUSTMENT_LOCATION_ID}
    )
    tracked: list[TrackedLine] = []
    for index, line in enumerate(command.lines):
        item = items.get(line.item_id)
        if item is None:
            errors.append(FieldError(f"$.lines[{index}].item_id", "no such item"))
        location = locations.get(line.location_id)
        if location is None or not location.kind.holds_stock:
            errors.append(FieldError(f"$.lines[{index}].location_id", "no such stock location"))
        if item is not None:
            tracked.append(
                TrackedLine(
                    f"$.lines[{index}]",
                    item,
                    line.counted,
                    line.lot,
                    line.expires_on,
                    line.serials,
                    inbound=line.counted > 0,
                )
            )
    errors += tracking_problems(tracked)
    raise_if(errors)
    lots = resolve_lots(providers, uow, tracked)
    # Locking the (item, location) rows holds their lots and serials still too: every change
    # of those changes the row.
    on_hand = uow.stock.on_hand(sorted({(i, loc) for i, loc, _ in seen}), lock=True)
    lot_ids = {
        index: lots[(line.item_id, line.lot)].id
        for index, line in enumerate(command.lines)
        if line.lot is not None
    }
    lot_on_hand = uow.stock.lot_on_hand(
        [
            (line.item_id, line.location_id, lot_ids[i])
            for i, line in enumerate(command.lines)
            if i in lot_ids
        ]
    )
    serials_there = {
        index: {
            s.serial
            for s in uow.stock.serial_levels(
                SerialQuery(line.item_id, location_id=line.location_id), after=None, limit=None
            )
        }
        for index, line in enumerate(command.lines)
        if line.serials is not None
    }

    def current(index: int, line: CountLine) -> int:
        if index in lot_ids:
            return lot_on_hand[(line.item_id, line.location_id, lot_ids[index])]
        if index in serials_there:
            return len(serials_there[index])
        return on_hand[(line.item_id, line.location_id)]

    conflicts = [
        CountConflictLine(
            line.item_id, line.location_id, line.expected_on_hand, now_there, line.lot
        )
        for index, line in enumerate(command.lines)
        if line.expected_on_hand is not None
        and line.expected_on_hand != (now_there := current(index, line))
    ]
    if conflicts:
        raise CountConflict(conflicts)
    lines: list[MovementLine] = []
    for index, line in enumerate(command.lines):
        if index in serials_there:
            lines += _serial_lines(line, serials_there[index])
            continue
        adjustments = _adjustment_lines(
            line.item_id, line.location_id, line.counted - current(index, line)
        )
        if index in lot_ids:
            lot = lots[(line.item_id, line.lot)]  # type: ignore[index]
            adjustments = [attrs.evolve(a, lot_id=lot.id, lot=lot.code) for a in adjustments]
        lines += adjustments
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
        _ledger.post(
            providers, uow, movement, locations, now=now, guard_available=False, items=items
        )
    )


def _serial_lines(line: CountLine, there: set[str]) -> list[MovementLine]:
    """Adjust out the serials the ledger has at the location but the count did not find, and
    adjust in those found but not there (a serial in stock elsewhere is refused when posted)."""
    found = set(line.serials or ())
    lines: list[MovementLine] = []
    for serials, source, destination in (
        (sorted(there - found), line.location_id, ADJUSTMENT_LOCATION_ID),
        (sorted(found - there), ADJUSTMENT_LOCATION_ID, line.location_id),
    ):
        for start in range(0, len(serials), MAX_SERIALS):
            chunk = tuple(serials[start : start + MAX_SERIALS])
            lines.append(MovementLine(line.item_id, len(chunk), source, destination, serials=chunk))
    return lines
