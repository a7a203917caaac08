"""Use cases on the in-memory adapter: the rules and edge cases not covered by the contract
suite, the UNSET change commands, and the facade's retry on concurrency conflicts."""

from __future__ import annotations

from datetime import datetime, timedelta
from types import TracebackType
from typing import Self
from uuid import UUID

import attrs
import pytest

from inventory_core.contract.adapter import Harness, InMemoryContractAdapter
from inventory_core.contract.invariants import check_invariants, snapshot
from inventory_core.counts import CountLine
from inventory_core.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    InsufficientStock,
    InvalidOperation,
    NotFound,
    ValidationError,
    VersionMismatch,
)
from inventory_core.executor import Executor
from inventory_core.locations import ADJUSTMENT_LOCATION_ID, CUSTOMER_LOCATION_ID, LocationKind
from inventory_core.memory.store import InMemoryStore, InMemoryUnitOfWork
from inventory_core.movements import MAX_LINES, AdjustmentReason, MovementKind
from inventory_core.passwords import Pbkdf2PasswordHasher
from inventory_core.ports import LocationQuery, ReservationQuery, WarehouseStockQuery
from inventory_core.reservations import ReservationStatus
from inventory_core.services.counts import CountStock
from inventory_core.services.items import (
    ChangeItem,
    CreateItem,
    GetItem,
    GetItemStock,
    ItemChanges,
    ListItems,
)
from inventory_core.services.locations import (
    ChangeLocation,
    CreateLocation,
    GetLocation,
    ListLocations,
    LocationChanges,
)
from inventory_core.services.movements import (
    GetMovement,
    LineRequest,
    ListMovements,
    PostMovement,
    ReverseMovement,
)
from inventory_core.services.reservations import (
    ExpireReservations,
    FulfilmentLine,
    FulfilReservation,
    GetReservation,
    ListReservations,
    ReleaseReservation,
    ReserveStock,
)
from inventory_core.services.stock import ListAvailability
from inventory_core.services.users import (
    ChangeUser,
    GetUser,
    ListUsers,
    ProvisionUser,
    UserChanges,
)
from inventory_core.unset import UNSET
from inventory_core.users import Role

MISSING = UUID(int=404)


@pytest.fixture
def h() -> Harness:
    return Harness(InMemoryContractAdapter())


def receive(h: Harness, item: UUID, at: UUID, quantity: int) -> UUID:
    return h.inventory.execute(
        h.admin, PostMovement("receipt", [LineRequest(item, quantity, to_location_id=at)])
    ).id


def ship(h: Harness, item: UUID, at: UUID, quantity: int) -> UUID:
    return h.inventory.execute(
        h.admin, PostMovement("shipment", [LineRequest(item, quantity, from_location_id=at)])
    ).id


def availability(h: Harness, item: UUID, wh: UUID) -> tuple[int, int, int]:
    (row,) = h.inventory.execute(
        h.admin, ListAvailability(WarehouseStockQuery(item_id=item, warehouse_id=wh))
    ).items
    return row.on_hand, row.reserved, row.available


def paths(excinfo: pytest.ExceptionInfo[ValidationError]) -> list[str]:
    return [e.path for e in excinfo.value.errors]


# ---------------------------------------------------------------- items and UNSET


def test_change_item_leaves_unset_fields_alone(h: Harness) -> None:
    created = h.inventory.execute(
        h.admin, CreateItem("BOLT-1", "Bolt", unit="box", barcodes=("111",), reorder_point=4)
    )
    assert ItemChanges().name is UNSET
    same = h.inventory.execute(h.admin, ChangeItem(created.id, ItemChanges()))
    assert same == created  # nothing given: no new version
    renamed = h.inventory.execute(h.admin, ChangeItem(created.id, ItemChanges(name="Hex bolt")))
    assert (renamed.name, renamed.unit, renamed.barcodes, renamed.reorder_point) == (
        "Hex bolt",
        "box",
        ("111",),
        4,
    )
    assert renamed.version == 2
    cleared = h.inventory.execute(h.admin, ChangeItem(created.id, ItemChanges(reorder_point=None)))
    assert cleared.reorder_point is None  # None is a value; UNSET is "not given"
    assert cleared.name == "Hex bolt"


