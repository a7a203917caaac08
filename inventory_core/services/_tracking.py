"""Lots and serial numbers on requested lines: the rules every use case that moves stock applies
(movements, fulfilment, counts), and finding -- or, where stock comes in, creating -- the lots
the lines name."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from uuid import UUID

import attrs

from inventory_core.errors import AlreadyExists, ConcurrencyConflict, FieldError, ValidationError
from inventory_core.items import Item
from inventory_core.lots import MAX_SERIALS_PER_REQUEST, Lot, Tracking
from inventory_core.movements import MovementLine
from inventory_core.ports import UnitOfWork
from inventory_core.services._support import Providers

__all__ = ["TrackedLine", "resolve_lots", "tracking_problems", "with_tracking"]


@attrs.frozen
class TrackedLine:
    """What one requested line says about lots and serials, with where it is in the request."""

    path: str
    """The line's path in the request (``$.lines[2]``)."""
    item: Item
    quantity: int
    lot: str | None
    expires_on: date | None
    serials: tuple[str, ...] | None
    inbound: bool
    """Stock comes in from outside (a receipt, or an adjustment that finds stock): the line may
    create its lot and give its expiry date."""


def tracking_problems(lines: Sequence[TrackedLine]) -> list[FieldError]:
    """What is wrong with the lines' lots and serials for their items' tracking: a tracked item
    needs its lot or serials, an untracked one takes neither, a serial line lists one serial per
    unit, and a serial of an item appears at most once in the whole request."""
    problems: list[FieldError] = []
    seen: dict[tuple[UUID, str], str] = {}
    for line in lines:
        path, item, tracking = line.path, line.item, line.item.tracking
        if line.lot is not None and tracking is not Tracking.LOT:
            problems.append(FieldError(f"{path}.lot", f"item {item.sku} is not tracked by lot"))
        if line.serials is not None and tracking is not Tracking.SERIAL:
            problems.append(
                FieldError(f"{path}.serials", f"item {item.sku} is not tracked by serial number")
            )
        if line.expires_on is not None:
            if tracking is not Tracking.LOT:
                problems.append(FieldError(f"{path}.expires_on", "only lots have expiry dates"))
            elif not line.inbound:
                problems.append(
                    FieldError(
                        f"{path}.expires_on",
                        "is given only where stock comes in (a receipt, or an adjustment that "
                        "finds stock)",
                    )
                )
        if tracking is Tracking.LOT and line.lot is None:
            problems.append(
                FieldError(f"{path}.lot", f"is required: item {item.sku} is tracked by lot")
            )
        if tracking is Tracking.SERIAL:
            if line.serials is None:
                problems.append(
                    FieldError(
                        f"{path}.serials",
                        f"is required: item {item.sku} is tracked by serial number",
                    )
                )
                continue
            if len(line.serials) != line.quantity:
                problems.append(
                    FieldError(
                        f"{path}.serials",
                        f"lists {len(line.serials)} serial numbers for a quantity of "
                        f"{line.quantity}: one per unit",
                    )
                )
            for index, serial in enumerate(line.serials):
                first = seen.setdefault((item.id, serial), path)
                if first != path:
                    problems.append(
                        FieldError(
                            f"{path}.serials[{index}]",
                            f"serial {serial} is already moved by {first}",
                        )
                    )
    listed = sum(len(line.serials or ()) for line in lines)
    if listed > MAX_SERIALS_PER_REQUEST:
        problems.append(
            FieldError(
                "$.lines",
                f"lists {listed} serial numbers, more than the {MAX_SERIALS_PER_REQUEST} one "
                "request takes: split it (inventory import-stock takes more)",
            )
        )
    return problems


def resolve_lots(
    providers: Providers, uow: UnitOfWork, lines: Sequence[TrackedLine]
) -> dict[tuple[UUID, str], Lot]:
    """The lots the lines name, by (item id, code). A lot not found is created by an inbound
    line (with its ``expires_on``); named by any other line, it is a ValidationError at the
    line's ``lot``. A new lot's date is the first its lines give, in whichever line; an
    ``expires_on`` that differs from the lot's is a ValidationError: a lot has one expiry
    date."""
    # In (item, code) order: two requests creating the same new lots then lock them (their
    # unique keys) in one order and cannot deadlock.
    wanted = sorted(
        (line for line in lines if line.lot is not None),
        key=lambda line: (line.item.id, line.lot or ""),
    )
    found = uow.lots.find({(line.item.id, line.lot) for line in wanted if line.lot is not None})
    # A new lot's date is the first one its lines give, whichever line creates it.
    dates: dict[tuple[UUID, str], date] = {}
    for line in wanted:
        if line.lot is not None and line.expires_on is not None:
            dates.setdefault((line.item.id, line.lot), line.expires_on)
    problems: list[FieldError] = []
    for line in wanted:
        assert line.lot is not None
        key = (line.item.id, line.lot)
        lot = found.get(key)
        if lot is None and line.inbound:
            lot = Lot(providers.ids.new_id(), line.item.id, line.lot, dates.get(key))
            try:
                uow.lots.add(lot)
            except AlreadyExists as exc:  # a concurrent first receipt of it: retry, and find it
                raise ConcurrencyConflict(f"lot {line.lot} was created concurrently") from exc
            found[key] = lot
        if lot is None:
            problems.append(
                FieldError(f"{line.path}.lot", f"item {line.item.sku} has no lot {line.lot}")
            )
        elif line.expires_on is not None and line.expires_on != lot.expires_on:
            expiry = lot.expires_on.isoformat() if lot.expires_on else "never"
            problems.append(
                FieldError(
                    f"{line.path}.expires_on",
                    f"lot {lot.code} expires {expiry}: give the same date or none",
                )
            )
    if problems:
        raise ValidationError(problems)
    return found


def with_tracking(
    line: MovementLine, tracked: TrackedLine, lots: dict[tuple[UUID, str], Lot]
) -> MovementLine:
    """``line`` carrying the lot or serials ``tracked`` names."""
    if tracked.lot is not None:
        lot = lots[(tracked.item.id, tracked.lot)]
        return attrs.evolve(line, lot_id=lot.id, lot=lot.code)
    if tracked.serials is not None:
        return attrs.evolve(line, serials=tracked.serials)
    return line
