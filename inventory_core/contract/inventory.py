"""Contract tests every storage adapter must pass (subclass and provide ``contract_adapter``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from uuid import UUID, uuid4

import attrs
import pytest

from inventory_core._checks import MAX_QUANTITY
from inventory_core.contract.adapter import ContractAdapter, Harness, listed_levels, race
from inventory_core.contract.invariants import check_invariants, snapshot
from inventory_core.contract.lots import LotContract
from inventory_core.contract.tokens import TokenContract
from inventory_core.counts import CountLine
from inventory_core.errors import (
    AlreadyExists,
    AuthenticationFailed,
    CountConflict,
    IdempotencyKeyReused,
    InsufficientStock,
    InvalidOperation,
    LimitExceeded,
    NotFound,
    PermissionDenied,
    ValidationError,
    VersionMismatch,
)
from inventory_core.executor import Answer, Response
from inventory_core.feed import FEED_START, FeedPosition
from inventory_core.idempotency import IdempotencyOutcome, IdempotencyRecord
from inventory_core.locations import (
    ADJUSTMENT_LOCATION_ID,
    CUSTOMER_LOCATION_ID,
    SUPPLIER_LOCATION_ID,
    LocationKind,
)
from inventory_core.movements import (
    MAX_LINES,
    AdjustmentReason,
    Movement,
    MovementKind,
    MovementLine,
)
from inventory_core.ports import (
    ItemQuery,
    LocationQuery,
    LocationStockQuery,
    MovementQuery,
    ReservationQuery,
    WarehouseStockQuery,
)
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
from inventory_core.services.stock import ListAvailability, ListLocationStock
from inventory_core.services.users import (
    Authenticate,
    ChangePassword,
    ChangeUser,
    CreateUser,
    GetUser,
    UserChanges,
)
from inventory_core.stock import MAX_TOTAL, LocationChange, WarehouseChange
from inventory_core.users import Role

__all__ = ["InventoryContract"]


def receive(h: Harness, item: UUID, location: UUID, quantity: int) -> Movement:
    return h.inventory.execute(
        h.admin, PostMovement("receipt", [LineRequest(item, quantity, to_location_id=location)])
    )


def _render_movement(movement: Movement) -> Response:
    return Response(201, str(movement.id).encode(), (("Location", f"/m/{movement.id}"),))


def on_hand(h: Harness, item: UUID, location: UUID) -> int:
    with h.unit_of_work() as uow:
        return uow.stock.on_hand([(item, location)])[(item, location)]


def available(h: Harness, item: UUID, warehouse: UUID) -> int:
    rows = h.inventory.execute(
        h.admin, ListAvailability(WarehouseStockQuery(item_id=item, warehouse_id=warehouse))
    ).items
    return rows[0].available if rows else 0


class InventoryContract(TokenContract, LotContract):
    """The behaviour every adapter must show. Needs a ``contract_adapter`` fixture. API tokens'
    tests come from :class:`~inventory_core.contract.tokens.TokenContract`, those of lots and
    serial numbers from :class:`~inventory_core.contract.lots.LotContract`."""

    @pytest.fixture
    def h(self, contract_adapter: ContractAdapter) -> Harness:
        return Harness(contract_adapter)

    # ------------------------------------------------------------ locations and items

    def test_virtual_locations_exist_with_fixed_ids(self, h: Harness) -> None:
        with h.unit_of_work() as uow:
            found = uow.locations.get_many(
                [SUPPLIER_LOCATION_ID, CUSTOMER_LOCATION_ID, ADJUSTMENT_LOCATION_ID]
            )
        assert {loc.kind for loc in found.values()} == {
            LocationKind.SUPPLIER,
            LocationKind.CUSTOMER,
            LocationKind.ADJUSTMENT,
        }

    def test_item_round_trip_and_unique_sku_and_barcode(self, h: Harness) -> None:
        item_id = h.item(barcodes=("4006381333931",), reorder_point=5)
        item = h.inventory.execute(h.admin, GetItem(item_id))
        assert item.barcodes == ("4006381333931",)
        assert item.reorder_point == 5
        assert item.version == 1
        with pytest.raises(AlreadyExists) as dup:
            h.inventory.execute(h.admin, CreateItem(sku=item.sku, name="again"))
        assert dup.value.field == "sku"
        other = h.item()
        with pytest.raises(AlreadyExists) as dup_barcode:
            h.inventory.execute(
                h.admin, ChangeItem(other, ItemChanges(barcodes=("4006381333931",)))
            )
        assert dup_barcode.value.field == "barcode"
        assert h.inventory.execute(h.admin, GetItem(other)).barcodes == ()

    def test_sku_is_case_preserving_and_exact(self, h: Harness) -> None:
        lower = h.inventory.execute(h.admin, CreateItem(sku="abc-1", name="lower"))
        upper = h.inventory.execute(h.admin, CreateItem(sku="ABC-1", name="upper"))
        found = h.inventory.execute(h.admin, ListItems(ItemQuery(sku="ABC-1"))).items
        assert [i.id for i in found] == [upper.id]
        assert lower.id != upper.id

    def test_item_update_checks_version(self, h: Harness) -> None:
        item_id = h.item()
        changed = h.inventory.execute(
            h.admin, ChangeItem(item_id, ItemChanges(name="Renamed"), expected_version=1)
        )
        assert (changed.name, changed.version) == ("Renamed", 2)
        with pytest.raises(VersionMismatch):
            h.inventory.execute(
                h.admin, ChangeItem(item_id, ItemChanges(name="x"), expected_version=1)
            )
        assert h.inventory.execute(h.admin, GetItem(item_id)).name == "Renamed"

    def test_item_listing_filters_and_pages(self, h: Harness) -> None:
        ids = [h.item() for _ in range(5)]
        h.inventory.execute(
            h.admin, ChangeItem(ids[1], ItemChanges(active=False, name="Special Bolt"))
        )
        seen: list[UUID] = []
        after = None
        while True:
            page = h.inventory.execute(h.admin, ListItems(after=after, limit=2))
            seen.extend(i.id for i in page.items)
            if page.next_after is None:
                break
            after = page.next_after
        assert seen == ids
        assert [
            i.id for i in h.inventory.execute(h.admin, ListItems(ItemQuery(active=False))).items
        ] == [ids[1]]
        assert [
            i.id for i in h.inventory.execute(h.admin, ListItems(ItemQuery(text="special"))).items
        ] == [ids[1]]

    def test_unknown_ids_are_not_found(self, h: Harness) -> None:
        missing = UUID(int=12345)
        for call in (
            lambda: h.inventory.execute(h.admin, GetItem(missing)),
            lambda: h.inventory.execute(h.admin, GetLocation(missing)),
            lambda: h.inventory.execute(h.admin, GetMovement(missing)),
            lambda: h.inventory.execute(h.admin, GetReservation(missing)),
            lambda: h.inventory.execute(h.admin, GetItemStock(missing)),
        ):
            with pytest.raises(NotFound):
                call()

    def test_location_tree_and_unique_code(self, h: Harness) -> None:
        wh = h.warehouse()
        zone = h.bin(wh)
        shelf = h.bin(zone)
        loc = h.inventory.execute(h.admin, GetLocation(shelf))
        assert loc.ancestor_ids == (wh, zone)
        assert loc.warehouse_id == wh
        code = h.inventory.execute(h.admin, GetLocation(zone)).code
        with pytest.raises(AlreadyExists):
            h.inventory.execute(h.admin, CreateLocation(code, "dup", "internal", wh))
        tree = h.inventory.execute(h.admin, ListLocations(LocationQuery(warehouse_id=wh))).items
        assert {x.id for x in tree} == {wh, zone, shelf}
        children = h.inventory.execute(h.admin, ListLocations(LocationQuery(parent_id=wh))).items
        assert [x.id for x in children] == [zone]

    def test_moving_a_location_rewrites_its_subtree_and_refuses_cycles(self, h: Harness) -> None:
        wh = h.warehouse()
        a, b = h.bin(wh), h.bin(wh)
        a1 = h.bin(a)
        a11 = h.bin(a1)
        h.inventory.execute(h.admin, ChangeLocation(a, LocationChanges(parent_id=b)))
        assert h.inventory.execute(h.admin, GetLocation(a11)).ancestor_ids == (wh, b, a, a1)
        with pytest.raises(ValidationError):
            h.inventory.execute(h.admin, ChangeLocation(b, LocationChanges(parent_id=a11)))
        other_wh = h.warehouse()
        with pytest.raises(ValidationError):
            h.inventory.execute(h.admin, ChangeLocation(a, LocationChanges(parent_id=other_wh)))
        assert h.inventory.execute(h.admin, GetLocation(b)).parent_id == wh

    def test_virtual_locations_cannot_be_created_or_changed(self, h: Harness) -> None:
        with pytest.raises(ValidationError):
            h.inventory.execute(h.admin, CreateLocation("X", "x", "supplier"))
        with pytest.raises(InvalidOperation):
            h.inventory.execute(
                h.admin, ChangeLocation(SUPPLIER_LOCATION_ID, LocationChanges(name="y"))
            )

    # ------------------------------------------------------------ movements

    def test_receipt_transfer_shipment_move_stock(self, h: Harness) -> None:
        wh = h.warehouse()
        a, b = h.bin(wh), h.bin(wh)
        item = h.item()
        receive(h, item, a, 10)
        h.inventory.execute(
            h.admin,
            PostMovement("transfer", [LineRequest(item, 4, from_location_id=a, to_location_id=b)]),
        )
        h.inventory.execute(
            h.admin, PostMovement("shipment", [LineRequest(item, 3, from_location_id=b)])
        )
        assert (on_hand(h, item, a), on_hand(h, item, b)) == (6, 1)
        assert on_hand(h, item, SUPPLIER_LOCATION_ID) == -10
        assert on_hand(h, item, CUSTOMER_LOCATION_ID) == 3
        stock = h.inventory.execute(h.admin, GetItemStock(item))
        assert (stock.on_hand, stock.reserved, stock.available) == (7, 0, 7)
        check_invariants(h)

    def test_sides_are_checked_per_kind(self, h: Harness) -> None:
        wh = h.warehouse()
        a = h.bin(wh)
        item = h.item()
        with pytest.raises(ValidationError) as bad:
            h.inventory.execute(
                h.admin,
                PostMovement(
                    "receipt",
                    [LineRequest(item, 1, from_location_id=CUSTOMER_LOCATION_ID, to_location_id=a)],
                ),
            )
        assert bad.value.errors[0].path == "$.lines[0]"
        with pytest.raises(ValidationError):
            h.inventory.execute(h.admin, PostMovement("transfer", [LineRequest(item, 1)]))
        with pytest.raises(ValidationError):
            h.inventory.execute(
                h.admin, PostMovement("adjustment", [LineRequest(item, 1, to_location_id=a)])
            )

    def test_quantity_bounds(self, h: Harness) -> None:
        wh = h.warehouse()
        a = h.bin(wh)
        item = h.item()
        for quantity in (0, -1, 10**12 + 1):
            with pytest.raises(ValidationError) as bad:
                receive(h, item, a, quantity)
            assert bad.value.errors[0].path == "$.lines[0].quantity"
        receive(h, item, a, 10**12)
        assert on_hand(h, item, a) == 10**12

    def test_failed_movement_changes_nothing(self, h: Harness) -> None:
        wh = h.warehouse()
        a, b = h.bin(wh), h.bin(wh)
        item, other = h.item(), h.item()
        receive(h, item, a, 5)
        receive(h, other, a, 1)
        before = h.inventory.execute(h.admin, ListMovements()).items
        with pytest.raises(InsufficientStock) as refused:
            h.inventory.execute(
                h.admin,
                PostMovement(
                    "transfer",
                    [
                        LineRequest(item, 5, from_location_id=a, to_location_id=b),
                        LineRequest(other, 2, from_location_id=a, to_location_id=b),
                    ],
                ),
            )
        assert refused.value.item_id == other
        assert (refused.value.available, refused.value.requested) == (1, 2)
        assert (on_hand(h, item, a), on_hand(h, item, b)) == (5, 0)
        assert h.inventory.execute(h.admin, ListMovements()).items == before
        check_invariants(h)

    def test_append_with_stock_changes_is_all_or_nothing(self, h: Harness) -> None:
        # The repository call the ledger posts through: levels and ledger entry together.
        wh = h.warehouse()
        a, b = h.bin(wh), h.bin(wh)
        item = h.item()
        receive(h, item, a, 5)

        def move(
            quantity: int, reverses: UUID | None = None
        ) -> tuple[Movement, list[LocationChange]]:
            movement = Movement(
                id=uuid4(),
                seq=0,
                kind=MovementKind.TRANSFER if reverses is None else MovementKind.REVERSAL,
                lines=(MovementLine(item, quantity, a, b),),
                actor_id=h.admin.user_id,
                occurred_at=h.clock.now(),
                recorded_at=h.clock.now(),
                reverses_id=reverses,
            )
            changes = [
                LocationChange(item, a, -quantity, True),
                LocationChange(item, b, quantity, True),
            ]
            return movement, changes

        refused, refused_changes = move(9)
        kept, kept_changes = move(2)
        with h.unit_of_work() as uow:
            with pytest.raises(InsufficientStock) as error:
                uow.movements.append(refused, locations=refused_changes)
            assert (error.value.location_id, error.value.available) == (a, 5)
            assert uow.stock.on_hand([(item, a), (item, b)]) == {(item, a): 5, (item, b): 0}
            assert uow.movements.get(refused.id) is None
            stored = uow.movements.append(kept, locations=kept_changes).movement  # still usable
            assert stored.seq > 0
        assert (on_hand(h, item, a), on_hand(h, item, b)) == (3, 2)
        with h.unit_of_work() as uow:
            assert uow.movements.get(refused.id) is None
            assert uow.movements.get(kept.id) == stored

        # A second reversal of one movement is refused, and nothing of it remains.
        first, first_changes = move(1, reverses=kept.id)
        second, second_changes = move(1, reverses=kept.id)
        with h.unit_of_work() as uow:
            uow.movements.append(first, locations=first_changes)
            with pytest.raises(AlreadyExists):
                uow.movements.append(second, locations=second_changes)
            assert uow.stock.on_hand([(item, a)]) == {(item, a): 2}
        with h.unit_of_work() as uow:
            assert uow.movements.get(second.id) is None
            assert uow.movements.reversal_of(kept.id) == attrs.evolve(
                first,
                seq=uow.movements.reversal_of(kept.id).seq,  # type: ignore[union-attr]
            )
        assert (on_hand(h, item, a), on_hand(h, item, b)) == (2, 3)

    def test_paging_the_feed_sees_each_movement_once_in_posting_order(self, h: Harness) -> None:
        wh = h.warehouse()
        a = h.bin(wh)
        items = [h.item() for _ in range(3)]
        posted = [receive(h, items[n % 3], a, n + 1).id for n in range(7)]
        seen: list[UUID] = []
        positions: list[FeedPosition] = []
        after = FEED_START
        while True:
            page = h.inventory.execute(h.admin, ListMovements(after=after, limit=3))
            seen.extend(m.id for m in page.items)
            positions.append(page.position)
            assert page.position >= after
            if page.next_position is None:
                break
            after = page.next_position
        # One writer at a time: the feed's order is the order they were posted in.
        assert seen == posted
        assert positions == sorted(positions)
        # The last page's position resumes the feed: nothing there now, the next movement later.
        resumed = h.inventory.execute(h.admin, ListMovements(after=page.position))
        assert (resumed.items, resumed.position, resumed.next_position) == ((), page.position, None)
        later = receive(h, items[0], a, 1)
        resumed = h.inventory.execute(h.admin, ListMovements(after=page.position))
        assert [m.id for m in resumed.items] == [later.id]
        assert resumed.position > page.position
        for_item = h.inventory.execute(
            h.admin, ListMovements(MovementQuery(item_id=items[0]))
        ).items
        assert {line.item_id for m in for_item for line in m.lines} == {items[0]}
        assert [m.id for m in for_item] == [*posted[::3], later.id]
        at_a = h.inventory.execute(h.admin, ListMovements(MovementQuery(location_id=a))).items
        assert [m.id for m in at_a] == [*posted, later.id]

    def test_reversal_once_only_and_only_while_stock_allows(self, h: Harness) -> None:
        wh = h.warehouse()
        a = h.bin(wh)
        item = h.item()
        receipt = h.inventory.execute(
            h.admin, PostMovement("receipt", [LineRequest(item, 5, to_location_id=a)])
        )
        second = h.inventory.execute(
            h.admin, PostMovement("receipt", [LineRequest(item, 2, to_location_id=a)])
        )
        h.inventory.execute(
            h.admin, PostMovement("shipment", [LineRequest(item, 4, from_location_id=a)])
        )
        with pytest.raises(InsufficientStock):
            h.inventory.execute(h.admin, ReverseMovement(receipt.id))
        reversal = h.inventory.execute(h.admin, ReverseMovement(second.id))
        assert reversal.kind is MovementKind.REVERSAL
        assert reversal.reverses_id == second.id
        assert on_hand(h, item, a) == 1
        with pytest.raises(InvalidOperation):
            h.inventory.execute(h.admin, ReverseMovement(second.id))
        with pytest.raises(InvalidOperation):
            h.inventory.execute(h.admin, ReverseMovement(reversal.id))
        check_invariants(h)

    def test_roles_are_checked_inside_use_cases(self, h: Harness) -> None:
        viewer, clerk = h.user(Role.VIEWER), h.user(Role.CLERK)
        wh = h.warehouse()
        a = h.bin(wh)
        item = h.item()
        with pytest.raises(PermissionDenied):
            h.inventory.execute(
                viewer, PostMovement("receipt", [LineRequest(item, 1, to_location_id=a)])
            )
        movement = h.inventory.execute(
            clerk, PostMovement("receipt", [LineRequest(item, 1, to_location_id=a)])
        )
        with pytest.raises(PermissionDenied):
            h.inventory.execute(clerk, ReverseMovement(movement.id))
        with pytest.raises(PermissionDenied):
            h.inventory.execute(clerk, CreateUser("mallory", "a-long-password-1", Role.ADMIN))
        assert h.inventory.execute(viewer, GetItem(item)).id == item

    # ------------------------------------------------------------ reservations

    def test_reservations_hold_stock_until_released(self, h: Harness) -> None:
        wh = h.warehouse()
        a = h.bin(wh)
        item = h.item()
        receive(h, item, a, 10)
        reservation = h.inventory.execute(h.admin, ReserveStock(item, wh, 8))
        assert available(h, item, wh) == 2
        with pytest.raises(InsufficientStock):
            h.inventory.execute(h.admin, ReserveStock(item, wh, 3))
        with pytest.raises(InsufficientStock):
            h.inventory.execute(
                h.admin, PostMovement("shipment", [LineRequest(item, 3, from_location_id=a)])
            )
        released = h.inventory.execute(h.admin, ReleaseReservation(reservation.id))
        assert released.status is ReservationStatus.RELEASED
        assert available(h, item, wh) == 10
        with pytest.raises(InvalidOperation):
            h.inventory.execute(h.admin, ReleaseReservation(reservation.id))
        check_invariants(h)

    def test_fulfilment_ships_and_consumes_in_one_step(self, h: Harness) -> None:
        wh = h.warehouse()
        a, b = h.bin(wh), h.bin(wh)
        item = h.item()
        receive(h, item, a, 3)
        receive(h, item, b, 3)
        reservation = h.inventory.execute(h.admin, ReserveStock(item, wh, 5, "order-1"))
        other_wh = h.warehouse()
        foreign = h.bin(other_wh)
        with pytest.raises(ValidationError):
            h.inventory.execute(
                h.admin, FulfilReservation(reservation.id, [FulfilmentLine(foreign, 5)])
            )
        with pytest.raises(ValidationError):
            h.inventory.execute(h.admin, FulfilReservation(reservation.id, [FulfilmentLine(a, 3)]))
        shipment = h.inventory.execute(
            h.admin, FulfilReservation(reservation.id, [FulfilmentLine(a, 3), FulfilmentLine(b, 2)])
        )
        assert shipment.kind is MovementKind.SHIPMENT
        assert shipment.reservation_id == reservation.id
        assert shipment.reference == "order-1"
        stored = h.inventory.execute(h.admin, GetReservation(reservation.id))
        assert stored.status is ReservationStatus.FULFILLED
        assert (on_hand(h, item, a), on_hand(h, item, b), available(h, item, wh)) == (0, 1, 1)
        with pytest.raises(InvalidOperation):
            h.inventory.execute(h.admin, FulfilReservation(reservation.id, [FulfilmentLine(b, 5)]))
        check_invariants(h)

    def test_reservations_stop_counting_when_they_expire(self, h: Harness) -> None:
        wh = h.warehouse()
        a = h.bin(wh)
        item = h.item()
        receive(h, item, a, 10)
        soon = h.clock.now() + timedelta(minutes=5)
        reservation = h.inventory.execute(h.admin, ReserveStock(item, wh, 10, expires_at=soon))
        assert available(h, item, wh) == 0
        h.clock.advance(minutes=5)
        assert available(h, item, wh) == 10
        assert h.inventory.execute(h.admin, GetReservation(reservation.id)).status is (
            ReservationStatus.EXPIRED
        )
        with pytest.raises(InvalidOperation):
            h.inventory.execute(h.admin, ReleaseReservation(reservation.id))
        # A new reservation may take the expired one's stock before any housekeeping ran.
        h.inventory.execute(h.admin, ReserveStock(item, wh, 10))
        assert h.inventory.execute(None, ExpireReservations()) == 0
        assert available(h, item, wh) == 0
        check_invariants(h)

    def test_expire_reservations_marks_overdue_ones(self, h: Harness) -> None:
        wh = h.warehouse()
        a = h.bin(wh)
        item = h.item()
        receive(h, item, a, 10)
        soon = h.clock.now() + timedelta(seconds=30)
        h.inventory.execute(h.admin, ReserveStock(item, wh, 4, expires_at=soon))
        h.inventory.execute(h.admin, ReserveStock(item, wh, 4))
        h.clock.advance(seconds=31)
        assert h.inventory.execute(None, ExpireReservations()) == 1
        assert h.inventory.execute(None, ExpireReservations()) == 0
        expired = h.inventory.execute(
            h.admin, ListReservations(ReservationQuery(status=ReservationStatus.EXPIRED))
        ).items
        assert len(expired) == 1
        assert available(h, item, wh) == 6
        check_invariants(h)

    def test_expiry_in_the_past_is_refused(self, h: Harness) -> None:
        wh = h.warehouse()
        item = h.item()
        with pytest.raises(ValidationError):
            h.inventory.execute(h.admin, ReserveStock(item, wh, 1, expires_at=h.clock.now()))

    def test_physical_losses_post_and_block_until_covered(self, h: Harness) -> None:
        wh = h.warehouse()
        a = h.bin(wh)
        item = h.item()
        receive(h, item, a, 10)
        h.inventory.execute(h.admin, ReserveStock(item, wh, 8))
        h.inventory.execute(
            h.admin,
            PostMovement(
                "adjustment",
                [LineRequest(item, 5, from_location_id=a)],
                reason=AdjustmentReason.LOSS,
            ),
        )
        assert available(h, item, wh) == -3
        with pytest.raises(InsufficientStock):
            h.inventory.execute(h.admin, ReserveStock(item, wh, 1))
        with pytest.raises(InsufficientStock):
            h.inventory.execute(
                h.admin, PostMovement("shipment", [LineRequest(item, 1, from_location_id=a)])
            )
        with pytest.raises(InsufficientStock):
            h.inventory.execute(
                h.admin,
                PostMovement(
                    "adjustment",
                    [LineRequest(item, 1, from_location_id=a)],
                    reason=AdjustmentReason.CORRECTION,
                ),
            )
        receive(h, item, a, 4)
        h.inventory.execute(h.admin, ReserveStock(item, wh, 1))
        assert available(h, item, wh) == 0
        # A loss still can't take a bin below zero.
        with pytest.raises(InsufficientStock):
            h.inventory.execute(
                h.admin,
                PostMovement(
                    "adjustment",
                    [LineRequest(item, 10, from_location_id=a)],
                    reason=AdjustmentReason.DAMAGE,
                ),
            )
        check_invariants(h)

    # ------------------------------------------------------------ counts

    def test_count_posts_differences_as_one_adjustment(self, h: Harness) -> None:
        wh = h.warehouse()
        a, b = h.bin(wh), h.bin(wh)
        item = h.item()
        receive(h, item, a, 10)
        result = h.inventory.execute(
            h.admin,
            CountStock(
                [
                    CountLine(item, a, counted=7, expected_on_hand=10),
                    CountLine(item, b, counted=2, expected_on_hand=0),
                ]
            ),
        )
        assert result.movement is not None
        assert result.movement.reason is AdjustmentReason.COUNT
        assert (on_hand(h, item, a), on_hand(h, item, b)) == (7, 2)
        unchanged = h.inventory.execute(h.admin, CountStock([CountLine(item, a, counted=7)]))
        assert unchanged.movement is None
        check_invariants(h)

    def test_count_conflict_posts_nothing(self, h: Harness) -> None:
        wh = h.warehouse()
        a, b = h.bin(wh), h.bin(wh)
        item = h.item()
        receive(h, item, a, 10)
        receive(h, item, b, 1)
        movements_before = len(h.inventory.execute(h.admin, ListMovements()).items)
        with pytest.raises(CountConflict) as conflict:
            h.inventory.execute(
                h.admin,
                CountStock(
                    [
                        CountLine(item, a, counted=9, expected_on_hand=8),
                        CountLine(item, b, counted=0, expected_on_hand=1),
                    ]
                ),
            )
        assert [
            (c.location_id, c.expected_on_hand, c.on_hand) for c in conflict.value.conflicts
        ] == [(a, 8, 10)]
        assert on_hand(h, item, b) == 1
        assert len(h.inventory.execute(h.admin, ListMovements()).items) == movements_before

    def test_downward_count_posts_even_below_reservations(self, h: Harness) -> None:
        wh = h.warehouse()
        a = h.bin(wh)
        item = h.item()
        receive(h, item, a, 10)
        h.inventory.execute(h.admin, ReserveStock(item, wh, 10))
        h.inventory.execute(h.admin, CountStock([CountLine(item, a, counted=4)]))
        assert available(h, item, wh) == -6
        check_invariants(h)

    # ------------------------------------------------------------ JSON-safe levels

    def test_levels_and_totals_stay_within_the_json_safe_limit(self, h: Harness) -> None:
        # The repository call every use case posts through, straight to the limit: the levels
        # it reaches need not come from a ledger here (so no check_invariants).
        wh, wh2 = h.warehouse(), h.warehouse()
        a, b = h.bin(wh), h.bin(wh2)
        item = h.item()

        def levels() -> object:
            keys = [
                (item, a),
                (item, b),
                (item, SUPPLIER_LOCATION_ID),
                (item, CUSTOMER_LOCATION_ID),
            ]
            with h.unit_of_work() as uow:
                return (
                    uow.stock.on_hand(keys),
                    uow.stock.warehouse_levels(
                        WarehouseStockQuery(item_id=item), now=h.clock.now(), after=None, limit=None
                    ),
                )

        def apply(*changes: LocationChange | WarehouseChange) -> None:
            with h.unit_of_work() as uow:
                uow.stock.apply(
                    [c for c in changes if isinstance(c, LocationChange)],
                    [c for c in changes if isinstance(c, WarehouseChange)],
                )

        def refused(*changes: LocationChange | WarehouseChange) -> tuple[object, ...]:
            before = levels()
            with pytest.raises(LimitExceeded) as error:
                apply(*changes)
            assert levels() == before  # all or nothing
            e = error.value
            assert (e.item_id, e.limit) == (item, MAX_TOTAL)
            return (e.location_id, e.level, e.current, e.change)

        # Up to the limit exactly is allowed everywhere.
        apply(
            LocationChange(item, a, MAX_TOTAL, True),
            LocationChange(item, SUPPLIER_LOCATION_ID, -MAX_TOTAL, False),
            WarehouseChange(item, wh, on_hand_delta=MAX_TOTAL),
        )
        # A bin one past it, among changes that would be allowed: the whole call is refused.
        assert refused(
            LocationChange(item, a, 1, True),
            LocationChange(item, b, 1, True),
            LocationChange(item, CUSTOMER_LOCATION_ID, -2, False),
            WarehouseChange(item, wh, on_hand_delta=1),
            WarehouseChange(item, wh2, on_hand_delta=1),
        ) == (a, "on_hand", MAX_TOTAL, 1)
        # A virtual location, below the negative limit; a change beyond the limit on its own.
        assert refused(LocationChange(item, SUPPLIER_LOCATION_ID, -1, False)) == (
            SUPPLIER_LOCATION_ID,
            "on_hand",
            -MAX_TOTAL,
            -1,
        )
        assert refused(LocationChange(item, CUSTOMER_LOCATION_ID, MAX_TOTAL + 1, False)) == (
            CUSTOMER_LOCATION_ID,
            "on_hand",
            0,
            MAX_TOTAL + 1,
        )
        # A warehouse; and the item's total over its warehouses, though each is within it.
        assert refused(WarehouseChange(item, wh, on_hand_delta=1, guard_available=False)) == (
            wh,
            "on_hand",
            MAX_TOTAL,
            1,
        )
        assert refused(WarehouseChange(item, wh2, on_hand_delta=1)) == (
            None,
            "on_hand",
            MAX_TOTAL,
            1,
        )
        # Lowering is never refused by the limit, and makes room.
        apply(WarehouseChange(item, wh, on_hand_delta=-1, guard_available=False))
        apply(WarehouseChange(item, wh2, on_hand_delta=1))
        # Reserved: per warehouse and in total.
        apply(
            WarehouseChange(item, wh, reserved_delta=MAX_TOTAL - 1),
            WarehouseChange(item, wh2, reserved_delta=1),
        )
        assert refused(WarehouseChange(item, wh, reserved_delta=2, guard_available=False)) == (
            wh,
            "reserved",
            MAX_TOTAL - 1,
            2,
        )
        assert refused(WarehouseChange(item, wh2, reserved_delta=1, guard_available=False)) == (
            None,
            "reserved",
            MAX_TOTAL,
            1,
        )
        stock = h.inventory.execute(h.admin, GetItemStock(item))
        assert (stock.on_hand, stock.reserved, stock.available) == (MAX_TOTAL, MAX_TOTAL, 0)

    def test_movements_beyond_the_json_safe_limit_are_refused_whole(self, h: Harness) -> None:
        wh, wh2 = h.warehouse(), h.warehouse()
        a, b = h.bin(wh), h.bin(wh2)
        item = h.item()
        full = [LineRequest(item, MAX_QUANTITY, to_location_id=a)] * MAX_LINES
        big = MAX_QUANTITY * MAX_LINES
        for _ in range(MAX_TOTAL // big):  # 9 x 10^15
            h.inventory.execute(h.admin, PostMovement("receipt", full))

        def refused(command: PostMovement) -> tuple[object, ...]:
            before = snapshot(h)
            with pytest.raises(LimitExceeded) as error:
                h.inventory.execute(h.admin, command)
            assert snapshot(h) == before  # nothing of it is posted
            e = error.value
            assert (e.item_id, e.limit) == (item, MAX_TOTAL)
            return (e.location_id, e.level, e.current, e.change)

        # The ten receipts: the tenth would pass 2^53 - 1 at the bin.
        assert refused(PostMovement("receipt", full)) == (a, "on_hand", 9 * big, big)
        # Up to the limit exactly still posts.
        rest, last = divmod(MAX_TOTAL - 9 * big, MAX_QUANTITY)
        h.inventory.execute(
            h.admin,
            PostMovement(
                "receipt",
                [LineRequest(item, MAX_QUANTITY, to_location_id=a)] * rest
                + [LineRequest(item, last, to_location_id=a)],
            ),
        )
        assert on_hand(h, item, a) == MAX_TOTAL
        # Found stock in another warehouse: that one is within it, the item's total is not.
        found = PostMovement(
            "adjustment", [LineRequest(item, 1, to_location_id=b)], reason=AdjustmentReason.FOUND
        )
        assert refused(found) == (None, "on_hand", MAX_TOTAL, 1)
        # Moving stock between warehouses keeps the total; shipping lowers it...
        h.inventory.execute(
            h.admin,
            PostMovement("transfer", [LineRequest(item, 5, from_location_id=a, to_location_id=b)]),
        )
        h.inventory.execute(
            h.admin, PostMovement("shipment", [LineRequest(item, 7, from_location_id=a)])
        )
        # ...but the supplier has given all a JSON client can count: a virtual location's limit.
        receipt = PostMovement("receipt", [LineRequest(item, 1, to_location_id=b)])
        assert refused(receipt) == (SUPPLIER_LOCATION_ID, "on_hand", -MAX_TOTAL, -1)
        h.inventory.execute(h.admin, found)
        stock = h.inventory.execute(h.admin, GetItemStock(item))
        assert (stock.on_hand, stock.available) == (MAX_TOTAL - 6, MAX_TOTAL - 6)
        check_invariants(h)

    def test_a_count_down_by_more_than_a_line_holds_posts_several_lines(self, h: Harness) -> None:
        wh = h.warehouse()
        a, b = h.bin(wh), h.bin(wh)
        item = h.item()
        h.inventory.execute(
            h.admin,
            PostMovement("receipt", [LineRequest(item, MAX_QUANTITY, to_location_id=a)] * 3),
        )
        # The issue: 3 x 10^12 counted down to 0 (one line carries at most 10^12).
        result = h.inventory.execute(h.admin, CountStock([CountLine(item, a, counted=0)]))
        assert result.movement is not None
        assert [(line.quantity, line.from_location_id) for line in result.movement.lines] == [
            (MAX_QUANTITY, a)
        ] * 3
        assert on_hand(h, item, a) == 0
        # More adjustment lines than a movement holds: refused on the lines, nothing posted.
        h.inventory.execute(
            h.admin,
            PostMovement(
                "receipt", [LineRequest(item, MAX_QUANTITY, to_location_id=a)] * MAX_LINES
            ),
        )
        receive(h, item, b, 1)
        before = snapshot(h)
        both = CountStock([CountLine(item, a, counted=0), CountLine(item, b, counted=0)])
        with pytest.raises(ValidationError) as too_many:
            h.inventory.execute(h.admin, both)
        assert [e.path for e in too_many.value.errors] == ["$.lines"]
        assert snapshot(h) == before
        result = h.inventory.execute(h.admin, CountStock([CountLine(item, a, counted=0)]))
        assert result.movement is not None
        assert len(result.movement.lines) == MAX_LINES
        check_invariants(h)

    # ------------------------------------------------------------ stock queries

    def test_stock_queries_report_levels(self, h: Harness) -> None:
        wh, wh2 = h.warehouse(), h.warehouse()
        a, b = h.bin(wh), h.bin(wh2)
        low, plenty = h.item(reorder_point=5), h.item(reorder_point=5)
        receive(h, low, a, 3)
        receive(h, plenty, a, 50)
        receive(h, plenty, b, 1)
        levels = h.inventory.execute(
            h.admin, ListLocationStock(LocationStockQuery(location_id=a))
        ).items
        assert {(r.item_id, r.on_hand, r.warehouse_id) for r in levels} == {
            (low, 3, wh),
            (plenty, 50, wh),
        }
        by_wh = h.inventory.execute(
            h.admin, ListLocationStock(LocationStockQuery(warehouse_id=wh2))
        )
        assert [(r.item_id, r.location_id) for r in by_wh.items] == [(plenty, b)]
        below = h.inventory.execute(
            h.admin, ListAvailability(WarehouseStockQuery(below_reorder=True))
        )
        assert {(r.item_id, r.warehouse_id) for r in below.items} == {(low, wh), (plenty, wh2)}
        h.inventory.execute(
            h.admin, PostMovement("shipment", [LineRequest(low, 3, from_location_id=a)])
        )
        zero = h.inventory.execute(
            h.admin, ListLocationStock(LocationStockQuery(item_id=low))
        ).items
        assert zero == ()

    def test_item_levels_agree_with_the_listings(self, h: Harness) -> None:
        wh, wh2 = h.warehouse(), h.warehouse()
        bins = [h.bin(wh), h.bin(wh), h.bin(wh2)]
        item, other = h.item(), h.item()
        for n, location in enumerate(bins):
            receive(h, item, location, 10 + n)
        receive(h, other, bins[0], 4)
        h.inventory.execute(
            h.admin, PostMovement("shipment", [LineRequest(item, 11, from_location_id=bins[1])])
        )  # a level back at zero is left out
        h.inventory.execute(
            h.admin, ReserveStock(item, wh, 3, expires_at=h.clock.now() + timedelta(minutes=5))
        )
        h.inventory.execute(h.admin, ReserveStock(item, wh2, 2))
        h.clock.advance(minutes=10)  # the first reservation no longer counts
        now = h.clock.now()
        with h.unit_of_work() as uow:
            levels = uow.stock.item_levels(item, now=now)
            listed = listed_levels(uow, item, now)
            missing = uow.stock.item_levels(uuid4(), now=now)
        assert levels == listed
        assert levels is not None
        assert [(w.warehouse_id, w.on_hand, w.reserved) for w in levels.warehouses] == sorted(
            [(wh, 10, 0), (wh2, 12, 2)]
        )
        assert [r.location_id for r in levels.locations] == sorted([bins[0], bins[2]])
        assert missing is None
        stock = h.inventory.execute(h.admin, GetItemStock(item))
        assert (stock.on_hand, stock.reserved) == (22, 2)

    # ------------------------------------------------------------ users

    def test_users_unique_and_authenticate(self, h: Harness) -> None:
        h.inventory.execute(h.admin, CreateUser("Clerk.One", "a-long-password-1", Role.CLERK))
        with pytest.raises(AlreadyExists):
            h.inventory.execute(h.admin, CreateUser("clerk.one", "a-long-password-2", "viewer"))
        user = h.inventory.execute(None, Authenticate("CLERK.ONE", "a-long-password-1"))
        assert (user.username, user.role) == ("clerk.one", Role.CLERK)
        with pytest.raises(AuthenticationFailed):
            h.inventory.execute(None, Authenticate("clerk.one", "wrong-password-x"))
        with pytest.raises(AuthenticationFailed):
            h.inventory.execute(None, Authenticate("nobody", "a-long-password-1"))
        h.inventory.execute(h.admin, ChangeUser(user.id, UserChanges(active=False)))
        with pytest.raises(AuthenticationFailed):
            h.inventory.execute(None, Authenticate("clerk.one", "a-long-password-1"))

    def test_password_rules(self, h: Harness) -> None:
        for bad in ("short", "password123", "x" * 129):
            with pytest.raises(ValidationError):
                h.inventory.execute(h.admin, CreateUser("someone", bad, Role.VIEWER))
        clerk = h.user(Role.CLERK)
        with pytest.raises(AuthenticationFailed):
            h.inventory.execute(clerk, ChangePassword("not-the-password", "a-new-long-password"))
        h.inventory.execute(clerk, ChangePassword("contract-suite-user-pw", "a-new-long-password"))
        username = h.inventory.execute(clerk, GetUser(clerk.user_id)).username
        assert (
            h.inventory.execute(None, Authenticate(username, "a-new-long-password")).id
            == clerk.user_id
        )

    # ------------------------------------------------------------ units of work

    def test_a_failure_after_the_use_case_rolls_back_its_effect(self, h: Harness) -> None:
        wh = h.warehouse()
        a = h.bin(wh)
        item = h.item()
        command = PostMovement("receipt", [LineRequest(item, 5, to_location_id=a)])

        def render_fails(movement: Movement) -> Response:
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            h.inventory.execute_once(h.admin, command, render_fails, key="k1")
        assert on_hand(h, item, a) == 0
        assert h.inventory.execute(h.admin, ListMovements()).items == ()
        # Nothing was kept for the key either: the retry runs the command.
        answer = h.inventory.execute_once(h.admin, command, _render_movement, key="k1")
        assert not answer.replayed
        assert on_hand(h, item, a) == 5

    def test_an_idempotent_command_runs_once_per_key(self, h: Harness) -> None:
        wh = h.warehouse()
        a = h.bin(wh)
        item = h.item()
        command = PostMovement("receipt", [LineRequest(item, 5, to_location_id=a)])
        first = h.inventory.execute_once(h.admin, command, _render_movement, key="k")
        again = h.inventory.execute_once(h.admin, command, _render_movement, key="k")
        assert (first.replayed, again.replayed) == (False, True)
        assert again.response == first.response
        assert on_hand(h, item, a) == 5
        with pytest.raises(IdempotencyKeyReused):
            h.inventory.execute_once(
                h.admin, attrs.evolve(command, note="other"), _render_movement, key="k"
            )
        assert on_hand(h, item, a) == 5
        # Keys belong to their user; a refused answer is not kept, so its retry runs again.
        clerk = h.user(Role.CLERK)
        assert not h.inventory.execute_once(clerk, command, _render_movement, key="k").replayed
        assert on_hand(h, item, a) == 10

        def refuse(movement: Movement) -> Response:
            return Response(409, b"no")

        for _ in range(2):
            assert h.inventory.execute_once(clerk, command, refuse, key="k2") == Answer(
                Response(409, b"no"), replayed=False
            )
        assert on_hand(h, item, a) == 20

    def test_idempotency_records(self, h: Harness) -> None:
        user = h.admin.user_id
        other_user = h.user(Role.CLERK).user_id
        with h.unit_of_work() as uow:
            assert uow.idempotency.claim(user, "k1", "fp").outcome is IdempotencyOutcome.NEW
            uow.idempotency.complete(
                IdempotencyRecord(
                    user, "k1", "fp", 201, b'{"ok":1}', (("Location", "/x"),), h.clock.now()
                )
            )
        with h.unit_of_work() as uow:
            replay = uow.idempotency.claim(user, "k1", "fp")
            assert replay.outcome is IdempotencyOutcome.REPLAY
            assert replay.record is not None
            assert (replay.record.status, replay.record.body) == (201, b'{"ok":1}')
            assert replay.record.headers == (("Location", "/x"),)
            assert uow.idempotency.claim(user, "k1", "other").outcome is (
                IdempotencyOutcome.MISMATCH
            )
        with h.unit_of_work() as uow:
            assert uow.idempotency.claim(other_user, "k1", "fp").outcome is IdempotencyOutcome.NEW
        uow = h.unit_of_work()
        with pytest.raises(RuntimeError), uow:  # noqa: PT012
            uow.idempotency.claim(user, "k2", "fp")
            uow.idempotency.complete(
                IdempotencyRecord(user, "k2", "fp", 201, b"{}", (), h.clock.now())
            )
            raise RuntimeError("the effect failed")
        with h.unit_of_work() as uow:
            assert uow.idempotency.claim(user, "k2", "fp").outcome is IdempotencyOutcome.NEW
            assert uow.idempotency.purge(h.clock.now() + timedelta(seconds=1)) == 1
            assert uow.idempotency.claim(user, "k1", "fp").outcome is IdempotencyOutcome.NEW

    # ------------------------------------------------------------ concurrency

    def _race(self, workers: int, work: Callable[[int], object]) -> list[object]:
        return race(workers, work)

    def test_racing_reservations_never_oversell(self, h: Harness) -> None:
        wh = h.warehouse()
        a = h.bin(wh)
        item = h.item()
        receive(h, item, a, 10)
        results = self._race(24, lambda _: h.inventory.execute(h.admin, ReserveStock(item, wh, 1)))
        won = [r for r in results if not isinstance(r, Exception)]
        lost = [r for r in results if isinstance(r, Exception)]
        assert len(won) == 10
        assert all(isinstance(r, InsufficientStock) for r in lost), lost
        assert available(h, item, wh) == 0
        check_invariants(h)

    def test_racing_shipments_never_oversell(self, h: Harness) -> None:
        wh = h.warehouse()
        a, b = h.bin(wh), h.bin(wh)
        item = h.item()
        receive(h, item, a, 5)
        receive(h, item, b, 5)

        def ship(n: int) -> object:
            source = a if n % 2 else b
            return h.inventory.execute(
                h.admin, PostMovement("shipment", [LineRequest(item, 1, from_location_id=source)])
            )

        results = self._race(24, ship)
        assert sum(not isinstance(r, Exception) for r in results) == 10
        assert all(isinstance(r, InsufficientStock) for r in results if isinstance(r, Exception))
        assert (on_hand(h, item, a), on_hand(h, item, b)) == (0, 0)
        check_invariants(h)
