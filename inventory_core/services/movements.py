"""Movement use cases: posting receipts, shipments, transfers and adjustments; reversals."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime
from typing import Any, ClassVar
from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core._checks import ClassRule, accepts, check, uuid_given, when
from inventory_core.commands import Command, handles
from inventory_core.errors import (
    AlreadyExists,
    FieldError,
    InvalidOperation,
    NotFound,
    ValidationError,
)
from inventory_core.feed import FEED_START, FeedPage, FeedPosition
from inventory_core.locations import (
    ADJUSTMENT_LOCATION_ID,
    CUSTOMER_LOCATION_ID,
    SUPPLIER_LOCATION_ID,
    Location,
)
from inventory_core.lots import LOT_CODE, SERIALS
from inventory_core.movements import (
    LINES,
    POSTABLE_KIND,
    AdjustmentReason,
    Movement,
    MovementKind,
    MovementLine,
    check_sides,
)
from inventory_core.ports import MovementQuery, UnitOfWork
from inventory_core.services import _ledger
from inventory_core.services._support import Providers, fetch_page, raise_if
from inventory_core.services._tracking import (
    TrackedLine,
    resolve_lots,
    tracking_problems,
    with_tracking,
)
from inventory_core.users import Actor, Role


@attrs.frozen
class LineRequest:
    """One requested line. For receipts ``from`` may be omitted (the supplier), for shipments
    ``to`` (the customer), and for adjustments the side that is the adjustment location."""

    item_id: UUID
    """The item to move."""
    quantity: int = attrs.field(metadata=accepts(_checks.quantity))
    """How much, in the item's unit."""
    from_location_id: UUID | None = None
    """Where it leaves; may be omitted for receipts (the supplier) and for adjustments that add
    stock (the adjustment location)."""
    to_location_id: UUID | None = None
    """Where it goes; may be omitted for shipments (the customer) and for adjustments that remove
    stock (the adjustment location)."""
    lot: str | None = attrs.field(default=None, metadata=accepts(LOT_CODE.or_none()))
    """The lot, for an item tracked by lot (required then, refused otherwise). A receipt of a
    code the item has no lot of yet creates that lot."""
    expires_on: date | None = None
    """The lot's expiry date, given where stock comes in (a receipt, an adjustment finding
    stock): it sets the date of a new lot and must match that of an existing one."""
    serials: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(_checks.strings),
        metadata=accepts(SERIALS.or_none()),
    )
    """The serial numbers moved, one per unit, for an item tracked by serial number (required
    then, refused otherwise)."""


def _line_requests(value: Iterable[LineRequest]) -> tuple[LineRequest, ...]:
    return tuple(value)


_SIDES_GIVEN = {
    MovementKind.RECEIPT: ("to_location_id",),
    MovementKind.SHIPMENT: ("from_location_id",),
    MovementKind.TRANSFER: ("from_location_id", "to_location_id"),
}
"""The sides each kind needs on every line; the other side defaults to a virtual location."""


def _kind_needs(command: PostMovement) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    adjustment = command.kind is MovementKind.ADJUSTMENT
    if adjustment and command.reason is None:
        problems.append(("$.reason", "an adjustment needs a reason"))
    if not adjustment and command.reason is not None:
        problems.append(("$.reason", "only adjustments take a reason"))
    for index, line in enumerate(command.lines):
        sides = _SIDES_GIVEN.get(command.kind, ())
        if adjustment and line.from_location_id is None and line.to_location_id is None:
            sides = ("from_location_id", "to_location_id")
        problems += [
            (f"$.lines[{index}].{side}", "is required")
            for side in sides
            if getattr(line, side) is None
        ]
    return problems


def _virtual_side(side: str, location_id: UUID) -> dict[str, Any]:
    # the one location of a virtual kind: given, it can only be that one
    return {"properties": {side: {"anyOf": [{"const": str(location_id)}, {"type": "null"}]}}}


_VIRTUAL_SIDE = {
    MovementKind.RECEIPT: _virtual_side("from_location_id", SUPPLIER_LOCATION_ID),
    MovementKind.SHIPMENT: _virtual_side("to_location_id", CUSTOMER_LOCATION_ID),
}


