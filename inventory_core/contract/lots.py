"""The contract of lots, serial numbers and expiry (DESIGN §12): every rule of a tracked line,
per-lot and per-serial levels under the location levels, traceability and picking suggestions.
Mixed into :class:`~inventory_core.contract.inventory.InventoryContract`."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date
from typing import Any, TypeVar
from uuid import UUID

import attrs
import pytest

from inventory_core.commands import Command
from inventory_core.contract.adapter import ContractAdapter, Harness, listed_levels, race
from inventory_core.contract.invariants import check_invariants, snapshot
from inventory_core.counts import CountLine
from inventory_core.errors import (
    CountConflict,
    InsufficientStock,
    InvalidOperation,
    NotFound,
    SerialConflict,
    ValidationError,
)
from inventory_core.feed import FEED_START
from inventory_core.items import Item
from inventory_core.locations import ADJUSTMENT_LOCATION_ID, CUSTOMER_LOCATION_ID
from inventory_core.lots import Lot, LotLevel, SerialLevel, Tracking
from inventory_core.movements import AdjustmentReason, Movement
from inventory_core.ports import (
    LotLevelQuery,
    LotQuery,
    MovementQuery,
    SerialQuery,
)
from inventory_core.reservations import ReservationStatus
from inventory_core.services.counts import CountStock
from inventory_core.services.items import ChangeItem, GetItem, GetItemStock, ItemChanges
from inventory_core.services.locations import CreateLocation
from inventory_core.services.lots import GetLot, GetSerial, ListLots, PickLine, SuggestPicking
from inventory_core.services.movements import (
    LineRequest,
    ListMovements,
    PostMovement,
    ReverseMovement,
)
from inventory_core.services.reservations import (
    FulfilmentLine,
    FulfilReservation,
    GetReservation,
    ReserveStock,
)

__all__ = ["LotContract"]

E = TypeVar("E", bound=Exception)

JAN_10 = date(2026, 1, 10)
"""An expiry date in the future of the harness's clock (which starts on 1 January 2026)."""
MAR_1 = date(2026, 3, 1)


@attrs.frozen
class World:
    """Two warehouses; bins ``a`` and ``b`` in the first, ``c`` in the second; an untracked
    item, one tracked by lot and one by serial number."""

    wh: UUID
    a: UUID
    b: UUID
    other_wh: UUID
    c: UUID
    plain: UUID
    lotted: UUID
    serial: UUID


def world(h: Harness) -> World:
    wh, other = h.warehouse(), h.warehouse()
    return World(
        wh,
        h.bin(wh),
        h.bin(wh),
        other,
        h.bin(other),
        h.item(),
        h.item(tracking=Tracking.LOT),
        h.item(tracking=Tracking.SERIAL),
    )


def post(h: Harness, kind: str, *lines: LineRequest, reason: str | None = None) -> Movement:
    return h.inventory.execute(h.admin, PostMovement(kind, lines, reason=reason))


def into(item: UUID, quantity: int, to: UUID, **tracked: object) -> LineRequest:
    """A line bringing stock in to ``to`` (a receipt's, or a found adjustment's)."""
    return LineRequest(item, quantity, to_location_id=to, **tracked)  # type: ignore[arg-type]


def out(item: UUID, quantity: int, source: UUID, **tracked: object) -> LineRequest:
    """A line taking stock out of ``source`` (a shipment's, or a loss adjustment's)."""
    return LineRequest(item, quantity, from_location_id=source, **tracked)  # type: ignore[arg-type]


def move(item: UUID, quantity: int, source: UUID, to: UUID, **tracked: object) -> LineRequest:
    return LineRequest(item, quantity, source, to, **tracked)  # type: ignore[arg-type]


def refused(h: Harness, error: type[E], call: Callable[[], object]) -> E:
    """``call`` raises ``error`` and changes nothing observable (invariant 6)."""
    before = snapshot(h)
    with pytest.raises(error) as info:
        call()
    assert snapshot(h) == before, "a refused operation left a trace"
    return info.value


def invalid(h: Harness, command: Command[Any]) -> set[str]:
    """The paths of the ValidationError ``command`` is refused with (nothing written)."""
    error = refused(h, ValidationError, lambda: h.inventory.execute(h.admin, command))
    return {e.path for e in error.errors}


def retrack(h: Harness, item: UUID, tracking: Tracking) -> Item:
    return h.inventory.execute(h.admin, ChangeItem(item, ItemChanges(tracking=tracking)))


def lot_of(h: Harness, item: UUID, code: str) -> Lot:
    with h.unit_of_work() as uow:
        found = uow.lots.find([(item, code)])
    assert (item, code) in found, f"no lot {code} of {item}"
    return found[(item, code)]


def lot_on_hand(h: Harness, item: UUID, location: UUID, code: str) -> int:
    lot = lot_of(h, item, code)
    with h.unit_of_work() as uow:
        return uow.stock.lot_on_hand([(item, location, lot.id)])[(item, location, lot.id)]


def on_hand(h: Harness, item: UUID, location: UUID) -> int:
    with h.unit_of_work() as uow:
        return uow.stock.on_hand([(item, location)])[(item, location)]


def where(h: Harness, item: UUID, serial: str) -> UUID | None:
    """The location of a serial (None: not in stock); fails for a serial never moved."""
    with h.unit_of_work() as uow:
        level = uow.stock.serial(item, serial)
    assert level is not None, f"serial {serial} was never moved"
    return level.location_id


def serials_at(h: Harness, item: UUID, location: UUID) -> list[str]:
    with h.unit_of_work() as uow:
        rows = uow.stock.serial_levels(
            SerialQuery(item, location_id=location), after=None, limit=None
        )
    return [r.serial for r in rows]


def ids(movements: Iterable[Movement]) -> list[UUID]:
    return [m.id for m in movements]


