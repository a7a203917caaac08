"""Reservation use cases: reserve, release, fulfil, expire."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from uuid import UUID

import attrs

from inventory_core import _checks
from inventory_core._checks import accepts, problems_of
from inventory_core.commands import Command, handles, handles_trusted
from inventory_core.errors import FieldError, InvalidOperation, NotFound, ValidationError
from inventory_core.events import EventType
from inventory_core.locations import CUSTOMER_LOCATION_ID, LocationKind
from inventory_core.lots import LOT_CODE, SERIALS
from inventory_core.movements import LINES, MAX_LINES, Movement, MovementKind, MovementLine
from inventory_core.paging import Page
from inventory_core.ports import ReservationQuery, UnitOfWork
from inventory_core.reservations import Reservation, ReservationStatus
from inventory_core.services import _ledger
from inventory_core.services._events import record, record_drops_below_reorder
from inventory_core.services._support import Providers, fetch_page, raise_if
from inventory_core.services._tracking import (
    TrackedLine,
    resolve_lots,
    tracking_problems,
    with_tracking,
)
from inventory_core.stock import WarehouseChange
from inventory_core.users import Actor, Role


@attrs.frozen
class ReserveStock(Command[Reservation]):
    """Hold ``quantity`` of an item in a warehouse, optionally until ``expires_at``."""

    item_id: UUID
    """The item to hold."""
    warehouse_id: UUID
    """The warehouse to hold it in."""
    quantity: int = attrs.field(metadata=accepts(_checks.quantity))
    """How much to hold."""
    reference: str | None = attrs.field(default=None, metadata=accepts(_checks.reference))
    """Your reference, such as an order number."""
    expires_at: datetime | None = None
    """When the hold ends by itself (in the future); ``null``: never."""


@attrs.frozen
class FulfilmentLine:
    """Ship ``quantity`` from ``location_id`` (inside the reservation's warehouse)."""

    location_id: UUID
    """Where to ship from (inside the reservation's warehouse)."""
    quantity: int = attrs.field(metadata=accepts(_checks.quantity))
    """How much to ship from there."""
    lot: str | None = attrs.field(default=None, metadata=accepts(LOT_CODE.or_none()))
    """The lot shipped, for an item tracked by lot (required then, refused otherwise)."""
    serials: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=attrs.converters.optional(_checks.strings),
        metadata=accepts(SERIALS.or_none()),
    )
    """The serial numbers shipped, one per unit, for an item tracked by serial number
    (required then, refused otherwise)."""


def _fulfilment_lines(value: Iterable[FulfilmentLine]) -> tuple[FulfilmentLine, ...]:
    return tuple(value)


@attrs.frozen
class FulfilReservation(Command[Movement]):
    """Ship a reservation from named locations of its warehouse and consume it. Lines must add
    up to the reservation's quantity (partial fulfilment: release and reserve again)."""

    reservation_id: UUID
    """The reservation to ship."""
    lines: tuple[FulfilmentLine, ...] = attrs.field(
        converter=_fulfilment_lines, metadata=accepts(LINES)
    )
    """Where to ship from; the quantities add up to the reservation's."""
    reference: str | None = attrs.field(default=None, metadata=accepts(_checks.reference))
    """Your reference for the shipment (default: the reservation's)."""
    note: str | None = attrs.field(default=None, metadata=accepts(_checks.note))
    """Free text for people."""


@attrs.frozen
class ReleaseReservation(Command[Reservation]):
    """Give an active reservation's quantity back."""

    reservation_id: UUID


@attrs.frozen
class GetReservation(Command[Reservation]):
    """One reservation as of now (an overdue one reads as expired)."""

    reservation_id: UUID


@attrs.frozen
class ListReservations(Command[Page[Reservation, UUID]]):
    query: ReservationQuery = attrs.field(factory=ReservationQuery)
    after: UUID | None = None
    limit: int = 50


@attrs.frozen
class ExpireReservations(Command[int]):
    """Housekeeping: mark every overdue reservation expired; the result is how many."""


def _as_of(reservation: Reservation, now: datetime) -> Reservation:
    status = reservation.effective_status(now)
    return reservation if status is reservation.status else attrs.evolve(reservation, status=status)


@handles(ReserveStock, role=Role.CLERK)
def reserve_stock(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ReserveStock
) -> Reservation:
    """Reserve available stock; InsufficientStock when the warehouse's available is too low."""
    now = providers.clock.now()
    if command.expires_at is not None and (
        command.expires_at.tzinfo is None or command.expires_at <= now
    ):
        raise ValidationError("must be a timezone-aware time in the future", "$.expires_at")
    reservation = Reservation(
        id=providers.ids.new_id(),
        item_id=command.item_id,
        warehouse_id=command.warehouse_id,
        quantity=command.quantity,
        status=ReservationStatus.ACTIVE,
        actor_id=actor.user_id,
        created_at=now,
        updated_at=now,
        reference=command.reference,
        expires_at=command.expires_at,
    )
    item = uow.items.get(command.item_id)
    errors: list[FieldError] = []
    if item is None:
        errors.append(FieldError("$.item_id", "no such item"))
    elif not item.active:
        errors.append(FieldError("$.item_id", "item is inactive"))
    warehouse = uow.locations.get(command.warehouse_id)
    if warehouse is None or warehouse.kind is not LocationKind.WAREHOUSE:
        errors.append(FieldError("$.warehouse_id", "no such warehouse"))
    raise_if(errors)
    key = (command.item_id, command.warehouse_id)
    _ledger.expire_overdue(providers, uow, now, [key])
    levels = uow.stock.apply([], [WarehouseChange(*key, reserved_delta=command.quantity)])
    uow.reservations.add(reservation)
    record(providers, uow, EventType.RESERVATION_CREATED, reservation)
    assert item is not None
    record_drops_below_reorder(providers, uow, levels, {key: -command.quantity}, {item.id: item})
    return reservation