def test_a_change_to_the_values_it_has_keeps_the_version(h: Harness) -> None:
    # A PATCH repeating what is stored changes nothing: version (the ETag) and updated_at stay.
    item = h.inventory.execute(
        h.admin, CreateItem("BOLT-2", "Bolt", unit="box", barcodes=("222",), reorder_point=4)
    )
    wh = h.warehouse()
    zone = h.inventory.execute(h.admin, GetLocation(h.bin(wh)))
    clerk = h.inventory.execute(None, ProvisionUser("clerk.same", "a-long-password-1", "clerk"))
    h.clock.advance(60)
    same_item = ItemChanges(
        sku="BOLT-2",
        name="Bolt",
        unit="box",
        barcodes=("222",),
        reorder_point=4,
        reorder_quantity=None,
        active=True,
    )
    assert h.inventory.execute(h.admin, ChangeItem(item.id, same_item)) == item
    assert h.inventory.execute(h.admin, GetItem(item.id)) == item
    same_location = LocationChanges(code=zone.code, name=zone.name, parent_id=wh, active=True)
    assert h.inventory.execute(h.admin, ChangeLocation(zone.id, same_location)) == zone
    assert h.inventory.execute(h.admin, GetLocation(zone.id)) == zone
    same_user = UserChanges(role=Role.CLERK, active=True)
    assert h.inventory.execute(h.admin, ChangeUser(clerk.id, same_user)) == clerk
    assert h.inventory.execute(h.admin, GetUser(clerk.id)) == clerk
    # With If-Match too, and one value that differs is a change of everything it touches.
    assert h.inventory.execute(h.admin, ChangeItem(item.id, same_item, expected_version=1)) == item
    changed = h.inventory.execute(h.admin, ChangeItem(item.id, attrs.evolve(same_item, unit="kg")))
    assert (changed.unit, changed.version, changed.updated_at) == ("kg", 2, h.clock.now())
    moved = h.inventory.execute(
        h.admin, ChangeLocation(zone.id, attrs.evolve(same_location, name="Zone"))
    )
    assert (moved.name, moved.version, moved.updated_at) == ("Zone", 2, h.clock.now())
    demoted = h.inventory.execute(h.admin, ChangeUser(clerk.id, UserChanges(role=Role.VIEWER)))
    assert (demoted.role, demoted.version, demoted.updated_at) == (Role.VIEWER, 2, h.clock.now())


def test_change_item_frees_and_takes_unique_values(h: Harness) -> None:
    item = h.inventory.execute(h.admin, CreateItem("OLD", "x", barcodes=("B1", "B2")))
    h.inventory.execute(h.admin, ChangeItem(item.id, ItemChanges(sku="NEW", barcodes=("B2", "B3"))))
    reuse = h.inventory.execute(h.admin, CreateItem("OLD", "y", barcodes=("B1",)))
    with pytest.raises(AlreadyExists):
        h.inventory.execute(h.admin, ChangeItem(reuse.id, ItemChanges(sku="NEW")))
    with pytest.raises(AlreadyExists):
        h.inventory.execute(h.admin, CreateItem("OTHER", "z", barcodes=("B3",)))


def test_change_item_errors(h: Harness) -> None:
    item = h.item()
    with pytest.raises(NotFound):
        h.inventory.execute(h.admin, ChangeItem(MISSING, ItemChanges(name="x")))
    with pytest.raises(VersionMismatch) as stale:
        h.inventory.execute(h.admin, ChangeItem(item, ItemChanges(), expected_version=7))
    assert (stale.value.expected, stale.value.actual) == (7, 1)
    with pytest.raises(ValidationError):
        h.inventory.execute(h.admin, ChangeItem(item, ItemChanges(barcodes=5)))  # type: ignore[arg-type]
    with pytest.raises(ValidationError) as bad:
        h.inventory.execute(h.admin, ChangeItem(item, ItemChanges(sku="bad sku")))
    assert paths(bad) == ["$.sku"]
    assert h.inventory.execute(h.admin, GetItem(item)).version == 1