KIND_NEEDS = ClassRule(
    _kind_needs,
    {
        "allOf": [
            *(
                when(
                    "kind",
                    kind,
                    {
                        "properties": {
                            "lines": {
                                "items": {
                                    "allOf": [uuid_given(*sides), _VIRTUAL_SIDE.get(kind, {})]
                                }
                            }
                        }
                    },
                )
                for kind, sides in _SIDES_GIVEN.items()
            ),
            when(
                "kind",
                MovementKind.ADJUSTMENT,
                {
                    "required": ["reason"],
                    "properties": {
                        "reason": {"enum": [reason.value for reason in AdjustmentReason]},
                        "lines": {
                            "items": {
                                "anyOf": [
                                    uuid_given("from_location_id"),
                                    uuid_given("to_location_id"),
                                ]
                            }
                        },
                    },
                },
                {"properties": {"reason": {"type": "null"}}},
            ),
        ]
    },
)
"""Each kind's lines give the sides it needs; adjustments, and only they, give a reason."""


@attrs.frozen
class PostMovement(Command[Movement]):
    """A movement to post. ``reason`` is required for adjustments and refused otherwise."""

    kind: MovementKind = attrs.field(converter=MovementKind, metadata=accepts(POSTABLE_KIND))
    """What the movement records: ``receipt``, ``shipment``, ``transfer`` or ``adjustment``."""
    lines: tuple[LineRequest, ...] = attrs.field(converter=_line_requests, metadata=accepts(LINES))
    """What moves, from where, to where."""
    reference: str | None = attrs.field(default=None, metadata=accepts(_checks.reference))
    """Your reference, such as a delivery note or order number."""
    note: str | None = attrs.field(default=None, metadata=accepts(_checks.note))
    """Free text for people."""
    reason: AdjustmentReason | None = attrs.field(
        default=None, converter=attrs.converters.optional(AdjustmentReason)
    )
    """Why stock is adjusted: required for adjustments, refused for the other kinds."""
    occurred_at: datetime | None = None
    """When it happened physically, if earlier than now."""

    rules: ClassVar[tuple[ClassRule, ...]] = (KIND_NEEDS,)


_CARRIED = tuple(
    name
    for name in attrs.fields_dict(PostMovement)
    if name in attrs.fields_dict(Movement) and name not in {"kind", "lines", "occurred_at"}
)
"""What the poster says about a movement and the ledger keeps as given (reference, note,
reason...): every field the request shares by name with :class:`Movement`. A new optional field
of both is carried without touching the use case."""


def _resolve_sides(kind: MovementKind, line: LineRequest) -> tuple[UUID | None, UUID | None]:
    source, destination = line.from_location_id, line.to_location_id
    if kind is MovementKind.RECEIPT and source is None:
        source = SUPPLIER_LOCATION_ID
    elif kind is MovementKind.SHIPMENT and destination is None:
        destination = CUSTOMER_LOCATION_ID
    elif kind is MovementKind.ADJUSTMENT:
        if source is None and destination is not None:
            source = ADJUSTMENT_LOCATION_ID
        elif destination is None and source is not None:
            destination = ADJUSTMENT_LOCATION_ID
    return source, destination


@handles(PostMovement, role=Role.CLERK)
def post_movement(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: PostMovement
) -> Movement:
    """Post a receipt, shipment, transfer or adjustment atomically.

    Outbound stock is refused (InsufficientStock) when a location lacks it, or when it would
    leave a warehouse's ``available`` negative -- except loss, damage and count adjustments,
    which record physical reality and always post."""
    kind = command.kind
    check(command)
    errors: list[FieldError] = []
    sides = [_resolve_sides(kind, line) for line in command.lines]

    now = providers.clock.now()
    item_ids = {line.item_id for line in command.lines}
    items = uow.items.get_many(item_ids)
    locations = uow.locations.get_many({s for pair in sides for s in pair if s})
    lines: list[MovementLine] = []
    tracked: list[TrackedLine] = []
    for index, (line, (source, destination)) in enumerate(zip(command.lines, sides, strict=True)):
        path = f"$.lines[{index}]"
        assert source is not None
        assert destination is not None
        item = items.get(line.item_id)
        if item is None:
            errors.append(FieldError(f"{path}.item_id", "no such item"))
        frm, to = locations.get(source), locations.get(destination)
        if frm is None:
            errors.append(FieldError(f"{path}.from_location_id", "no such location"))
        if to is None:
            errors.append(FieldError(f"{path}.to_location_id", "no such location"))
        if to is not None and to.kind.holds_stock and not to.active:
            errors.append(FieldError(f"{path}.to_location_id", "location is inactive"))
        if item is not None and not item.active and frm is not None and not frm.kind.holds_stock:
            errors.append(FieldError(f"{path}.item_id", "item is inactive"))
        if frm is None or to is None or item is None:
            continue
        try:
            check_sides(kind, frm, to, path=path)
            lines.append(MovementLine(line.item_id, line.quantity, source, destination))
        except ValidationError as exc:
            errors.extend(
                e if e.path.startswith(path) else FieldError(path + e.path[1:], e.message)
                for e in exc.errors
            )
            continue
        tracked.append(
            TrackedLine(
                path,
                item,
                line.quantity,
                line.lot,
                line.expires_on,
                line.serials,
                inbound=not frm.kind.holds_stock,
            )
        )
    errors += tracking_problems(tracked)
    # The lots of the sound lines are looked up even when other lines are wrong, so that one
    # answer lists every problem (a refusal rolls back the lots this may have created).
    sound = [t for t in tracked if not any(e.path.startswith(f"{t.path}.") for e in errors)]
    lots = {}
    try:
        lots = resolve_lots(providers, uow, sound)
    except ValidationError as exc:
        errors += exc.errors
    raise_if(errors)
    lines = [with_tracking(m, t, lots) for m, t in zip(lines, tracked, strict=True)]
    movement = Movement(
        id=providers.ids.new_id(),
        seq=0,
        kind=kind,
        lines=tuple(lines),
        actor_id=actor.user_id,
        occurred_at=command.occurred_at or now,
        recorded_at=now,
        **{name: getattr(command, name) for name in _CARRIED},
    )
    guard = not (command.reason is not None and command.reason.records_physical_reality)
    return _ledger.post(
        providers, uow, movement, locations, now=now, guard_available=guard, items=items
    )