def _not_active(uow: UnitOfWork, reservation_id: UUID, now: datetime) -> Exception:
    current = uow.reservations.get(reservation_id)
    if current is None:
        return NotFound("reservation", reservation_id)
    return InvalidOperation(
        f"reservation {reservation_id} is {current.effective_status(now)}, not active"
    )


@handles(ReleaseReservation, role=Role.CLERK)
def release_reservation(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ReleaseReservation
) -> Reservation:
    """Give the reserved quantity back; InvalidOperation unless the reservation is active."""
    reservation_id = command.reservation_id
    now = providers.clock.now()
    released = uow.reservations.transition(reservation_id, to=ReservationStatus.RELEASED, now=now)
    if released is None:
        raise _not_active(uow, reservation_id, now)
    uow.stock.apply(
        [],
        [
            WarehouseChange(
                released.item_id,
                released.warehouse_id,
                reserved_delta=-released.quantity,
                guard_available=False,
            )
        ],
    )
    record(providers, uow, EventType.RESERVATION_RELEASED, released)
    return released


@handles(FulfilReservation, role=Role.CLERK)
def fulfil_reservation(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: FulfilReservation
) -> Movement:
    """Ship the reserved stock from named locations of its warehouse and consume the
    reservation, in one transaction. Returns the shipment."""
    reservation_id = command.reservation_id
    if not 1 <= len(command.lines) <= MAX_LINES:
        raise ValidationError(f"a fulfilment has 1-{MAX_LINES} lines", "$.lines")
    now = providers.clock.now()
    reservation = uow.reservations.get(reservation_id)
    if reservation is None:
        raise NotFound("reservation", reservation_id)
    locations = uow.locations.get_many(
        {line.location_id for line in command.lines} | {CUSTOMER_LOCATION_ID}
    )
    errors: list[FieldError] = problems_of(command)
    for index, line in enumerate(command.lines):
        location = locations.get(line.location_id)
        if location is None or location.warehouse_id != reservation.warehouse_id:
            errors.append(
                FieldError(
                    f"$.lines[{index}].location_id",
                    "must be a location in the reservation's warehouse",
                )
            )
    total = sum(line.quantity for line in command.lines)
    if total != reservation.quantity:
        errors.append(FieldError("$.lines", f"must add up to the reserved {reservation.quantity}"))
    item_id = reservation.item_id
    items = uow.items.get_many({item_id})
    tracked = [
        TrackedLine(
            f"$.lines[{index}]",
            items[reservation.item_id],
            line.quantity,
            line.lot,
            None,
            line.serials,
            inbound=False,
        )
        for index, line in enumerate(command.lines)
    ]
    errors += tracking_problems(tracked)
    raise_if(errors)
    lots = resolve_lots(providers, uow, tracked)
    lines = tuple(
        with_tracking(
            MovementLine(
                reservation.item_id, line.quantity, line.location_id, CUSTOMER_LOCATION_ID
            ),
            t,
            lots,
        )
        for line, t in zip(command.lines, tracked, strict=True)
    )
    fulfilled = uow.reservations.transition(reservation_id, to=ReservationStatus.FULFILLED, now=now)
    if fulfilled is None:
        raise _not_active(uow, reservation_id, now)
    record(providers, uow, EventType.RESERVATION_FULFILLED, fulfilled)
    shipment = Movement(
        id=providers.ids.new_id(),
        seq=0,
        kind=MovementKind.SHIPMENT,
        lines=lines,
        actor_id=actor.user_id,
        occurred_at=now,
        recorded_at=now,
        reference=command.reference if command.reference is not None else reservation.reference,
        note=command.note,
        reservation_id=reservation_id,
    )
    return _ledger.post(
        providers,
        uow,
        shipment,
        locations,
        now=now,
        guard_available=True,
        reserved_deltas={(reservation.item_id, reservation.warehouse_id): -reservation.quantity},
        items=items,
    )


@handles(GetReservation, role=Role.VIEWER)
def get_reservation(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: GetReservation
) -> Reservation:
    """The reservation as of now (an overdue one reads as expired)."""
    reservation = uow.reservations.get(command.reservation_id)
    if reservation is None:
        raise NotFound("reservation", command.reservation_id)
    return _as_of(reservation, providers.clock.now())


@handles(ListReservations, role=Role.VIEWER)
def list_reservations(
    providers: Providers, uow: UnitOfWork, actor: Actor, command: ListReservations
) -> Page[Reservation, UUID]:
    """Reservations as of now. Filtering by ``active`` leaves out overdue ones, so a page may hold
    fewer than ``limit`` rows while ``next_after`` still says there is more."""
    query = command.query
    now = providers.clock.now()
    page = fetch_page(
        lambda n: uow.reservations.list(query, after=command.after, limit=n),
        lambda r: r.id,
        command.limit,
    )
    rows = tuple(_as_of(r, now) for r in page.items)
    if query.status is ReservationStatus.ACTIVE:
        rows = tuple(r for r in rows if r.status is ReservationStatus.ACTIVE)
    return Page(rows, page.next_after)


@handles_trusted(ExpireReservations)
def expire_reservations(providers: Providers, uow: UnitOfWork, command: ExpireReservations) -> int:
    """Mark every overdue reservation expired (housekeeping; availability never waits for it)."""
    return _ledger.expire_overdue(providers, uow, providers.clock.now(), None)