def test_item_stock_sums_warehouses(h: Harness) -> None:
    w1, w2 = h.warehouse(), h.warehouse()
    a, b = h.bin(w1), h.bin(w2)
    item = h.item()
    receive(h, item, a, 7)
    receive(h, item, b, 3)
    receive(h, item, w2, 1)  # a warehouse itself can hold stock
    h.inventory.execute(h.admin, ReserveStock(item, w2, 2))
    stock = h.inventory.execute(h.admin, GetItemStock(item))
    assert (stock.on_hand, stock.reserved, stock.available) == (11, 2, 9)
    assert {(w.warehouse_id, w.available) for w in stock.warehouses} == {(w1, 7), (w2, 2)}
    assert len(stock.locations) == 3


# ---------------------------------------------------------------- locations


def test_location_creation_rules(h: Harness) -> None:
    wh = h.warehouse()
    cases = [
        (CreateLocation("W2", "w", "warehouse", parent_id=wh), "a warehouse has no parent"),
        (CreateLocation("I1", "i", "internal"), "needs a parent"),
        (CreateLocation("I2", "i", "internal", parent_id=MISSING), "no such location"),
        (
            CreateLocation("I3", "i", "internal", parent_id=CUSTOMER_LOCATION_ID),
            "virtual location cannot be a parent",
        ),
        (CreateLocation("V1", "v", "customer"), "provided by the system"),
    ]
    for command, message in cases:
        with pytest.raises(ValidationError, match=message):
            h.inventory.execute(h.admin, command)
    with pytest.raises(ValueError, match="not a valid LocationKind"):
        CreateLocation("Q", "q", "shelf")


def test_change_location_unset_and_errors(h: Harness) -> None:
    wh = h.warehouse()
    zone = h.bin(wh)
    created = h.inventory.execute(h.admin, GetLocation(zone))
    assert h.inventory.execute(h.admin, ChangeLocation(zone, LocationChanges())) == created
    same_parent = h.inventory.execute(h.admin, ChangeLocation(zone, LocationChanges(parent_id=wh)))
    assert same_parent == created  # the parent it has: nothing changes, not even the version
    recoded = h.inventory.execute(h.admin, ChangeLocation(zone, LocationChanges(code="ZONE-A")))
    assert (recoded.code, recoded.name, recoded.version) == ("ZONE-A", "Bin", 2)
    h.inventory.execute(h.admin, CreateLocation(created.code, "reuse", "warehouse"))
    with pytest.raises(AlreadyExists):
        h.inventory.execute(h.admin, ChangeLocation(wh, LocationChanges(code="ZONE-A")))
    with pytest.raises(NotFound):
        h.inventory.execute(h.admin, ChangeLocation(MISSING, LocationChanges(name="x")))
    with pytest.raises(VersionMismatch):
        h.inventory.execute(
            h.admin, ChangeLocation(zone, LocationChanges(name="x"), expected_version=1)
        )
    other = h.warehouse()
    with pytest.raises(ValidationError, match="a warehouse has no parent"):
        h.inventory.execute(h.admin, ChangeLocation(wh, LocationChanges(parent_id=other)))
    with pytest.raises(ValidationError, match="under itself"):
        h.inventory.execute(h.admin, ChangeLocation(zone, LocationChanges(parent_id=zone)))
    with pytest.raises(ValidationError, match="no such location"):
        h.inventory.execute(h.admin, ChangeLocation(zone, LocationChanges(parent_id=MISSING)))
    with pytest.raises(ValidationError):
        h.inventory.execute(h.admin, ChangeLocation(zone, LocationChanges(name="")))


def test_inactive_locations_cannot_receive_but_can_be_emptied(h: Harness) -> None:
    wh = h.warehouse()
    a, b = h.bin(wh), h.bin(wh)
    item = h.item()
    receive(h, item, a, 5)
    h.inventory.execute(h.admin, ChangeLocation(a, LocationChanges(active=False)))
    with pytest.raises(ValidationError) as bad:
        receive(h, item, a, 1)
    assert paths(bad) == ["$.lines[0].to_location_id"]
    h.inventory.execute(
        h.admin,
        PostMovement("transfer", [LineRequest(item, 5, from_location_id=a, to_location_id=b)]),
    )
    assert availability(h, item, wh) == (5, 0, 5)