@attrs.frozen
class ReverseMovement(Command[Movement]):
    """Post the mirror image of a movement; why, optionally (``reference`` defaults to the
    original's)."""

    movement_id: UUID
    """The movement to reverse."""
    reference: str | None = attrs.field(default=None, metadata=accepts(_checks.reference))
    """Your reference for the reversal (default: the original's)."""
    note: str | None = attrs.field(default=None, metadata=accepts(_checks.note))
    """Why it is reversed."""


@attrs.frozen
class GetMovement(Command[Movement]):
    movement_id: UUID


@attrs.frozen
class ListMovements(Command[FeedPage[Movement]]):
    """The ledger in feed order after ``after`` (the feed offline clients sync from)."""

    query: MovementQuery = attrs.field(factory=MovementQuery)
    after: FeedPosition = FEED_START
    limit: int = 50


@handles(ReverseMovement, role=Role.MANAGER)
def reverse_movement(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ReverseMovement
) -> Movement:
    """Post the mirror image of a movement. A movement is reversed at most once, and a reversal
    is itself never reversed (post a new movement instead)."""
    movement_id = command.movement_id
    now = providers.clock.now()
    original = uow.movements.get(movement_id)
    if original is None:
        raise NotFound("movement", movement_id)
    if original.kind is MovementKind.REVERSAL:
        raise InvalidOperation("a reversal cannot itself be reversed")
    if uow.movements.reversal_of(movement_id) is not None:
        raise InvalidOperation(f"movement {movement_id} is already reversed")
    lines = tuple(line.mirrored() for line in original.lines)
    locations: dict[UUID, Location] = uow.locations.get_many(
        {x for line in lines for x in (line.from_location_id, line.to_location_id)}
    )
    reversal = Movement(
        id=providers.ids.new_id(),
        seq=0,
        kind=MovementKind.REVERSAL,
        lines=lines,
        actor_id=actor.user_id,
        occurred_at=now,
        recorded_at=now,
        reference=command.reference if command.reference is not None else original.reference,
        note=command.note,
        reverses_id=original.id,
    )
    items = uow.items.get_many({line.item_id for line in lines})
    try:
        return _ledger.post(
            providers, uow, reversal, locations, now=now, guard_available=True, items=items
        )
    except AlreadyExists as exc:  # a concurrent reversal won the race
        raise InvalidOperation(f"movement {movement_id} is already reversed") from exc


@handles(GetMovement, role=Role.VIEWER)
def get_movement(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: GetMovement
) -> Movement:
    movement = uow.movements.get(command.movement_id)
    if movement is None:
        raise NotFound("movement", command.movement_id)
    return movement


@handles(ListMovements, role=Role.VIEWER)
def list_movements(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ListMovements
) -> FeedPage[Movement]:
    """Movements after ``command.after`` in feed order; a reader resuming from the page's
    ``position`` never misses a movement that commits later (see inventory_core.feed)."""
    if not isinstance(command.after, FeedPosition):
        raise ValidationError("must be a feed position", "$.after")
    page = fetch_page(
        lambda n: uow.movements.list(command.query, after=command.after, limit=n),
        lambda row: row[0],
        command.limit,
    )
    position = page.items[-1][0] if page.items else command.after
    return FeedPage(tuple(m for _, m in page.items), position, page.next_after)