class LotContract:
    """Lots, serial numbers and expiry. Subclass with a ``contract_adapter`` fixture (see
    :mod:`inventory_core.contract`); :class:`~inventory_core.contract.inventory.InventoryContract`
    includes it."""

    @pytest.fixture
    def h(self, contract_adapter: ContractAdapter) -> Harness:
        return Harness(contract_adapter)

    # ------------------------------------------------------------ the rules of a tracked line

    def test_tracked_items_need_their_lot_or_serials_and_others_refuse_them(
        self, h: Harness
    ) -> None:
        w = world(h)
        post(
            h,
            "receipt",
            into(w.plain, 5, w.a),
            into(w.lotted, 5, w.a, lot="L1"),
            into(w.serial, 2, w.a, serials=["S1", "S2"]),
        )
        cases: list[tuple[PostMovement, set[str]]] = [
            (PostMovement("receipt", [into(w.lotted, 1, w.a)]), {"$.lines[0].lot"}),
            (PostMovement("shipment", [out(w.lotted, 1, w.a)]), {"$.lines[0].lot"}),
            (PostMovement("receipt", [into(w.serial, 1, w.a)]), {"$.lines[0].serials"}),
            (PostMovement("transfer", [move(w.serial, 1, w.a, w.b)]), {"$.lines[0].serials"}),
            (
                PostMovement("adjustment", [out(w.serial, 1, w.a)], reason="loss"),
                {"$.lines[0].serials"},
            ),
            (PostMovement("receipt", [into(w.plain, 1, w.a, lot="L1")]), {"$.lines[0].lot"}),
            (PostMovement("shipment", [out(w.plain, 1, w.a, lot="L1")]), {"$.lines[0].lot"}),
            (
                PostMovement("receipt", [into(w.plain, 1, w.a, serials=["S1"])]),
                {"$.lines[0].serials"},
            ),
            (
                PostMovement("receipt", [into(w.plain, 1, w.a, expires_on=JAN_10)]),
                {"$.lines[0].expires_on"},
            ),
            (
                PostMovement("receipt", [into(w.serial, 1, w.a, lot="L1", serials=["S9"])]),
                {"$.lines[0].lot"},
            ),
            (
                PostMovement("receipt", [into(w.lotted, 1, w.a, serials=["S9"])]),
                {"$.lines[0].lot", "$.lines[0].serials"},
            ),
            # expires_on only where stock comes in
            (
                PostMovement("shipment", [out(w.lotted, 1, w.a, lot="L1", expires_on=JAN_10)]),
                {"$.lines[0].expires_on"},
            ),
            # every line is judged, and each problem is reported at its line
            (
                PostMovement(
                    "transfer",
                    [
                        move(w.plain, 1, w.a, w.b),
                        move(w.lotted, 1, w.a, w.b),
                        move(w.serial, 1, w.a, w.b, lot="L1"),
                    ],
                ),
                {"$.lines[1].lot", "$.lines[2].lot", "$.lines[2].serials"},
            ),
        ]
        for command, paths in cases:
            assert invalid(h, command) == paths, command
        for lot in ("", "two words", "x" * 65):
            assert invalid(h, PostMovement("receipt", [into(w.lotted, 1, w.a, lot=lot)])) == {
                "$.lines[0].lot"
            }
        check_invariants(h)

    def test_a_serial_line_lists_one_distinct_serial_per_unit(self, h: Harness) -> None:
        w = world(h)
        other = h.item(tracking=Tracking.SERIAL)
        post(h, "receipt", into(w.serial, 2, w.a, serials=["S1", "S2"]))
        assert invalid(
            h, PostMovement("receipt", [into(w.serial, 3, w.a, serials=["S3", "S4"])])
        ) == {"$.lines[0].serials"}
        assert invalid(
            h, PostMovement("transfer", [move(w.serial, 1, w.a, w.b, serials=["S1", "S2"])])
        ) == {"$.lines[0].serials"}
        assert invalid(
            h, PostMovement("receipt", [into(w.serial, 2, w.a, serials=["S3", "S3"])])
        ) == {"$.lines[0].serials[1]"}
        assert invalid(
            h,
            PostMovement(
                "receipt",
                [
                    into(w.serial, 1, w.a, serials=["S3"]),
                    into(w.serial, 2, w.b, serials=["S4", "S3"]),
                ],
            ),
        ) == {"$.lines[1].serials[1]"}
        assert invalid(
            h,
            PostMovement(
                "transfer",
                [
                    move(w.serial, 1, w.a, w.b, serials=["S1"]),
                    move(w.serial, 1, w.b, w.a, serials=["S1"]),
                ],
            ),
        ) == {"$.lines[1].serials[0]"}
        assert invalid(
            h, PostMovement("receipt", [into(w.serial, 1, w.a, serials=["bad serial"])])
        ) == {"$.lines[0].serials[0]"}
        # A serial number is unique per item: another item's S1 is another unit.
        post(
            h,
            "receipt",
            into(other, 1, w.a, serials=["S1"]),
            into(w.serial, 1, w.b, serials=["S3"]),
        )
        assert (where(h, other, "S1"), where(h, w.serial, "S1")) == (w.a, w.a)
        assert (on_hand(h, w.serial, w.a), on_hand(h, w.serial, w.b)) == (2, 1)
        check_invariants(h)

    def test_receiving_a_serial_in_stock_is_a_serial_conflict(self, h: Harness) -> None:
        w = world(h)
        post(h, "receipt", into(w.serial, 2, w.a, serials=["S1", "S2"]))
        conflict = refused(
            h,
            SerialConflict,
            lambda: post(h, "receipt", into(w.serial, 2, w.b, serials=["S3", "S1"])),
        )
        assert (conflict.item_id, conflict.serial, conflict.location_id) == (w.serial, "S1", w.a)
        with h.unit_of_work() as uow:
            assert uow.stock.serial(w.serial, "S3") is None  # nothing of the refused receipt
        # Found stock is stock coming in too.
        conflict = refused(
            h,
            SerialConflict,
            lambda: post(h, "adjustment", into(w.serial, 1, w.b, serials=["S2"]), reason="found"),
        )
        assert (conflict.serial, conflict.location_id) == ("S2", w.a)
        # Once shipped, a serial is not in stock: it may come back.
        post(h, "shipment", out(w.serial, 1, w.a, serials=["S1"]))
        assert where(h, w.serial, "S1") is None
        post(h, "receipt", into(w.serial, 1, w.b, serials=["S1"]))
        assert (where(h, w.serial, "S1"), serials_at(h, w.serial, w.a)) == (w.b, ["S2"])
        check_invariants(h)

    def test_moving_a_serial_that_is_not_there_is_a_serial_conflict(self, h: Harness) -> None:
        w = world(h)
        post(h, "receipt", into(w.serial, 3, w.a, serials=["S1", "S2", "S4"]))
        post(h, "receipt", into(w.serial, 1, w.b, serials=["S3"]))
        # b holds a unit of the item, but not S1: it is at a.
        conflict = refused(
            h,
            SerialConflict,
            lambda: post(h, "transfer", move(w.serial, 1, w.b, w.a, serials=["S1"])),
        )
        assert (conflict.item_id, conflict.serial, conflict.location_id) == (w.serial, "S1", w.a)
        # A serial never received is in stock nowhere.
        conflict = refused(
            h, SerialConflict, lambda: post(h, "shipment", out(w.serial, 1, w.a, serials=["S9"]))
        )
        assert (conflict.serial, conflict.location_id) == ("S9", None)
        # A loss (which always posts, even below reservations) is no exception.
        conflict = refused(
            h,
            SerialConflict,
            lambda: post(h, "adjustment", out(w.serial, 1, w.a, serials=["S3"]), reason="loss"),
        )
        assert (conflict.serial, conflict.location_id) == ("S3", w.b)
        # One line in the wrong place refuses the whole movement.
        conflict = refused(
            h,
            SerialConflict,
            lambda: post(
                h,
                "transfer",
                move(w.serial, 1, w.a, w.b, serials=["S2"]),
                move(w.serial, 1, w.a, w.b, serials=["S3"]),
            ),
        )
        assert conflict.serial == "S3"
        assert where(h, w.serial, "S2") == w.a
        # Shipped, a serial is gone: shipping it again is a conflict.
        post(h, "shipment", out(w.serial, 1, w.a, serials=["S1"]))
        conflict = refused(
            h, SerialConflict, lambda: post(h, "shipment", out(w.serial, 1, w.a, serials=["S1"]))
        )
        assert (conflict.serial, conflict.location_id) == ("S1", None)
        post(h, "transfer", move(w.serial, 2, w.a, w.b, serials=["S4", "S2"]))
        assert serials_at(h, w.serial, w.b) == ["S2", "S3", "S4"]
        assert serials_at(h, w.serial, w.a) == []
        # From a bin holding none of the item: still the serial's conflict, naming its bin
        # (not a shortage of the item at a).
        conflict = refused(
            h, SerialConflict, lambda: post(h, "shipment", out(w.serial, 1, w.a, serials=["S3"]))
        )
        assert (conflict.serial, conflict.location_id) == ("S3", w.b)
        check_invariants(h)

    # ------------------------------------------------------------ lots

    def test_stock_of_a_lot_is_refused_per_lot(self, h: Harness) -> None:
        w = world(h)
        post(
            h,
            "receipt",
            into(w.lotted, 5, w.a, lot="L1"),
            into(w.lotted, 10, w.a, lot="L2"),
            into(w.lotted, 7, w.b, lot="L1"),
        )
        l1, l2 = lot_of(h, w.lotted, "L1"), lot_of(h, w.lotted, "L2")
        # a holds 15 of the item and the warehouse 22: only lot L1 at a is short.
        short = refused(
            h, InsufficientStock, lambda: post(h, "shipment", out(w.lotted, 6, w.a, lot="L1"))
        )
        assert (short.item_id, short.location_id, short.lot_id) == (w.lotted, w.a, l1.id)
        assert (short.available, short.requested) == (5, 6)
        short = refused(
            h,
            InsufficientStock,
            lambda: post(h, "transfer", move(w.lotted, 1, w.b, w.a, lot="L2")),
        )
        assert (short.location_id, short.lot_id, short.available) == (w.b, l2.id, 0)
        # Two lines of one lot at one location add up.
        short = refused(
            h,
            InsufficientStock,
            lambda: post(
                h,
                "shipment",
                out(w.lotted, 3, w.a, lot="L1"),
                out(w.lotted, 3, w.a, lot="L1"),
            ),
        )
        assert (short.lot_id, short.available, short.requested) == (l1.id, 5, 6)
        # Physical losses post below reservations, never below a lot's stock.
        short = refused(
            h,
            InsufficientStock,
            lambda: post(h, "adjustment", out(w.lotted, 6, w.a, lot="L1"), reason="damage"),
        )
        assert short.lot_id == l1.id
        post(h, "shipment", out(w.lotted, 5, w.a, lot="L1"), out(w.lotted, 1, w.a, lot="L2"))
        assert (lot_on_hand(h, w.lotted, w.a, "L1"), lot_on_hand(h, w.lotted, w.a, "L2")) == (
            0,
            9,
        )
        assert on_hand(h, w.lotted, w.a) == 9
        check_invariants(h)

    def test_a_lot_is_created_by_its_first_receipt_once_per_item_and_code(self, h: Harness) -> None:
        w = world(h)
        twin = h.item(tracking=Tracking.LOT)
        assert h.inventory.execute(h.admin, ListLots()).items == ()
        first = post(h, "receipt", into(w.lotted, 5, w.a, lot="L1", expires_on=JAN_10))
        lot = lot_of(h, w.lotted, "L1")
        assert (lot.item_id, lot.code, lot.expires_on) == (w.lotted, "L1", JAN_10)
        assert (first.lines[0].lot_id, first.lines[0].lot) == (lot.id, "L1")
        # Later receipts find it, with its date or none.
        again = post(
            h,
            "receipt",
            into(w.lotted, 1, w.b, lot="L1"),
            into(w.lotted, 2, w.a, lot="L1", expires_on=JAN_10),
        )
        assert {line.lot_id for line in again.lines} == {lot.id}
        # A lot has one expiry date.
        assert invalid(
            h, PostMovement("receipt", [into(w.lotted, 1, w.a, lot="L1", expires_on=MAR_1)])
        ) == {"$.lines[0].expires_on"}
        post(h, "receipt", into(w.lotted, 1, w.a, lot="L0"))
        assert lot_of(h, w.lotted, "L0").expires_on is None
        assert invalid(
            h, PostMovement("receipt", [into(w.lotted, 1, w.a, lot="L0", expires_on=JAN_10)])
        ) == {"$.lines[0].expires_on"}
        # Another item's L1 is another lot; two lines of one new lot make one lot, with the
        # date either gives.
        post(
            h,
            "receipt",
            into(twin, 2, w.b, lot="L1"),
            into(twin, 1, w.a, lot="L1", expires_on=MAR_1),
        )
        twin_l1 = lot_of(h, twin, "L1")
        assert twin_l1.id != lot.id
        assert twin_l1.expires_on == MAR_1
        # Two dates for one new lot: refused at the line that disagrees.
        assert invalid(
            h,
            PostMovement(
                "receipt",
                [
                    into(twin, 1, w.a, lot="L7"),
                    into(twin, 1, w.a, lot="L7", expires_on=JAN_10),
                    into(twin, 1, w.b, lot="L7", expires_on=MAR_1),
                ],
            ),
        ) == {"$.lines[2].expires_on"}
        listed = h.inventory.execute(h.admin, ListLots(LotQuery(item_id=twin))).items
        assert listed == (twin_l1,)
        assert [x.code for x in h.inventory.execute(h.admin, ListLots()).items] == [
            "L1",
            "L0",
            "L1",
        ]
        # A refused receipt creates none of its lots.
        post(h, "receipt", into(w.serial, 1, w.a, serials=["S1"]))
        refused(
            h,
            SerialConflict,
            lambda: post(
                h,
                "receipt",
                into(w.lotted, 1, w.a, lot="L9", expires_on=JAN_10),
                into(w.serial, 1, w.b, serials=["S1"]),
            ),
        )
        with h.unit_of_work() as uow:
            assert uow.lots.find([(w.lotted, "L9")]) == {}
        assert (lot_on_hand(h, w.lotted, w.a, "L1"), lot_on_hand(h, w.lotted, w.b, "L1")) == (
            7,
            1,
        )
        check_invariants(h)

    def test_a_lot_the_item_does_not_have_is_refused_where_stock_leaves(self, h: Harness) -> None:
        w = world(h)
        twin = h.item(tracking=Tracking.LOT)
        post(h, "receipt", into(w.lotted, 5, w.a, lot="L1"), into(twin, 5, w.a, lot="L2"))
        for line in (
            out(w.lotted, 1, w.a, lot="NOPE"),
            out(w.lotted, 1, w.a, lot="L2"),  # the twin's lot
        ):
            assert invalid(h, PostMovement("shipment", [line])) == {"$.lines[0].lot"}
            assert invalid(h, PostMovement("adjustment", [line], reason="loss")) == {
                "$.lines[0].lot"
            }
        assert invalid(h, PostMovement("transfer", [move(w.lotted, 1, w.a, w.b, lot="NOPE")])) == {
            "$.lines[0].lot"
        }
        reservation = h.inventory.execute(h.admin, ReserveStock(w.lotted, w.wh, 1))
        assert invalid(
            h, FulfilReservation(reservation.id, [FulfilmentLine(w.a, 1, lot="NOPE")])
        ) == {"$.lines[0].lot"}
        # Found stock creates its lot, like a receipt.
        post(h, "adjustment", into(w.lotted, 2, w.b, lot="NEW", expires_on=MAR_1), reason="found")
        assert lot_of(h, w.lotted, "NEW").expires_on == MAR_1
        assert lot_on_hand(h, w.lotted, w.b, "NEW") == 2
        check_invariants(h)

    # ------------------------------------------------------------ tracking

    def test_tracking_changes_only_while_the_item_has_no_stock(self, h: Harness) -> None:
        w = world(h)
        receipt = post(h, "receipt", into(w.plain, 5, w.a))
        for tracking in (Tracking.LOT, Tracking.SERIAL):
            refused(
                h,
                InvalidOperation,
                lambda t=tracking: h.inventory.execute(  # type: ignore[misc]
                    h.admin, ChangeItem(w.plain, ItemChanges(tracking=t))
                ),
            )
        assert h.inventory.execute(h.admin, GetItem(w.plain)).tracking is Tracking.NONE
        shipment = post(h, "shipment", out(w.plain, 5, w.a))
        changed = retrack(h, w.plain, Tracking.LOT)
        assert changed.tracking is Tracking.LOT
        assert invalid(h, PostMovement("receipt", [into(w.plain, 1, w.a)])) == {"$.lines[0].lot"}
        # Reversing a movement made before the switch would move untracked stock of an item
        # now tracked by lot: refused, whichever way it goes.
        for movement in (shipment, receipt):
            refused(
                h,
                InvalidOperation,
                lambda m=movement: h.inventory.execute(h.admin, ReverseMovement(m.id)),  # type: ignore[misc]
            )
        post(h, "receipt", into(w.plain, 3, w.b, lot="L1"))
        refused(
            h,
            InvalidOperation,
            lambda: retrack(h, w.plain, Tracking.NONE),
        )
        # Stock elsewhere than at the bin that was changed counts too; virtual levels do not.
        post(h, "transfer", move(w.plain, 3, w.b, w.c, lot="L1"))
        refused(
            h,
            InvalidOperation,
            lambda: retrack(h, w.plain, Tracking.SERIAL),
        )
        post(h, "adjustment", out(w.plain, 3, w.c, lot="L1"), reason="loss")
        retrack(h, w.plain, Tracking.SERIAL)
        post(h, "receipt", into(w.plain, 1, w.a, serials=["S1"]))
        # An item that never had stock changes freely.
        for tracking in (Tracking.SERIAL, Tracking.NONE, Tracking.LOT):
            retrack(h, w.lotted, tracking)
        check_invariants(h)

    # ------------------------------------------------------------ reversals

    def test_reversals_move_lots_and_serials_back(self, h: Harness) -> None:
        w = world(h)
        post(h, "receipt", into(w.lotted, 5, w.a, lot="L1"))
        transfer = post(h, "transfer", move(w.lotted, 3, w.a, w.b, lot="L1"))
        shipment = post(h, "shipment", out(w.lotted, 2, w.a, lot="L1"))
        reversal = h.inventory.execute(h.admin, ReverseMovement(transfer.id))
        assert [(line.lot, line.lot_id) for line in reversal.lines] == [
            ("L1", transfer.lines[0].lot_id)
        ]
        h.inventory.execute(h.admin, ReverseMovement(shipment.id))
        assert (lot_on_hand(h, w.lotted, w.a, "L1"), lot_on_hand(h, w.lotted, w.b, "L1")) == (
            5,
            0,
        )

        receipt = post(h, "receipt", into(w.serial, 2, w.a, serials=["S1", "S2"]))
        moved = post(h, "transfer", move(w.serial, 1, w.a, w.b, serials=["S1"]))
        back = h.inventory.execute(h.admin, ReverseMovement(moved.id))
        assert back.lines[0].serials == ("S1",)
        assert where(h, w.serial, "S1") == w.a
        # A serial no longer where the movement left it cannot be moved back.
        shipped = post(h, "shipment", out(w.serial, 1, w.a, serials=["S2"]))
        post(h, "receipt", into(w.serial, 1, w.b, serials=["S2"]))  # came back another way
        conflict = refused(
            h,
            SerialConflict,
            lambda: h.inventory.execute(h.admin, ReverseMovement(shipped.id)),
        )
        assert (conflict.serial, conflict.location_id) == ("S2", w.b)
        post(h, "receipt", into(w.serial, 1, w.a, serials=["S3"]))
        # a holds S1 and S3 -- two units -- but the receipt's S2 is at b now.
        conflict = refused(
            h, SerialConflict, lambda: h.inventory.execute(h.admin, ReverseMovement(receipt.id))
        )
        assert (conflict.serial, conflict.location_id) == ("S2", w.b)
        post(h, "transfer", move(w.serial, 1, w.b, w.a, serials=["S2"]))
        h.inventory.execute(h.admin, ReverseMovement(receipt.id))
        assert (where(h, w.serial, "S1"), where(h, w.serial, "S2")) == (None, None)
        assert serials_at(h, w.serial, w.a) == ["S3"]
        check_invariants(h)

    # ------------------------------------------------------------ fulfilment

    def test_fulfilment_names_its_lots_and_serials(self, h: Harness) -> None:
        w = world(h)
        post(
            h,
            "receipt",
            into(w.lotted, 3, w.a, lot="L1"),
            into(w.lotted, 5, w.a, lot="L2"),
            into(w.lotted, 2, w.b, lot="L2"),
            into(w.serial, 3, w.a, serials=["S1", "S2", "S3"]),
            into(w.plain, 4, w.a),
        )
        l1 = lot_of(h, w.lotted, "L1")
        reservation = h.inventory.execute(h.admin, ReserveStock(w.lotted, w.wh, 4, "order-1"))
        assert invalid(h, FulfilReservation(reservation.id, [FulfilmentLine(w.a, 4)])) == {
            "$.lines[0].lot"
        }
        short = refused(
            h,
            InsufficientStock,
            lambda: h.inventory.execute(
                h.admin, FulfilReservation(reservation.id, [FulfilmentLine(w.a, 4, lot="L1")])
            ),
        )
        assert (short.location_id, short.lot_id, short.available) == (w.a, l1.id, 3)
        shipment = h.inventory.execute(
            h.admin,
            FulfilReservation(
                reservation.id,
                [FulfilmentLine(w.a, 3, lot="L1"), FulfilmentLine(w.b, 1, lot="L2")],
            ),
        )
        assert [(line.lot, line.from_location_id, line.quantity) for line in shipment.lines] == [
            ("L1", w.a, 3),
            ("L2", w.b, 1),
        ]
        assert h.inventory.execute(h.admin, GetReservation(reservation.id)).status is (
            ReservationStatus.FULFILLED
        )
        assert (lot_on_hand(h, w.lotted, w.a, "L1"), lot_on_hand(h, w.lotted, w.b, "L2")) == (
            0,
            1,
        )

        units = h.inventory.execute(h.admin, ReserveStock(w.serial, w.wh, 2))
        assert invalid(
            h, FulfilReservation(units.id, [FulfilmentLine(w.a, 2, serials=["S1"])])
        ) == {"$.lines[0].serials"}
        assert invalid(
            h,
            FulfilReservation(
                units.id,
                [FulfilmentLine(w.a, 1, serials=["S1"]), FulfilmentLine(w.a, 1, serials=["S1"])],
            ),
        ) == {"$.lines[1].serials[0]"}
        conflict = refused(
            h,
            SerialConflict,
            lambda: h.inventory.execute(
                h.admin,
                FulfilReservation(units.id, [FulfilmentLine(w.a, 2, serials=["S1", "S9"])]),
            ),
        )
        assert conflict.serial == "S9"
        shipment = h.inventory.execute(
            h.admin, FulfilReservation(units.id, [FulfilmentLine(w.a, 2, serials=["S3", "S1"])])
        )
        assert shipment.lines[0].serials == ("S3", "S1")
        assert serials_at(h, w.serial, w.a) == ["S2"]
        assert where(h, w.serial, "S3") is None

        plain = h.inventory.execute(h.admin, ReserveStock(w.plain, w.wh, 1))
        assert invalid(h, FulfilReservation(plain.id, [FulfilmentLine(w.a, 1, lot="L1")])) == {
            "$.lines[0].lot"
        }
        assert invalid(
            h, FulfilReservation(plain.id, [FulfilmentLine(w.a, 1, serials=["S2"])])
        ) == {"$.lines[0].serials"}
        check_invariants(h)

    # ------------------------------------------------------------ counts

    def test_counts_count_per_lot(self, h: Harness) -> None:
        w = world(h)
        post(h, "receipt", into(w.lotted, 5, w.a, lot="L1"), into(w.lotted, 3, w.a, lot="L2"))
        l1 = lot_of(h, w.lotted, "L1")
        result = h.inventory.execute(
            h.admin,
            CountStock(
                [
                    CountLine(w.lotted, w.a, 7, expected_on_hand=5, lot="L1"),
                    CountLine(w.lotted, w.a, 1, expected_on_hand=3, lot="L2"),
                ]
            ),
        )
        assert result.movement is not None
        assert result.movement.reason is AdjustmentReason.COUNT
        assert sorted(
            (line.lot, line.quantity, line.from_location_id, line.to_location_id)
            for line in result.movement.lines
        ) == [("L1", 2, ADJUSTMENT_LOCATION_ID, w.a), ("L2", 2, w.a, ADJUSTMENT_LOCATION_ID)]
        assert result.movement.lines[0].lot_id == l1.id
        assert (lot_on_hand(h, w.lotted, w.a, "L1"), lot_on_hand(h, w.lotted, w.a, "L2")) == (
            7,
            1,
        )
        assert on_hand(h, w.lotted, w.a) == 8
        # expected_on_hand is the lot's, not the location's.
        conflict = refused(
            h,
            CountConflict,
            lambda: h.inventory.execute(
                h.admin,
                CountStock(
                    [
                        CountLine(w.lotted, w.a, 0, expected_on_hand=1, lot="L2"),
                        CountLine(w.lotted, w.a, 7, expected_on_hand=8, lot="L1"),
                    ]
                ),
            ),
        )
        assert [
            (c.item_id, c.location_id, c.expected_on_hand, c.on_hand, c.lot)
            for c in conflict.conflicts
        ] == [(w.lotted, w.a, 8, 7, "L1")]
        # A lot counted that matches, or the other lot: each line is its own.
        unchanged = h.inventory.execute(
            h.admin, CountStock([CountLine(w.lotted, w.a, 7, expected_on_hand=7, lot="L1")])
        )
        assert unchanged.movement is None
        assert invalid(h, CountStock([CountLine(w.lotted, w.a, 7)])) == {"$.lines[0].lot"}
        assert invalid(h, CountStock([CountLine(w.plain, w.a, 7, lot="L1")])) == {"$.lines[0].lot"}
        assert invalid(
            h,
            CountStock(
                [CountLine(w.lotted, w.a, 1, lot="L1"), CountLine(w.lotted, w.a, 2, lot="L1")]
            ),
        ) == {"$.lines[1]"}
        # A count may find a lot the item does not have yet: it is created, with its date.
        found = h.inventory.execute(
            h.admin,
            CountStock(
                [
                    CountLine(w.lotted, w.b, 4, lot="L3", expires_on=MAR_1),
                    CountLine(w.lotted, w.b, 0, expected_on_hand=0, lot="L1"),
                ]
            ),
        )
        assert found.movement is not None
        assert [(line.lot, line.quantity) for line in found.movement.lines] == [("L3", 4)]
        assert lot_of(h, w.lotted, "L3").expires_on == MAR_1
        assert lot_on_hand(h, w.lotted, w.b, "L3") == 4
        # Counting a lot down to zero leaves the others.
        h.inventory.execute(h.admin, CountStock([CountLine(w.lotted, w.a, 0, lot="L1")]))
        assert (on_hand(h, w.lotted, w.a), lot_on_hand(h, w.lotted, w.a, "L2")) == (1, 1)
        # None found of a lot the item never had: no such lot (a typo, most likely), not a lot
        # created empty.
        assert invalid(h, CountStock([CountLine(w.lotted, w.a, 0, lot="L9")])) == {"$.lines[0].lot"}
        assert h.inventory.execute(h.admin, ListLots(LotQuery(item_id=w.lotted))).items == tuple(
            lot_of(h, w.lotted, code) for code in ("L1", "L2", "L3")
        )
        check_invariants(h)

    def test_counts_count_serials(self, h: Harness) -> None:
        w = world(h)
        post(h, "receipt", into(w.serial, 3, w.a, serials=["S1", "S2", "S3"]))
        post(h, "receipt", into(w.serial, 1, w.b, serials=["S4"]))
        result = h.inventory.execute(
            h.admin,
            CountStock(
                [CountLine(w.serial, w.a, 3, expected_on_hand=3, serials=["S5", "S1", "S3"])]
            ),
        )
        assert result.movement is not None
        assert sorted(
            (line.serials, line.from_location_id, line.to_location_id)
            for line in result.movement.lines
        ) == sorted(
            [(("S2",), w.a, ADJUSTMENT_LOCATION_ID), (("S5",), ADJUSTMENT_LOCATION_ID, w.a)]
        )
        assert serials_at(h, w.serial, w.a) == ["S1", "S3", "S5"]
        assert where(h, w.serial, "S2") is None
        # Found here, but in stock elsewhere: the count is refused.
        conflict = refused(
            h,
            SerialConflict,
            lambda: h.inventory.execute(
                h.admin, CountStock([CountLine(w.serial, w.a, 4, serials=["S1", "S3", "S5", "S4"])])
            ),
        )
        assert (conflict.serial, conflict.location_id) == ("S4", w.b)
        conflict_count = refused(
            h,
            CountConflict,
            lambda: h.inventory.execute(
                h.admin, CountStock([CountLine(w.serial, w.a, 0, expected_on_hand=2, serials=[])])
            ),
        )
        assert [(c.expected_on_hand, c.on_hand) for c in conflict_count.conflicts] == [(2, 3)]
        assert invalid(h, CountStock([CountLine(w.serial, w.a, 2, serials=["S1"])])) == {
            "$.lines[0].serials"
        }
        assert invalid(h, CountStock([CountLine(w.serial, w.a, 2, serials=["S1", "S1"])])) == {
            "$.lines[0].serials[1]"
        }
        assert invalid(h, CountStock([CountLine(w.serial, w.a, 2)])) == {"$.lines[0].serials"}
        assert invalid(h, CountStock([CountLine(w.plain, w.a, 1, serials=["S1"])])) == {
            "$.lines[0].serials"
        }
        # Matching serials post nothing; none found takes every one out.
        unchanged = h.inventory.execute(
            h.admin, CountStock([CountLine(w.serial, w.a, 3, serials=["S3", "S5", "S1"])])
        )
        assert unchanged.movement is None
        h.inventory.execute(h.admin, CountStock([CountLine(w.serial, w.b, 0, serials=[])]))
        assert (where(h, w.serial, "S4"), on_hand(h, w.serial, w.b)) == (None, 0)
        check_invariants(h)

    # ------------------------------------------------------------ picking

    def _picking_world(self, h: Harness) -> tuple[UUID, dict[str, UUID], UUID]:
        """A warehouse PW with bins P-A, P-B, P-C (codes in that order) and PW2 with Q-A."""
        made: dict[str, UUID] = {}
        for code, kind, parent in (
            ("PW", "warehouse", None),
            ("PW2", "warehouse", None),
            ("P-C", "internal", "PW"),
            ("P-A", "internal", "PW"),
            ("P-B", "internal", "PW"),
            ("Q-A", "internal", "PW2"),
        ):
            command = CreateLocation(code, code, kind, made.get(parent) if parent else None)
            made[code] = h.inventory.execute(h.admin, command).id
        return made["PW"], made, made["PW2"]

    def test_picking_proposes_first_expired_first_out(self, h: Harness) -> None:
        wh, at, other = self._picking_world(h)
        item = h.item(tracking=Tracking.LOT)
        post(
            h,
            "receipt",
            into(item, 4, at["P-A"], lot="OLD", expires_on=date(2025, 12, 31)),
            into(item, 5, at["P-A"], lot="LATER", expires_on=MAR_1),
            into(item, 2, at["P-B"], lot="SOON", expires_on=JAN_10),
            into(item, 3, at["P-A"], lot="SOON", expires_on=JAN_10),
            into(item, 6, at["P-A"], lot="NEVER"),
            into(item, 1, at["P-C"], lot="TODAY", expires_on=date(2026, 1, 1)),
            into(item, 10, at["Q-A"], lot="FIRST", expires_on=date(2026, 1, 2)),
        )

        def pick(quantity: int) -> list[tuple[str, str | None, int]]:
            picked = h.inventory.execute(h.admin, SuggestPicking(item, wh, quantity))
            codes = {v: k for k, v in at.items()}
            for line in picked.lines:
                assert line.serials is None
                assert line.expires_on == lot_of(h, item, line.lot or "").expires_on
            return [(codes[line.location_id], line.lot, line.quantity) for line in picked.lines]

        # Expiring today is still usable; OLD expired yesterday; another warehouse's lots are
        # not proposed; a tie of dates goes by location code.
        assert pick(8) == [
            ("P-C", "TODAY", 1),
            ("P-A", "SOON", 3),
            ("P-B", "SOON", 2),
            ("P-A", "LATER", 2),
        ]
        assert pick(17) == [
            ("P-C", "TODAY", 1),
            ("P-A", "SOON", 3),
            ("P-B", "SOON", 2),
            ("P-A", "LATER", 5),
            ("P-A", "NEVER", 6),
        ]
        short = refused(
            h, InsufficientStock, lambda: h.inventory.execute(h.admin, SuggestPicking(item, wh, 18))
        )
        assert (short.item_id, short.location_id, short.available, short.requested) == (
            item,
            wh,
            17,
            18,
        )
        # After reservations: 21 on hand, 17 of it usable, 5 reserved.
        h.inventory.execute(h.admin, ReserveStock(item, wh, 5))
        assert sum(q for _, _, q in pick(12)) == 12
        short = refused(
            h, InsufficientStock, lambda: h.inventory.execute(h.admin, SuggestPicking(item, wh, 13))
        )
        assert short.available == 12
        # A day later TODAY has expired.
        h.clock.advance(days=1)
        assert pick(2) == [("P-A", "SOON", 2)]
        with pytest.raises(InsufficientStock):
            h.inventory.execute(h.admin, SuggestPicking(item, wh, 12))
        assert [
            line.quantity
            for line in h.inventory.execute(h.admin, SuggestPicking(item, other, 10)).lines
        ] == [10]

    def test_picking_untracked_and_serial_items_goes_by_location_code(self, h: Harness) -> None:
        wh, at, _ = self._picking_world(h)
        plain, serial = h.item(), h.item(tracking=Tracking.SERIAL)
        post(
            h,
            "receipt",
            into(plain, 3, at["P-B"]),
            into(plain, 2, at["P-A"]),
            into(serial, 2, at["P-B"], serials=["S3", "S1"]),
            into(serial, 1, at["P-A"], serials=["S2"]),
        )
        picked = h.inventory.execute(h.admin, SuggestPicking(plain, wh, 4)).lines
        assert picked == (
            PickLine(at["P-A"], None, None, None, 2),
            PickLine(at["P-B"], None, None, None, 2),
        )
        picked = h.inventory.execute(h.admin, SuggestPicking(serial, wh, 2)).lines
        assert picked == (
            PickLine(at["P-A"], None, None, ("S2",), 1),
            PickLine(at["P-B"], None, None, ("S1",), 1),
        )
        picked = h.inventory.execute(h.admin, SuggestPicking(serial, wh, 3)).lines
        assert [line.serials for line in picked] == [("S2",), ("S1", "S3")]
        with pytest.raises(InsufficientStock):
            h.inventory.execute(h.admin, SuggestPicking(serial, wh, 4))
        with pytest.raises(InsufficientStock):
            h.inventory.execute(h.admin, SuggestPicking(h.item(), wh, 1))
        with pytest.raises(NotFound):
            h.inventory.execute(h.admin, SuggestPicking(UUID(int=7), wh, 1))
        with pytest.raises(ValidationError) as bad:
            h.inventory.execute(h.admin, SuggestPicking(plain, at["P-A"], 1))
        assert [e.path for e in bad.value.errors] == ["$.warehouse_id"]
        with pytest.raises(ValidationError) as bad:
            h.inventory.execute(h.admin, SuggestPicking(plain, wh, 0))
        assert [e.path for e in bad.value.errors] == ["$.quantity"]

    # ------------------------------------------------------------ traceability

    def test_lots_are_listed_by_item_and_expiry(self, h: Harness) -> None:
        w = world(h)
        twin = h.item(tracking=Tracking.LOT)
        for item, code, expires in (
            (w.lotted, "A", date(2026, 2, 1)),
            (w.lotted, "B", MAR_1),
            (w.lotted, "C", None),
            (twin, "D", date(2026, 1, 15)),
        ):
            post(h, "receipt", into(item, 1, w.a, lot=code, expires_on=expires))

        def codes(query: LotQuery | None = None) -> list[str]:
            command = ListLots(query or LotQuery())
            return [lot.code for lot in h.inventory.execute(h.admin, command).items]

        assert codes() == ["A", "B", "C", "D"]
        assert codes(LotQuery(item_id=w.lotted)) == ["A", "B", "C"]
        assert codes(LotQuery(expires_before=MAR_1)) == ["A", "D"]
        assert codes(LotQuery(item_id=w.lotted, expires_before=date(2026, 3, 2))) == ["A", "B"]
        assert codes(LotQuery(item_id=w.plain)) == []
        first = h.inventory.execute(h.admin, ListLots(limit=2))
        assert [lot.code for lot in first.items] == ["A", "B"]
        assert first.next_after == first.items[-1].id
        rest = h.inventory.execute(h.admin, ListLots(after=first.next_after, limit=2))
        assert [lot.code for lot in rest.items] == ["C", "D"]
        assert rest.next_after is None

    def test_a_lot_shows_where_its_stock_is(self, h: Harness) -> None:
        w = world(h)
        post(
            h,
            "receipt",
            into(w.lotted, 5, w.a, lot="L1", expires_on=JAN_10),
            into(w.lotted, 2, w.b, lot="L1"),
            into(w.lotted, 4, w.c, lot="L1"),
            into(w.lotted, 9, w.a, lot="L2"),
        )
        post(h, "shipment", out(w.lotted, 2, w.b, lot="L1"))  # a level back at zero
        lot = lot_of(h, w.lotted, "L1")
        detail = h.inventory.execute(h.admin, GetLot(lot.id))
        assert (detail.id, detail.item_id, detail.code, detail.expires_on) == (
            lot.id,
            w.lotted,
            "L1",
            JAN_10,
        )
        assert list(detail.levels) == sorted(
            [
                LotLevel(lot.id, "L1", JAN_10, w.a, w.wh, 5),
                LotLevel(lot.id, "L1", JAN_10, w.c, w.other_wh, 4),
            ],
            key=lambda level: level.location_id,
        )
        with pytest.raises(NotFound):
            h.inventory.execute(h.admin, GetLot(UUID(int=99)))

    def test_a_serial_shows_where_it_is_and_how_it_got_there(self, h: Harness) -> None:
        w = world(h)
        other = h.item(tracking=Tracking.SERIAL)
        received = post(h, "receipt", into(w.serial, 2, w.a, serials=["S1", "S2"]))
        moved = post(h, "transfer", move(w.serial, 1, w.a, w.b, serials=["S1"]))
        # S1 of another item, and S2 of this one, in one movement: not S1's history.
        post(
            h,
            "receipt",
            into(other, 1, w.a, serials=["S1"]),
            into(w.serial, 1, w.c, serials=["S3"]),
        )
        post(h, "shipment", out(w.serial, 1, w.a, serials=["S2"]))
        history = h.inventory.execute(h.admin, GetSerial(w.serial, "S1"))
        assert (history.serial, history.item_id, history.location_id) == ("S1", w.serial, w.b)
        assert ids(history.movements) == [received.id, moved.id]
        shipped = post(h, "shipment", out(w.serial, 1, w.b, serials=["S1"]))
        history = h.inventory.execute(h.admin, GetSerial(w.serial, "S1"))
        assert history.location_id is None
        assert ids(history.movements) == [received.id, moved.id, shipped.id]
        assert h.inventory.execute(h.admin, GetSerial(other, "S1")).location_id == w.a
        with pytest.raises(NotFound):
            h.inventory.execute(h.admin, GetSerial(w.serial, "S9"))
        with pytest.raises(ValidationError):
            h.inventory.execute(h.admin, GetSerial(w.serial, "not a serial"))

    def test_movements_are_listed_by_lot_and_by_serial(self, h: Harness) -> None:
        w = world(h)
        other = h.item(tracking=Tracking.SERIAL)
        m1 = post(h, "receipt", into(w.lotted, 5, w.a, lot="L1"), into(w.plain, 1, w.a))
        m2 = post(h, "receipt", into(w.lotted, 5, w.a, lot="L2"))
        m3 = post(h, "transfer", move(w.lotted, 2, w.a, w.b, lot="L1"))
        m4 = post(h, "receipt", into(w.serial, 2, w.a, serials=["S1", "S2"]))
        m5 = post(h, "shipment", out(w.serial, 1, w.a, serials=["S2"]))
        m6 = post(h, "receipt", into(other, 1, w.b, serials=["S1"]))
        l1, l2 = lot_of(h, w.lotted, "L1"), lot_of(h, w.lotted, "L2")

        def listed(**query: object) -> list[UUID]:
            command = ListMovements(MovementQuery(**query))  # type: ignore[arg-type]
            return ids(h.inventory.execute(h.admin, command).items)

        assert listed(lot_id=l1.id) == [m1.id, m3.id]
        assert listed(lot_id=l2.id) == [m2.id]
        assert listed(lot_id=l1.id, location_id=w.b) == [m3.id]
        assert listed(serial="S2") == [m4.id, m5.id]
        assert listed(serial="S1") == [m4.id, m6.id]
        assert listed(serial="S1", item_id=w.serial) == [m4.id]
        assert listed(serial="S1", item_id=w.plain) == []
        assert listed(serial="S9") == []
        # The whole ledger answers the same queries.
        with h.unit_of_work() as uow:
            ledger = uow.movements.ledger(
                after=FEED_START, limit=10, query=MovementQuery(lot_id=l1.id)
            )
            assert [m.id for _, m in ledger] == [m1.id, m3.id]
            later = uow.movements.ledger(
                after=ledger[0][0], limit=10, query=MovementQuery(lot_id=l1.id)
            )
            assert [m.id for _, m in later] == [m3.id]
            serial = uow.movements.ledger(
                after=FEED_START, limit=1, query=MovementQuery(item_id=w.serial, serial="S1")
            )
            assert [m.id for _, m in serial] == [m4.id]

    def test_item_levels_report_lots_and_serials(self, h: Harness) -> None:
        w = world(h)
        post(
            h,
            "receipt",
            into(w.lotted, 5, w.a, lot="L1", expires_on=JAN_10),
            into(w.lotted, 2, w.c, lot="L1"),
            into(w.lotted, 3, w.a, lot="L2"),
            into(w.serial, 3, w.a, serials=["S2", "S3", "S1"]),
            into(w.serial, 1, w.c, serials=["S0"]),
            into(w.plain, 1, w.b),
        )
        post(h, "shipment", out(w.lotted, 3, w.a, lot="L2"), out(w.serial, 1, w.a, serials=["S3"]))
        l1 = lot_of(h, w.lotted, "L1")
        never = h.item(tracking=Tracking.LOT)
        now = h.clock.now()
        with h.unit_of_work() as uow:
            for item in (w.lotted, w.serial, w.plain, never):
                levels = uow.stock.item_levels(item, now=now)
                assert levels == listed_levels(uow, item, now)
            by_warehouse = uow.stock.lot_levels(
                LotLevelQuery(item_id=w.lotted, warehouse_id=w.other_wh), after=None, limit=None
            )
            in_c = uow.stock.serial_levels(
                SerialQuery(w.serial, warehouse_id=w.other_wh), after=None, limit=None
            )
            assert uow.stock.has_stock(w.lotted)
            assert not uow.stock.has_stock(never)
        assert by_warehouse == [LotLevel(l1.id, "L1", JAN_10, w.c, w.other_wh, 2)]
        assert in_c == [SerialLevel("S0", w.c, w.other_wh)]
        lotted = h.inventory.execute(h.admin, GetItemStock(w.lotted))
        assert list(lotted.lots) == sorted(
            [
                LotLevel(l1.id, "L1", JAN_10, w.a, w.wh, 5),
                LotLevel(l1.id, "L1", JAN_10, w.c, w.other_wh, 2),
            ],
            key=lambda level: level.location_id,
        )
        assert lotted.serials == ()
        serial = h.inventory.execute(h.admin, GetItemStock(w.serial))
        assert serial.lots == ()
        assert serial.serials == (
            SerialLevel("S0", w.c, w.other_wh),
            SerialLevel("S1", w.a, w.wh),
            SerialLevel("S2", w.a, w.wh),
        )
        plain = h.inventory.execute(h.admin, GetItemStock(w.plain))
        assert (plain.lots, plain.serials) == ((), ())
        check_invariants(h)

    # ------------------------------------------------------------ concurrency

    def test_racing_shipments_of_the_last_units_of_a_lot(self, h: Harness) -> None:
        w = world(h)
        post(h, "receipt", into(w.lotted, 3, w.a, lot="L1"), into(w.lotted, 50, w.a, lot="L2"))
        l1 = lot_of(h, w.lotted, "L1")
        results = race(
            12,
            lambda _: post(h, "shipment", out(w.lotted, 1, w.a, lot="L1")),
        )
        won = [r for r in results if isinstance(r, Movement)]
        lost = [r for r in results if not isinstance(r, Movement)]
        assert len(won) == 3, results
        assert all(isinstance(r, InsufficientStock) and r.lot_id == l1.id for r in lost), lost
        assert (lot_on_hand(h, w.lotted, w.a, "L1"), on_hand(h, w.lotted, w.a)) == (0, 50)
        assert lot_on_hand(h, w.lotted, CUSTOMER_LOCATION_ID, "L1") == 3
        check_invariants(h)

    def test_racing_shipments_of_one_serial(self, h: Harness) -> None:
        w = world(h)
        post(h, "receipt", into(w.serial, 5, w.a, serials=["S1", "S2", "S3", "S4", "S5"]))
        results = race(12, lambda _: post(h, "shipment", out(w.serial, 1, w.a, serials=["S1"])))
        won = [r for r in results if isinstance(r, Movement)]
        lost = [r for r in results if not isinstance(r, Movement)]
        assert len(won) == 1, results
        assert all(
            isinstance(r, SerialConflict) and (r.serial, r.location_id) == ("S1", None)
            for r in lost
        ), lost
        assert where(h, w.serial, "S1") is None
        assert on_hand(h, w.serial, w.a) == 4
        check_invariants(h)

    def test_racing_first_receipts_make_one_lot(self, h: Harness) -> None:
        w = world(h)
        locations = [w.a, w.b, w.c]
        results = race(
            9,
            lambda n: post(
                h, "receipt", into(w.lotted, 1, locations[n % 3], lot="NEW", expires_on=MAR_1)
            ),
        )
        assert all(isinstance(r, Movement) for r in results), results
        lot = lot_of(h, w.lotted, "NEW")
        assert {line.lot_id for r in results for line in r.lines} == {lot.id}  # type: ignore[attr-defined]
        assert len(h.inventory.execute(h.admin, ListLots(LotQuery(item_id=w.lotted))).items) == 1
        assert [lot_on_hand(h, w.lotted, x, "NEW") for x in locations] == [3, 3, 3]
        check_invariants(h)

    def test_a_tracking_change_racing_receipts_never_mixes_rules(self, h: Harness) -> None:
        w = world(h)

        def work(n: int) -> object:
            if n == 0:
                return retrack(h, w.plain, Tracking.LOT)
            return post(h, "receipt", into(w.plain, 1, w.a))

        results = race(9, work)
        tracking = h.inventory.execute(h.admin, GetItem(w.plain)).tracking
        receipts = [r for r in results[1:] if isinstance(r, Movement)]
        if tracking is Tracking.LOT:  # the change won: every receipt after it is refused
            assert receipts == []
            assert all(isinstance(r, ValidationError) for r in results[1:]), results
        else:  # a receipt won: the change is refused, and every receipt posts
            assert isinstance(results[0], InvalidOperation), results
            assert len(receipts) == 8, results
        assert on_hand(h, w.plain, w.a) == len(receipts)
        check_invariants(h)