def test_inactive_items_cannot_be_received_or_reserved_but_can_leave(h: Harness) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    receive(h, item, a, 5)
    h.inventory.execute(h.admin, ChangeItem(item, ItemChanges(active=False)))
    with pytest.raises(ValidationError) as bad:
        receive(h, item, a, 1)
    assert paths(bad) == ["$.lines[0].item_id"]
    with pytest.raises(ValidationError, match="inactive"):
        h.inventory.execute(h.admin, ReserveStock(item, wh, 1))
    with pytest.raises(ValidationError):  # found stock is a receipt-like inflow too
        h.inventory.execute(
            h.admin,
            PostMovement(
                "adjustment",
                [LineRequest(item, 1, to_location_id=a)],
                reason=AdjustmentReason.FOUND,
            ),
        )
    ship(h, item, a, 5)
    assert availability(h, item, wh) == (0, 0, 0)


# ---------------------------------------------------------------- movements


def test_post_movement_validation_collects_every_error(h: Harness) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    with pytest.raises(ValidationError) as bad:
        h.inventory.execute(h.admin, PostMovement("reversal", [], reason=AdjustmentReason.LOSS))
    assert sorted(paths(bad)) == ["$.kind", "$.lines", "$.reason"]
    with pytest.raises(ValidationError) as missing:
        h.inventory.execute(h.admin, PostMovement("adjustment", [LineRequest(item, 1)]))
    # every problem at once: the reason, and the line that names neither side
    assert paths(missing) == [
        "$.reason",
        "$.lines[0].from_location_id",
        "$.lines[0].to_location_id",
    ]
    with pytest.raises(ValidationError) as sides:
        h.inventory.execute(h.admin, PostMovement("transfer", [LineRequest(item, 1)]))
    assert paths(sides) == ["$.lines[0].from_location_id", "$.lines[0].to_location_id"]
    with pytest.raises(ValidationError) as unknown:
        h.inventory.execute(
            h.admin,
            PostMovement(
                "transfer",
                [
                    LineRequest(MISSING, 1, from_location_id=a, to_location_id=MISSING),
                    LineRequest(item, 0, from_location_id=MISSING, to_location_id=a),
                    LineRequest(item, 0, from_location_id=a, to_location_id=wh),
                ],
            ),
        )
    # the request's own rules first, every line at once; what it names is looked up after
    assert paths(unknown) == ["$.lines[1].quantity", "$.lines[2].quantity"]
    with pytest.raises(ValidationError) as unknown:
        h.inventory.execute(
            h.admin,
            PostMovement(
                "transfer",
                [
                    LineRequest(MISSING, 1, from_location_id=a, to_location_id=MISSING),
                    LineRequest(item, 1, from_location_id=MISSING, to_location_id=a),
                ],
            ),
        )
    assert paths(unknown) == [
        "$.lines[0].item_id",
        "$.lines[0].to_location_id",
        "$.lines[1].from_location_id",
    ]
    too_many = [LineRequest(item, 1, to_location_id=a)] * (MAX_LINES + 1)
    with pytest.raises(ValidationError):
        h.inventory.execute(h.admin, PostMovement("receipt", too_many))
    with pytest.raises(ValidationError, match="from and to must differ"):
        h.inventory.execute(
            h.admin,
            PostMovement("transfer", [LineRequest(item, 1, from_location_id=a, to_location_id=a)]),
        )
    assert h.inventory.execute(h.admin, ListMovements()).items == ()


def test_movement_keeps_occurred_at_reference_and_note(h: Harness) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    earlier = h.clock.now() - timedelta(hours=3)
    posted = h.inventory.execute(
        h.admin,
        PostMovement(
            "adjustment",
            [LineRequest(item, 2, from_location_id=ADJUSTMENT_LOCATION_ID, to_location_id=a)],
            reference="audit-7",
            note="found behind the shelf",
            reason="found",
            occurred_at=earlier,
        ),
    )
    assert (posted.occurred_at, posted.recorded_at) == (earlier, h.clock.now())
    assert (posted.reference, posted.note, posted.reason) == (
        "audit-7",
        "found behind the shelf",
        AdjustmentReason.FOUND,
    )
    assert posted.actor_id == h.admin.user_id
    assert h.inventory.execute(h.admin, GetMovement(posted.id)) == posted


def test_reversal_rules(h: Harness) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    receipt = receive(h, item, a, 4)
    with pytest.raises(NotFound):
        h.inventory.execute(h.admin, ReverseMovement(MISSING))
    reversal = h.inventory.execute(h.admin, ReverseMovement(receipt, reference="undo", note="typo"))
    assert (reversal.kind, reversal.reverses_id, reversal.reference) == (
        MovementKind.REVERSAL,
        receipt,
        "undo",
    )
    assert availability(h, item, wh) == (0, 0, 0)
    with pytest.raises(InvalidOperation, match="already reversed"):
        h.inventory.execute(h.admin, ReverseMovement(receipt))
    with pytest.raises(InvalidOperation, match="cannot itself be reversed"):
        h.inventory.execute(h.admin, ReverseMovement(reversal.id))
    shipment_source = receive(h, item, a, 3)
    shipment = ship(h, item, a, 3)
    back = h.inventory.execute(h.admin, ReverseMovement(shipment))
    assert back.reference is None
    assert availability(h, item, wh) == (3, 0, 3)
    assert (
        h.inventory.execute(h.admin, ReverseMovement(shipment_source)).kind is MovementKind.REVERSAL
    )
    check_invariants(h)


def test_adjustment_reason_given_as_text_is_converted(h: Harness) -> None:
    """Regression: ``PostMovement(kind="adjustment", reason="loss")`` (text, as ``kind`` accepts)
    crashed with AttributeError while deciding the availability guard."""
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    receive(h, item, a, 3)
    h.inventory.execute(h.admin, ReserveStock(item, wh, 3))
    lost = h.inventory.execute(
        h.admin,
        PostMovement("adjustment", [LineRequest(item, 1, from_location_id=a)], reason="loss"),
    )
    assert lost.reason is AdjustmentReason.LOSS  # and it was exempt from the guard
    assert availability(h, item, wh) == (2, 3, -1)
    with pytest.raises(ValueError, match="not a valid AdjustmentReason"):
        PostMovement("adjustment", [], reason="theft")
    check_invariants(h)


# ---------------------------------------------------------------- reservations


def test_reserve_validation(h: Harness) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    with pytest.raises(ValidationError) as bad:
        h.inventory.execute(h.admin, ReserveStock(MISSING, a, 1))
    assert paths(bad) == ["$.item_id", "$.warehouse_id"]
    naive = datetime(2030, 1, 1)  # naive on purpose
    with pytest.raises(ValidationError, match="timezone-aware"):
        h.inventory.execute(h.admin, ReserveStock(item, wh, 1, expires_at=naive))
    with pytest.raises(ValidationError):
        h.inventory.execute(h.admin, ReserveStock(item, wh, 0))
    with pytest.raises(InsufficientStock) as short:
        h.inventory.execute(h.admin, ReserveStock(item, wh, 1))
    assert (short.value.location_id, short.value.available, short.value.requested) == (wh, 0, 1)


def test_release_and_fulfil_need_an_active_reservation(h: Harness) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    receive(h, item, a, 5)
    with pytest.raises(NotFound):
        h.inventory.execute(h.admin, ReleaseReservation(MISSING))
    with pytest.raises(NotFound):
        h.inventory.execute(h.admin, FulfilReservation(MISSING, [FulfilmentLine(a, 1)]))
    reservation = h.inventory.execute(h.admin, ReserveStock(item, wh, 2))
    h.inventory.execute(h.admin, ReleaseReservation(reservation.id))
    with pytest.raises(InvalidOperation, match="is released, not active"):
        h.inventory.execute(h.admin, FulfilReservation(reservation.id, [FulfilmentLine(a, 2)]))


def test_fulfilment_validation(h: Harness) -> None:
    wh, other = h.warehouse(), h.warehouse()
    a, foreign = h.bin(wh), h.bin(other)
    item = h.item()
    receive(h, item, a, 5)
    reservation = h.inventory.execute(h.admin, ReserveStock(item, wh, 3, reference="o-9"))
    with pytest.raises(ValidationError):
        h.inventory.execute(h.admin, FulfilReservation(reservation.id, []))
    with pytest.raises(ValidationError) as bad:
        h.inventory.execute(
            h.admin,
            FulfilReservation(
                reservation.id,
                [FulfilmentLine(foreign, 1), FulfilmentLine(MISSING, 2), FulfilmentLine(a, 0)],
            ),
        )
    assert paths(bad) == [
        "$.lines[2].quantity",
        "$.lines[0].location_id",
        "$.lines[1].location_id",
    ]
    assert (
        h.inventory.execute(h.admin, GetReservation(reservation.id)).status
        is ReservationStatus.ACTIVE
    )
    shipment = h.inventory.execute(
        h.admin, FulfilReservation(reservation.id, [FulfilmentLine(a, 3)], reference="parcel-1")
    )
    assert shipment.reference == "parcel-1"
    assert availability(h, item, wh) == (2, 0, 2)


def test_fulfilment_is_allowed_on_a_short_warehouse(h: Harness) -> None:
    """Fulfilment lowers on hand and reserved equally, so available does not drop: it posts even
    when a loss has left the warehouse short."""
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    receive(h, item, a, 10)
    reservation = h.inventory.execute(h.admin, ReserveStock(item, wh, 6))
    h.inventory.execute(
        h.admin,
        PostMovement("adjustment", [LineRequest(item, 7, from_location_id=a)], reason="loss"),
    )
    assert availability(h, item, wh) == (3, 6, -3)
    with pytest.raises(InsufficientStock):  # the bin itself only has 3
        h.inventory.execute(h.admin, FulfilReservation(reservation.id, [FulfilmentLine(a, 6)]))
    receive(h, item, a, 3)
    h.inventory.execute(h.admin, FulfilReservation(reservation.id, [FulfilmentLine(a, 6)]))
    assert availability(h, item, wh) == (0, 0, 0)
    check_invariants(h)


def test_overdue_reservations_stop_counting_before_housekeeping(h: Harness) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    receive(h, item, a, 10)
    due = h.clock.now() + timedelta(seconds=60)
    first = h.inventory.execute(h.admin, ReserveStock(item, wh, 6, expires_at=due))
    kept = h.inventory.execute(h.admin, ReserveStock(item, wh, 4))
    assert availability(h, item, wh) == (10, 10, 0)
    h.clock.advance(60)
    # Reads subtract the overdue reservation although it is still stored as active...
    assert availability(h, item, wh) == (10, 4, 6)
    stored = h.inventory.execute(h.admin, ListReservations(ReservationQuery(item_id=item))).items
    assert [r.status for r in stored] == [ReservationStatus.EXPIRED, ReservationStatus.ACTIVE]
    active = h.inventory.execute(
        h.admin, ListReservations(ReservationQuery(status=ReservationStatus.ACTIVE))
    ).items
    assert [r.id for r in active] == [kept.id]
    # ... and a write that lowers available expires it first.
    ship(h, item, a, 6)
    with h.unit_of_work() as uow:
        raw = uow.reservations.get(first.id)
    assert raw is not None
    assert raw.status is ReservationStatus.EXPIRED
    assert h.inventory.execute(None, ExpireReservations()) == 0
    check_invariants(h)


def test_list_reservations_by_reference_and_warehouse(h: Harness) -> None:
    w1, w2 = h.warehouse(), h.warehouse()
    item = h.item()
    receive(h, item, h.bin(w1), 5)
    receive(h, item, h.bin(w2), 5)
    r1 = h.inventory.execute(h.admin, ReserveStock(item, w1, 1, reference="A"))
    r2 = h.inventory.execute(h.admin, ReserveStock(item, w2, 1, reference="B"))
    by_ref = h.inventory.execute(h.admin, ListReservations(ReservationQuery(reference="B"))).items
    assert [r.id for r in by_ref] == [r2.id]
    by_wh = h.inventory.execute(h.admin, ListReservations(ReservationQuery(warehouse_id=w1))).items
    assert [r.id for r in by_wh] == [r1.id]


# ---------------------------------------------------------------- counts


def test_count_validation(h: Harness) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    item = h.item()
    with pytest.raises(ValidationError):
        h.inventory.execute(h.admin, CountStock([]))
    with pytest.raises(ValidationError) as twice:
        h.inventory.execute(h.admin, CountStock([CountLine(item, a, 1), CountLine(item, a, 2)]))
    assert paths(twice) == ["$.lines[1]"]
    with pytest.raises(ValidationError) as unknown:
        h.inventory.execute(
            h.admin,
            CountStock(
                [
                    CountLine(MISSING, a, 1),
                    CountLine(item, MISSING, 1),
                    CountLine(item, CUSTOMER_LOCATION_ID, 1),
                ]
            ),
        )
    assert paths(unknown) == [
        "$.lines[0].item_id",
        "$.lines[1].location_id",
        "$.lines[2].location_id",
    ]


def test_count_up_and_down_in_one_adjustment(h: Harness) -> None:
    wh = h.warehouse()
    a, b = h.bin(wh), h.bin(wh)
    item = h.item()
    receive(h, item, a, 5)
    result = h.inventory.execute(
        h.admin,
        CountStock(
            [CountLine(item, a, 2), CountLine(item, b, 4, expected_on_hand=0)],
            note="cycle count",
            reference="CC-1",
        ),
    )
    assert result.movement is not None
    assert result.conflicts == ()
    lines = {(x.from_location_id, x.to_location_id, x.quantity) for x in result.movement.lines}
    assert lines == {(a, ADJUSTMENT_LOCATION_ID, 3), (ADJUSTMENT_LOCATION_ID, b, 4)}
    assert (result.movement.note, result.movement.reference) == ("cycle count", "CC-1")
    assert availability(h, item, wh) == (6, 0, 6)


# ---------------------------------------------------------------- availability


def test_below_reorder_means_available_below_the_reorder_point(h: Harness) -> None:
    wh = h.warehouse()
    a = h.bin(wh)
    at_point, below, no_point = h.item(reorder_point=5), h.item(reorder_point=5), h.item()
    receive(h, at_point, a, 5)
    receive(h, below, a, 9)
    receive(h, no_point, a, 1)
    h.inventory.execute(h.admin, ReserveStock(below, wh, 5))  # available 4 < 5
    rows = h.inventory.execute(
        h.admin, ListAvailability(WarehouseStockQuery(below_reorder=True))
    ).items
    assert [r.item_id for r in rows] == [below]


def test_every_location_kind_listing(h: Harness) -> None:
    wh = h.warehouse()
    h.bin(wh)
    virtual = h.inventory.execute(
        h.admin, ListLocations(LocationQuery(kind=LocationKind.SUPPLIER))
    ).items
    assert [v.code for v in virtual] == ["SUPPLIER"]


# ---------------------------------------------------------------- the facade's retry


class FlakyUnitOfWork(InMemoryUnitOfWork):
    """An in-memory unit of work that fails its first ``failures`` commits with a serialization
    failure, as a database adapter reports one (ConcurrencyConflict), rolling everything back."""

    failures = 0

    def __enter__(self) -> Self:
        return super().__enter__()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is None and len(self._marks) == 1 and FlakyUnitOfWork.failures > 0:
            FlakyUnitOfWork.failures -= 1
            super().__exit__(ConcurrencyConflict, None, None)
            raise ConcurrencyConflict("could not serialize access")
        super().__exit__(exc_type, exc, tb)


def test_facade_retries_concurrency_conflicts_a_bounded_number_of_times() -> None:
    store = InMemoryStore()
    inventory = Executor(
        lambda: FlakyUnitOfWork(store),
        conflict_retries=2,
        password_hasher=Pbkdf2PasswordHasher(iterations=1),
    )
    assert inventory.clock.now().tzinfo is not None
    FlakyUnitOfWork.failures = 2
    admin = inventory.execute(None, ProvisionUser("root", "long-enough-pw-1", "admin"))
    assert FlakyUnitOfWork.failures == 0
    assert inventory.execute(admin.actor, ListUsers()).items == (admin,)  # stored exactly once
    FlakyUnitOfWork.failures = 3
    with pytest.raises(ConcurrencyConflict):
        inventory.execute(admin.actor, CreateItem("X-1", "x"))
    FlakyUnitOfWork.failures = 0
    assert inventory.execute(admin.actor, ListItems()).items == ()


def test_facade_does_not_retry_a_version_mismatch(h: Harness) -> None:
    item = h.item()
    before = snapshot(h)
    with pytest.raises(VersionMismatch):
        h.inventory.execute(h.admin, ChangeItem(item, ItemChanges(name="n"), expected_version=9))
    assert snapshot(h) == before
    assert isinstance(h.inventory.unit_of_work(), InMemoryUnitOfWork)
